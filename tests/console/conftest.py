"""An API client on the test database: each test's requests are rolled back with it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from console import build_api_router
from settle.app import install_error_handlers

API_TOKEN = "test-token-0123456789abcdef"
TODAY = date(2025, 6, 20)


@pytest.fixture
def api(engine: Engine) -> Iterator[TestClient]:
    """A client authorised with the API token; requests commit into savepoints rolled back later."""
    connection = engine.connect()
    outer = connection.begin()
    sessions = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(
        build_api_router(sessions=sessions, api_token=API_TOKEN, today=lambda: TODAY)
    )
    client = TestClient(app, headers={"Authorization": f"Bearer {API_TOKEN}"})
    try:
        yield client
    finally:
        client.close()
        outer.rollback()
        connection.close()
