"""`settle telegram`: set-webhook, delete-webhook and link, against the local Bot API server."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from typer.testing import CliRunner

from bots.telegram import ALLOWED_UPDATES
from dialogue import redeem_link_token
from models import Channel, session_factory
from settle.cli import app as settle_app
from settle.cli_telegram import app
from settle.database import build_engine
from settle.settings import ConfigError, load_settings
from tests.conftest import TEST_KEY
from tests.servicing.factories import make_borrower, make_loan
from tests.settle import conftest as root_fixtures
from tests.telegram.conftest import BOT_USERNAME, SECRET, TOKEN, BotApiServer

# No SETTLE_* variable from the developer's shell, and an empty database per backend.
clean_environment = root_fixtures.clean_environment
database_url = root_fixtures.database_url

runner = CliRunner()
URL = "https://settle.example.com/webhooks/telegram"


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch, bot_api: BotApiServer) -> BotApiServer:
    """Settings for a bot whose Bot API is the local server."""
    monkeypatch.setenv("SETTLE_ENCRYPTION_KEY", TEST_KEY)
    monkeypatch.setenv("SETTLE_TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SETTLE_TELEGRAM_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("SETTLE_TELEGRAM_API_URL", bot_api.url)
    return bot_api


def test_set_webhook_registers_the_url_with_the_secret(configured: BotApiServer) -> None:
    result = runner.invoke(app, ["set-webhook", "--url", URL])

    assert result.exit_code == 0, result.output
    assert f"Telegram will post updates to {URL}" in result.output
    [call] = configured.calls
    assert call.method == "setWebhook"
    assert call.fields == {
        "url": URL,
        "secret_token": SECRET,
        "allowed_updates": list(ALLOWED_UPDATES),
        "drop_pending_updates": "false",
    }


def test_set_webhook_needs_the_secret(
    configured: BotApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SETTLE_TELEGRAM_WEBHOOK_SECRET")

    result = runner.invoke(app, ["set-webhook", "--url", URL])

    assert isinstance(result.exception, ConfigError)
    assert "SETTLE_TELEGRAM_WEBHOOK_SECRET" in str(result.exception)
    assert configured.calls == []


def test_telegrams_refusal_is_one_line_and_exit_status_1(configured: BotApiServer) -> None:
    configured.fail_next(
        "setWebhook",
        400,
        {
            "ok": False,
            "error_code": 400,
            "description": "Bad Request: bad webhook: An HTTPS URL must be provided for webhook",
        },
    )

    result = runner.invoke(app, ["set-webhook", "--url", "http://settle.example.com/x"])

    assert result.exit_code == 1
    assert "settle: Telegram: Bad Request: bad webhook: An HTTPS URL" in result.output


def test_delete_webhook(configured: BotApiServer) -> None:
    result = runner.invoke(app, ["delete-webhook", "--drop-pending"])

    assert result.exit_code == 0, result.output
    [call] = configured.calls
    assert (call.method, call.fields) == ("deleteWebhook", {"drop_pending_updates": "true"})


def test_without_a_token_telegram_is_off(
    configured: BotApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SETTLE_TELEGRAM_BOT_TOKEN")

    result = runner.invoke(app, ["delete-webhook"])

    assert isinstance(result.exception, ConfigError)
    assert "SETTLE_TELEGRAM_BOT_TOKEN" in str(result.exception)


@pytest.fixture
def borrower_id(
    configured: BotApiServer, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> int:
    """A migrated database with one borrower."""
    monkeypatch.setenv("SETTLE_DATABASE_URL", database_url)
    upgraded = runner.invoke(settle_app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    engine = build_engine(load_settings())
    try:
        with session_factory(engine).begin() as session:
            borrower = make_borrower(session, external_ref="B-TG-1", date_of_birth=date(1985, 3, 3))
            make_loan(session, borrower_id=borrower.id)
            return borrower.id
    finally:
        engine.dispose()


def redeemed(token: str) -> int:
    engine = build_engine(load_settings())
    try:
        with session_factory(engine).begin() as session:
            return redeem_link_token(
                session=session, token=token, channel=Channel.TELEGRAM, at=datetime.now(UTC)
            )
    finally:
        engine.dispose()


def test_link_prints_a_deep_link_whose_token_links_the_borrower(
    borrower_id: int, configured: BotApiServer
) -> None:
    result = runner.invoke(app, ["link", "--borrower", str(borrower_id)])

    assert result.exit_code == 0, result.output
    link = result.stdout.strip()
    prefix = f"https://t.me/{BOT_USERNAME}?start="
    assert link.startswith(prefix)
    assert configured.methods() == ["getMe"]
    assert redeemed(link.removeprefix(prefix)) == borrower_id


def test_link_with_the_username_given_asks_telegram_nothing(
    borrower_id: int, configured: BotApiServer
) -> None:
    result = runner.invoke(app, ["link", "--borrower", str(borrower_id), "--username", "@acme_bot"])

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("https://t.me/acme_bot?start=")
    assert configured.calls == []


def test_link_for_an_unknown_borrower_fails(borrower_id: int) -> None:
    result = runner.invoke(app, ["link", "--borrower", str(borrower_id + 1000), "--username", "b"])

    assert result.exit_code == 1
    assert f"no borrower with id {borrower_id + 1000}" in result.output
