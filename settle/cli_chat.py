"""`settle chat`: talk to the dialogue engine from a terminal, as a borrower would.

    settle chat --borrower 12                 # a web chat linked to borrower 12
    settle chat --phone "+1 212 555 0101" --channel sms

The conversation is linked to the borrower the way the demo page does it (the borrower's phone
shared as a CONTACT message); they still have to pass identity verification. Replies with choices
print them as numbered lines, and typing the number chooses. Ctrl-D or Ctrl-C ends the chat.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import typer

from bots import webchat
from dialogue import Dialogue, Inbound, InboundKind, Output, TurnResult
from models import Borrower, Channel
from settle.app import build_container
from settle.settings import load_settings

PROMPT = "you> "
SPEAKER = "settle> "


class ChatChannel(StrEnum):
    """The channels a terminal chat can pretend to be."""

    WEB = "web"
    SMS = "sms"


class TerminalOutput(Output):
    """Prints replies; choices arrive as numbered lines through `Output`'s default."""

    def send_text(self, recipient: str, text: str) -> None:
        indent = "\n" + " " * len(SPEAKER)
        typer.echo(SPEAKER + indent.join(text.splitlines() or [""]))


def chat(
    phone: Annotated[
        str | None, typer.Option("--phone", metavar="NUMBER", help="The borrower's phone number.")
    ] = None,
    borrower: Annotated[
        int | None, typer.Option("--borrower", metavar="ID", help="The borrower's id.")
    ] = None,
    channel: Annotated[
        ChatChannel, typer.Option(case_sensitive=False, help="The channel to chat on.")
    ] = ChatChannel.WEB,
) -> None:
    """Chat with Settle in the terminal as a borrower (by --phone or --borrower)."""
    if (phone is None) == (borrower is None):
        raise typer.BadParameter("give either --phone NUMBER or --borrower ID")
    settings = load_settings()
    container = build_container(settings)
    try:
        with container.session() as session:
            if borrower is not None:
                number = webchat.linkable_phone(
                    session=session, borrower_id=borrower, demo_only=False
                )
                found = session.get_one(Borrower, borrower)
            else:
                found, number = webchat.borrower_by_phone(session=session, phone=phone or "")
            who = f"{found.full_name} (borrower {found.id})"
    except webchat.ChatLinkError as exc:
        container.engine.dispose()
        typer.echo(f"settle: {exc}", err=True)
        raise typer.Exit(1) from None
    try:
        typer.echo("loading the language model...", err=True)
        dialogue = container.dialogue()
        on = Channel.WEB if channel is ChatChannel.WEB else Channel.SMS
        # SMS conversations live at the phone number; a web chat gets a fresh address per run.
        address = f"cli-{uuid.uuid4().hex}" if on is Channel.WEB else number
        typer.echo(f"chatting on {on.value} as {who}; Ctrl-D or Ctrl-C to end")
        _converse(dialogue, on, address, number)
    finally:
        container.engine.dispose()


def _converse(dialogue: Dialogue, channel: Channel, address: str, phone: str) -> None:
    output = TerminalOutput()
    # The borrower's phone, shared as a contact, links the conversation to them.
    opening = replace(
        _inbound(channel, address, webchat.START_PAYLOAD),
        kind=InboundKind.CONTACT,
        contact_phone=phone,
    )
    _show(dialogue.handle(opening, output))
    while True:
        try:
            line = input(PROMPT)
        except (EOFError, KeyboardInterrupt):
            typer.echo("")
            return
        text = line.strip()
        if not text:
            continue
        if len(text) > webchat.MAX_MESSAGE_CHARS:
            typer.echo(f"(longer than {webchat.MAX_MESSAGE_CHARS} characters; not sent)")
            continue
        _show(dialogue.handle(_inbound(channel, address, text), output))


def _inbound(channel: Channel, address: str, text: str) -> Inbound:
    return Inbound(
        channel=channel,
        channel_message_id=f"cli-{uuid.uuid4().hex}",
        address=address,
        received_at=datetime.now(UTC),
        text=text,
    )


def _show(result: TurnResult) -> None:
    if not result.replies:
        typer.echo("(no reply: a person holds this conversation, or Settle may not answer now)")
