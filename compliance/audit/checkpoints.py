"""Checkpoints: the head of every stream at one moment, each chained to the checkpoint before it,
so a stream rewritten afterwards no longer matches what a checkpoint saw.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from compliance.audit.events import (
    _CHECKPOINTS,
    _HEADS,
    GENESIS_HASH,
    _checkpoint_body,
    canonical_json,
    chain_hash,
    format_instant,
)
from models import AuditCheckpoint, is_postgresql

# Key of the PostgreSQL advisory lock that orders checkpoints (two at once would share a parent).
_CHECKPOINT_LOCK = 0x5E771E_A0D17


def checkpoint(*, session: Session, at: datetime) -> AuditCheckpoint:
    """Record the head of every stream at `at`, chained to the previous checkpoint."""
    taken_at = format_instant(at)
    if is_postgresql(session):
        # Two checkpoints at once would both chain to the same parent.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHECKPOINT_LOCK})
    previous = session.scalar(select(_CHECKPOINTS.c.hash).order_by(_CHECKPOINTS.c.id.desc()))
    heads = {
        stream: [seq, digest]
        for stream, seq, digest in session.execute(
            select(_HEADS.c.stream, _HEADS.c.seq, _HEADS.c.hash).where(_HEADS.c.seq > 0)
        )
    }
    heads_json = canonical_json(heads)
    prev_hash = previous or GENESIS_HASH
    row = AuditCheckpoint(
        taken_at=at,
        heads=heads_json,
        stream_count=len(heads),
        prev_hash=prev_hash,
        hash=chain_hash(
            prev_hash,
            _checkpoint_body(taken_at=taken_at, heads_json=heads_json, stream_count=len(heads)),
        ),
    )
    session.add(row)
    session.flush()
    return row
