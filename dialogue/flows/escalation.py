"""Handing a conversation to a person: the escalation row, the summary, and the bot's silence.

An escalated conversation is held for a human (`Handler.HUMAN`): later messages wait in the
collector's queue and the bot says nothing until a collector hands it back.
"""

from __future__ import annotations

from typing import Any

from dialogue.turn import TurnContext
from models import Escalation, EscalationStatus, Handler
from servicing import loan_balance, pending_promise

# Lower is more urgent; the console orders its queue by this, then balance and wait.
PRIORITY = {
    "self_harm": 0,
    "threat": 1,
    "attorney": 2,
    "bankruptcy": 2,
    "dispute": 2,
    "distress": 2,
    "identity_failed": 3,
    "contact_restricted": 3,
    "offer_approval": 4,
    "extension_referred": 4,
    "requested": 4,
    "no_plan": 4,
    "abuse": 5,
    "repeated_fallback": 6,
}


def summary(ctx: TurnContext, reason: str) -> dict[str, Any]:
    """What the collector sees first: why, the recent intents, and the account's position."""
    data: dict[str, Any] = {
        "reason": reason,
        "channel": ctx.conversation.channel.value,
        "language": ctx.language,
        "intents": list(ctx.state.intents),
        "verified": ctx.verified,
    }
    situation = ctx.state.form.slots.get("situation") if ctx.state.form else None
    if situation:
        data["situation"] = situation
    if ctx.loan is not None:
        balance = loan_balance(session=ctx.session, loan_id=ctx.loan.id, as_of=ctx.today)
        data.update(
            loan_id=ctx.loan.id,
            loan_ref=ctx.loan.external_ref,
            currency=balance.currency,
            past_due_minor=balance.past_due_minor,
            payoff_minor=balance.payoff_minor,
            days_past_due=balance.days_past_due,
            bucket=balance.bucket.value,
        )
        promise = pending_promise(session=ctx.session, loan_id=ctx.loan.id)
        if promise is not None:
            data["pending_promise"] = {
                "amount_minor": promise.amount_minor,
                "due_on": promise.due_on.isoformat(),
            }
    return data


def escalate(ctx: TurnContext, reason: str) -> Escalation:
    """Queue the conversation for a person and silence the bot on it."""
    conversation = ctx.conversation
    escalation = Escalation(
        conversation_id=conversation.id,
        borrower_id=conversation.borrower_id,
        loan_id=ctx.loan.id if ctx.loan is not None else None,
        reason=reason,
        priority=PRIORITY.get(reason, 5),
        summary=summary(ctx, reason),
        status=EscalationStatus.OPEN,
        created_at=ctx.now,
    )
    ctx.session.add(escalation)
    ctx.session.flush()
    conversation.handler = Handler.HUMAN
    ctx.state.form = None
    ctx.state.pending = None
    ctx.state.choices = []
    ctx.record(
        "escalated",
        {"escalation_id": escalation.id, "reason": reason, "priority": escalation.priority},
    )
    ctx.closed = True
    return escalation


def escalate_requested(ctx: TurnContext, params: dict[str, Any]) -> None:
    escalate(ctx, "requested")
    ctx.say("human_escalated")


def escalate_abuse(ctx: TurnContext, params: dict[str, Any]) -> None:
    ctx.state.abuse += 1
    escalate(ctx, "threat" if params.get("threat") else "abuse")
    ctx.say("abuse_escalated")


def escalate_distress(ctx: TurnContext, params: dict[str, Any]) -> None:
    escalate(ctx, "distress")
    ctx.say("distress_escalated")


def self_harm(ctx: TurnContext, params: dict[str, Any]) -> None:
    escalate(ctx, "self_harm")
    ctx.say("self_harm")


def escalate_fallback(ctx: TurnContext, params: dict[str, Any]) -> None:
    ctx.state.fallbacks = 0
    escalate(ctx, "repeated_fallback")
    ctx.say("not_understood")
    ctx.say("human_escalated")
