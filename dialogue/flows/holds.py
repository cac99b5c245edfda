"""Opt-out, cease, attorney, bankruptcy, dispute and wrong person: what stops collection.

From the compliance screen these take effect at once (the law's words were used); from the NLU
alone the borrower is asked to confirm first. Holds go through `servicing.place_hold`,
opt-outs through `compliance.record_opt_out`, and the conversation goes to a person where one
must act (an attorney to contact, a bankruptcy or dispute to review). START, UNSTOP (and YES
where an opt-out stands) lift the STOP given from the same address.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import or_, select

from compliance import confirm_opt_out, lift_opt_out, record_opt_out
from dialogue.flows.account import focus_loan
from dialogue.flows.chat import YES_NO, display_number
from dialogue.flows.escalation import escalate
from dialogue.state import Pending
from dialogue.turn import TurnContext
from models import HoldKind, OptOut
from servicing import place_hold

WRONG_PERSON_SOURCE = "wrong_person"
# Twilio's opt-in words beside START and UNSTOP (the screen's `start` keywords): honoured only
# where an opt-out stands (`resubscribes`).
RESUBSCRIBE_WORDS = frozenset({"yes"})
_NOT_WORD = re.compile(r"[\W_]+")


def channel_name(ctx: TurnContext) -> str:
    return ctx.text(f"channel_{ctx.conversation.channel.value}")


def confirm_hold(ctx: TurnContext, params: dict[str, Any]) -> None:
    hold = str(params["hold"])
    ctx.state.form = None
    ctx.state.pending = Pending(action=hold)
    key = {"stop_channel": "confirm_stop"}.get(hold, f"confirm_{hold}")
    ctx.say(key, buttons=YES_NO, channel=channel_name(ctx))


def _place(ctx: TurnContext, kind: HoldKind, *, whole_borrower: bool) -> None:
    if ctx.borrower is None:
        return
    loan = None if whole_borrower else focus_loan(ctx)
    hold = place_hold(
        session=ctx.session,
        borrower_id=ctx.borrower.id,
        kind=kind,
        loan_id=loan.id if loan is not None else None,
        source=f"conversation:{ctx.conversation.id}",
        at=ctx.now,
    )
    ctx.record(
        "hold_placed", {"hold_id": hold.id, "kind": kind.value}, loan_stream=loan is not None
    )


def _clear(ctx: TurnContext) -> None:
    ctx.state.pending = None
    ctx.state.form = None
    ctx.state.choices = []


def stop_channel(ctx: TurnContext, params: dict[str, Any]) -> None:
    _clear(ctx)
    if ctx.borrower is not None:
        opt_out = record_opt_out(
            session=ctx.session,
            borrower_id=ctx.borrower.id,
            channel=ctx.conversation.channel,
            at=ctx.now,
            source=f"conversation:{ctx.conversation.id}",
            address_index=ctx.conversation.address_index,
        )
        confirm_opt_out(session=ctx.session, opt_out_id=opt_out.id, at=ctx.now)
    ctx.record(
        "opted_out", {"channel": ctx.conversation.channel.value, "source": params.get("source")}
    )
    ctx.say("stop_confirmed", channel=channel_name(ctx))
    ctx.closed = True


def stop_all(ctx: TurnContext, params: dict[str, Any]) -> None:
    _clear(ctx)
    if ctx.borrower is not None:
        _place(ctx, HoldKind.CEASE, whole_borrower=True)
        opt_out = record_opt_out(
            session=ctx.session,
            borrower_id=ctx.borrower.id,
            channel=None,
            at=ctx.now,
            source=f"conversation:{ctx.conversation.id}",
        )
        confirm_opt_out(session=ctx.session, opt_out_id=opt_out.id, at=ctx.now)
    ctx.record("ceased", {"source": params.get("source")})
    ctx.say("stop_all_confirmed")
    ctx.closed = True


def start_contact(ctx: TurnContext, params: dict[str, Any]) -> None:
    """START (or YES to an opt-out) lifts the STOP given from this same address, nothing else.

    Not an opt-out from another number of the borrower's, not one recorded because this number
    belongs to someone else (a wrong party could otherwise undo it), not a cease request. When
    one of those still stops messages on this channel, the borrower is told so rather than
    promised messages that will not come.
    """
    lifted = 0
    if ctx.borrower is not None:
        for row in _lifted_by_start(ctx):
            lift_opt_out(
                session=ctx.session,
                opt_out_id=row.id,
                at=ctx.now,
                source=f"conversation:{ctx.conversation.id}",
            )
            lifted += 1
    still_stopped = ctx.borrower is not None and _channel_stopped(ctx)
    ctx.record(
        "opted_in",
        {
            "channel": ctx.conversation.channel.value,
            "source": params.get("source"),
            "lifted": lifted,
            "still_stopped": still_stopped,
        },
    )
    if still_stopped:
        ctx.say(
            "start_still_stopped",
            channel=channel_name(ctx),
            callback_number=display_number(ctx.settings.callback_number),
        )
        return
    ctx.say("start_confirmed", channel=channel_name(ctx))


def resubscribes(ctx: TurnContext, text: str) -> bool:
    """Whether `text` is a bare YES from an address whose STOP on this channel still stands.

    Twilio counts YES as an opt-in word beside START and UNSTOP. In a conversation "yes" is
    usually an answer, so it opts in only where there is something to opt back into (the caller
    checks that no question is open).
    """
    if _keyword(text) not in RESUBSCRIBE_WORDS or ctx.borrower is None:
        return False
    return bool(_lifted_by_start(ctx))


def _lifted_by_start(ctx: TurnContext) -> list[OptOut]:
    """The opt-outs START lifts: this channel, this address, not recorded for a wrong party."""
    assert ctx.borrower is not None
    return list(
        ctx.session.scalars(
            select(OptOut).where(
                OptOut.borrower_id == ctx.borrower.id,
                OptOut.channel == ctx.conversation.channel,
                OptOut.address_index == ctx.conversation.address_index,
                OptOut.source != WRONG_PERSON_SOURCE,
                OptOut.lifted_at.is_(None),
            )
        )
    )


def _channel_stopped(ctx: TurnContext) -> bool:
    """Whether an opt-out START does not lift still stops this channel (or every channel)."""
    assert ctx.borrower is not None
    found = ctx.session.scalars(
        select(OptOut.id)
        .where(
            OptOut.borrower_id == ctx.borrower.id,
            or_(OptOut.channel.is_(None), OptOut.channel == ctx.conversation.channel),
            OptOut.lifted_at.is_(None),
        )
        .limit(1)
    ).first()
    return found is not None


def _keyword(text: str) -> str:
    """The message as one keyword, as carriers read one: case, spaces and punctuation ignored."""
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", text).casefold())


def _hold_and_escalate(ctx: TurnContext, kind: HoldKind, reason: str, *, whole: bool) -> None:
    _clear(ctx)
    _place(ctx, kind, whole_borrower=whole)
    if ctx.loan is None and ctx.borrower is not None:
        focus_loan(ctx)
    escalate(ctx, reason)


def attorney(ctx: TurnContext, params: dict[str, Any]) -> None:
    _hold_and_escalate(ctx, HoldKind.ATTORNEY, "attorney", whole=True)
    ctx.say("attorney_recorded")


def bankruptcy(ctx: TurnContext, params: dict[str, Any]) -> None:
    _hold_and_escalate(ctx, HoldKind.BANKRUPTCY, "bankruptcy", whole=True)
    ctx.say("bankruptcy_recorded")


def dispute(ctx: TurnContext, params: dict[str, Any]) -> None:
    _hold_and_escalate(ctx, HoldKind.DISPUTE, "dispute", whole=False)
    ctx.say("dispute_recorded")


def wrong_person(ctx: TurnContext, params: dict[str, Any]) -> None:
    """Whoever this is, they are not the borrower: stop using this address, disclose nothing."""
    _clear(ctx)
    if ctx.borrower is not None and not ctx.verified:
        record_opt_out(
            session=ctx.session,
            borrower_id=ctx.borrower.id,
            channel=ctx.conversation.channel,
            at=ctx.now,
            source=WRONG_PERSON_SOURCE,
            address_index=ctx.conversation.address_index,
        )
    ctx.state.wrong_party = True
    ctx.conversation.verified_until = None
    ctx.record("wrong_party", {"source": params.get("source")})
    ctx.say("wrong_person")
    ctx.closed = True
