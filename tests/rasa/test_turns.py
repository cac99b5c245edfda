"""How an action call becomes a turn's message: the payload, the values, the ids."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from rasa_sdk.interfaces import Tracker

from bots.rasa_actions import build_turn, message_id

AT = datetime(2025, 6, 20, 18, 0, tzinfo=UTC)


def tracker(
    text: str = "hi",
    *,
    entities: list[dict[str, Any]] | None = None,
    slots: dict[str, Any] | None = None,
    message: str | None = "m-1",
) -> Tracker:
    latest = {"text": text, "intent": {"name": "inform", "confidence": 0.9}, "entities": entities}
    if message is not None:
        latest["message_id"] = message
    return Tracker.from_dict(
        {
            "sender_id": "sender-1",
            "slots": slots or {},
            "latest_message": latest,
            "events": [{"event": "user", "timestamp": 1750442400.0, "text": text}],
        }
    )


@pytest.mark.parametrize(
    ("entities", "expected"),
    [
        ([], "/promise_to_pay"),
        ([{"entity": "amount", "value": "150"}], "/promise_to_pay:pay 150"),
        ([{"entity": "amount", "value": 80.5}], "/promise_to_pay:pay 80.5"),
        ([{"entity": "amount", "value": "1,500"}], "/promise_to_pay:pay 1500"),
        (
            [{"entity": "amount-of-money", "value": {"value": 200, "unit": "USD"}}],
            "/promise_to_pay:pay 200",
        ),
        ([{"entity": "amount", "value": "两百元"}], "/promise_to_pay:两百元"),
        (
            [
                {"entity": "time", "value": "2025-06-27T00:00:00.000-07:00"},
                {"entity": "amount", "value": 120},
            ],
            "/promise_to_pay:pay 120 ; 2025-06-27",
        ),
        ([{"entity": "date", "value": "next Friday"}], "/promise_to_pay:next Friday"),
        # An interval is no one date; booleans and oversized values are no values.
        (
            [{"entity": "time", "value": {"from": "2025-06-23", "to": "2025-06-27"}}],
            "/promise_to_pay",
        ),
        ([{"entity": "amount", "value": True}], "/promise_to_pay"),
        ([{"entity": "amount", "value": "9" * 80}], "/promise_to_pay"),
        # Values a promise does not take are left out.
        ([{"entity": "months", "value": 2}], "/promise_to_pay"),
    ],
)
def test_a_promise_carries_the_values_rasa_found(
    entities: list[dict[str, Any]], expected: str
) -> None:
    turn = build_turn("action_settle_promise", tracker(entities=entities), received_at=AT)
    assert turn.inbound.text == expected


def test_an_extension_carries_its_months_and_a_balance_carries_nothing() -> None:
    months = [{"entity": "months", "value": 2.0}]
    quote = build_turn("action_settle_extension_quote", tracker(entities=months), received_at=AT)
    balance = build_turn("action_settle_balance", tracker(entities=months), received_at=AT)
    assert quote.inbound.text == "/request_extension:2 months"
    assert balance.inbound.text == "/check_balance"


def test_slots_fill_in_for_missing_entities_and_are_used_up() -> None:
    turn = build_turn(
        "action_settle_promise",
        tracker(entities=[{"entity": "amount", "value": 90}], slots={"date": "2025-06-30"}),
        received_at=AT,
    )
    assert turn.inbound.text == "/promise_to_pay:pay 90 ; 2025-06-30"
    assert turn.used_slots == ("date",)


def test_continue_forwards_the_words_or_the_button_pressed() -> None:
    words = build_turn("action_settle_continue", tracker("  March 3 1985 "), received_at=AT)
    pressed = build_turn(
        "action_settle_continue",
        tracker(
            '/settle_choice{"settle_payload": "/offer:7"}',
            entities=[{"entity": "settle_payload", "value": "/offer:7"}],
        ),
        received_at=AT,
    )
    assert words.inbound.text == "March 3 1985"
    assert pressed.inbound.text == "/offer:7"


def test_apply_forwards_the_answer_only_to_an_extension_question() -> None:
    asked = tracker("yes", slots={"settle_awaiting": "confirm:extension"})
    other = tracker("yes", slots={"settle_awaiting": "confirm:promise"})
    assert build_turn("action_settle_extension_apply", asked, received_at=AT).inbound.text == "yes"
    assert (
        build_turn("action_settle_extension_apply", other, received_at=AT).inbound.text
        == "/request_extension"
    )


def test_message_ids_are_stable_per_call_and_distinct_per_action_and_sender() -> None:
    first = build_turn("action_settle_balance", tracker(), received_at=AT).inbound
    retry = build_turn("action_settle_balance", tracker(), received_at=AT).inbound
    due = build_turn("action_settle_due_date", tracker(), received_at=AT).inbound
    assert first.channel_message_id == retry.channel_message_id
    assert first.channel_message_id != due.channel_message_id
    assert message_id("a", "m", "x") != message_id("b", "m", "x")
    assert len(first.channel_message_id) <= 128


def test_without_rasas_message_id_a_retry_still_gets_the_same_id() -> None:
    first = build_turn("action_settle_balance", tracker(message=None), received_at=AT).inbound
    retry = build_turn("action_settle_balance", tracker(message=None), received_at=AT).inbound
    assert first.channel_message_id == retry.channel_message_id
