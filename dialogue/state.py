"""The conversation's working state: slots, the active form, the choices last offered.

It is derived from the conversation's events and kept on the conversation row (`state`, JSON),
so a turn reads one row. Everything in it is plain JSON data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Intents kept for the collector's summary.
HISTORY_LENGTH = 12
# Bad answers to one question before the form gives up politely.
MAX_BAD_ANSWERS = 3


@dataclass
class Form:
    """A form in progress: what it collects, what it has, and which slot it asked for last."""

    name: str
    slots: dict[str, Any] = field(default_factory=dict)
    asked: str | None = None
    # Bad answers to the slot asked; after a few the form gives up politely.
    retries: int = 0

    def bad_answer(self) -> bool:
        """Count a bad answer; True when there have been enough to give up."""
        self.retries += 1
        return self.retries >= MAX_BAD_ANSWERS


@dataclass
class Pending:
    """A yes/no question waiting for its answer, and what "yes" will do."""

    action: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class ConversationState:
    """Slots of one conversation (see module docstring)."""

    form: Form | None = None
    pending: Pending | None = None
    # The choices offered with the last reply: (payload, title) pairs, answered by number.
    choices: list[list[str]] = field(default_factory=list)
    # What the borrower asked for before identity verification interrupted it.
    resume_intent: str | None = None
    # That request's words (masked, cut short): its amount, date or months are not asked again.
    resume_text: str | None = None
    fallbacks: int = 0
    abuse: int = 0
    disclosed: bool = False
    intents: list[str] = field(default_factory=list)
    # Not the borrower (wrong number): nothing more is said here.
    wrong_party: bool = False
    # The borrower the channel tied this conversation to (its phone number, a shared contact),
    # as opposed to one who verified here: when verification lapses, the conversation falls
    # back to this one (None: nobody), so a phone shared by two borrowers is asked again.
    linked_borrower: int | None = None
    # The channel session (a call) the conversation is in; see `Inbound.session_id`.
    session_id: str | None = None

    def remember(self, intent: str) -> None:
        self.intents = [*self.intents, intent][-HISTORY_LENGTH:]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ConversationState:
        if not data:
            return cls()
        form = data.get("form")
        pending = data.get("pending")
        return cls(
            form=Form(**form) if form else None,
            pending=Pending(**pending) if pending else None,
            choices=[list(choice) for choice in data.get("choices", [])],
            resume_intent=data.get("resume_intent"),
            resume_text=data.get("resume_text"),
            fallbacks=int(data.get("fallbacks", 0)),
            abuse=int(data.get("abuse", 0)),
            disclosed=bool(data.get("disclosed", False)),
            intents=list(data.get("intents", [])),
            wrong_party=bool(data.get("wrong_party", False)),
            linked_borrower=data.get("linked_borrower"),
            session_id=data.get("session_id"),
        )
