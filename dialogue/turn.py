"""The context one turn's actions work in: the conversation, who and what it is about, and how
to say things and record what happened.

Actions (dialogue.flows) receive a `TurnContext`, call `servicing` and `compliance`, and add
replies with `say`; the engine screens, records and sends them after the actions finish.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from compliance import NewEvent, Profile, append_many, stream_for
from dialogue.nlu.parser import ParseResult
from dialogue.responses import Say, render
from dialogue.state import ConversationState
from models import Borrower, Conversation, Loan


def local_today(now: datetime, borrower: Borrower | None) -> date:
    """The borrower's own date: "tomorrow" and "the 15th" mean their calendar, not the server's.

    UTC until it is known whose conversation this is.
    """
    if borrower is None:
        return now.astimezone(UTC).date()
    return now.astimezone(ZoneInfo(borrower.time_zone)).date()


@dataclass(frozen=True)
class DialogueSettings:
    """What an operator configures about the conversation (see settle.settings)."""

    profile: str = "us_reg_f"
    # Identity stays verified this long after the borrower's last message.
    verification_ttl: timedelta = timedelta(minutes=30)
    # The payment page; {loan_ref} and {amount} (plain decimal) are filled in.
    payment_link_template: str = "https://pay.example.com/settle/{loan_ref}?amount={amount}"
    # Where a phone number typed without its country code is read (the jurisdiction's country).
    default_region: str = "US"
    # Who the borrower is talking to and the number to call, said in answer to HELP (the
    # carriers' and Twilio's HELP rules); the name must not reveal debt collection.
    business_name: str = "Settle Demo Lending"
    callback_number: str = "+12025550143"
    # Where escalated conversations go is the console's queue; nothing to configure yet.


@dataclass
class TurnContext:
    """Everything an action needs, and what it produced."""

    session: Session
    conversation: Conversation
    state: ConversationState
    parse: ParseResult | None
    language: str
    now: datetime
    today: date  # the borrower's local date (UTC when not known)
    settings: DialogueSettings
    profile: Profile
    borrower: Borrower | None = None
    loan: Loan | None = None
    says: list[Say] = field(default_factory=list)
    # Set by actions that must not be followed by anything else this turn (a hold, a handoff).
    closed: bool = False
    # Audit events recorded during the turn, appended when it ends.
    events: list[NewEvent] = field(default_factory=list)
    # An action to run next in the same turn (the request identity verification interrupted).
    follow_up: str | None = None

    @property
    def actor(self) -> str:
        return "settle"

    def say(self, key: str, buttons: tuple[tuple[str, str], ...] = (), **values: Any) -> None:
        self.says.append(Say(key=key, values=values, buttons=buttons))

    def text(self, key: str, **values: Any) -> str:
        """A template rendered in the turn's language (for values inside other templates)."""
        return render(key, self.language, **values)

    def record(self, kind: str, payload: dict[str, Any], *, loan_stream: bool = False) -> None:
        """An event for the conversation's stream (and the loan's, for servicing changes).

        Events are kept in order and appended together when the turn ends (`flush_events`):
        one chained append per turn instead of one per event.
        """
        self.events.append(
            NewEvent(
                stream=stream_for("conversation", self.conversation.id),
                kind=kind,
                occurred_at=self.now,
                actor=self.actor,
                payload=payload,
            )
        )
        if loan_stream and self.loan is not None:
            self.events.append(
                NewEvent(
                    stream=stream_for("loan", self.loan.id),
                    kind=kind,
                    occurred_at=self.now,
                    actor=self.actor,
                    payload={**payload, "conversation_id": self.conversation.id},
                )
            )

    def flush_events(self) -> None:
        """Append the turn's events to the audit trail, in the order they were recorded."""
        if self.events:
            append_many(session=self.session, events=self.events)
            self.events = []

    @property
    def verified(self) -> bool:
        until = self.conversation.verified_until
        return until is not None and until > self.now and self.borrower is not None
