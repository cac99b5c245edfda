"""Export of one stream as JSON Lines a reviewer or regulator can check with nothing else
(`export_header`, `export_stream`), and that independent check (`verify_export`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.audit.events import (
    _EVENTS,
    _HEADS,
    _YIELD,
    ALGORITHM,
    GENESIS_HASH,
    UnknownStream,
    canonical_json,
    format_instant,
)
from compliance.audit.report import Problem, VerifyReport, _Problems

EXPORT_FORMAT = "settle-audit-export"
EXPORT_VERSION = 1


def export_header(stream: str) -> dict[str, Any]:
    """The first line of an export: what the file is and how to check it with nothing else."""
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "stream": stream,
        "algorithm": ALGORITHM,
        "genesis_hash": GENESIS_HASH,
        "lines": (
            "this header; then one event per line in seq order, seq 1, 2, 3 ... with no gaps; "
            'then a last line {"head": {stream, seq, hash, last_at}, "events": N} whose seq and '
            "hash equal the last event's"
        ),
        "hash": (
            "hash = lowercase hex of sha256 over the UTF-8 bytes of prev_hash followed by "
            "canonical_json(event), where event is the line's {stream, seq, kind, occurred_at, "
            "actor, payload}; the first event's prev_hash is genesis_hash, every later event's "
            "prev_hash is the hash of the event before it"
        ),
        "canonical_json": (
            "keys sorted, no whitespace (separators , and :), non-ASCII characters written as "
            "themselves, not as \\u escapes; occurred_at is UTC with microseconds and Z"
        ),
        "example": (
            "python3: hashlib.sha256((prev_hash + json.dumps(event, sort_keys=True, "
            "separators=(',', ':'), ensure_ascii=False)).encode('utf-8')).hexdigest()"
        ),
    }


def export_stream(*, session: Session, stream: str, out: TextIO) -> int:
    """Write one stream as JSON Lines a regulator can check alone; returns the events written."""
    head = session.execute(
        select(_HEADS.c.seq, _HEADS.c.hash, _HEADS.c.last_at).where(_HEADS.c.stream == stream)
    ).one_or_none()
    if head is None:
        raise UnknownStream(f"no audit stream {stream!r}")
    out.write(canonical_json(export_header(stream)) + "\n")
    query = (
        select(_EVENTS)
        .where(_EVENTS.c.stream == stream)
        .order_by(_EVENTS.c.seq)
        .execution_options(yield_per=_YIELD)
    )
    written = 0
    for row in session.execute(query):
        line = {
            "stream": row.stream,
            "seq": row.seq,
            "kind": row.kind,
            "occurred_at": format_instant(row.occurred_at),
            "actor": row.actor,
            "payload": json.loads(row.payload),
            "prev_hash": row.prev_hash,
            "hash": row.hash,
        }
        out.write(canonical_json(line) + "\n")
        written += 1
    footer = {
        "head": {
            "stream": stream,
            "seq": head.seq,
            "hash": head.hash,
            "last_at": format_instant(head.last_at),
        },
        "events": written,
    }
    out.write(canonical_json(footer) + "\n")
    return written


_EVENT_FIELDS = ("stream", "seq", "kind", "occurred_at", "actor", "payload")


def verify_export(lines: Iterable[str]) -> VerifyReport:
    """Check an exported file with nothing but the file: header, every link, the head line.

    Written the way a reviewer would, from the header's description: parse each line, hash
    `json.dumps` of the six event fields; it shares no code with `append`.
    """
    problems = _Problems()
    parsed: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            problems.add(Problem(f"line {number} is not JSON"))
            continue
        if isinstance(value, dict):
            parsed.append(value)
        else:
            problems.add(Problem(f"line {number} is not a JSON object"))
    if not parsed or parsed[0].get("format") != EXPORT_FORMAT:
        problems.add(Problem(f"the first line is not a {EXPORT_FORMAT} header"))
        return problems.report(events=0, streams=0, checkpoints=0)
    header = parsed[0]
    stream = str(header.get("stream"))
    if header.get("algorithm") != ALGORITHM:
        problems.add(Problem(f"unknown algorithm {header.get('algorithm')!r}", stream))
        return problems.report(events=0, streams=0, checkpoints=0)
    prev_hash = str(header.get("genesis_hash"))
    footer = parsed[-1] if len(parsed) > 1 and "head" in parsed[-1] else None
    events = parsed[1:-1] if footer is not None else parsed[1:]
    if footer is None:
        problems.add(Problem("the last line is not the head line", stream))
    expected = 1
    for event in events:
        seq = event.get("seq")
        if event.get("stream") != stream:
            problems.add(Problem(f"an event of stream {event.get('stream')!r}", stream, seq))
        # Every field of an event line is hashed; anything else would be unprotected text.
        extra = sorted(set(event) - {*_EVENT_FIELDS, "prev_hash", "hash"})
        if extra:
            problems.add(Problem(f"fields outside the hash: {', '.join(extra)}", stream, seq))
        if seq != expected:
            problems.add(Problem(f"seq {expected} expected here, found {seq}", stream, expected))
        elif event.get("prev_hash") != prev_hash:
            problems.add(Problem("prev_hash is not the hash of the event before it", stream, seq))
        try:
            body = json.dumps(
                {name: event[name] for name in _EVENT_FIELDS},
                sort_keys=True,
                separators=(",", ":"),
                ensure_ascii=False,
            )
        except KeyError as missing:
            problems.add(Problem(f"field {missing} missing", stream, seq))
            body = ""
        recomputed = hashlib.sha256(
            (str(event.get("prev_hash")) + body).encode("utf-8")
        ).hexdigest()
        if recomputed != event.get("hash"):
            problems.add(Problem("contents do not match the hash", stream, seq))
        prev_hash = str(event.get("hash"))
        expected = seq + 1 if isinstance(seq, int) else expected + 1
    if footer is not None:
        head = footer.get("head") or {}
        if head.get("seq") != expected - 1 or head.get("hash") != prev_hash:
            problems.add(
                Problem(
                    f"the head line records seq {head.get('seq')}, the events end at seq "
                    f"{expected - 1} with another hash",
                    stream,
                    head.get("seq") if isinstance(head.get("seq"), int) else None,
                )
            )
        if footer.get("events") != len(events):
            problems.add(
                Problem(
                    f"the head line counts {footer.get('events')} events, {len(events)} found",
                    stream,
                )
            )
    return problems.report(events=len(events), streams=1, checkpoints=0)
