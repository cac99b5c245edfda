"""Tables of the compliance layer: contact history, consents, opt-outs, stated inconvenient times,
and the append-only, hash-chained audit trail.

Addresses (phone numbers, chat ids) are stored only as blind indexes here: the compliance layer
needs to know *which* address, never to read it.
"""

from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, enum_column, utcnow
from models.types import UTCDateTime


class Channel(StrEnum):
    """A way Settle and a borrower reach each other."""

    SMS = "sms"
    WHATSAPP = "whatsapp"
    VOICE = "voice"
    TELEGRAM = "telegram"
    WEB = "web"
    EMAIL = "email"


class Initiator(StrEnum):
    """Who started a contact: the window rules restrict the ones Settle or a collector starts."""

    SETTLE = "settle"
    COLLECTOR = "collector"
    BORROWER = "borrower"


class AttemptOutcome(StrEnum):
    """What became of a contact attempt (calls: whether a person was reached)."""

    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    ANSWERED = "answered"  # a call picked up by a person: a telephone conversation
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    MACHINE = "machine"  # voicemail: counts as a placed call
    RECEIVED = "received"  # an inbound message or call


class ConsentKind(StrEnum):
    """Consents the rules ask for before certain contacts."""

    SMS = "sms"  # texts to this number (US-SMS-NUMBER)
    AUTODIAL = "autodial"  # automated or prerecorded calls to this number (US-TCPA-CONSENT)


class ContactAttempt(Base):
    """A contact that happened (or was tried), counted by the frequency caps."""

    __tablename__ = "contact_attempts"
    __table_args__ = (
        Index("ix_contact_attempts_borrower_at", "borrower_id", "at"),
        Index("ix_contact_attempts_loan_channel_at", "loan_id", "channel", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"))
    loan_id: Mapped[int | None] = mapped_column(ForeignKey("loans.id"))
    channel: Mapped[Channel] = mapped_column(enum_column(Channel, "channel"))
    initiated_by: Mapped[Initiator] = mapped_column(enum_column(Initiator, "initiator"))
    # Blind index of the phone number or chat id used; None when not address-bound (web chat).
    address_index: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[AttemptOutcome] = mapped_column(enum_column(AttemptOutcome, "attempt_outcome"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Consent(Base):
    """A borrower's consent to texts or automated calls at one address."""

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_borrower_kind", "borrower_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"))
    kind: Mapped[ConsentKind] = mapped_column(enum_column(ConsentKind, "consent_kind"))
    address_index: Mapped[str] = mapped_column(String(64))
    given_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(64))


class OptOut(Base):
    """A borrower's request to receive nothing more on a channel (all channels when None)."""

    __tablename__ = "opt_outs"
    __table_args__ = (Index("ix_opt_outs_borrower", "borrower_id", "lifted_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"))
    channel: Mapped[Channel | None] = mapped_column(enum_column(Channel, "opt_out_channel"))
    address_index: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(64))
    # The one confirmation US-OPTOUT allows, once sent.
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class InconvenientTime(Base):
    """A time the borrower said is inconvenient (local time, some weekdays, some channel)."""

    __tablename__ = "inconvenient_times"

    id: Mapped[int] = mapped_column(primary_key=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"), index=True)
    channel: Mapped[Channel | None] = mapped_column(enum_column(Channel, "inconvenient_channel"))
    # ISO weekdays as digits, "12345" for Monday to Friday.
    weekdays: Mapped[str] = mapped_column(String(7), default="1234567")
    starts: Mapped[time] = mapped_column(Time)
    ends: Mapped[time] = mapped_column(Time)
    stated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class AuditEvent(Base):
    """One event of the audit trail: append-only (triggers refuse UPDATE and DELETE).

    `hash = sha256(prev_hash + canonical JSON of the event)`, chained per stream
    (`conversation:12`, `loan:5`, `staff:3`, `borrower:7`), so workers never contend on one head.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("stream", "seq"),
        Index("ix_audit_events_kind_at", "kind", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    stream: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(48))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    # Canonical JSON (sorted keys, no spaces): exactly the bytes that were hashed.
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditStreamHead(Base):
    """The newest event of each stream; its row lock orders appends to one stream."""

    __tablename__ = "audit_stream_heads"

    stream: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditCheckpoint(Base):
    """The heads of every stream at one moment, itself chained to the previous checkpoint."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Canonical JSON {stream: [seq, hash]} of every head at `taken_at`.
    heads: Mapped[str] = mapped_column(Text)
    stream_count: Mapped[int] = mapped_column(Integer)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditPurgePermit(Base):
    """Lets a purge of expired streams past the delete trigger, inside its own transaction."""

    __tablename__ = "audit_purge_permits"

    id: Mapped[int] = mapped_column(primary_key=True)
    stream: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
