"""Chat-link tokens: issued for one borrower, redeemed once, on one channel, before they expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from compliance import events_of, payload_of, stream_for
from dialogue import (
    Dialogue,
    Inbound,
    LinkTokenError,
    Nlu,
    issue_link_token,
    redeem_link_token,
)
from models import Channel, Conversation, LinkToken
from tests.servicing.factories import make_borrower

NOW = datetime(2025, 6, 20, 18, 0, tzinfo=UTC)


def test_a_token_links_its_borrower_once(session: Session) -> None:
    borrower = make_borrower(session)
    token = issue_link_token(session=session, borrower_id=borrower.id, at=NOW)

    linked = redeem_link_token(session=session, token=token, channel=Channel.TELEGRAM, at=NOW)

    assert linked == borrower.id
    with pytest.raises(LinkTokenError, match="already used"):
        redeem_link_token(session=session, token=token, channel=Channel.TELEGRAM, at=NOW)


def test_only_the_tokens_blind_index_is_stored(session: Session) -> None:
    borrower = make_borrower(session)
    token = issue_link_token(session=session, borrower_id=borrower.id, at=NOW)

    stored = session.scalars(select(LinkToken).where(LinkToken.borrower_id == borrower.id)).one()

    assert token not in stored.token_index
    assert len(token) <= 64  # Telegram's limit on a deep-link parameter


@pytest.mark.parametrize(
    ("token_for", "channel", "at", "problem"),
    [
        ("other", Channel.TELEGRAM, NOW, "unknown"),
        ("issued", Channel.WEB, NOW, "unknown"),
        ("issued", Channel.TELEGRAM, NOW + timedelta(days=15), "expired"),
        ("garbage", Channel.TELEGRAM, NOW, "not a link token"),
    ],
)
def test_a_token_that_links_nobody_is_refused(
    session: Session, token_for: str, channel: Channel, at: datetime, problem: str
) -> None:
    borrower = make_borrower(session)
    issued = issue_link_token(session=session, borrower_id=borrower.id, at=NOW)
    token = {"issued": issued, "other": "A" * 32, "garbage": "no spaces allowed!"}[token_for]

    with pytest.raises(LinkTokenError, match=problem):
        redeem_link_token(session=session, token=token, channel=channel, at=at)


def test_a_chat_opened_with_a_token_belongs_to_that_borrower_and_must_still_verify(
    sessions: sessionmaker[Session], nlu: Nlu
) -> None:
    with sessions.begin() as session:
        borrower_id = make_borrower(session, phones=["+14155550111"]).id
        token = issue_link_token(session=session, borrower_id=borrower_id, at=NOW)
    dialogue = Dialogue(sessions=sessions, nlu=nlu, clock=lambda: NOW)

    result = dialogue.handle(
        Inbound(
            channel=Channel.TELEGRAM,
            channel_message_id="900001",
            address="777001",
            received_at=NOW,
            text="/greet",
            link_token=token,
        )
    )
    refused = dialogue.handle(
        Inbound(
            channel=Channel.TELEGRAM,
            channel_message_id="900002",
            address="777002",
            received_at=NOW,
            text="/greet",
            link_token=token,
        )
    )

    with sessions.begin() as session:
        linked = session.get(Conversation, result.conversation_id)
        other = session.get(Conversation, refused.conversation_id)
        assert linked is not None
        assert other is not None
        assert linked.borrower_id == borrower_id
        assert linked.verified_until is None
        assert other.borrower_id is None
        events = [
            payload_of(e)
            for e in events_of(session=session, stream=stream_for("conversation", other.id))
            if e.kind == "chat_link"
        ]
    assert events == [{"linked": False, "refused": "link token already used"}]
