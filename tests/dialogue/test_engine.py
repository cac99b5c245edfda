"""The engine's guards, each pinned by the case that once got through them."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dialogue import CollectingOutput, Dialogue, Inbound, InboundKind, Nlu, TurnResult
from models import (
    AccountHold,
    Arrangement,
    Channel,
    Escalation,
    HoldKind,
    OptOut,
    PaymentClaim,
    PromiseToPay,
    session_cipher,
)
from servicing import place_hold
from tests.servicing.factories import make_borrower, make_loan

NOW = datetime(2026, 11, 22, 18, 0, tzinfo=UTC)  # 10:00 in Los Angeles
PHONE = "+14155552671"
OTHER_PHONE = "+14155550123"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class Chat:
    """One address talking to the engine."""

    ids = itertools.count()

    def __init__(self, dialogue: Dialogue, channel: Channel, address: str) -> None:
        self.dialogue, self.channel, self.address = dialogue, channel, address

    def say(self, text: str, **extra: Any) -> TurnResult:
        return self.dialogue.handle(
            Inbound(
                channel=self.channel,
                channel_message_id=f"m{next(self.ids)}",
                address=self.address,
                received_at=NOW,
                text=text,
                **extra,
            ),
            CollectingOutput(),
        )

    def texts(self, text: str) -> str:
        return " | ".join(reply.text for reply in self.say(text).replies)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def dialogue(sessions: sessionmaker[Session], nlu: Nlu, clock: Clock) -> Dialogue:
    return Dialogue(sessions=sessions, nlu=nlu, clock=clock)


def borrower(
    sessions: sessionmaker[Session], *phones: str, born: date = date(1985, 3, 3)
) -> tuple[int, int]:
    with sessions.begin() as session:
        person = make_borrower(
            session,
            phones=list(phones or [PHONE]),
            date_of_birth=born,
            national_id="123-45-6789",
        )
        loan = make_loan(session, borrower_id=person.id, disbursed_on=date(2026, 6, 15))
        return person.id, loan.id


def rows(sessions: sessionmaker[Session], model: Any) -> list[Any]:
    with sessions.begin() as session:
        return list(session.scalars(select(model)))


def verify(chat: Chat) -> str:
    chat.say("how much do I owe")
    chat.say("March 3 1985")
    return chat.texts("6789")


def test_a_yes_after_verification_lapsed_changes_nothing(
    dialogue: Dialogue, sessions: sessionmaker[Session], clock: Clock
) -> None:
    borrower(sessions)
    chat = Chat(dialogue, Channel.SMS, PHONE)
    assert "past due" in verify(chat)
    assert "confirm" in chat.texts("I can pay $100 on friday").lower()
    clock.now += timedelta(hours=3)
    assert "date of birth" in chat.texts("yes")
    assert rows(sessions, PromiseToPay) == []


def test_hmm_does_not_confirm_a_plan(dialogue: Dialogue, sessions: sessionmaker[Session]) -> None:
    borrower(sessions)
    chat = Chat(dialogue, Channel.SMS, PHONE)
    verify(chat)
    chat.say("I need a payment plan")
    chat.say("my hours were cut")
    assert "Shall I set this up" in chat.texts("2")
    for unsure in ("hmm", "?", "//"):
        chat.say(unsure)
    assert rows(sessions, Arrangement) == []


def test_the_last_digits_of_the_number_texting_prove_nothing(
    dialogue: Dialogue, sessions: sessionmaker[Session]
) -> None:
    borrower(sessions)
    chat = Chat(dialogue, Channel.SMS, PHONE)
    chat.say("how much do I owe")
    chat.say("March 3 1985")
    assert "don't match" in chat.texts(PHONE[-4:])


def test_a_second_phone_on_file_still_verifies(
    dialogue: Dialogue, sessions: sessionmaker[Session]
) -> None:
    borrower(sessions, PHONE, OTHER_PHONE)
    chat = Chat(dialogue, Channel.SMS, PHONE)
    chat.say("how much do I owe")
    chat.say("March 3 1985")
    assert "verified" in chat.texts(OTHER_PHONE[-4:])


def test_start_from_a_wrong_party_lifts_no_opt_out(
    dialogue: Dialogue, sessions: sessionmaker[Session]
) -> None:
    borrower(sessions, PHONE, OTHER_PHONE)
    Chat(dialogue, Channel.SMS, PHONE).say("STOP")
    stranger = Chat(dialogue, Channel.SMS, OTHER_PHONE)
    stranger.say("wrong number, I don't know this person")
    stranger.say("yes")
    stranger.say("START")
    with sessions.begin() as session:
        index = session_cipher(session).blind_index
        lifted = {
            row.address_index: row.lifted_at is not None for row in session.scalars(select(OptOut))
        }
    # The borrower's STOP, and the stranger's number taken out of contact: both stand.
    assert lifted == {index(PHONE): False, index(OTHER_PHONE): False}


def test_start_lifts_only_this_numbers_stop(
    dialogue: Dialogue, sessions: sessionmaker[Session]
) -> None:
    borrower(sessions, PHONE, OTHER_PHONE)
    Chat(dialogue, Channel.SMS, PHONE).say("STOP")
    other = Chat(dialogue, Channel.SMS, OTHER_PHONE)
    other.say("STOP")
    other.say("START")
    with sessions.begin() as session:
        index = session_cipher(session).blind_index
        lifted = {
            row.address_index: row.lifted_at is not None for row in session.scalars(select(OptOut))
        }
    assert lifted == {index(PHONE): False, index(OTHER_PHONE): True}


def test_a_shared_phone_puts_no_hold_on_whoever_verified_last(
    dialogue: Dialogue, sessions: sessionmaker[Session], clock: Clock
) -> None:
    borrower(sessions)
    borrower(sessions, born=date(1990, 8, 8))  # the same phone number
    chat = Chat(dialogue, Channel.SMS, PHONE)
    assert "mobile number" in chat.texts("how much do I owe")
    chat.say(PHONE)
    chat.say("March 3 1985")
    assert "verified" in chat.texts("6789")
    clock.now += timedelta(hours=3)
    answer = chat.texts("I filed for bankruptcy")
    holds = rows(sessions, AccountHold)
    # Nobody is linked to a shared number: no hold lands on whoever verified last, and nothing
    # about an account is said to whoever writes now.
    assert [hold.borrower_id for hold in holds] == []
    assert "Thank you for telling us" in answer
    assert "$" not in answer


def test_verifying_on_the_web_checks_contact_rules_before_answering(
    dialogue: Dialogue, sessions: sessionmaker[Session]
) -> None:
    person, _ = borrower(sessions)
    with sessions.begin() as session:
        place_hold(
            session=session, borrower_id=person, kind=HoldKind.ATTORNEY, source="test", at=NOW
        )
    chat = Chat(dialogue, Channel.WEB, "web-0123456789abcdef")
    chat.say("what's my balance")
    chat.say(PHONE)
    chat.say("March 3 1985")
    result = chat.say("6789")
    assert not any("past due" in reply.text for reply in result.replies)
    # Verified, then refused by the contact rules: the hold sends it to a person.
    assert [e.reason for e in rows(sessions, Escalation)] == ["contact_restricted"]


@pytest.mark.parametrize("payload", ["/offer:²", "/offer:abc", "/offer:99999999999999", "/", "//"])
def test_odd_payloads_do_not_break_a_turn(
    dialogue: Dialogue, sessions: sessionmaker[Session], payload: str
) -> None:
    borrower(sessions)
    chat = Chat(dialogue, Channel.SMS, PHONE)
    verify(chat)
    assert chat.say(payload).replies


def test_a_promise_confirmed_after_the_borrowers_midnight_asks_the_date_again(
    dialogue: Dialogue, sessions: sessionmaker[Session], clock: Clock
) -> None:
    borrower(sessions)
    clock.now = datetime(2026, 11, 23, 7, 50, tzinfo=UTC)  # 23:50 on the 22nd in Los Angeles
    chat = Chat(dialogue, Channel.SMS, PHONE)
    verify(chat)
    assert "Nov 22" in chat.texts("I can pay $100 today")
    clock.now += timedelta(minutes=15)
    assert "choose a date" in chat.texts("yes")
    assert rows(sessions, PromiseToPay) == []


def test_a_contact_shared_on_the_web_links_the_borrower(
    dialogue: Dialogue, sessions: sessionmaker[Session]
) -> None:
    borrower(sessions)
    chat = Chat(dialogue, Channel.WEB, "web-fedcba9876543210")
    chat.say("/greet", kind=InboundKind.CONTACT, contact_phone=PHONE)
    assert "date of birth" in chat.texts("how much do I owe")


@pytest.mark.parametrize(
    ("opening", "asking_for_a_person"),
    [
        ("I need a payment plan", "I want to talk to a real person"),
        ("I already paid", "can I speak to an agent please"),
    ],
)
def test_a_free_text_question_lets_the_borrower_ask_for_a_person(
    dialogue: Dialogue, sessions: sessionmaker[Session], opening: str, asking_for_a_person: str
) -> None:
    borrower(sessions)
    chat = Chat(dialogue, Channel.SMS, PHONE)
    verify(chat)
    chat.say(opening)
    result = chat.say(asking_for_a_person)
    assert result.action == "escalate_requested"
    assert rows(sessions, PaymentClaim) == []


def test_failures_count_per_account_across_conversations(
    dialogue: Dialogue, sessions: sessionmaker[Session]
) -> None:
    borrower(sessions)

    def attempt(sender: str, last4: str) -> str:
        chat = Chat(dialogue, Channel.WEB, sender)
        chat.say("what's my balance")
        chat.say(PHONE)
        chat.say("March 3 1985")
        return chat.texts(last4)

    # A new chat each time buys no new guesses: the third failure locks the account.
    assert "don't match" in attempt("web-guess-000000000001", "1111")
    assert "don't match" in attempt("web-guess-000000000002", "2222")
    assert "couldn't confirm your identity" in attempt("web-guess-000000000003", "3333")
    # Even the right answers are refused now, until a person has looked at it.
    assert "verified" not in attempt("web-guess-000000000004", "6789")


def test_a_telegram_chat_id_beyond_any_chat_is_a_stranger_not_a_crash(
    dialogue: Dialogue, sessions: sessionmaker[Session]
) -> None:
    # 20 digits do not fit the BIGINT column: PostgreSQL refused the comparison outright.
    chat = Chat(dialogue, Channel.TELEGRAM, "99999999999999999999")
    assert "mobile number" in chat.texts("how much do I owe")
