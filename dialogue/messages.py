"""What enters a turn and what comes out of it: one `Inbound` type from every channel, `Reply`.

Channels (`bots/`) turn their payloads into an `Inbound`; the dialogue answers with `Reply`s,
which an `Output` renders in the channel's own way (buttons, numbered text, speech).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from models import Channel

# Channels whose address is the borrower's phone number.
PHONE_CHANNELS = frozenset({Channel.SMS, Channel.WHATSAPP, Channel.VOICE})


class InboundKind(StrEnum):
    """What the borrower sent."""

    TEXT = "text"
    SPEECH = "speech"  # a voice transcript
    DTMF = "dtmf"  # keypad digits
    CONTACT = "contact"  # a shared phone number (Telegram's contact button, the web demo)
    OTHER = "other"  # a sticker, photo, voice note: acknowledged, never parsed


@dataclass(frozen=True)
class Inbound:
    """One message from a borrower, as any channel delivers it.

    `address` is where the conversation lives on that channel: an E.164 number for SMS, WhatsApp
    and voice, a chat id on Telegram, a browser session on the web chat. `channel_message_id` is
    the channel's own id of the message; a retried delivery carries the same one.
    """

    channel: Channel
    channel_message_id: str
    address: str
    received_at: datetime
    text: str = ""
    kind: InboundKind = InboundKind.TEXT
    # A phone number the borrower shared (kind CONTACT), in any format phonenumbers reads.
    contact_phone: str | None = None
    # A chat-link token the borrower arrived with (Telegram's `/start <token>` deep link).
    link_token: str | None = None
    # A session inside the conversation that identity must not outlive: a phone call's CallSid.
    # Caller ID is easily spoofed, so a new call from the same number proves nothing again.
    session_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Button:
    """One choice offered with a reply; `payload` is what choosing it sends back."""

    title: str
    payload: str


@dataclass(frozen=True)
class Reply:
    """One message Settle sends, already screened; `buttons` are the choices offered with it."""

    text: str
    language: str
    buttons: tuple[Button, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The stored form (kept with the inbound message, so a retry gets the same answer)."""
        return {
            "text": self.text,
            "language": self.language,
            "buttons": [{"title": b.title, "payload": b.payload} for b in self.buttons],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reply:
        return cls(
            text=str(data["text"]),
            language=str(data.get("language", "en")),
            buttons=tuple(
                Button(title=str(b["title"]), payload=str(b["payload"]))
                for b in data.get("buttons", ())
            ),
        )


@dataclass(frozen=True)
class TurnResult:
    """What a turn produced: the replies sent (or, for a retry, sent before) and how it went."""

    conversation_id: int
    replies: tuple[Reply, ...]
    duplicate: bool = False
    # The bot stayed silent: a person holds the conversation, or nothing may be said.
    silent: bool = False
    intent: str | None = None
    policy: str | None = None
    action: str | None = None
