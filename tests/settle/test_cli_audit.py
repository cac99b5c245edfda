"""`settle audit`: verify (exit status 1 on a tampered database), export, checkpoint, purge."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from compliance.audit import NewEvent, append_many, events_of, verify_export
from models import PiiCipher, is_postgresql, make_engine
from models.schema import upgrade
from settle.cli_audit import app
from tests.conftest import TEST_KEY

runner = CliRunner()
RECENT = datetime.now(UTC) - timedelta(days=2)
ANCIENT = datetime.now(UTC) - timedelta(days=2000)


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[Engine]:
    """A migrated database with two conversations and a loan stream, committed."""
    monkeypatch.setenv("SETTLE_DATABASE_URL", database_url)
    monkeypatch.setenv("SETTLE_ENCRYPTION_KEY", TEST_KEY)
    built = make_engine(database_url, cipher=PiiCipher.from_text(TEST_KEY))
    upgrade(built)
    events = [
        NewEvent(
            stream=stream,
            kind="message_in",
            occurred_at=at + timedelta(minutes=n),
            actor="borrower",
            payload={"text": f"消息 {n}"},
        )
        for stream, at in (
            ("conversation:12", RECENT),
            ("loan:5", RECENT),
            ("conversation:3", ANCIENT),
        )
        for n in range(4)
    ]
    with Session(built) as session, session.begin():
        append_many(session=session, events=events)
    yield built
    built.dispose()


def test_verify_a_sound_trail(engine: Engine) -> None:
    result = runner.invoke(app, ["verify"])
    assert result.exit_code == 0, result.output
    assert "audit trail verified: 12 events in 3 streams, 0 checkpoints" in result.output


def test_verify_names_the_tampered_event_and_exits_1(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        if is_postgresql(session):
            session.execute(
                text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
            )
        else:
            session.execute(text("DROP TRIGGER audit_events_no_update"))
        session.execute(
            text("UPDATE audit_events SET payload=:p WHERE stream='loan:5' AND seq=3"),
            {"p": '{"text":"paid in full"}'},
        )
        if is_postgresql(session):
            session.execute(
                text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")
            )

    result = runner.invoke(app, ["verify"])

    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("BROKEN stream loan:5 seq 3: contents do not match")
    assert "1 problems in 12 events, 3 streams, 0 checkpoints" in lines[-1]


def test_export_a_conversation_to_a_file(engine: Engine, tmp_path: Path) -> None:
    target = tmp_path / "conversation-12.jsonl"
    result = runner.invoke(app, ["export", "--conversation", "12", "--out", str(target)])
    assert result.exit_code == 0, result.output
    assert f"exported 4 events of conversation:12 to {target}" in result.output
    lines = target.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 6
    assert verify_export(lines).ok
    assert json.loads(lines[1])["payload"] == {"text": "消息 0"}


def test_export_a_stream_to_standard_output(engine: Engine) -> None:
    result = runner.invoke(app, ["export", "--stream", "loan:5"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert verify_export(lines).ok
    assert json.loads(lines[-1])["head"]["seq"] == 4


def test_export_refuses_an_unknown_stream_and_a_bad_choice(engine: Engine, tmp_path: Path) -> None:
    target = tmp_path / "none.jsonl"
    result = runner.invoke(app, ["export", "--conversation", "404", "--out", str(target)])
    assert result.exit_code == 1
    assert "no audit stream 'conversation:404'" in result.output
    assert not target.exists()
    assert not list(tmp_path.glob("*.partial"))

    both = runner.invoke(app, ["export", "--conversation", "1", "--stream", "loan:5"])
    assert both.exit_code == 2
    neither = runner.invoke(app, ["export"])
    assert neither.exit_code == 2


def test_checkpoint_then_verify(engine: Engine) -> None:
    result = runner.invoke(app, ["checkpoint"])
    assert result.exit_code == 0, result.output
    assert "3 streams, hash " in result.output

    verified = runner.invoke(app, ["verify"])
    assert verified.exit_code == 0, verified.output
    assert "1 checkpoints" in verified.output


def test_purge_uses_the_retention_setting(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    runner.invoke(app, ["checkpoint"])
    result = runner.invoke(app, ["purge"])
    assert result.exit_code == 0, result.output
    assert "purged 1 streams" in result.output
    assert "retention 1095 days" in result.output
    assert "  conversation:3" in result.output.splitlines()

    # No setting can shorten retention below three years (US-RETENTION).
    monkeypatch.setenv("SETTLE_AUDIT_RETENTION_DAYS", "1")
    refused = runner.invoke(app, ["purge"])
    assert refused.exit_code != 0
    with Session(engine) as session:
        assert events_of(session=session, stream="conversation:12") != []

    monkeypatch.delenv("SETTLE_AUDIT_RETENTION_DAYS")
    verified = runner.invoke(app, ["verify"])
    assert verified.exit_code == 0, verified.output


def test_purge_with_nothing_old_enough(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SETTLE_AUDIT_RETENTION_DAYS", "3000")
    result = runner.invoke(app, ["purge"])
    assert result.exit_code == 0, result.output
    assert "nothing to purge" in result.output
