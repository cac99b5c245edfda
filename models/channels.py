"""Tables of the channels: every outbound message and its delivery state, and chat-link tokens.

`outbound_messages` is an outbox. A message is written, under a unique idempotency key, before
the provider is asked to send it; the row then follows the provider's word (sent, delivered,
failed) and the status callbacks after it. A retried webhook or a restarted sender finds the
row and never sends the message twice; a failure stays on the row instead of vanishing.
`link_tokens` are the one-time tokens of a Telegram deep link (`/start <token>`) that tie a chat
to the borrower they were issued for.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, enum_column, utcnow
from models.compliance import Channel
from models.types import EncryptedText, UTCDateTime


class DeliveryStatus(StrEnum):
    """Where one outbound message stands, from the outbox to the handset."""

    PENDING = "pending"  # written, not yet handed to the provider
    SENDING = "sending"  # handed over; the provider's answer not yet recorded
    SENT = "sent"  # the provider accepted it (Twilio: queued/sent; Telegram: delivered to chat)
    DELIVERED = "delivered"  # the handset has it (Twilio status callback)
    READ = "read"  # WhatsApp read receipt
    FAILED = "failed"  # refused by the provider or out of retries: never sent
    UNDELIVERED = "undelivered"  # the provider sent it; the carrier could not deliver it
    # Interrupted between handing it over and hearing back: it may or may not have left, so it
    # is not sent again; a person can see it on the record.
    UNKNOWN = "unknown"


class OutboundMessage(Base):
    """One message Settle sends on a push channel, keyed so that it is sent at most once."""

    __tablename__ = "outbound_messages"
    __table_args__ = (
        Index("ix_outbound_messages_provider", "channel", "provider_message_id"),
        Index("ix_outbound_messages_status", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    # "<channel>:<inbound message id>:<reply number>" for replies; the outreach key for reminders.
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    channel: Mapped[Channel] = mapped_column(enum_column(Channel, "outbound_channel"))
    status: Mapped[DeliveryStatus] = mapped_column(
        enum_column(DeliveryStatus, "delivery_status"), default=DeliveryStatus.PENDING
    )
    # Where it goes (a chat id, an E.164 number) and what it says: the rendered channel message
    # as JSON ({"text", "buttons"}), encrypted like every other personal detail.
    recipient: Mapped[str] = mapped_column(EncryptedText("outbound_messages.recipient"))
    body: Mapped[str] = mapped_column(EncryptedText("outbound_messages.body"))
    # The provider's id: Twilio's message or call SID, Telegram's "<chat id>:<message id>".
    provider_message_id: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The provider's error code and message, never the text sent (that is in the audit trail).
    error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LinkToken(Base):
    """A one-time token that links a chat to a borrower (Telegram `/start <token>`).

    Only the token's blind index is stored: a leaked table links nobody.
    """

    __tablename__ = "link_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_index: Mapped[str] = mapped_column(String(64), unique=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"), index=True)
    channel: Mapped[Channel] = mapped_column(enum_column(Channel, "link_channel"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
