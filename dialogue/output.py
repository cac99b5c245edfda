"""How replies leave: the interface every channel's output implements, with sensible degradation.

A channel that can show buttons overrides `send_buttons`; one that cannot inherits the default,
which writes the choices as numbered lines ("1. Pay now") that the dialogue understands when the
borrower answers with the number.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from dialogue.messages import Button, Inbound, Reply, TurnResult


def numbered_text(text: str, buttons: Sequence[Button]) -> str:
    """`text` followed by the choices as numbered lines."""
    lines = [text, *(f"{n}. {button.title}" for n, button in enumerate(buttons, start=1))]
    return "\n".join(lines)


class Output:
    """Sends replies to one recipient; subclasses implement `send_text`.

    A push channel (Telegram, SMS) instead implements `stage`: it is called inside the turn's
    transaction, so the messages it writes to the outbox commit with the turn or not at all, and
    a crash after the commit leaves them there to be sent.
    """

    def stage(self, session: Session, inbound: Inbound, result: TurnResult) -> None:
        """Write the turn's replies for sending, in the turn's transaction (default: nothing)."""

    def send_text(self, recipient: str, text: str) -> None:
        raise NotImplementedError

    def send_buttons(self, recipient: str, text: str, buttons: Sequence[Button]) -> None:
        """Choices as numbered text, for channels without buttons (SMS)."""
        self.send_text(recipient, numbered_text(text, buttons))

    def send(self, recipient: str, reply: Reply) -> None:
        if reply.buttons:
            self.send_buttons(recipient, reply.text, reply.buttons)
        else:
            self.send_text(recipient, reply.text)


class CollectingOutput(Output):
    """Keeps what was sent, for request/response channels (REST, voice TwiML) and tests."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Reply]] = []

    def send_text(self, recipient: str, text: str) -> None:
        self.sent.append((recipient, Reply(text=text, language="")))

    def send(self, recipient: str, reply: Reply) -> None:
        self.sent.append((recipient, reply))

    @property
    def texts(self) -> list[str]:
        return [reply.text for _recipient, reply in self.sent]
