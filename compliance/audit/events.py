"""Events and their hashed form: `NewEvent`, the audit errors, stream names, canonical JSON and
the chain hash, the shared table handles and the chunk sizes every query of the trail uses.

Nothing here touches the database; `appending`, `checkpoints`, `verification`, `export` and
`retention` build on it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any, cast
from uuid import UUID

from sqlalchemy import Table

from models import AuditCheckpoint, AuditEvent, AuditPurgePermit, AuditStreamHead

GENESIS_HASH = "0" * 64
ALGORITHM = "sha256"
SYSTEM_STREAM = "system:audit"
PURGE_KIND = "streams_purged"

# Column widths of models.compliance.
_STREAM_MAX = 64
_KIND_MAX = 48
_ACTOR_MAX = 64
_STREAM_RE = re.compile(r"[a-z][a-z_]*:[A-Za-z0-9_.\-]+")
_KIND_RE = re.compile(r"[a-z][a-z0-9_]*")
# Streams per IN list and head rows per multi-row statement: well under SQLite's and
# PostgreSQL's bind-parameter limits.
_CHUNK = 500
# Rows fetched per round trip when verifying or exporting: bounded memory on any trail size.
_YIELD = 2000

_EVENTS = cast(Table, AuditEvent.__table__)
_HEADS = cast(Table, AuditStreamHead.__table__)
_CHECKPOINTS = cast(Table, AuditCheckpoint.__table__)
_PERMITS = cast(Table, AuditPurgePermit.__table__)


class AuditError(Exception):
    """Something asked of the audit trail cannot be done."""


class InvalidEvent(AuditError, ValueError):
    """An event that cannot be recorded: bad stream or kind, naive time, data that is not JSON."""


class UnknownStream(AuditError, LookupError):
    """No stream of that name is in the trail (never written, or purged)."""


@dataclass(frozen=True)
class NewEvent:
    """An event to append; `seq`, `prev_hash` and `hash` are given by `append`."""

    stream: str  # "conversation:12", "loan:5", "staff:3", "borrower:7", "system:audit"
    kind: str  # "contact_decision", "message_in", "message_out", "message_blocked", ...
    occurred_at: datetime  # timezone-aware
    actor: str  # "settle", "borrower", "staff:3", "system"
    # JSON data: str, int, float, bool, None, lists, dicts with str keys; Decimal, date,
    # datetime, time, UUID and enums are written as their string (or enum value) forms.
    payload: Mapping[str, Any]


# --- canonical form ------------------------------------------------------------------------


# One encoder, built once: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def canonical_json(value: Any) -> str:
    """The one JSON text of `value` that is hashed: sorted keys, no spaces, non-ASCII as is."""
    return _ENCODER.encode(value)


def format_instant(at: datetime) -> str:
    """An aware instant as hashed and exported: UTC, microseconds, `Z`.

    Naive datetimes are refused.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidEvent("a timezone-aware datetime is required, got a naive one")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def chain_hash(prev_hash: str, body: str) -> str:
    """`hex(sha256(utf8(prev_hash + body)))`."""
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def _event_body(
    *, stream: str, seq: int, kind: str, occurred_at: str, actor: str, payload_json: str
) -> str:
    # Equal to canonical_json({...}) with the payload's canonical text spliced in unchanged
    # (keys in sorted order), so verification hashes the stored bytes without re-parsing them.
    return (
        '{"actor":' + canonical_json(actor)
        + ',"kind":' + canonical_json(kind)
        + ',"occurred_at":' + canonical_json(occurred_at)
        + ',"payload":' + payload_json
        + ',"seq":' + str(seq)
        + ',"stream":' + canonical_json(stream)
        + "}"
    )  # fmt: skip


def _checkpoint_body(*, taken_at: str, heads_json: str, stream_count: int) -> str:
    return (
        '{"heads":' + heads_json
        + ',"stream_count":' + str(stream_count)
        + ',"taken_at":' + canonical_json(taken_at)
        + "}"
    )  # fmt: skip


def _plain(value: Any, path: str) -> Any:
    """`value` as plain JSON data, or `InvalidEvent` naming where it is not."""
    if isinstance(value, Enum):
        return _plain(value.value, path)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        # A lone surrogate (an emoji cut in half by a client) has no UTF-8 form; the message
        # is still recorded, with U+FFFD in its place.
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidEvent(f"{path}: {value} has no JSON form")
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidEvent(f"{path}: {value} has no JSON form")
        return str(value)
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                # json.dumps would turn 1 and "1" into the same key.
                raise InvalidEvent(f"{path}: key {key!r} is not a string")
            out[str(key)] = _plain(item, f"{path}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [_plain(item, f"{path}[{index}]") for index, item in enumerate(value)]
    raise InvalidEvent(f"{path}: {type(value).__name__} is not JSON data")


# --- stream names and validation -----------------------------------------------------------


def stream_for(kind: str, id: int) -> str:
    """The stream of one thing: `stream_for("loan", 5) == "loan:5"`."""
    if isinstance(id, bool) or not isinstance(id, int) or id < 0:
        raise InvalidEvent(f"stream id must be a non-negative integer, got {id!r}")
    name = f"{kind}:{id}"
    _check_stream(name)
    return name


def _check_stream(stream: str) -> None:
    if len(stream) > _STREAM_MAX or not _STREAM_RE.fullmatch(stream):
        raise InvalidEvent(
            f"stream {stream!r} is not `kind:id` (lowercase kind, at most {_STREAM_MAX} chars)"
        )


@dataclass(frozen=True)
class _Prepared:
    stream: str
    kind: str
    occurred_at: datetime
    occurred_text: str
    actor: str
    payload_json: str


def _prepare(event: NewEvent) -> _Prepared:
    _check_stream(event.stream)
    if len(event.kind) > _KIND_MAX or not _KIND_RE.fullmatch(event.kind):
        raise InvalidEvent(f"kind {event.kind!r} is not a lowercase name of at most {_KIND_MAX}")
    if not event.actor or len(event.actor) > _ACTOR_MAX:
        raise InvalidEvent(f"actor must be 1 to {_ACTOR_MAX} characters, got {event.actor!r}")
    if not isinstance(event.payload, Mapping):
        raise InvalidEvent("payload must be a mapping")
    occurred_text = format_instant(event.occurred_at)
    # The stored instant is the hashed one: microseconds, UTC.
    occurred_at = event.occurred_at.astimezone(UTC)
    return _Prepared(
        stream=event.stream,
        kind=event.kind,
        occurred_at=occurred_at,
        occurred_text=occurred_text,
        actor=event.actor,
        payload_json=canonical_json(_plain(event.payload, "payload")),
    )


# --- queries in chunks ----------------------------------------------------------------------


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
