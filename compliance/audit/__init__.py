"""The audit trail: append-only events hash-chained per stream, checkpoints of the stream heads,
verification, export for reviewers and regulators, and retention purges (US-RETENTION).

Each stream (`conversation:12`, `loan:5`, `staff:3`, `borrower:7`, `system:audit`) is its own chain:
event `seq` n stores the hash of event n-1 as `prev_hash`, and

    hash = hex(sha256(utf8(prev_hash + canonical_json(event))))

where `event` is `{stream, seq, kind, occurred_at, actor, payload}` and canonical JSON has sorted
keys, no whitespace and unescaped non-ASCII characters. The first event of a stream chains to
`GENESIS_HASH`. Streams are independent so workers appending to different conversations never
wait for each other; `audit_stream_heads` holds each stream's newest (seq, hash) and its row lock
orders appends to one stream. A checkpoint records every head at one moment and is chained to the
checkpoint before it, so a rewritten stream no longer matches what a checkpoint saw.

The database refuses UPDATE and DELETE on the events and checkpoints (triggers of migration
0002); `verify` recomputes everything and names the first broken link for whatever got past them.

Modules: `events` (NewEvent, errors, stream names, canonical JSON, hashing), `appending`
(append, append_many, reading a stream back), `checkpoints`, `report` (Problem, VerifyReport),
`verification` (verify, verify_stream), `export` (export_stream, verify_export) and `retention`
(purge_expired). Everything importable from `compliance.audit` before the split still is.
"""

from compliance.audit.appending import append, append_many, events_of, payload_of
from compliance.audit.checkpoints import checkpoint
from compliance.audit.events import (
    ALGORITHM,
    GENESIS_HASH,
    PURGE_KIND,
    SYSTEM_STREAM,
    AuditError,
    InvalidEvent,
    NewEvent,
    UnknownStream,
    canonical_json,
    chain_hash,
    format_instant,
    stream_for,
)
from compliance.audit.export import (
    EXPORT_FORMAT,
    EXPORT_VERSION,
    export_header,
    export_stream,
    verify_export,
)
from compliance.audit.report import MAX_PROBLEMS, Problem, VerifyReport
from compliance.audit.retention import SYSTEM_PREFIX, purge_expired
from compliance.audit.verification import verify, verify_stream

__all__ = [
    "ALGORITHM",
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "GENESIS_HASH",
    "MAX_PROBLEMS",
    "PURGE_KIND",
    "SYSTEM_PREFIX",
    "SYSTEM_STREAM",
    "AuditError",
    "InvalidEvent",
    "NewEvent",
    "Problem",
    "UnknownStream",
    "VerifyReport",
    "append",
    "append_many",
    "canonical_json",
    "chain_hash",
    "checkpoint",
    "events_of",
    "export_header",
    "export_stream",
    "format_instant",
    "payload_of",
    "purge_expired",
    "stream_for",
    "verify",
    "verify_export",
    "verify_stream",
]
