"""The audit trail: chains, append-only triggers, tamper detection, export, retention, concurrency.

Every test runs on SQLite and, when configured, PostgreSQL. Tampering goes around the triggers
the way an intruder with database rights would (SQLite: drop the trigger; PostgreSQL: disable it),
inside the test's rolled-back transaction, and puts them back.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import compliance.audit.verification as audit
from compliance.audit import (
    GENESIS_HASH,
    PURGE_KIND,
    SYSTEM_STREAM,
    InvalidEvent,
    NewEvent,
    UnknownStream,
    append,
    append_many,
    checkpoint,
    events_of,
    export_stream,
    payload_of,
    purge_expired,
    stream_for,
    verify,
    verify_export,
    verify_stream,
)
from models import AuditStreamHead, PiiCipher, is_postgresql, make_engine
from models.schema import upgrade
from tests.conftest import PG_URL, TEST_KEY

T0 = datetime(2026, 3, 8, 9, 30, tzinfo=UTC)
MIGRATION = importlib.import_module("models.migrations.versions.0002_compliance_audit")
RETENTION = timedelta(days=1095)


def new_event(stream: str, n: int = 0, *, at: datetime | None = None, **payload: Any) -> NewEvent:
    return NewEvent(
        stream=stream,
        kind="message_in",
        occurred_at=at or T0 + timedelta(minutes=n),
        actor="borrower",
        payload={"n": n, **payload},
    )


def expected_hash(prev_hash: str, event: dict[str, Any]) -> str:
    """The hash as the design states it, computed here without the module's helpers."""
    body = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def head_of(session: Session, stream: str) -> AuditStreamHead | None:
    session.expire_all()
    return session.get(AuditStreamHead, stream)


# --- appending -------------------------------------------------------------------------------


def test_stream_for_names_a_stream() -> None:
    assert stream_for("loan", 5) == "loan:5"
    assert stream_for("conversation", 12) == "conversation:12"
    with pytest.raises(InvalidEvent):
        stream_for("Loan", 5)
    with pytest.raises(InvalidEvent):
        stream_for("loan", -1)


def test_append_chains_each_event_to_the_one_before(session: Session) -> None:
    stored = [
        append(session=session, event=new_event("loan:5", n, text="还款 ¥100")) for n in range(3)
    ]

    assert [e.seq for e in stored] == [1, 2, 3]
    prev = GENESIS_HASH
    for n, row in enumerate(stored):
        occurred = (T0 + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        content = {
            "stream": "loan:5",
            "seq": n + 1,
            "kind": "message_in",
            "occurred_at": occurred,
            "actor": "borrower",
            "payload": {"n": n, "text": "还款 ¥100"},
        }
        assert row.prev_hash == prev
        assert row.hash == expected_hash(prev, content)
        assert row.payload == f'{{"n":{n},"text":"还款 ¥100"}}'
        prev = row.hash
    head = head_of(session, "loan:5")
    assert head is not None
    assert (head.seq, head.hash, head.last_at) == (3, prev, T0 + timedelta(minutes=2))
    assert verify(session=session).ok


def test_append_many_chains_streams_in_the_given_order(session: Session) -> None:
    append(session=session, event=new_event("conversation:1", 0))
    batch = [
        new_event("conversation:1", 1),
        new_event("conversation:2", 2),
        new_event("conversation:1", 3),
        new_event("conversation:2", 4),
        new_event("staff:3", 5),
    ]
    stored = append_many(session=session, events=batch)

    assert [(e.stream, e.seq, payload_of(e)["n"]) for e in stored] == [
        ("conversation:1", 2, 1),
        ("conversation:2", 1, 2),
        ("conversation:1", 3, 3),
        ("conversation:2", 2, 4),
        ("staff:3", 1, 5),
    ]
    assert [payload_of(e)["n"] for e in events_of(session=session, stream="conversation:1")] == [
        0,
        1,
        3,
    ]
    assert stored[2].prev_hash == stored[0].hash
    assert stored[3].prev_hash == stored[1].hash
    assert append_many(session=session, events=[]) == []
    report = verify(session=session)
    assert report.ok, report.problems
    assert (report.events, report.streams) == (6, 3)


class Colour(Enum):
    RED = "red"


def test_payload_values_are_stored_in_one_canonical_form(session: Session) -> None:
    row = append(
        session=session,
        event=NewEvent(
            stream="loan:1",
            kind="payment_posted",
            occurred_at=datetime(2026, 3, 8, 4, 30, tzinfo=timezone(timedelta(hours=-5))),
            actor="staff:3",
            payload={
                "z": Decimal("1200.50"),
                "a": [date(2026, 3, 8), (1, 2)],
                "when": datetime(2026, 3, 8, 4, 30, 0, 123, tzinfo=timezone(timedelta(hours=-5))),
                "colour": Colour.RED,
                "ok": True,
                "none": None,
                "score": 0.25,
                "名字": "张三",
            },
        ),
    )
    assert row.payload == (
        '{"a":["2026-03-08",[1,2]],"colour":"red","none":null,"ok":true,"score":0.25,'
        '"when":"2026-03-08T09:30:00.000123Z","z":"1200.50","名字":"张三"}'
    )
    assert row.occurred_at == datetime(2026, 3, 8, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "change",
    [
        {"occurred_at": datetime(2026, 3, 8, 9, 30)},  # noqa: DTZ001 (naive on purpose)
        {"stream": "loan"},
        {"stream": "Loan:5"},
        {"stream": "loan:" + "9" * 80},
        {"kind": "Message In"},
        {"actor": ""},
        {"payload": {"x": float("nan")}},
        {"payload": {"x": {1: "a"}}},
        {"payload": {"x": {1, 2}}},
        {"payload": {"x": b"bytes"}},
        {"payload": {"x": datetime(2026, 1, 1)}},  # noqa: DTZ001
    ],
)
def test_events_that_cannot_be_recorded_are_refused(
    session: Session, change: dict[str, Any]
) -> None:
    base = {
        "stream": "loan:5",
        "kind": "message_in",
        "occurred_at": T0,
        "actor": "borrower",
        "payload": {},
    }
    with pytest.raises(InvalidEvent):
        append(session=session, event=NewEvent(**{**base, **change}))


def test_back_dated_event_never_moves_the_last_activity_back(session: Session) -> None:
    append(session=session, event=new_event("loan:5", at=T0))
    append(session=session, event=new_event("loan:5", at=T0 - timedelta(days=400)))
    head = head_of(session, "loan:5")
    assert head is not None
    assert (head.seq, head.last_at) == (2, T0)


def count_statements(session: Session, action: Callable[[], Any]) -> int:
    statements: list[str] = []
    connection = session.connection()

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(connection, "before_cursor_execute", record)
    try:
        action()
    finally:
        event.remove(connection, "before_cursor_execute", record)
    return len(statements)


def test_append_many_uses_the_same_few_statements_for_any_batch(session: Session) -> None:
    def batch(events: int, streams: int, offset: int) -> list[NewEvent]:
        return [new_event(f"conversation:{offset + i % streams}", i) for i in range(events)]

    small = count_statements(session, lambda: append_many(session=session, events=batch(4, 2, 0)))
    large = count_statements(
        session, lambda: append_many(session=session, events=batch(400, 40, 100))
    )
    # insert missing heads, read and lock the heads, insert the events, update the heads
    assert small == large == 4
    assert verify(session=session).ok


# --- the database refuses changes --------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET payload = '{}'",
        "UPDATE audit_events SET hash = prev_hash WHERE seq = 2",
        "DELETE FROM audit_events WHERE seq = 2",
        "DELETE FROM audit_events",
        "UPDATE audit_checkpoints SET heads = '{}'",
        "DELETE FROM audit_checkpoints",
    ],
)
def test_database_refuses_updates_and_deletes(session: Session, statement: str) -> None:
    append_many(session=session, events=[new_event("loan:5", n) for n in range(3)])
    checkpoint(session=session, at=T0)
    before = dump(session)

    with pytest.raises(IntegrityError, match="append-only"), session.begin_nested():
        session.execute(text(statement))

    assert dump(session) == before
    assert verify(session=session).ok


def dump(session: Session) -> list[Any]:
    events = session.execute(
        text("SELECT stream, seq, payload, hash FROM audit_events ORDER BY id")
    )
    checkpoints = session.execute(text("SELECT id, heads, hash FROM audit_checkpoints ORDER BY id"))
    return [*map(tuple, events), *map(tuple, checkpoints)]


# --- tampering that got past the triggers --------------------------------------------------------

_TRIGGER = re.compile(r"CREATE TRIGGER (\w+) .*? ON (\w+)", re.DOTALL)


@contextmanager
def triggers_off(session: Session, table: str) -> Iterator[None]:
    """The append-only triggers of `table` switched off, as an intruder would, then restored."""
    if is_postgresql(session):
        trigger = f"{table}_append_only"
        session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}"))
        yield
        session.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}"))
        return
    definitions = [
        (match.group(1), sql)
        for sql in MIGRATION.SQLITE_TRIGGERS
        if (match := _TRIGGER.search(sql)) and match.group(2) == table
    ]
    assert definitions, table
    for name, _ in definitions:
        session.execute(text(f"DROP TRIGGER {name}"))
    yield
    for _, sql in definitions:
        session.execute(text(sql))


def seed_streams(session: Session) -> None:
    for stream in ("conversation:7", "loan:5", "staff:3"):
        append_many(session=session, events=[new_event(stream, n) for n in range(5)])


def rewrite_last_loan_event_consistently(session: Session) -> None:
    """Change loan:5's last event and recompute its hash and the head: the chain is consistent."""
    row = session.execute(
        text("SELECT prev_hash, occurred_at FROM audit_events WHERE stream='loan:5' AND seq=5")
    ).one()
    payload = '{"n":4,"text":"I never said that"}'
    content = {
        "stream": "loan:5",
        "seq": 5,
        "kind": "message_in",
        "occurred_at": (T0 + timedelta(minutes=4)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": "borrower",
        "payload": json.loads(payload),
    }
    forged = expected_hash(row.prev_hash, content)
    with triggers_off(session, "audit_events"):
        session.execute(
            text("UPDATE audit_events SET payload=:p, hash=:h WHERE stream='loan:5' AND seq=5"),
            {"p": payload, "h": forged},
        )
    session.execute(
        text("UPDATE audit_stream_heads SET hash=:h WHERE stream='loan:5'"), {"h": forged}
    )


def change_payload(session: Session) -> None:
    with triggers_off(session, "audit_events"):
        session.execute(
            text("UPDATE audit_events SET payload=:p WHERE stream='loan:5' AND seq=3"),
            {"p": '{"n":99}'},
        )


def delete_middle_event(session: Session) -> None:
    with triggers_off(session, "audit_events"):
        session.execute(text("DELETE FROM audit_events WHERE stream='loan:5' AND seq=3"))


def swap_seqs(session: Session) -> None:
    with triggers_off(session, "audit_events"):
        for old, new in ((2, -1), (3, 2), (-1, 3)):
            session.execute(
                text("UPDATE audit_events SET seq=:new WHERE stream='loan:5' AND seq=:old"),
                {"old": old, "new": new},
            )


def forge_head(session: Session) -> None:
    forge_head_of(session, "loan:5")


def forge_head_of(session: Session, stream: str) -> None:
    session.execute(
        text("UPDATE audit_stream_heads SET hash=:h WHERE stream=:s"), {"h": "f" * 64, "s": stream}
    )


def drop_last_events(session: Session) -> None:
    with triggers_off(session, "audit_events"):
        session.execute(text("DELETE FROM audit_events WHERE stream='loan:5' AND seq >= 4"))


@dataclass(frozen=True)
class TamperCase:
    name: str
    tamper: Callable[[Session], None]
    stream: str
    seq: int
    says: str


TAMPER_CASES = [
    TamperCase("changed payload", change_payload, "loan:5", 3, "do not match the stored hash"),
    TamperCase("deleted middle event", delete_middle_event, "loan:5", 3, "event seq 3 missing"),
    TamperCase("swapped seqs", swap_seqs, "loan:5", 2, "is not the hash of the event before"),
    TamperCase("forged head", forge_head, "loan:5", 5, "the head records hash"),
    TamperCase("deleted tail", drop_last_events, "loan:5", 4, "events after seq 3 missing"),
]


@pytest.mark.parametrize("case", TAMPER_CASES, ids=lambda case: case.name)
def test_verify_names_the_first_broken_link(session: Session, case: TamperCase) -> None:
    seed_streams(session)
    assert verify(session=session).ok

    case.tamper(session)
    session.expire_all()

    report = verify(session=session)
    assert not report.ok
    first = report.first
    assert first is not None
    assert (first.stream, first.seq) == (case.stream, case.seq)
    assert case.says in first.message
    assert {p.stream for p in report.problems} == {case.stream}
    assert not verify_stream(session=session, stream=case.stream).ok
    assert verify_stream(session=session, stream="conversation:7").ok


def test_verify_in_small_pieces(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """Heads checked in chunks while the event rows are still streaming, a few at a time."""
    monkeypatch.setattr(audit, "_CHUNK", 2)
    monkeypatch.setattr(audit, "_YIELD", 3)
    append_many(
        session=session,
        events=[new_event(f"borrower:{n % 7}", n) for n in range(35)],
    )
    checkpoint(session=session, at=T0 + timedelta(hours=1))
    report = verify(session=session)
    assert report.ok, report.problems
    assert (report.events, report.streams, report.checkpoints) == (35, 7, 1)

    forge_head_of(session, "borrower:1")
    forge_head_of(session, "borrower:5")
    report = verify(session=session)
    assert [(p.stream, p.seq) for p in report.problems] == [("borrower:1", 5), ("borrower:5", 5)]


def test_a_consistent_rewrite_is_caught_by_the_checkpoint(session: Session) -> None:
    seed_streams(session)
    taken = checkpoint(session=session, at=T0 + timedelta(hours=1))
    rewrite_last_loan_event_consistently(session)

    assert verify_stream(session=session, stream="loan:5").ok  # the chain alone cannot tell
    report = verify(session=session)
    assert not report.ok
    first = report.first
    assert first is not None
    assert (first.checkpoint_id, first.stream, first.seq) == (taken.id, "loan:5", 5)
    assert "stored event has" in first.message
    assert str(first).startswith(f"checkpoint {taken.id} stream loan:5 seq 5: ")


def test_altered_checkpoint_is_caught(session: Session) -> None:
    seed_streams(session)
    first = checkpoint(session=session, at=T0 + timedelta(hours=1))
    append(session=session, event=new_event("loan:5", 9))
    second = checkpoint(session=session, at=T0 + timedelta(hours=2))
    assert second.prev_hash == first.hash
    assert verify(session=session).checkpoints == 2
    heads = json.loads(first.heads)
    heads["loan:5"] = [4, heads["loan:5"][1]]

    with triggers_off(session, "audit_checkpoints"):
        session.execute(
            text("UPDATE audit_checkpoints SET heads=:h WHERE id=:id"),
            {"h": json.dumps(heads, sort_keys=True, separators=(",", ":")), "id": first.id},
        )

    report = verify(session=session)
    assert not report.ok
    assert report.first is not None
    assert report.first.checkpoint_id == first.id
    assert "do not match the stored hash" in report.first.message
    # The recorded head no longer matches the stored event at seq 4 either.
    assert any(p.stream == "loan:5" and p.seq == 4 for p in report.problems)


def test_checkpoint_records_every_head(session: Session) -> None:
    seed_streams(session)
    taken = checkpoint(session=session, at=T0 + timedelta(hours=1))
    heads = json.loads(taken.heads)
    assert sorted(heads) == ["conversation:7", "loan:5", "staff:3"]
    assert taken.stream_count == 3
    assert heads["loan:5"] == [5, events_of(session=session, stream="loan:5")[-1].hash]
    assert taken.prev_hash == GENESIS_HASH
    # hash = sha256(prev + canonical {heads, stream_count, taken_at})
    content = {"heads": heads, "stream_count": 3, "taken_at": "2026-03-08T10:30:00.000000Z"}
    assert taken.hash == expected_hash(GENESIS_HASH, content)


# --- export ----------------------------------------------------------------------------------


def test_export_round_trip(session: Session) -> None:
    for n in range(4):
        append(session=session, event=new_event("conversation:12", n, text=f"第{n}条 message"))
    out = io.StringIO()
    written = export_stream(session=session, stream="conversation:12", out=out)
    lines = out.getvalue().splitlines()

    assert written == 4
    assert len(lines) == 6
    assert verify_export(lines).ok
    assert "第0条" in lines[1]  # readable, not \\u escaped
    header, footer = json.loads(lines[0]), json.loads(lines[-1])
    assert header["genesis_hash"] == GENESIS_HASH
    assert footer["head"]["seq"] == 4

    # What a regulator does with only the file and the header's instructions.
    prev = header["genesis_hash"]
    for line in lines[1:-1]:
        item = json.loads(line)
        content = {k: item[k] for k in ("stream", "seq", "kind", "occurred_at", "actor", "payload")}
        assert item["prev_hash"] == prev
        assert expected_hash(prev, content) == item["hash"]
        prev = item["hash"]
    assert footer["head"]["hash"] == prev


def test_edited_export_does_not_verify(session: Session) -> None:
    for n in range(4):
        append(session=session, event=new_event("conversation:12", n))
    out = io.StringIO()
    export_stream(session=session, stream="conversation:12", out=out)
    lines = out.getvalue().splitlines()

    edited = list(lines)
    edited[2] = edited[2].replace('"n":1', '"n":7')
    report = verify_export(edited)
    assert not report.ok
    assert report.first is not None
    assert report.first.seq == 2

    dropped = lines[:2] + lines[3:]
    assert not verify_export(dropped).ok
    assert not verify_export(lines[:-1]).ok  # no head line
    assert not verify_export(lines[1:]).ok  # no header


def test_export_of_an_unknown_stream_is_refused(session: Session) -> None:
    with pytest.raises(UnknownStream):
        export_stream(session=session, stream="conversation:404", out=io.StringIO())


# --- retention -------------------------------------------------------------------------------

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def test_purge_deletes_only_streams_inactive_for_the_whole_retention(session: Session) -> None:
    old = NOW - RETENTION - timedelta(days=30)
    append_many(session=session, events=[new_event("conversation:1", n, at=old) for n in range(3)])
    # Began long ago, active recently: kept.
    append(session=session, event=new_event("loan:9", at=old))
    append(session=session, event=new_event("loan:9", at=NOW - timedelta(days=10)))
    # Last activity exactly at the cutoff: not older, kept.
    append(session=session, event=new_event("conversation:2", at=NOW - RETENTION))
    append(
        session=session, event=new_event("conversation:3", at=NOW - RETENTION + timedelta(days=1))
    )
    final_hash = events_of(session=session, stream="conversation:1")[-1].hash
    checkpoint(session=session, at=old + timedelta(days=1))

    purged = purge_expired(session=session, now=NOW, retention=RETENTION)

    assert purged == ["conversation:1"]
    assert events_of(session=session, stream="conversation:1") == []
    assert head_of(session, "conversation:1") is None
    for kept in ("loan:9", "conversation:2", "conversation:3"):
        assert events_of(session=session, stream=kept), kept
    record = events_of(session=session, stream=SYSTEM_STREAM)[-1]
    assert record.kind == PURGE_KIND
    assert record.occurred_at == NOW
    assert payload_of(record)["streams"] == [
        {
            "stream": "conversation:1",
            "seq": 3,
            "hash": final_hash,
            "last_at": old.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
    ]
    # The checkpoint saw conversation:1; the purge record accounts for it.
    report = verify(session=session)
    assert report.ok, report.problems
    # Nothing left to purge: no new record either.
    assert purge_expired(session=session, now=NOW, retention=RETENTION) == []
    assert len(events_of(session=session, stream=SYSTEM_STREAM)) == 1


def test_nothing_younger_than_the_retention_is_purged(session: Session) -> None:
    append(session=session, event=new_event("conversation:1", at=NOW - timedelta(days=2)))
    # A head claiming old age does not outweigh the events themselves.
    session.execute(
        text("UPDATE audit_stream_heads SET last_at=:old WHERE stream='conversation:1'"),
        {"old": NOW - timedelta(days=4000)},
    )
    assert purge_expired(session=session, now=NOW, retention=RETENTION) == []
    assert len(events_of(session=session, stream="conversation:1")) == 1
    # Once the events themselves are older than the retention, the stream goes.
    assert purge_expired(session=session, now=NOW + RETENTION, retention=RETENTION) == [
        "conversation:1"
    ]
    for too_short in (timedelta(0), timedelta(seconds=1), RETENTION - timedelta(days=1)):
        with pytest.raises(ValueError, match="at least 1095 days"):
            purge_expired(session=session, now=NOW, retention=too_short)


def test_the_record_of_purges_is_never_purged(session: Session) -> None:
    old = NOW - RETENTION - timedelta(days=30)
    append(session=session, event=new_event("conversation:1", at=old))
    purge_expired(session=session, now=old + RETENTION + timedelta(days=1), retention=RETENTION)
    assert purge_expired(session=session, now=NOW + 10 * RETENTION, retention=RETENTION) == []
    assert len(events_of(session=session, stream=SYSTEM_STREAM)) == 1


def test_an_unrecorded_deletion_is_caught_by_the_checkpoint(session: Session) -> None:
    seed_streams(session)
    taken = checkpoint(session=session, at=T0 + timedelta(hours=1))
    # Deleted the way a purge does, but without the purge's record.
    session.execute(
        text("INSERT INTO audit_purge_permits (stream, created_at) VALUES ('staff:3', :at)"),
        {"at": T0},
    )
    session.execute(text("DELETE FROM audit_events WHERE stream='staff:3'"))
    session.execute(text("DELETE FROM audit_stream_heads WHERE stream='staff:3'"))
    session.execute(text("DELETE FROM audit_purge_permits"))

    report = verify(session=session)
    assert not report.ok
    assert report.first is not None
    assert (report.first.checkpoint_id, report.first.stream, report.first.seq) == (
        taken.id,
        "staff:3",
        5,
    )
    assert "not stored" in report.first.message


# --- concurrency (PostgreSQL) ------------------------------------------------------------------


@pytest.fixture(scope="module")
def committed_engine() -> Iterator[Engine]:
    """A migrated schema of its own whose data is committed, for tests with several connections."""
    if not PG_URL:
        pytest.skip("needs PostgreSQL (SETTLE_TEST_DATABASE_URL): SQLite serialises writers")
    schema = f"settle_audit_test_{os.getpid()}"
    admin = make_engine(PG_URL, cipher=None)
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    engine = make_engine(
        PG_URL, cipher=PiiCipher.from_text(TEST_KEY), search_path=schema, pool_size=4
    )
    upgrade(engine)
    yield engine
    engine.dispose()
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    admin.dispose()


def run_in_threads(engine: Engine, *work: Callable[[Session, int], None]) -> None:
    """Each job in its own thread and connection, started together, 200 transactions each."""
    start = threading.Barrier(len(work))
    errors: list[BaseException] = []

    def run(job: Callable[[Session, int], None]) -> None:
        try:
            start.wait()
            for n in range(200):
                with Session(engine) as session, session.begin():
                    job(session, n)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


def seqs_of(engine: Engine, stream: str) -> list[int]:
    with Session(engine) as session:
        return [e.seq for e in events_of(session=session, stream=stream)]


def test_two_workers_on_one_stream_serialise(committed_engine: Engine) -> None:
    def worker(name: str) -> Callable[[Session, int], None]:
        def job(session: Session, n: int) -> None:
            append(session=session, event=new_event("loan:1", n, worker=name))

        return job

    run_in_threads(committed_engine, worker("a"), worker("b"))

    assert seqs_of(committed_engine, "loan:1") == list(range(1, 401))
    with Session(committed_engine) as session:
        report = verify_stream(session=session, stream="loan:1")
        assert report.ok, report.problems
        assert report.events == 400


def test_workers_on_different_streams_and_crossing_batches(committed_engine: Engine) -> None:
    def own_stream(stream: str) -> Callable[[Session, int], None]:
        def job(session: Session, n: int) -> None:
            append(session=session, event=new_event(stream, n))

        return job

    def crossing(first: str, second: str) -> Callable[[Session, int], None]:
        # Opposite orders in the two threads: locks are taken in stream order, so no deadlock.
        def job(session: Session, n: int) -> None:
            append_many(session=session, events=[new_event(first, n), new_event(second, n)])

        return job

    run_in_threads(
        committed_engine,
        own_stream("loan:2"),
        own_stream("loan:3"),
        crossing("conversation:8", "conversation:9"),
        crossing("conversation:9", "conversation:8"),
    )

    assert seqs_of(committed_engine, "loan:2") == list(range(1, 201))
    assert seqs_of(committed_engine, "loan:3") == list(range(1, 201))
    assert seqs_of(committed_engine, "conversation:8") == list(range(1, 401))
    assert seqs_of(committed_engine, "conversation:9") == list(range(1, 401))
    with Session(committed_engine) as session:
        checkpoint(session=session, at=T0)
        session.commit()
        report = verify(session=session)
        assert report.ok, report.problems


def test_a_forged_purge_record_does_not_excuse_a_rewritten_stream(session: Session) -> None:
    for n in range(3):
        append(session=session, event=new_event("conversation:2", n, text="I will kill myself"))
    checkpoint(session=session, at=T0 + timedelta(hours=1))
    # Delete the stream through a permit, store a rewritten history, then claim a purge.
    session.execute(
        text("INSERT INTO audit_purge_permits (stream, created_at) VALUES ('conversation:2', :at)"),
        {"at": T0},
    )
    session.execute(text("DELETE FROM audit_events WHERE stream = 'conversation:2'"))
    session.execute(text("DELETE FROM audit_stream_heads WHERE stream = 'conversation:2'"))
    session.execute(text("DELETE FROM audit_purge_permits"))
    for n in range(2):
        append(session=session, event=new_event("conversation:2", n, text="ok thanks"))
    forged = {"stream": "conversation:2", "seq": 99, "hash": "x" * 64, "last_at": "2026-03-08"}
    append(
        session=session,
        event=NewEvent(
            stream=SYSTEM_STREAM, kind=PURGE_KIND, occurred_at=T0 + timedelta(hours=2),
            actor="system", payload={"streams": [forged]},
        ),
    )  # fmt: skip
    report = verify(session=session)
    assert not report.ok
    assert report.first is not None
    assert report.first.stream == "conversation:2"


def test_an_export_line_with_fields_outside_the_hash_is_refused(session: Session) -> None:
    for n in range(3):
        append(session=session, event=new_event("conversation:4", n))
    out = io.StringIO()
    export_stream(session=session, stream="conversation:4", out=out)
    lines = out.getvalue().splitlines()
    edited = json.loads(lines[2]) | {"note": "borrower agreed to pay, no dispute"}
    report = verify_export([*lines[:2], json.dumps(edited, ensure_ascii=False), *lines[3:]])
    assert not report.ok
    assert "outside the hash" in str(report.first)


def test_a_lone_surrogate_is_recorded_not_refused(session: Session) -> None:
    # A client that cuts an emoji in half sends half a surrogate pair: still recorded.
    stored = append(session=session, event=new_event("conversation:5", 0, text="pay now \ud83d"))
    assert payload_of(stored)["text"].startswith("pay now ")
    assert verify_stream(session=session, stream="conversation:5").ok
