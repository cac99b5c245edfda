"""Verification of the stored trail: recompute every stream's chain and head, and check every
checkpoint against the events (allowing for streams purged since); `verify`, `verify_stream`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from compliance.audit.events import (
    _CHECKPOINTS,
    _CHUNK,
    _EVENTS,
    _HEADS,
    _YIELD,
    GENESIS_HASH,
    PURGE_KIND,
    SYSTEM_STREAM,
    _checkpoint_body,
    _chunks,
    _event_body,
    chain_hash,
    format_instant,
)
from compliance.audit.report import Problem, VerifyReport, _Problems, _short


def verify(*, session: Session) -> VerifyReport:
    """Recompute every stream's chain, its head, and every checkpoint; report what is broken."""
    problems = _Problems()
    events, streams = _verify_chains(session, problems, only=None)
    checkpoints = _verify_checkpoints(session, problems)
    return problems.report(events=events, streams=streams, checkpoints=checkpoints)


def verify_stream(*, session: Session, stream: str) -> VerifyReport:
    """Recompute one stream's chain and check its head (checkpoints are not read)."""
    problems = _Problems()
    events, streams = _verify_chains(session, problems, only=stream)
    return problems.report(events=events, streams=streams, checkpoints=0)


def _verify_chains(session: Session, problems: _Problems, *, only: str | None) -> tuple[int, int]:
    """Walk the events in (stream, seq) order, a few thousand rows in memory at a time."""
    query = select(
        _EVENTS.c.stream,
        _EVENTS.c.seq,
        _EVENTS.c.kind,
        _EVENTS.c.occurred_at,
        _EVENTS.c.actor,
        _EVENTS.c.payload,
        _EVENTS.c.prev_hash,
        _EVENTS.c.hash,
    ).order_by(_EVENTS.c.stream, _EVENTS.c.seq)
    if only is not None:
        query = query.where(_EVENTS.c.stream == only)
    events = streams = 0
    ends: list[tuple[str, int, str]] = []  # (stream, last seq, last hash) awaiting the head check
    current: str | None = None
    expected, prev_hash = 1, GENESIS_HASH
    for row in session.execute(query.execution_options(yield_per=_YIELD)):
        if row.stream != current:
            if current is not None:
                ends.append((current, expected - 1, prev_hash))
                if len(ends) >= _CHUNK:
                    _check_heads(session, ends, problems)
                    ends = []
            current, expected, prev_hash = row.stream, 1, GENESIS_HASH
            streams += 1
        events += 1
        gap = row.seq != expected
        if gap:
            missing = (
                f"seq {expected}" if row.seq == expected + 1 else f"seqs {expected}..{row.seq - 1}"
            )
            problems.add(
                Problem(
                    f"event {missing} missing (next stored seq is {row.seq})", row.stream, expected
                )
            )
        elif row.prev_hash != prev_hash:
            problems.add(
                Problem(
                    f"prev_hash {_short(row.prev_hash)} is not the hash of the event before it "
                    f"({_short(prev_hash)})",
                    row.stream,
                    row.seq,
                )
            )
        body = _event_body(
            stream=row.stream,
            seq=row.seq,
            kind=row.kind,
            occurred_at=format_instant(row.occurred_at),
            actor=row.actor,
            payload_json=row.payload,
        )
        recomputed = chain_hash(row.prev_hash, body)
        if recomputed != row.hash:
            problems.add(
                Problem(
                    f"contents do not match the stored hash {_short(row.hash)} "
                    f"(recomputed {_short(recomputed)})",
                    row.stream,
                    row.seq,
                )
            )
        # Continue from the stored hash, so one altered row is reported once, not for every
        # event after it.
        expected, prev_hash = row.seq + 1, row.hash
    if current is not None:
        ends.append((current, expected - 1, prev_hash))
    _check_heads(session, ends, problems)
    _check_headless(session, problems, only=only)
    return events, streams


def _check_heads(
    session: Session, ends: Sequence[tuple[str, int, str]], problems: _Problems
) -> None:
    if not ends:
        return
    stored = {
        stream: (seq, digest)
        for stream, seq, digest in session.execute(
            select(_HEADS.c.stream, _HEADS.c.seq, _HEADS.c.hash).where(
                _HEADS.c.stream.in_([stream for stream, _, _ in ends])
            )
        )
    }
    for stream, last_seq, last_hash in ends:
        if stream not in stored:
            problems.add(Problem("the stream has events but no head row", stream, last_seq))
            continue
        head_seq, head_hash = stored[stream]
        if head_seq > last_seq:
            problems.add(
                Problem(
                    f"events after seq {last_seq} missing: the head records seq {head_seq}",
                    stream,
                    last_seq + 1,
                )
            )
        elif head_seq < last_seq:
            problems.add(
                Problem(
                    f"the head records seq {head_seq}, the chain goes on to seq {last_seq}",
                    stream,
                    head_seq + 1,
                )
            )
        elif head_hash != last_hash:
            problems.add(
                Problem(
                    f"the head records hash {_short(head_hash)}, the event has {_short(last_hash)}",
                    stream,
                    head_seq,
                )
            )


def _check_headless(session: Session, problems: _Problems, *, only: str | None) -> None:
    """Heads whose stream has no events at all (every event deleted)."""
    has_events = select(_EVENTS.c.id).where(_EVENTS.c.stream == _HEADS.c.stream).exists()
    query = select(_HEADS.c.stream, _HEADS.c.seq).where(~has_events)
    if only is not None:
        query = query.where(_HEADS.c.stream == only)
    for stream, seq in session.execute(query):
        problems.add(Problem(f"the head records seq {seq} but no event is stored", stream, 1))


@dataclass(frozen=True)
class _PurgeRecord:
    seq: int
    hash: str
    purged_at: datetime


def _purge_records(session: Session) -> dict[str, list[_PurgeRecord]]:
    """What each purge recorded of the streams it deleted (from the verified system stream)."""
    records: dict[str, list[_PurgeRecord]] = {}
    query = select(_EVENTS.c.occurred_at, _EVENTS.c.payload).where(
        _EVENTS.c.stream == SYSTEM_STREAM, _EVENTS.c.kind == PURGE_KIND
    )
    for occurred_at, payload in session.execute(query):
        for item in json.loads(payload).get("streams", []):
            records.setdefault(item["stream"], []).append(
                _PurgeRecord(seq=item["seq"], hash=item["hash"], purged_at=occurred_at)
            )
    return records


def _verify_checkpoints(session: Session, problems: _Problems) -> int:
    purged = _purge_records(session)
    ids = list(session.scalars(select(_CHECKPOINTS.c.id).order_by(_CHECKPOINTS.c.id)))
    prev_hash = GENESIS_HASH
    for checkpoint_id in ids:
        row = session.execute(select(_CHECKPOINTS).where(_CHECKPOINTS.c.id == checkpoint_id)).one()
        if row.prev_hash != prev_hash:
            problems.add(
                Problem(
                    f"prev_hash {_short(row.prev_hash)} is not the previous checkpoint's hash "
                    f"({_short(prev_hash)})",
                    checkpoint_id=checkpoint_id,
                )
            )
        body = _checkpoint_body(
            taken_at=format_instant(row.taken_at),
            heads_json=row.heads,
            stream_count=row.stream_count,
        )
        recomputed = chain_hash(row.prev_hash, body)
        if recomputed != row.hash:
            problems.add(
                Problem(
                    f"contents do not match the stored hash {_short(row.hash)} "
                    f"(recomputed {_short(recomputed)})",
                    checkpoint_id=checkpoint_id,
                )
            )
        prev_hash = row.hash
        try:
            heads = json.loads(row.heads)
            items = [(str(s), int(v[0]), str(v[1])) for s, v in heads.items()]
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            problems.add(
                Problem("heads are not a {stream: [seq, hash]} object", checkpoint_id=checkpoint_id)
            )
            continue
        if len(items) != row.stream_count:
            problems.add(
                Problem(
                    f"records {len(items)} heads but stream_count says {row.stream_count}",
                    checkpoint_id=checkpoint_id,
                )
            )
        _check_checkpoint_heads(session, problems, row.id, row.taken_at, items, purged)
    return len(ids)


def _check_checkpoint_heads(
    session: Session,
    problems: _Problems,
    checkpoint_id: int,
    taken_at: datetime,
    items: Sequence[tuple[str, int, str]],
    purged: Mapping[str, list[_PurgeRecord]],
) -> None:
    """Each recorded head against the stored event at that seq.

    The chain walk has already recomputed every stored hash, so a head that equals the stored
    hash equals the recomputed one wherever that walk reported nothing.
    """
    for chunk in _chunks(sorted(items)):
        stored = {
            (stream, seq): digest
            for stream, seq, digest in session.execute(
                select(_EVENTS.c.stream, _EVENTS.c.seq, _EVENTS.c.hash).where(
                    tuple_(_EVENTS.c.stream, _EVENTS.c.seq).in_([(s, q) for s, q, _ in chunk])
                )
            )
        }
        for stream, seq, digest in chunk:
            found = stored.get((stream, seq))
            if found == digest:
                continue
            # A purge excuses a missing event only, and only when nothing of the stream dated
            # before the purge is stored: history stored again was rewritten, whatever a purge
            # record claims.
            if (
                found is None
                and _purge_covers(purged.get(stream, ()), taken_at, seq, digest)
                and not _stored_before_purge(session, stream, purged.get(stream, ()))
            ):
                continue
            if found is None:
                message = f"records hash {_short(digest)} for an event that is not stored"
            else:
                message = f"records hash {_short(digest)}, the stored event has {_short(found)}"
            problems.add(Problem(message, stream, seq, checkpoint_id))


def _stored_before_purge(
    session: Session, stream: str, records: Iterable[_PurgeRecord]
) -> bool:
    """Whether the stream holds an event dated at or before its latest recorded purge."""
    latest = max((record.purged_at for record in records), default=None)
    if latest is None:
        return False
    earliest = session.scalar(
        select(func.min(_EVENTS.c.occurred_at)).where(_EVENTS.c.stream == stream)
    )
    return earliest is not None and _as_utc(earliest) <= _as_utc(latest)


def _as_utc(value: datetime) -> datetime:
    # SQLite hands back naive values (written in UTC); PostgreSQL aware ones.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _purge_covers(
    records: Iterable[_PurgeRecord], taken_at: datetime, seq: int, digest: str
) -> bool:
    """Whether a purge after the checkpoint deleted the stream with this event in it."""
    return any(
        record.purged_at >= taken_at
        and (seq < record.seq or (seq == record.seq and digest == record.hash))
        for record in records
    )
