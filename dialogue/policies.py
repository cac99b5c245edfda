"""Policies: pure deciders that read the turn and say what to do, stamped with their name.

They run in priority order and the first with an answer wins:
1. holds: opt-out, cease, attorney, bankruptcy, dispute, wrong person, and self-harm, from the
   compliance screen (acted on at once) or from the NLU alone (confirmed first: a classifier's
   guess must not put a hold on an account); opting back in (START, or YES to an opt-out);
2. keywords: HELP/INFO answered with who we are and how to reach us, whatever is open;
3. care: threats, distress and abuse;
4. identity: nothing about the debt before the borrower is verified;
5. forms: a question asked is answered, a confirmation confirmed;
6. intent: what the borrower asked for;
7. fallback: the help menu, and a person after repeated misunderstandings.
Policies never touch the database; `dialogue.engine` runs the action they name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dialogue.nlu.intents import ACCOUNT_INTENTS
from dialogue.state import ConversationState

# Questions whose yes changes the account.
ACCOUNT_CONFIRMATIONS = frozenset({"promise", "extension", "restructuring"})
# Forms whose answers feed an account action.
ACCOUNT_FORMS = frozenset({"promise", "extension", "restructuring", "paid"})
# The hold (or stop) each hold intent asks for; the NLU alone has it confirmed first.
HOLD_FOR_INTENT = {
    "stop_contact": "stop_channel",
    "attorney": "attorney",
    "bankruptcy": "bankruptcy",
    "dispute_debt": "dispute",
    "wrong_person": "wrong_person",
}
HOLD_ACTIONS = frozenset(
    {"stop_channel", "stop_all", "attorney", "bankruptcy", "dispute", "wrong_person"}
)
# Screen flags acted on at once, in the order they win when a message raises several.
FLAG_ACTIONS = (
    ("cease", "stop_all"),
    ("attorney", "attorney"),
    ("bankruptcy", "bankruptcy"),
    ("dispute", "dispute"),
    ("opt_out", "stop_channel"),
    ("wrong_person", "wrong_person"),
    ("start", "start_contact"),
)
INTENT_ACTIONS = {
    "greet": "greet",
    "goodbye": "goodbye",
    "thanks": "thanks",
    "check_balance": "balance",
    "due_date": "due_date",
    "make_payment": "pay_link",
    "payoff_quote": "payoff",
    "promise_to_pay": "promise",
    "already_paid": "paid",
    "request_extension": "extension",
    "request_restructuring": "restructuring",
    "request_human": "escalate_requested",
}
# Answers that belong to an open form or question rather than starting something new.
ANSWER_INTENTS = frozenset({"affirm", "deny", "inform"})
FALLBACKS_BEFORE_HUMAN = 3
ABUSE_BEFORE_HUMAN = 2


@dataclass(frozen=True)
class TurnView:
    """What the policies see of one turn."""

    intent: str  # after the threshold (out_of_scope when unsure) and button payloads
    confident: bool  # the intent came from a button, a number choice or a confident parse
    has_slot_value: bool  # the message holds a value for the slot the open form asked
    flags: frozenset[str]  # compliance screen flags (InboundFlag values)
    abusive: bool
    threat: bool
    cues: tuple[str, ...]
    urgent: bool
    state: ConversationState
    borrower_known: bool
    verified: bool
    identity_locked: bool
    media_only: bool  # a sticker, photo or voice note: nothing to read
    # An explicit yes or no (the words, a Yes/No button): what a confirmation that changes an
    # account or places a hold needs; a classifier's "affirm" for "hmm" or "?" is not enough.
    said_yes: bool = False
    said_no: bool = False
    # A bare YES with no question open, from an address opted out on this channel: Twilio's
    # opt-in word (with START and UNSTOP), so it opts back in here too.
    resubscribe: bool = False


@dataclass(frozen=True)
class Prediction:
    """The action to run, the policy that chose it, and its parameters."""

    action: str
    policy: str
    params: dict[str, Any] = field(default_factory=dict)


def hold_policy(view: TurnView) -> Prediction | None:
    name = "hold_policy"
    if view.urgent:
        return Prediction("self_harm", name)
    for flag, action in FLAG_ACTIONS:
        if flag in view.flags:
            return Prediction(action, name, {"source": "screen"})
    if view.resubscribe:
        return Prediction("start_contact", name, {"source": "yes"})
    pending = view.state.pending
    if pending is not None and pending.action in HOLD_ACTIONS:
        if view.said_yes:
            return Prediction(pending.action, name, {"source": "confirmed"})
        if view.said_no or view.intent == "deny":
            return Prediction("cancel", name)
    if view.confident and view.intent in HOLD_FOR_INTENT:
        if view.intent == "wrong_person" and view.verified:
            return None  # a verified borrower is not the wrong person
        return Prediction("confirm_hold", name, {"hold": HOLD_FOR_INTENT[view.intent]})
    return None


def keyword_policy(view: TurnView) -> Prediction | None:
    """HELP and INFO (whole-message keywords) get the business, a number to call and STOP.

    Not a hold: compliance still decides whether Settle may answer (after an opt-out, only the
    one reply to a borrower's message), and an open form or question stays open.
    """
    if "help" in view.flags:
        return Prediction("help_info", "keyword_policy")
    return None


def care_policy(view: TurnView) -> Prediction | None:
    name = "care_policy"
    if view.threat:
        return Prediction("escalate_abuse", name, {"threat": True})
    if view.cues:
        return Prediction("escalate_distress", name, {"cues": list(view.cues)})
    if view.abusive or (view.confident and view.intent == "abusive"):
        if view.state.abuse + 1 >= ABUSE_BEFORE_HUMAN:
            return Prediction("escalate_abuse", name, {"threat": False})
        return Prediction("abuse_calm", name)
    return None


def identity_policy(view: TurnView) -> Prediction | None:
    name = "identity_policy"
    form = view.state.form
    pending = view.state.pending
    wants_account = (
        (view.confident and view.intent in ACCOUNT_INTENTS)
        or (form is not None and form.name in ACCOUNT_FORMS)
        # A yes to a question asked while verified must not act once verification has lapsed.
        or (pending is not None and pending.action in ACCOUNT_CONFIRMATIONS)
    )
    if view.identity_locked and (wants_account or (form is not None)):
        return Prediction("identity_locked", name)
    if form is not None and form.name == "identity":
        if view.confident and view.intent not in ANSWER_INTENTS and not view.has_slot_value:
            # A new request mid-verification: verification still comes first, for it.
            if view.intent in ACCOUNT_INTENTS:
                return Prediction("identity_step", name, {"resume": view.intent})
            return None
        return Prediction("identity_step", name)
    if wants_account and not view.verified:
        resume = view.intent if view.intent in ACCOUNT_INTENTS else None
        return Prediction("start_identity", name, {"resume": resume})
    return None


def form_policy(view: TurnView) -> Prediction | None:
    name = "form_policy"
    pending = view.state.pending
    if pending is not None and view.said_yes:
        return Prediction("confirm", name, {"pending": pending.action})
    if pending is not None and (view.said_no or view.intent == "deny"):
        return Prediction("cancel", name, {"pending": pending.action})
    form = view.state.form
    if form is None:
        return None
    switching = (
        view.confident
        and view.intent not in ANSWER_INTENTS
        and view.intent != "out_of_scope"
        and not view.has_slot_value
    )
    if switching:
        return None  # the intent policy takes the new topic; the engine drops the old form
    if view.intent == "deny" and not view.has_slot_value:
        return Prediction("cancel", name, {"form": form.name})
    return Prediction("form_step", name, {"form": form.name})


def intent_policy(view: TurnView) -> Prediction | None:
    if not view.confident:
        return None
    action = INTENT_ACTIONS.get(view.intent)
    return Prediction(action, "intent_policy") if action else None


def fallback_policy(view: TurnView) -> Prediction:
    if view.media_only:
        return Prediction("other_media", "fallback_policy")
    if view.state.fallbacks + 1 >= FALLBACKS_BEFORE_HUMAN:
        return Prediction("escalate_fallback", "fallback_policy")
    return Prediction("help", "fallback_policy")


POLICIES = (
    hold_policy,
    keyword_policy,
    care_policy,
    identity_policy,
    form_policy,
    intent_policy,
)


def decide(view: TurnView) -> Prediction:
    """The first policy's answer, in priority order; the fallback when none has one."""
    for policy in POLICIES:
        prediction = policy(view)
        if prediction is not None:
            return prediction
    return fallback_policy(view)
