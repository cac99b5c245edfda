"""`settle call`: a reminder call placed from the command line, or refused with its reasons.

The command runs against a migrated database of its own (SQLite and, when configured,
PostgreSQL) and a local server playing Twilio's REST API. It reads the real clock, so the
borrower lives wherever it is now early afternoon: the hour window then always allows the call.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
import typer
from typer.testing import CliRunner

from compliance import record_opt_out
from models import Channel, PiiCipher, make_engine, session_factory
from models.schema import upgrade
from settle.cli_voice import call
from settle.settings import ConfigError
from tests.conftest import TEST_KEY
from tests.servicing.factories import make_borrower, make_loan
from tests.settle import conftest as settle_fixtures
from tests.twilio.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    PUBLIC_BASE_URL,
    FakeTwilioApi,
)

# The composition root's fixtures: no SETTLE_* variables, a fresh directory (autouse), and an
# empty database per backend.
clean_environment = settle_fixtures.clean_environment
database_url = settle_fixtures.database_url
runner = CliRunner()
# The command as `settle call` registers it.
cli = typer.Typer()
cli.command()(call)
# Regions with one time zone each, spread round the globe: one of them is always in daytime.
REGIONS = ("US", "BR", "GB", "DE", "AE", "IN", "SG", "JP", "AU")


class Somewhere(NamedTuple):
    region: str
    zone: str
    phone: str


def somewhere_in_daytime(now: datetime) -> Somewhere:
    """A region where it is between 10:00 and 18:00 now, its zone and a landline there."""
    for region in REGIONS:
        number = phonenumbers.example_number_for_type(
            region, phonenumbers.PhoneNumberType.FIXED_LINE
        )
        assert number is not None
        phone = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        (zone,) = phonenumbers.timezone.time_zones_for_number(number)
        if 10 <= now.astimezone(ZoneInfo(zone)).hour < 18:
            return Somewhere(region, zone, phone)
    raise AssertionError(f"no region in daytime at {now}")  # pragma: no cover


class Borrower(NamedTuple):
    id: int
    loan_id: int
    phone: str


@pytest.fixture
def borrower(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    twilio_api: FakeTwilioApi,
) -> Iterator[Borrower]:
    """A migrated database with one borrower in daytime, and Twilio configured."""
    for name, value in {
        "SETTLE_DATABASE_URL": database_url,
        "SETTLE_ENCRYPTION_KEY": TEST_KEY,
        "SETTLE_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "SETTLE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "SETTLE_TWILIO_FROM_NUMBER": FROM_NUMBER,
        "SETTLE_TWILIO_API_URL": twilio_api.url,
        "SETTLE_PUBLIC_BASE_URL": PUBLIC_BASE_URL,
    }.items():
        monkeypatch.setenv(name, value)
    place = somewhere_in_daytime(datetime.now(UTC))
    engine = make_engine(database_url, cipher=PiiCipher.from_text(TEST_KEY))
    upgrade(engine)
    try:
        with session_factory(engine).begin() as session:
            made = make_borrower(
                session, phones=[place.phone], time_zone=place.zone, country=place.region
            )
            loan = make_loan(session, borrower_id=made.id)
            found = Borrower(made.id, loan.id, place.phone)
        yield found
    finally:
        engine.dispose()


def test_settle_call_places_the_call_once_a_day(
    borrower: Borrower, twilio_api: FakeTwilioApi
) -> None:
    result = runner.invoke(cli, ["--borrower", str(borrower.id)])

    assert result.exit_code == 0, result.output
    (request,) = twilio_api.requests_to("/Calls.json")
    assert request.form["To"] == borrower.phone
    assert request.form["From"] == FROM_NUMBER
    assert request.form["Url"].startswith(f"{PUBLIC_BASE_URL}/webhooks/twilio/voice?")
    assert result.output.startswith(f"calling (borrower {borrower.id}, loan {borrower.loan_id})")
    sid = result.output.rsplit("call ", 1)[-1].strip()
    assert sid.startswith("CA")

    again = runner.invoke(cli, ["--borrower", str(borrower.id), "--loan", str(borrower.loan_id)])

    assert again.exit_code == 0, again.output
    assert "already called today" in again.output
    assert sid in again.output
    assert len(twilio_api.requests_to("/Calls.json")) == 1


def test_settle_call_prints_the_refusal_and_dials_nothing(
    borrower: Borrower,
    twilio_api: FakeTwilioApi,
    database_url: str,
) -> None:
    engine = make_engine(database_url, cipher=PiiCipher.from_text(TEST_KEY))
    try:
        with session_factory(engine).begin() as session:
            record_opt_out(
                session=session,
                borrower_id=borrower.id,
                channel=Channel.VOICE,
                at=datetime(2025, 1, 1, tzinfo=UTC),
                source="borrower asked",
            )
    finally:
        engine.dispose()

    result = runner.invoke(cli, ["--borrower", str(borrower.id)])

    assert result.exit_code == 1
    assert "not called" in result.output
    assert "US-OPTOUT" in result.output
    assert twilio_api.requests_to("/Calls.json") == []


def test_settle_call_needs_twilio_and_a_reachable_address(
    borrower: Borrower, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SETTLE_TWILIO_API_URL")
    monkeypatch.setenv("SETTLE_PUBLIC_BASE_URL", "http://127.0.0.1:8000")
    unreachable = runner.invoke(cli, ["--borrower", str(borrower.id)])
    assert isinstance(unreachable.exception, ConfigError)
    assert "SETTLE_PUBLIC_BASE_URL" in str(unreachable.exception)

    monkeypatch.delenv("SETTLE_TWILIO_AUTH_TOKEN")
    off = runner.invoke(cli, ["--borrower", str(borrower.id)])
    assert isinstance(off.exception, ConfigError)
    assert "Twilio is not configured" in str(off.exception)


def test_settle_call_names_a_borrower_that_does_not_exist(borrower: Borrower) -> None:
    result = runner.invoke(cli, ["--borrower", str(borrower.id + 1000)])
    assert result.exit_code == 1
    assert f"no borrower with id {borrower.id + 1000}" in result.output
