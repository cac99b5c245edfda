"""channels: the outbound message outbox and chat-link tokens

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHANNELS = ("sms", "whatsapp", "voice", "telegram", "web", "email")
_STATUSES = (
    "pending",
    "sending",
    "sent",
    "delivered",
    "read",
    "failed",
    "undelivered",
    "unknown",
)


def _enum(values: Sequence[str], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    op.create_table(
        "outbound_messages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("conversation_id", sa.BigInteger(), nullable=True),
        sa.Column("channel", _enum(_CHANNELS, "outbound_channel"), nullable=False),
        sa.Column("recipient", models.types.EncryptedText(), nullable=False),
        sa.Column("body", models.types.EncryptedText(), nullable=False),
        sa.Column("status", _enum(_STATUSES, "delivery_status"), nullable=False),
        sa.Column("provider_message_id", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", models.types.UTCDateTime(), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("created_at", models.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", models.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index(
        "ix_outbound_messages_conversation_id", "outbound_messages", ["conversation_id"]
    )
    op.create_index(
        "ix_outbound_messages_provider", "outbound_messages", ["channel", "provider_message_id"]
    )
    op.create_index(
        "ix_outbound_messages_status", "outbound_messages", ["status", "next_attempt_at"]
    )
    op.create_table(
        "link_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_index", sa.String(length=64), nullable=False),
        sa.Column("borrower_id", sa.Integer(), nullable=False),
        sa.Column("channel", _enum(_CHANNELS, "link_channel"), nullable=False),
        sa.Column("created_at", models.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", models.types.UTCDateTime(), nullable=False),
        sa.Column("used_at", models.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["borrower_id"], ["borrowers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_index"),
    )
    op.create_index("ix_link_tokens_borrower_id", "link_tokens", ["borrower_id"])


def downgrade() -> None:
    op.drop_index("ix_link_tokens_borrower_id", table_name="link_tokens")
    op.drop_table("link_tokens")
    op.drop_index("ix_outbound_messages_status", table_name="outbound_messages")
    op.drop_index("ix_outbound_messages_provider", table_name="outbound_messages")
    op.drop_index("ix_outbound_messages_conversation_id", table_name="outbound_messages")
    op.drop_table("outbound_messages")
