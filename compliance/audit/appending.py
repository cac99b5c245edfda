"""Appending events to their streams' chains (`append`, `append_many`) under the head-row
locks that order appends to one stream, and reading a stream's events back (`events_of`,
`payload_of`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from compliance.audit.events import (
    _HEADS,
    GENESIS_HASH,
    NewEvent,
    _chunks,
    _event_body,
    _prepare,
    chain_hash,
)
from models import AuditEvent, is_postgresql


def append(*, session: Session, event: NewEvent) -> AuditEvent:
    """Append one event to its stream's chain; flushes, never commits."""
    return append_many(session=session, events=[event])[0]


def append_many(*, session: Session, events: Sequence[NewEvent]) -> list[AuditEvent]:
    """Append events in bulk, each chained in the given order within its stream.

    A constant number of statements whatever the batch size: create missing heads, read (and on
    PostgreSQL lock, in stream order) every head involved, insert the events, update the heads.
    """
    if not events:
        return []
    prepared = [_prepare(event) for event in events]
    earliest: dict[str, datetime] = {}
    for item in prepared:
        if item.stream not in earliest or item.occurred_at < earliest[item.stream]:
            earliest[item.stream] = item.occurred_at
    heads = _lock_heads(session, earliest)

    rows: list[dict[str, Any]] = []
    for item in prepared:
        seq, prev_hash, last_at = heads[item.stream]
        seq += 1
        body = _event_body(
            stream=item.stream,
            seq=seq,
            kind=item.kind,
            occurred_at=item.occurred_text,
            actor=item.actor,
            payload_json=item.payload_json,
        )
        digest = chain_hash(prev_hash, body)
        rows.append(
            {
                "stream": item.stream,
                "seq": seq,
                "kind": item.kind,
                "occurred_at": item.occurred_at,
                "actor": item.actor,
                "payload": item.payload_json,
                "prev_hash": prev_hash,
                "hash": digest,
            }
        )
        # last_at is the latest activity, so a back-dated event never shortens retention.
        heads[item.stream] = (seq, digest, max(last_at, item.occurred_at))

    # Without sort_by_parameter_order: asking for it makes SQLAlchemy insert row by row on
    # SQLite. (stream, seq) is unique, so the rows are put back in the caller's order here.
    inserted = {
        (row.stream, row.seq): row
        for row in session.scalars(insert(AuditEvent).returning(AuditEvent), rows)
    }
    _store_heads(session, heads)
    return [inserted[(row["stream"], row["seq"])] for row in rows]


_HEAD_STATEMENTS: dict[str, tuple[Any, Any]] = {}


def _head_statements(session: Session) -> tuple[Any, Any]:
    """(create missing heads, store heads): INSERT ... ON CONFLICT for the session's database.

    With RETURNING and a list of parameters, SQLAlchemy sends them as multi-row INSERTs
    ("insertmanyvalues") from one cached compilation, however many heads there are.
    """
    dialect = session.get_bind().dialect.name
    cached = _HEAD_STATEMENTS.get(dialect)
    if cached is not None:
        return cached
    base = postgresql.insert(_HEADS) if dialect == "postgresql" else sqlite.insert(_HEADS)
    create = base.on_conflict_do_nothing(index_elements=["stream"]).returning(_HEADS.c.stream)
    store = base.on_conflict_do_update(
        index_elements=["stream"],
        set_={
            "seq": base.excluded.seq,
            "hash": base.excluded.hash,
            "last_at": base.excluded.last_at,
        },
    ).returning(_HEADS.c.stream)
    _HEAD_STATEMENTS[dialect] = (create, store)
    return create, store


def _lock_heads(
    session: Session, earliest: Mapping[str, datetime]
) -> dict[str, tuple[int, str, datetime]]:
    """Every named stream's head (seq, hash, last_at), created at seq 0 when missing, locked.

    Missing heads are inserted first (ON CONFLICT DO NOTHING, so a concurrent creator wins
    quietly), then all are locked with one `SELECT ... FOR UPDATE` in code-point order: every
    appender locks in the same order, so two of them never deadlock; a row another transaction
    has only inserted is invisible to the lock, which therefore never waits on it.
    """
    streams = sorted(earliest)
    create, _ = _head_statements(session)
    session.execute(
        create,
        [{"stream": s, "seq": 0, "hash": GENESIS_HASH, "last_at": earliest[s]} for s in streams],
    )
    order = _HEADS.c.stream.collate("C") if is_postgresql(session) else _HEADS.c.stream
    heads: dict[str, tuple[int, str, datetime]] = {}
    for chunk in _chunks(streams):
        query = (
            select(_HEADS.c.stream, _HEADS.c.seq, _HEADS.c.hash, _HEADS.c.last_at)
            .where(_HEADS.c.stream.in_(chunk))
            .order_by(order)
            .with_for_update()
        )
        for stream, seq, digest, last_at in session.execute(query):
            heads[stream] = (seq, digest, last_at)
    return heads


def _store_heads(session: Session, heads: Mapping[str, tuple[int, str, datetime]]) -> None:
    _, store = _head_statements(session)
    session.execute(
        store,
        [
            {"stream": s, "seq": seq, "hash": digest, "last_at": last_at}
            for s, (seq, digest, last_at) in sorted(heads.items())
        ],
    )


# --- reading ---------------------------------------------------------------------------------


def events_of(*, session: Session, stream: str) -> list[AuditEvent]:
    """Every event of one stream, in seq order."""
    return list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.stream == stream).order_by(AuditEvent.seq)
        )
    )


def payload_of(event: AuditEvent) -> dict[str, Any]:
    """An event's payload as data."""
    payload = json.loads(event.payload)
    assert isinstance(payload, dict)
    return payload
