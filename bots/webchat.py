"""The web chat channel: Rasa REST JSON in, `dialogue.Inbound` out; replies back as Rasa's JSON.

Rasa's REST channel (and every chat widget built for it) posts `{"sender", "message",
"metadata"?}` and reads back `[{"recipient_id", "text", "buttons"?}]`. Settle speaks that shape
on `POST /webhooks/rest/webhook` and on its own demo page, whose visitor plays a seeded demo
borrower: `demo_borrowers` lists them, and a CONTACT inbound with the borrower's phone links the
browser's conversation to that borrower (who must still pass identity verification).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from dialogue import Button, Dialogue, Inbound, InboundKind, Output
from models import Borrower, BorrowerPhone, Channel, Loan, LoanStatus
from servicing import (
    Bucket,
    InvalidInput,
    bucket_for,
    delinquent_loans,
    find_borrowers_by_phone,
    normalize_phone,
)

# Rasa's REST channel sets no limit; Settle answers a person typing, not a document upload.
MAX_MESSAGE_CHARS = 2000
MAX_SENDER_CHARS = 64
# Whoever knows a sender id continues its conversation, verified identity included: ids must be
# random and long enough not to be guessed (Rasa widgets send a UUID).
MIN_SENDER_CHARS = 16
# The stored message id is "<sender>:<message_id>" and the engine allows 128 characters.
MAX_MESSAGE_ID_CHARS = 63
DEMO_REF_PREFIX = "DEMO-B"
# What the demo page sends when a conversation starts, as Rasa widgets send an `initPayload`.
START_PAYLOAD = "/greet"


class InvalidMessage(ValueError):
    """A web chat payload that cannot be a turn; `field` names the part at fault."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ChatLinkError(LookupError):
    """The borrower a chat should be linked to cannot be found, or cannot be linked by phone."""


def parse(raw: Any, *, received_at: datetime) -> Inbound:
    """The `Inbound` for one Rasa REST message; `InvalidMessage` when the payload is malformed.

    Rasa's REST channel has no message id, so a retry is recognised only when the client sends
    `metadata.message_id`. Clients choose those ids, so they are scoped by sender: two browsers
    both numbering from 1 never receive each other's replies.
    """
    if not isinstance(raw, Mapping):
        raise InvalidMessage("expected a JSON object with sender and message", field="body")
    sender = _sender(raw.get("sender"))
    message = raw.get("message")
    if not isinstance(message, str):
        problem = "field required" if message is None else "must be a string"
        raise InvalidMessage(problem, field="message")
    if len(message) > MAX_MESSAGE_CHARS:
        raise InvalidMessage(
            f"longer than {MAX_MESSAGE_CHARS} characters ({len(message)})", field="message"
        )
    metadata = raw.get("metadata")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise InvalidMessage("must be a JSON object", field="metadata")
    message_id = _message_id((metadata or {}).get("message_id"))
    return Inbound(
        channel=Channel.WEB,
        channel_message_id=f"{sender}:{message_id}" if message_id else uuid.uuid4().hex,
        address=sender,
        received_at=received_at,
        text=message,
        raw=dict(raw),
    )


def start_inbound(*, sender: Any, phone: str | None, received_at: datetime) -> Inbound:
    """The first message of a demo conversation: the borrower's phone shared, and a greeting."""
    return Inbound(
        channel=Channel.WEB,
        channel_message_id=uuid.uuid4().hex,
        address=_sender(sender),
        received_at=received_at,
        text=START_PAYLOAD,
        kind=InboundKind.CONTACT if phone else InboundKind.TEXT,
        contact_phone=phone,
    )


def _sender(value: Any) -> str:
    if value is None:
        raise InvalidMessage("field required", field="sender")
    if not isinstance(value, str) or not value.strip():
        raise InvalidMessage("must be a non-empty string", field="sender")
    if len(value) > MAX_SENDER_CHARS:
        raise InvalidMessage(f"longer than {MAX_SENDER_CHARS} characters", field="sender")
    if len(value.strip()) < MIN_SENDER_CHARS:
        raise InvalidMessage(
            f"shorter than {MIN_SENDER_CHARS} characters; use a random id per chat, such as a"
            " UUID: whoever knows it continues the conversation",
            field="sender",
        )
    return value.strip()


def _message_id(value: Any) -> str | None:
    if value is None:
        return None
    # Widgets number their messages; an integer id is as good as a string one.
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_MESSAGE_ID_CHARS:
        raise InvalidMessage(
            f"must be a string of 1 to {MAX_MESSAGE_ID_CHARS} characters",
            field="metadata.message_id",
        )
    return value.strip()


class WebChatOutput(Output):
    """Collects replies as Rasa's REST channel returns them: one JSON object per message."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def send_text(self, recipient: str, text: str) -> None:
        self.messages.append({"recipient_id": recipient, "text": text})

    def send_buttons(self, recipient: str, text: str, buttons: Sequence[Button]) -> None:
        self.messages.append(
            {
                "recipient_id": recipient,
                "text": text,
                "buttons": [{"title": b.title, "payload": b.payload} for b in buttons],
            }
        )


def answer(dialogue: Dialogue, inbound: Inbound) -> list[dict[str, Any]]:
    """Run the turn and return its replies in Rasa's REST shape; a retry gets the first answer."""
    output = WebChatOutput()
    result = dialogue.handle(inbound, output)
    if result.duplicate:
        # The engine sends nothing for a message it has handled; a request/response channel
        # still has to answer the retried request, with what it answered the first time.
        for reply in result.replies:
            output.send(inbound.address, reply)
    return output.messages


# --- demo borrowers -----------------------------------------------------------------------


@dataclass(frozen=True)
class DemoBorrower:
    """A seeded borrower a visitor of the demo page may play.

    `date_of_birth` and `id_last4` let the visitor pass identity verification; they belong on a
    development demo page only, and the page decides whether to show them.
    """

    id: int
    name: str
    language: str
    situation: Bucket
    days_past_due: int
    date_of_birth: date | None
    id_last4: str | None


def demo_borrowers(
    session: Session, limit: int, *, as_of: date | None = None
) -> list[DemoBorrower]:
    """Up to `limit` seeded demo borrowers whose chat can be linked by phone, in varied situations.

    The list takes turns across delinquency buckets and languages, so the first few entries
    already show a borrower who is up to date, one a little late and one far behind, in English
    and in Chinese.
    """
    if limit < 1:
        return []
    day = as_of or datetime.now(UTC).date()
    late = {d.loan_id: d.days_past_due for d in delinquent_loans(session=session, as_of=day)}
    rows = session.execute(
        select(Borrower.id, Borrower.preferred_language, Loan.id)
        .join(Loan, Loan.borrower_id == Borrower.id)
        .where(
            Borrower.external_ref.startswith(DEMO_REF_PREFIX),
            Loan.status == LoanStatus.ACTIVE,
            Borrower.id.in_(_linkable_borrowers()),
        )
        .order_by(Borrower.id, Loan.id)
    ).all()
    days: dict[int, int] = {}
    languages: dict[int, str] = {}
    for borrower_id, language, loan_id in rows:
        days[borrower_id] = max(days.get(borrower_id, 0), late.get(loan_id, 0))
        languages[borrower_id] = language
    groups: dict[tuple[Bucket, str], list[int]] = {}
    for borrower_id in sorted(days):
        key = (bucket_for(days[borrower_id]), languages[borrower_id])
        groups.setdefault(key, []).append(borrower_id)
    chosen = _take_turns(groups, limit)
    # Personal data is decrypted for the chosen few only.
    found = {b.id: b for b in session.scalars(select(Borrower).where(Borrower.id.in_(chosen)))}
    return [
        DemoBorrower(
            id=borrower_id,
            name=found[borrower_id].full_name,
            language=languages[borrower_id],
            situation=bucket_for(days[borrower_id]),
            days_past_due=days[borrower_id],
            date_of_birth=found[borrower_id].date_of_birth,
            id_last4=_last4(found[borrower_id].national_id),
        )
        for borrower_id in chosen
    ]


def _take_turns(groups: Mapping[tuple[Bucket, str], list[int]], limit: int) -> list[int]:
    order = sorted(groups, key=lambda key: (list(Bucket).index(key[0]), key[1]))
    queues = {key: list(groups[key]) for key in order}
    chosen: list[int] = []
    while len(chosen) < limit and any(queues.values()):
        for key in order:
            if queues[key] and len(chosen) < limit:
                chosen.append(queues[key].pop(0))
    return chosen


def _last4(national_id: str | None) -> str | None:
    digits = "".join(ch for ch in national_id or "" if ch.isdigit())
    return digits[-4:] if len(digits) >= 4 else None


def _unique_numbers() -> Select[str]:
    """Blind indexes of phone numbers held by exactly one borrower (the demo seed reuses some)."""
    return (
        select(BorrowerPhone.number_index)
        .group_by(BorrowerPhone.number_index)
        .having(func.count(func.distinct(BorrowerPhone.borrower_id)) == 1)
    )


def _linkable_borrowers() -> Select[int]:
    return select(BorrowerPhone.borrower_id).where(
        BorrowerPhone.number_index.in_(_unique_numbers())
    )


def linkable_phone(*, session: Session, borrower_id: int, demo_only: bool) -> str:
    """A phone number that identifies this borrower alone, to link a chat to them.

    `ChatLinkError` when there is no such borrower (or, with `demo_only`, no such demo borrower,
    so the public demo page can never be pointed at a real customer) or when every number of
    theirs is shared with someone else.
    """
    borrower = session.get(Borrower, borrower_id)
    if borrower is None or (demo_only and not borrower.external_ref.startswith(DEMO_REF_PREFIX)):
        kind = "demo borrower" if demo_only else "borrower"
        raise ChatLinkError(f"no {kind} with id {borrower_id}")
    phone = session.scalars(
        select(BorrowerPhone.number)
        .where(
            BorrowerPhone.borrower_id == borrower_id,
            BorrowerPhone.number_index.in_(_unique_numbers()),
        )
        .order_by(BorrowerPhone.id)
    ).first()
    if phone is None:
        raise ChatLinkError(
            f"borrower {borrower_id} has no phone number of their own to link the chat with"
        )
    return phone


def borrower_by_phone(*, session: Session, phone: str) -> tuple[Borrower, str]:
    """The one borrower with this phone number and the number in E.164; else `ChatLinkError`."""
    try:
        number = normalize_phone(phone, field="phone")
    except InvalidInput:
        raise ChatLinkError(
            f"{phone!r} is not a phone number; give it in international form, such as "
            "+1 212 555 0101"
        ) from None
    found = find_borrowers_by_phone(session=session, phone=number)
    if not found:
        raise ChatLinkError(f"no borrower has the phone number {number}")
    if len(found) > 1:
        raise ChatLinkError(
            f"{len(found)} borrowers share the phone number {number}; choose one with --borrower"
        )
    return found[0], number
