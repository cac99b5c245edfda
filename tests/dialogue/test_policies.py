"""The policies: pure deciders, in priority order, each decision stamped with its policy."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from dialogue.nlu.intents import ACCOUNT_INTENTS, HOLD_INTENTS
from dialogue.policies import HOLD_FOR_INTENT, INTENT_ACTIONS, TurnView, decide
from dialogue.state import ConversationState, Form, Pending


def view(**changes: Any) -> TurnView:
    base = TurnView(
        intent="out_of_scope",
        confident=False,
        has_slot_value=False,
        flags=frozenset(),
        abusive=False,
        threat=False,
        cues=(),
        urgent=False,
        state=ConversationState(),
        borrower_known=True,
        verified=True,
        identity_locked=False,
        media_only=False,
    )
    return replace(base, **changes)


def form(name: str, asked: str) -> ConversationState:
    return ConversationState(form=Form(name=name, asked=asked))


CASES: list[tuple[str, TurnView, str, str]] = [
    # Holds from the screen act at once, whatever else the message says.
    (
        "cease wins over a balance question",
        view(intent="check_balance", confident=True, flags=frozenset({"cease"})),
        "hold_policy",
        "stop_all",
    ),
    (
        "STOP opts out of the channel",
        view(flags=frozenset({"opt_out"})),
        "hold_policy",
        "stop_channel",
    ),
    (
        "attorney before dispute",
        view(flags=frozenset({"attorney", "dispute"})),
        "hold_policy",
        "attorney",
    ),
    (
        "self-harm first of all",
        view(urgent=True, flags=frozenset({"opt_out"})),
        "hold_policy",
        "self_harm",
    ),
    (
        "a hold from the screen even mid-form",
        view(flags=frozenset({"bankruptcy"}), state=form("promise", "amount")),
        "hold_policy",
        "bankruptcy",
    ),
    # From the NLU alone, a hold is confirmed first.
    (
        "NLU-only attorney asks first",
        view(intent="attorney", confident=True),
        "hold_policy",
        "confirm_hold",
    ),
    (
        "NLU-only stop asks first",
        view(intent="stop_contact", confident=True),
        "hold_policy",
        "confirm_hold",
    ),
    (
        "yes confirms the hold asked",
        view(
            intent="affirm",
            confident=True,
            said_yes=True,
            state=ConversationState(pending=Pending("dispute")),
        ),
        "hold_policy",
        "dispute",
    ),
    (
        "a classifier's affirm without a yes does not place the hold",
        view(intent="affirm", confident=True, state=ConversationState(pending=Pending("dispute"))),
        "fallback_policy",
        "help",
    ),
    (
        "no cancels the hold asked",
        view(intent="deny", confident=True, state=ConversationState(pending=Pending("attorney"))),
        "hold_policy",
        "cancel",
    ),
    (
        "a verified borrower is not the wrong person",
        view(intent="wrong_person", confident=True),
        "fallback_policy",
        "help",
    ),
    (
        "an unverified party may be the wrong person",
        view(intent="wrong_person", confident=True, verified=False),
        "hold_policy",
        "confirm_hold",
    ),
    # Care.
    ("a threat goes to a person", view(threat=True, abusive=True), "care_policy", "escalate_abuse"),
    ("distress goes to a person", view(cues=("job_loss",)), "care_policy", "escalate_distress"),
    ("first abuse is answered calmly", view(abusive=True), "care_policy", "abuse_calm"),
    (
        "repeated abuse goes to a person",
        view(abusive=True, state=ConversationState(abuse=1)),
        "care_policy",
        "escalate_abuse",
    ),
    # Identity.
    (
        "no balance before verification",
        view(intent="check_balance", confident=True, verified=False),
        "identity_policy",
        "start_identity",
    ),
    (
        "an identity answer continues the identity form",
        view(
            intent="inform",
            confident=True,
            verified=False,
            has_slot_value=True,
            state=form("identity", "dob"),
        ),
        "identity_policy",
        "identity_step",
    ),
    (
        "a locked identity refuses account questions",
        view(intent="check_balance", confident=True, verified=False, identity_locked=True),
        "identity_policy",
        "identity_locked",
    ),
    (
        "greeting needs no verification",
        view(intent="greet", confident=True, verified=False),
        "intent_policy",
        "greet",
    ),
    # Forms.
    (
        "an amount answers the promise form",
        view(intent="inform", confident=True, has_slot_value=True, state=form("promise", "amount")),
        "form_policy",
        "form_step",
    ),
    (
        "an unsure answer stays in the form",
        view(state=form("promise", "amount")),
        "form_policy",
        "form_step",
    ),
    (
        "a new request mid-form switches topic",
        view(intent="check_balance", confident=True, state=form("promise", "amount")),
        "intent_policy",
        "balance",
    ),
    (
        "no cancels a form",
        view(intent="deny", confident=True, state=form("extension", "months")),
        "form_policy",
        "cancel",
    ),
    (
        "yes confirms a pending promise",
        view(
            intent="affirm",
            confident=True,
            said_yes=True,
            state=ConversationState(pending=Pending("promise")),
        ),
        "form_policy",
        "confirm",
    ),
    (
        "'hmm' read as affirm does not confirm a promise",
        view(intent="affirm", confident=True, state=ConversationState(pending=Pending("promise"))),
        "fallback_policy",
        "help",
    ),
    (
        "a yes after verification lapsed asks who this is first",
        view(
            intent="affirm",
            confident=True,
            said_yes=True,
            verified=False,
            state=ConversationState(pending=Pending("restructuring")),
        ),
        "identity_policy",
        "start_identity",
    ),
    # Intents and fallback.
    (
        "balance for a verified borrower",
        view(intent="check_balance", confident=True),
        "intent_policy",
        "balance",
    ),
    (
        "request human",
        view(intent="request_human", confident=True, verified=False),
        "intent_policy",
        "escalate_requested",
    ),
    ("not understood: help", view(), "fallback_policy", "help"),
    (
        "third misunderstanding: a person",
        view(state=ConversationState(fallbacks=2)),
        "fallback_policy",
        "escalate_fallback",
    ),
    ("a sticker gets a polite word", view(media_only=True), "fallback_policy", "other_media"),
]


@pytest.mark.parametrize(("name", "turn", "policy", "action"), CASES, ids=[c[0] for c in CASES])
def test_decide(name: str, turn: TurnView, policy: str, action: str) -> None:
    prediction = decide(turn)
    assert (prediction.policy, prediction.action) == (policy, action)


def test_every_hold_intent_names_its_hold_and_every_account_intent_an_action() -> None:
    assert set(HOLD_FOR_INTENT) == HOLD_INTENTS
    assert set(INTENT_ACTIONS) >= ACCOUNT_INTENTS
