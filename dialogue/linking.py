"""Chat-link tokens: how a chat with no phone number behind it learns whose it may be.

Settle issues a one-time token for a borrower (printed in a reminder SMS as a Telegram deep link,
`https://t.me/<bot>?start=<token>`); the chat that opens with `/start <token>` is linked to that
borrower. Linking names the account the conversation is about; it proves nothing: the borrower
still passes identity verification before anything about the account is said. Only the token's
blind index is stored, the token works once, and it expires.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Borrower, Channel, LinkToken, session_cipher

DEFAULT_TTL = timedelta(days=14)
# Telegram's deep-link parameter: up to 64 characters of A-Z, a-z, 0-9, _ and -.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")


class LinkTokenError(LookupError):
    """A token that links nobody: unknown, used, expired, or for another channel."""


def _index(session: Session, token: str) -> str:
    return session_cipher(session).blind_index(f"link:{token}")


def issue_link_token(
    *,
    session: Session,
    borrower_id: int,
    at: datetime,
    channel: Channel = Channel.TELEGRAM,
    ttl: timedelta = DEFAULT_TTL,
) -> str:
    """A new token that links one chat on `channel` to this borrower, valid for `ttl`."""
    if session.get(Borrower, borrower_id) is None:
        raise LinkTokenError(f"no borrower with id {borrower_id}")
    token = secrets.token_urlsafe(24)  # 32 characters, 192 bits
    session.add(
        LinkToken(
            token_index=_index(session, token),
            borrower_id=borrower_id,
            channel=channel,
            created_at=at,
            expires_at=at + ttl,
        )
    )
    session.flush()
    return token


def redeem_link_token(*, session: Session, token: str, channel: Channel, at: datetime) -> int:
    """The borrower a token was issued for, marking it used; `LinkTokenError` if it links no one."""
    if not TOKEN_PATTERN.fullmatch(token):
        raise LinkTokenError("not a link token")
    row = session.scalars(
        select(LinkToken).where(LinkToken.token_index == _index(session, token)).with_for_update()
    ).first()
    if row is None or row.channel is not channel:
        raise LinkTokenError("unknown link token")
    if row.used_at is not None:
        raise LinkTokenError("link token already used")
    if row.expires_at <= at:
        raise LinkTokenError("link token expired")
    row.used_at = at
    return row.borrower_id
