"""Column types: UTC timestamps and personal data encrypted at rest.

Encrypted columns take their cipher from the engine's dialect (`models.db.make_engine` puts it
there), so the key travels with the engine that settings built and never sits in a global.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, Text
from sqlalchemy.types import TypeDecorator

from models.pii import PiiCipher, PiiKeyError

CIPHER_ATTRIBUTE = "settle_pii_cipher"


def cipher_of(dialect: Dialect) -> PiiCipher:
    """The PII cipher attached to an engine's dialect."""
    cipher = getattr(dialect, CIPHER_ATTRIBUTE, None)
    if cipher is None:
        raise PiiKeyError(
            "this engine has no PII key; build it with models.make_engine(cipher=...)"
        )
    assert isinstance(cipher, PiiCipher)
    return cipher


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware instant, stored in UTC; naive datetimes are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware instant is required")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # SQLite returns naive values; they were written in UTC.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class EncryptedText(TypeDecorator[str]):
    """A string encrypted with AES-GCM before it reaches the database.

    `context` names the column; it is authenticated with every value, so ciphertexts cannot be
    moved between columns.
    """

    impl = Text
    cache_ok = True

    def __init__(self, context: str = "") -> None:
        super().__init__()
        self.context = context

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else cipher_of(dialect).encrypt(value, context=self.context)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return cipher_of(dialect).decrypt(str(value), context=self.context)


class EncryptedDate(TypeDecorator[date]):
    """A calendar date encrypted at rest (dates of birth), bound to its column."""

    impl = Text
    cache_ok = True

    def __init__(self, context: str = "") -> None:
        super().__init__()
        self.context = context

    def process_bind_param(self, value: date | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return cipher_of(dialect).encrypt(value.isoformat(), context=self.context)

    def process_result_value(self, value: Any, dialect: Dialect) -> date | None:
        if value is None:
            return None
        return date.fromisoformat(cipher_of(dialect).decrypt(str(value), context=self.context))


def session_cipher(session: object) -> PiiCipher:
    """The PII cipher of the engine a session is bound to (for computing blind indexes)."""
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    return cipher_of(session.get_bind().dialect)
