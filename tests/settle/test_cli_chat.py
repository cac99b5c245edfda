"""`settle chat`: a terminal conversation with the dialogue, linked to a borrower by phone."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import NamedTuple

import pytest
from typer.testing import CliRunner

from models import session_factory
from settle.cli import app
from settle.database import build_engine
from settle.settings import load_settings
from tests.conftest import TEST_KEY
from tests.servicing.factories import make_borrower, make_loan

runner = CliRunner()
MODEL = Path(__file__).resolve().parents[2] / "var" / "nlu" / "intent-model.npz"
PHONE = "+14155552671"


class Chatter(NamedTuple):
    borrower_id: int
    loan_ref: str


@pytest.fixture
def chatter(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Chatter:
    """A migrated database with one borrower (phone PHONE) and their loan."""
    monkeypatch.setenv("SETTLE_DATABASE_URL", database_url)
    monkeypatch.setenv("SETTLE_ENCRYPTION_KEY", TEST_KEY)
    # The trained model of the checkout, not a fresh training run in the test's directory.
    monkeypatch.setenv("SETTLE_NLU_MODEL_PATH", str(MODEL))
    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    engine = build_engine(load_settings())
    try:
        with session_factory(engine).begin() as session:
            borrower = make_borrower(
                session,
                external_ref="B-CHAT-1",
                phones=[PHONE],
                date_of_birth=date(1985, 3, 3),
                national_id="123-45-6789",
            )
            loan = make_loan(session, borrower_id=borrower.id)
            return Chatter(borrower.id, loan.external_ref)
    finally:
        engine.dispose()


def test_a_web_chat_by_borrower_id_verifies_and_answers(chatter: Chatter) -> None:
    result = runner.invoke(
        app,
        ["chat", "--borrower", str(chatter.borrower_id)],
        input="how much do I owe\nMarch 3 1985\n6789\n",
    )

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"chatting on web as Jane Doe (borrower {chatter.borrower_id})" in out
    # The opening greeting offers choices as numbered lines.
    assert "1. My account" in out
    assert "date of birth" in out
    assert "verified" in out
    assert chatter.loan_ref in out


def test_an_sms_chat_by_phone_takes_a_choice_by_number(chatter: Chatter) -> None:
    result = runner.invoke(
        app, ["chat", "--phone", "+1 (415) 555-2671", "--channel", "sms"], input="1\n"
    )

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"chatting on sms as Jane Doe (borrower {chatter.borrower_id})" in out
    assert "1. My account" in out
    # "1" chose "My account", which needs identity first.
    assert "date of birth" in out


def test_end_of_input_ends_the_chat_cleanly(chatter: Chatter) -> None:
    result = runner.invoke(app, ["chat", "--phone", PHONE], input="")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("arguments", "line"),
    [
        (["--borrower", "999"], "settle: no borrower with id 999"),
        (["--phone", "+1 212 555 0199"], "settle: no borrower has the phone number +12125550199"),
        (["--phone", "call me"], "settle: 'call me' is not a phone number"),
    ],
)
def test_an_unknown_borrower_is_one_clear_line(
    chatter: Chatter, arguments: list[str], line: str
) -> None:
    result = runner.invoke(app, ["chat", *arguments])

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(line)
    assert result.stderr.count("\n") == 1


def test_phone_or_borrower_is_required(chatter: Chatter) -> None:
    result = runner.invoke(app, ["chat"])
    assert result.exit_code == 2
    assert "--phone NUMBER or --borrower ID" in result.output
