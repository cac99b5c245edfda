"""The actions policies can name, each a function of (TurnContext, params)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dialogue.flows import (
    account,
    chat,
    claims,
    escalation,
    extension,
    holds,
    identity,
    promise,
    restructuring,
)
from dialogue.nlu.intents import ACCOUNT_INTENTS
from dialogue.policies import INTENT_ACTIONS
from dialogue.turn import TurnContext

Action = Callable[[TurnContext, dict[str, Any]], None]

FORM_STEPS: dict[str, Action] = {
    "identity": identity.identity_step,
    "promise": promise.promise_step,
    "paid": claims.paid_step,
    "extension": extension.extension_step,
    "restructuring": restructuring.restructuring_step,
}
CONFIRMATIONS: dict[str, Action] = {
    "promise": promise.confirm_promise,
    "extension": extension.confirm_extension,
    "restructuring": restructuring.confirm_restructuring,
}


def form_step(ctx: TurnContext, params: dict[str, Any]) -> None:
    FORM_STEPS[str(params["form"])](ctx, params)


def confirm(ctx: TurnContext, params: dict[str, Any]) -> None:
    pending = ctx.state.pending
    ctx.state.pending = None
    if pending is None:
        chat.help_menu(ctx, params)
        return
    CONFIRMATIONS[pending.action](ctx, pending.params)


ACTIONS: dict[str, Action] = {
    "greet": chat.greet,
    "goodbye": chat.goodbye,
    "thanks": chat.thanks,
    "help": chat.help_menu,
    "help_info": chat.help_info,
    "other_media": chat.other_media,
    "abuse_calm": chat.abuse_calm,
    "cancel": chat.cancel,
    "balance": account.balance,
    "due_date": account.due_date,
    "pay_link": account.pay_link,
    "payoff": account.payoff,
    "promise": promise.promise,
    "paid": claims.paid,
    "extension": extension.extension,
    "restructuring": restructuring.restructuring,
    "start_identity": identity.start_identity,
    "identity_step": identity.identity_step,
    "identity_locked": identity.identity_locked,
    "confirm_hold": holds.confirm_hold,
    "stop_channel": holds.stop_channel,
    "stop_all": holds.stop_all,
    "start_contact": holds.start_contact,
    "attorney": holds.attorney,
    "bankruptcy": holds.bankruptcy,
    "dispute": holds.dispute,
    "wrong_person": holds.wrong_person,
    "escalate_requested": escalation.escalate_requested,
    "escalate_abuse": escalation.escalate_abuse,
    "escalate_distress": escalation.escalate_distress,
    "escalate_fallback": escalation.escalate_fallback,
    "self_harm": escalation.self_harm,
    "form_step": form_step,
    "confirm": confirm,
}
# What an intent runs once identity verification, which interrupted it, succeeds.
RESUME_ACTIONS = {intent: INTENT_ACTIONS[intent] for intent in ACCOUNT_INTENTS}
