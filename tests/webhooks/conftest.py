"""A web client over the channel routes, with a real dialogue on the rolled-back test database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from dialogue import Dialogue, Nlu
from models import Borrower, InboundMessage
from settle.app import install_error_handlers
from tests.servicing.factories import make_borrower, make_loan, unique_ref
from webhooks import build_webhook_router

# A Friday, 11:00 in Los Angeles where the test borrowers live.
NOW = datetime(2025, 6, 20, 18, 0, tzinfo=UTC)
DATE_OF_BIRTH = date(1985, 3, 3)
NATIONAL_ID = "123-45-6789"


def build_client(
    sessions: sessionmaker[Session], dialogue: Dialogue, *, demo_credentials: bool
) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(
        build_webhook_router(
            dialogue=lambda: dialogue,
            sessions=sessions,
            demo_credentials=demo_credentials,
            clock=lambda: NOW,
        )
    )
    return TestClient(app)


@pytest.fixture
def dialogue(sessions: sessionmaker[Session], nlu: Nlu) -> Dialogue:
    return Dialogue(sessions=sessions, nlu=nlu, clock=lambda: NOW)


@pytest.fixture
def client(sessions: sessionmaker[Session], dialogue: Dialogue) -> Iterator[TestClient]:
    """A client of a development server: the demo page shows demo credentials."""
    with build_client(sessions, dialogue, demo_credentials=True) as client:
        yield client


def add_demo_borrower(
    sessions: sessionmaker[Session],
    *,
    name: str = "Jane Doe",
    phone: str = "+14155552671",
    language: str = "en",
    ref_prefix: str = "DEMO-B",
    disbursed_on: date = date(2025, 1, 15),
) -> Borrower:
    """A borrower with one loan, as the demo seed makes them (its `external_ref` says DEMO-B)."""
    with sessions.begin() as session:
        borrower = make_borrower(
            session,
            external_ref=unique_ref(ref_prefix),
            full_name=name,
            phones=[phone],
            preferred_language=language,
            date_of_birth=DATE_OF_BIRTH,
            national_id=NATIONAL_ID,
        )
        make_loan(session, borrower_id=borrower.id, disbursed_on=disbursed_on)
    return borrower


def messages_taken(sessions: sessionmaker[Session]) -> int:
    """How many inbound messages the dialogue has taken in during this test (not duplicates)."""
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(InboundMessage)) or 0)
