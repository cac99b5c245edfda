"""Tables of the dialogue: conversations, the inbound messages of each turn, and escalations.

The conversation's history is its audit stream (`conversation:<id>`); the row here keeps the
state derived from that history (slots, active form, verified-until, human hold) current, so a
turn reads one row instead of replaying the log. Addresses are encrypted and found through a
blind index, like phone numbers of the servicing store.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, enum_column, utcnow
from models.compliance import Channel
from models.types import EncryptedText, UTCDateTime


class Handler(StrEnum):
    """Who answers the conversation now."""

    BOT = "bot"
    HUMAN = "human"  # a collector holds it (or it waits for one): the bot stays silent


class InboundStatus(StrEnum):
    """What became of one inbound message."""

    HANDLED = "handled"  # the bot answered it in the same turn
    QUEUED = "queued"  # a human holds the conversation: it waits for the collector
    SILENT = "silent"  # nothing may be said (the party is not the borrower, or contact ceased)


class EscalationStatus(StrEnum):
    """Where an escalation stands in the collector queue."""

    OPEN = "open"
    TAKEN = "taken"
    CLOSED = "closed"


class Conversation(Base):
    """One conversation: a channel and an address, maybe linked to a borrower and a loan."""

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("channel", "address_index"),
        Index("ix_conversations_handler", "handler", "updated_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    channel: Mapped[Channel] = mapped_column(enum_column(Channel, "conversation_channel"))
    address: Mapped[str] = mapped_column(EncryptedText("conversations.address"))
    address_index: Mapped[str] = mapped_column(String(64))
    borrower_id: Mapped[int | None] = mapped_column(ForeignKey("borrowers.id"), index=True)
    loan_id: Mapped[int | None] = mapped_column(ForeignKey("loans.id"))
    language: Mapped[str | None] = mapped_column(String(8))
    # Slots and the active form, derived from the conversation's events (see dialogue.state).
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    verified_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_verifications: Mapped[int] = mapped_column(Integer, default=0)
    # Three failed identity checks lock the account's details out of this conversation until a
    # person has looked at it.
    identity_locked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    handler: Mapped[Handler] = mapped_column(
        enum_column(Handler, "conversation_handler"), default=Handler.BOT
    )
    held_by: Mapped[str | None] = mapped_column(String(64))
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InboundMessage(Base):
    """One message a channel delivered, keyed by the channel's own id so a retry is not re-run.

    `replies` keeps what the turn answered, so a retried webhook gets the same answer back.
    """

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("channel", "channel_message_id"),
        Index("ix_inbound_messages_conversation", "conversation_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    channel: Mapped[Channel] = mapped_column(enum_column(Channel, "inbound_channel"))
    channel_message_id: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[InboundStatus] = mapped_column(enum_column(InboundStatus, "inbound_status"))
    # Masked text, kept for the collector's queue while a human holds the conversation.
    text: Mapped[str | None] = mapped_column(EncryptedText("inbound_messages.text"))
    replies: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Escalation(Base):
    """A conversation handed to the collector queue, with why and a summary for the collector."""

    __tablename__ = "escalations"
    __table_args__ = (Index("ix_escalations_status_priority", "status", "priority"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    borrower_id: Mapped[int | None] = mapped_column(ForeignKey("borrowers.id"))
    loan_id: Mapped[int | None] = mapped_column(ForeignKey("loans.id"))
    reason: Mapped[str] = mapped_column(String(32))
    # Lower is more urgent (0: self-harm; see dialogue.flows.escalation).
    priority: Mapped[int] = mapped_column(Integer)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[EscalationStatus] = mapped_column(
        enum_column(EscalationStatus, "escalation_status"), default=EscalationStatus.OPEN
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    taken_by: Mapped[str | None] = mapped_column(String(64))
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)


class IdentityFailure(Base):
    """A failed identity check against a borrower, from any conversation.

    Counted per borrower, so opening a new chat does not buy more guesses; `cleared_at` is set
    when a person has looked at the account and lifted the lock.
    """

    __tablename__ = "identity_failures"
    __table_args__ = (Index("ix_identity_failures_borrower_at", "borrower_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
