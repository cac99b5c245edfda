"""The sample Rasa files in docs/examples/rasa agree with the actions and slots Settle serves."""

from __future__ import annotations

from typing import Any

import yaml

from bots.rasa_actions import (
    ACTION_NAMES,
    CHOICE_ENTITY,
    CHOICE_INTENT,
    CONTINUE_ACTION,
    ENTITY_VALUES,
    SLOT_AWAITING,
    SLOT_ESCALATED,
    SLOT_VERIFIED,
)
from tests.rasa.conftest import DOMAIN, EXAMPLES

# Intents every Rasa assistant has without declaring them.
DEFAULT_INTENTS = {"nlu_fallback", "restart", "session_start", "back", "out_of_scope"}


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))
    return data


def test_the_domain_declares_every_action_slot_and_the_choice_intent() -> None:
    assert set(DOMAIN["actions"]) == set(ACTION_NAMES)
    assert {SLOT_VERIFIED, SLOT_AWAITING, SLOT_ESCALATED} <= set(DOMAIN["slots"])
    assert CHOICE_INTENT in DOMAIN["intents"]
    assert CHOICE_ENTITY in DOMAIN["entities"]
    # Every value slot maps from an entity Settle reads.
    for name in ("amount", "date", "months"):
        (mapping,) = DOMAIN["slots"][name]["mappings"]
        assert ENTITY_VALUES[mapping["entity"]] == name


def test_the_rules_use_only_what_the_domain_declares() -> None:
    rules = load("rules.yml")["rules"]
    intents = set(DOMAIN["intents"]) | DEFAULT_INTENTS
    used_actions: set[str] = set()
    for rule in rules:
        for step in rule["steps"]:
            if "intent" in step:
                assert step["intent"] in intents, rule["rule"]
            if "action" in step:
                used_actions.add(step["action"])
        for condition in rule.get("condition", []):
            for slot in condition["slot_was_set"]:
                assert set(slot) <= set(DOMAIN["slots"]), rule["rule"]
    assert used_actions <= set(DOMAIN["actions"])
    assert CONTINUE_ACTION in used_actions


def test_the_endpoint_sends_the_token() -> None:
    endpoint = load("endpoints.yml")["action_endpoint"]
    assert endpoint["url"].endswith("/webhook")
    assert endpoint["token"] == "${SETTLE_RASA_ACTION_TOKEN}"
