"""Retention (US-RETENTION): `purge_expired` deletes whole streams past their retention and
records each one's final seq and hash in `system:audit`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from compliance.audit.appending import append
from compliance.audit.events import (
    _EVENTS,
    _HEADS,
    _PERMITS,
    PURGE_KIND,
    SYSTEM_STREAM,
    NewEvent,
    _chunks,
    format_instant,
)
from models import is_postgresql

# Streams named `system:*` record what happened to the trail itself (purges): never purged.
SYSTEM_PREFIX = "system:"


# US-RETENTION: records are kept at least three years; no setting can shorten that.
MIN_RETENTION = timedelta(days=1095)


def purge_expired(*, session: Session, now: datetime, retention: timedelta) -> list[str]:
    """Delete whole streams whose last event is older than `now - retention` (US-RETENTION).

    The deletion passes the trigger through purge permits that exist only inside this
    transaction; a `streams_purged` event in `system:audit` records each purged stream's final
    seq and hash, so checkpoints that saw those streams still verify. `system:*` streams, the
    record of purges, are never purged. Returns the purged streams in order.
    """
    format_instant(now)
    if retention < MIN_RETENTION:
        raise ValueError(
            f"retention must be at least {MIN_RETENTION.days} days (US-RETENTION: three years"
            " after the last collection activity)"
        )
    cutoff = now - retention
    candidates = list(
        session.scalars(
            select(_HEADS.c.stream)
            .where(
                _HEADS.c.last_at < cutoff,
                _HEADS.c.seq > 0,
                ~_HEADS.c.stream.startswith(SYSTEM_PREFIX, autoescape=True),
            )
            .order_by(_HEADS.c.stream)
        )
    )
    order = _HEADS.c.stream.collate("C") if is_postgresql(session) else _HEADS.c.stream
    purged: list[dict[str, Any]] = []
    for chunk in _chunks(sorted(candidates)):
        # Lock as appenders do, then re-read: an append that committed meanwhile keeps its stream.
        locked = session.execute(
            select(_HEADS.c.stream, _HEADS.c.seq, _HEADS.c.hash, _HEADS.c.last_at)
            .where(_HEADS.c.stream.in_(chunk))
            .order_by(order)
            .with_for_update()
        ).all()
        # The events themselves, not only the head, must all be older than the cutoff.
        newest_query = (
            select(_EVENTS.c.stream, func.max(_EVENTS.c.occurred_at))
            .where(_EVENTS.c.stream.in_(chunk))
            .group_by(_EVENTS.c.stream)
        )
        latest: dict[str, datetime] = {row[0]: row[1] for row in session.execute(newest_query)}
        for stream, seq, digest, last_at in locked:
            newest = latest.get(stream)
            if last_at >= cutoff or (newest is not None and _aware(newest) >= cutoff):
                continue
            purged.append(
                {"stream": stream, "seq": seq, "hash": digest, "last_at": format_instant(last_at)}
            )
    if not purged:
        return []
    names = [item["stream"] for item in purged]
    for chunk in _chunks(names):
        session.execute(insert(_PERMITS), [{"stream": s, "created_at": now} for s in chunk])
        session.execute(delete(_EVENTS).where(_EVENTS.c.stream.in_(chunk)))
        session.execute(delete(_HEADS).where(_HEADS.c.stream.in_(chunk)))
        session.execute(delete(_PERMITS).where(_PERMITS.c.stream.in_(chunk)))
    append(
        session=session,
        event=NewEvent(
            stream=SYSTEM_STREAM,
            kind=PURGE_KIND,
            occurred_at=now,
            actor="system",
            payload={
                "cutoff": cutoff,
                "retention_seconds": int(retention.total_seconds()),
                "streams": purged,
            },
        ),
    )
    return names


def _aware(value: datetime) -> datetime:
    # An aggregate bypasses the column type: SQLite hands back a naive UTC value (or its text).
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
