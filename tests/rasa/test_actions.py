"""The Rasa action server contract: Rasa's action calls in, Settle's turns, Rasa's answer out.

Every request below is the JSON Rasa 3 posts to an action server (`next_action`, `sender_id`,
`tracker`, `domain`, `version`), sent over HTTP to rasa-sdk's own server; every assertion reads
the JSON it answers (`events`, `responses`) or what the turn left in the database.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import httpx2
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bots import webchat
from bots.rasa_actions import (
    ACTION_NAMES,
    CHOICE_ENTITY,
    CHOICE_INTENT,
    SLOT_AWAITING,
    SLOT_ESCALATED,
    SLOT_VERIFIED,
    build_app,
    choice_payload,
    conversation_address,
)
from dialogue import Dialogue
from models import (
    Arrangement,
    AuditEvent,
    Channel,
    Conversation,
    Escalation,
    Extension,
    Handler,
    IdentityFailure,
    InboundMessage,
    InboundStatus,
    PromiseToPay,
)
from tests.rasa.conftest import (
    NOW,
    TOKEN,
    RasaUser,
    messages_taken,
    running,
    slot_values,
    texts,
)

ACCOUNT_ACTIONS = [
    ("action_settle_balance", "check_balance", "what do I owe"),
    ("action_settle_due_date", "due_date", "when is my next payment"),
    ("action_settle_payment_link", "make_payment", "how can I pay"),
    ("action_settle_payoff", "payoff_quote", "how much to pay it all off"),
    ("action_settle_extension_quote", "request_extension", "can I have 2 more months"),
    ("action_settle_restructuring", "request_restructuring", "I need a payment plan"),
    ("action_settle_promise", "promise_to_pay", "I'll pay $150 on Friday"),
]


def rows(sessions: sessionmaker[Session], model: Any) -> list[Any]:
    with sessions() as session:
        return list(session.scalars(select(model)))


def click(user: RasaUser, action: str, button: dict[str, str]) -> dict[str, Any]:
    """The user presses one of Settle's buttons: Rasa parses its payload into intent and entity."""
    payload = button["payload"]
    prefix = f"/{CHOICE_INTENT}"
    assert payload.startswith(prefix)
    entities = json.loads(payload.removeprefix(prefix))
    return user.run(
        action,
        payload,
        intent=CHOICE_INTENT,
        entities=[{"entity": name, "value": value} for name, value in entities.items()],
    )


def button(result: dict[str, Any], title: str) -> dict[str, str]:
    found = [
        b for message in result["responses"] for b in message["buttons"] if b["title"] == title
    ]
    assert found, f"no {title!r} button in {result['responses']}"
    return found[0]


def conversation_of(sessions: sessionmaker[Session], user: RasaUser) -> Conversation:
    address = conversation_address(user.sender_id)
    with sessions() as session:
        found = [c for c in session.scalars(select(Conversation)) if c.address == address]
        assert len(found) == 1
        return found[0]


@pytest.mark.parametrize(("action", "intent", "text"), ACCOUNT_ACTIONS)
def test_account_requests_before_verification_ask_who_is_writing_and_show_nothing(
    user: RasaUser, borrower: int, action: str, intent: str, text: str
) -> None:
    result = user.run(action, text, intent=intent)

    said = texts(result)
    assert "mobile number on the account" in said
    assert "$" not in said
    assert "past due" not in said
    assert slot_values(result) == {
        SLOT_VERIFIED: False,
        SLOT_AWAITING: "identity:phone",
        SLOT_ESCALATED: False,
    }


def test_verifying_through_the_continue_action_answers_the_balance_asked_for(
    user: RasaUser, borrower: int, sessions: sessionmaker[Session]
) -> None:
    user.run("action_settle_balance", "what's my balance", intent="check_balance")
    assert user.slots[SLOT_AWAITING] == "identity:phone"
    user.run("action_settle_continue", "+1 415 555 2671")
    assert user.slots[SLOT_AWAITING] == "identity:dob"
    user.run("action_settle_continue", "March 3 1985")
    assert user.slots[SLOT_AWAITING] == "identity:last4"

    verified = user.run("action_settle_continue", "6789")

    assert "verified" in texts(verified)
    assert "$106.62 past due" in texts(verified)
    assert slot_values(verified) == {SLOT_VERIFIED: True, SLOT_AWAITING: None}
    again = user.run("action_settle_balance", "and my balance now?", intent="check_balance")
    assert "$106.62 past due" in texts(again)
    assert "The total to pay the loan off today is $1,219.49" in texts(again)
    assert slot_values(again) == {}  # nothing changed, nothing set


def test_each_action_is_a_recorded_turn_of_one_web_conversation(
    user: RasaUser, borrower: int, sessions: sessionmaker[Session]
) -> None:
    user.run("action_settle_balance", "what's my balance", intent="check_balance")
    user.verify()

    conversation = conversation_of(sessions, user)
    assert conversation.channel is Channel.WEB
    assert conversation.borrower_id == borrower
    with sessions() as session:
        kinds = list(
            session.scalars(
                select(AuditEvent.kind)
                .where(AuditEvent.stream == f"conversation:{conversation.id}")
                .order_by(AuditEvent.seq)
            )
        )
    assert kinds.count("message_in") == 4
    assert "identity_verified" in kinds
    # Nothing about the account was disclosed before the borrower was verified.
    assert kinds.index("account_disclosed") > kinds.index("identity_verified")


def test_an_extension_is_quoted_with_the_months_rasa_found_then_applied(
    user: RasaUser, borrower: int, sessions: sessionmaker[Session]
) -> None:
    user.run("action_settle_balance", "hi, my account please", intent="check_balance")
    user.verify()

    quote = user.run(
        "action_settle_extension_quote",
        "can I push my payment back a month",
        intent="request_extension",
        entities=[{"entity": "months", "value": 1, "start": 28, "end": 35}],
    )

    assert "by 1 month(s)" in texts(quote)
    assert "Fee: $25.00" in texts(quote)
    assert user.slots[SLOT_AWAITING] == "confirm:extension"
    assert rows(sessions, Extension) == []

    applied = click(user, "action_settle_extension_apply", button(quote, "Yes"))

    assert "Your payments have moved by 1 month(s)" in texts(applied)
    assert [(e.loan_id is not None, e.months, e.fee_minor) for e in rows(sessions, Extension)] == [
        (True, 1, 2500)
    ]
    assert slot_values(applied) == {SLOT_AWAITING: None}


def test_apply_without_a_quote_on_the_table_only_quotes(
    user: RasaUser, borrower: int, sessions: sessionmaker[Session]
) -> None:
    user.run("action_settle_balance", "my account", intent="check_balance")
    user.verify()

    result = user.run(
        "action_settle_extension_apply",
        "yes move it by 2 months",
        intent="apply_extension",
        entities=[{"entity": "months", "value": "2"}],
    )

    assert "by 2 month(s)" in texts(result)
    assert "Shall I do that?" in texts(result)
    assert rows(sessions, Extension) == []


def test_restructuring_offers_are_listed_as_buttons_rasa_can_send_back(
    user: RasaUser, borrower: int, sessions: sessionmaker[Session]
) -> None:
    user.run("action_settle_balance", "my account", intent="check_balance")
    user.verify()

    asked = user.run(
        "action_settle_restructuring", "I need a payment plan", intent="request_restructuring"
    )
    assert "what has changed" in texts(asked)
    assert user.slots[SLOT_AWAITING] == "restructuring:situation"
    offers = user.run("action_settle_continue", "I lost my job last month", intent="inform")

    assert "Here is what we can offer" in texts(offers)
    listed = [b for message in offers["responses"] for b in message["buttons"]]
    assert len(listed) >= 2
    assert all("a month" in b["title"] or "settles the loan" in b["title"] for b in listed)
    assert all(
        b["payload"].startswith(f'/{CHOICE_INTENT}{{"{CHOICE_ENTITY}": "/offer:') for b in listed
    )
    assert user.slots[SLOT_AWAITING] == "restructuring:offer"

    chosen = click(user, "action_settle_continue", listed[0])
    assert "Shall I set this up?" in texts(chosen)
    accepted = user.run("action_settle_continue", "yes", intent="affirm")

    assert "Your new plan has started" in texts(accepted)
    assert len(rows(sessions, Arrangement)) == 1


def test_a_promise_takes_the_amount_and_date_rasa_extracted(
    user: RasaUser, borrower: int, sessions: sessionmaker[Session]
) -> None:
    user.run("action_settle_balance", "my account", intent="check_balance")
    user.verify()
    # Rasa fills a slot mapped from the entity before it runs the action.
    user.slots["amount"] = "150"

    asked = user.run(
        "action_settle_promise",
        "I can pay 150 next Friday",
        intent="promise_to_pay",
        entities=[
            {"entity": "amount", "value": "150", "start": 10, "end": 13, "extractor": "Regex"},
            # duckling's shape: an aware timestamp at the start of the day
            {"entity": "time", "value": "2025-06-27T00:00:00.000-07:00", "extractor": "Duckling"},
        ],
    )

    assert "you will pay $150.00 by Jun 27, 2025?" in texts(asked)
    assert user.slots[SLOT_AWAITING] == "confirm:promise"
    assert slot_values(asked)["amount"] is None  # used up: the next promise asks again
    done = user.run("action_settle_continue", "yes", intent="affirm")

    assert "I've recorded your promise to pay $150.00 by Jun 27, 2025" in texts(done)
    assert [(p.amount_minor, p.due_on) for p in rows(sessions, PromiseToPay)] == [
        (15000, date(2025, 6, 27))
    ]


def test_a_promise_takes_slots_a_rasa_form_filled_and_empties_them(
    user: RasaUser, borrower: int
) -> None:
    user.run("action_settle_balance", "my account", intent="check_balance")
    user.verify()
    user.slots.update(amount=80.5, date="2025-06-25")

    asked = user.run("action_settle_promise", "that's all", intent="promise_to_pay")

    assert "you will pay $80.50 by Jun 25, 2025?" in texts(asked)
    values = slot_values(asked)
    assert values["amount"] is None
    assert values["date"] is None


def test_a_promise_asked_before_verification_keeps_its_values_through_it(
    user: RasaUser, borrower: int, sessions: sessionmaker[Session]
) -> None:
    user.run(
        "action_settle_promise",
        "I'll pay $120 on 2025-06-26",
        intent="promise_to_pay",
        entities=[{"entity": "amount", "value": 120}, {"entity": "date", "value": "2025-06-26"}],
    )

    verified = user.verify()

    assert "you will pay $120.00 by Jun 26, 2025?" in texts(verified)
    assert rows(sessions, IdentityFailure) == []


def test_a_request_with_values_mid_verification_is_no_wrong_answer(
    user: RasaUser, borrower: int, sessions: sessionmaker[Session]
) -> None:
    user.run("action_settle_balance", "my balance", intent="check_balance")
    user.run("action_settle_continue", "+1 415 555 2671")
    user.run("action_settle_continue", "March 3 1985")
    # Asked for the last 4 digits, the user asks something else with a year in it.
    interrupted = user.run(
        "action_settle_promise",
        "I will pay 2025 dollars on 2025-06-27",
        intent="promise_to_pay",
        entities=[{"entity": "amount", "value": 2025}, {"entity": "date", "value": "2025-06-27"}],
    )

    assert "last 4 digits" in texts(interrupted)
    assert rows(sessions, IdentityFailure) == []
    assert "verified" in texts(user.run("action_settle_continue", "6789"))


def test_escalate_hands_the_conversation_to_a_person_and_settle_falls_silent(
    user: RasaUser, borrower: int, sessions: sessionmaker[Session]
) -> None:
    result = user.run("action_settle_escalate", "I want to talk to a human", intent="request_human")

    assert "asked a colleague to take over" in texts(result)
    assert slot_values(result)[SLOT_ESCALATED] is True
    conversation = conversation_of(sessions, user)
    assert conversation.handler is Handler.HUMAN
    assert [(e.conversation_id, e.reason) for e in rows(sessions, Escalation)] == [
        (conversation.id, "requested")
    ]

    later = user.run("action_settle_continue", "hello? anyone there?")

    assert later["responses"] == []
    with sessions() as session:
        statuses = list(
            session.scalars(
                select(InboundMessage.status)
                .where(InboundMessage.conversation_id == conversation.id)
                .order_by(InboundMessage.id)
            )
        )
    # The message waits in the collector's queue.
    assert statuses == [InboundStatus.HANDLED, InboundStatus.QUEUED]


def test_a_retried_call_is_answered_again_without_a_second_turn(
    user: RasaUser, borrower: int, sessions: sessionmaker[Session]
) -> None:
    user.run("action_settle_balance", "my account", intent="check_balance")
    user.verify()
    user.run(
        "action_settle_promise",
        "I'll pay $150 on the 27th",
        intent="promise_to_pay",
        entities=[{"entity": "amount", "value": "150"}, {"entity": "date", "value": "2025-06-27"}],
    )
    taken = messages_taken(sessions)
    body = user.request("action_settle_continue", "yes", intent="affirm", message_id="rasa-m-77")

    first = user.post(body)
    again = user.post(body)

    assert first.status_code == again.status_code == 200
    assert again.json()["responses"] == first.json()["responses"]
    assert "recorded your promise" in texts(first.json())
    assert messages_taken(sessions) == taken + 1
    assert len(rows(sessions, PromiseToPay)) == 1


def test_two_actions_after_one_message_are_two_turns(
    user: RasaUser, borrower: int, sessions: sessionmaker[Session]
) -> None:
    user.run("action_settle_balance", "my account", intent="check_balance")
    user.verify()
    taken = messages_taken(sessions)

    balance = user.run("action_settle_balance", "balance and due date", message_id="rasa-m-9")
    due = user.run("action_settle_due_date", "balance and due date", message_id="rasa-m-9")

    assert "past due" in texts(balance)
    assert "is past due now" in texts(due)
    assert messages_taken(sessions) == taken + 2


def test_an_unknown_action_gets_rasa_sdks_not_found_answer(user: RasaUser) -> None:
    reply = user.post(user.request("action_settle_nonsense", "hi"))

    assert reply.status_code == 404
    assert reply.json() == {
        "error": "No registered action found for name 'action_settle_nonsense'.",
        "action_name": "action_settle_nonsense",
    }


def test_a_call_without_a_sender_is_rejected_in_rasa_sdks_shape(user: RasaUser) -> None:
    body = user.request("action_settle_balance", "balance", intent="check_balance")
    body["sender_id"] = body["tracker"]["sender_id"] = "  "

    reply = user.post(body)

    assert reply.status_code == 400
    assert reply.json()["action_name"] == "action_settle_balance"
    assert "sender_id" in reply.json()["error"]


def test_the_server_lists_every_settle_action(server: httpx2.Client) -> None:
    listed = server.get("/actions")

    assert listed.status_code == 200
    assert sorted(item["name"] for item in listed.json()) == sorted(ACTION_NAMES)


def test_a_web_visitor_cannot_name_a_rasa_conversation(
    user: RasaUser, borrower: int, dialogue: Dialogue
) -> None:
    user.run("action_settle_balance", "my account", intent="check_balance")
    user.verify()

    # The web chat refuses any sender as long as a Rasa conversation's address...
    assert len(conversation_address(user.sender_id)) > webchat.MAX_SENDER_CHARS
    # ...and a sender naming the Rasa user is a conversation of its own, unverified.
    inbound = webchat.parse(
        {
            "sender": f"rasa:{user.sender_id}"[: webchat.MAX_SENDER_CHARS],
            "message": "/check_balance",
        },
        received_at=NOW,
    )
    result = dialogue.handle(inbound)
    said = " ".join(reply.text for reply in result.replies)
    assert "mobile number on the account" in said
    assert "$" not in said


def test_buttons_come_back_as_payloads_of_one_intent(user: RasaUser, borrower: int) -> None:
    user.run("action_settle_balance", "my account", intent="check_balance")
    user.verify()

    quote = user.run(
        "action_settle_extension_quote",
        "one more month",
        intent="request_extension",
        entities=[{"entity": "months", "value": "1"}],
    )

    assert [b["payload"] for m in quote["responses"] for b in m["buttons"]] == [
        choice_payload("/affirm"),
        choice_payload("/deny"),
    ]
    assert choice_payload("/offer:12") == '/settle_choice{"settle_payload": "/offer:12"}'


def test_slots_the_domain_does_not_declare_are_never_set(
    server: httpx2.Client, borrower: int
) -> None:
    user = RasaUser(server, slots={})
    body = user.request("action_settle_balance", "balance", intent="check_balance")
    body["domain"] = {"slots": {}}

    reply = user.post(body)

    assert reply.status_code == 200
    assert reply.json()["events"] == []
    assert "mobile number" in texts(reply.json())


def test_with_a_token_only_requests_that_carry_it_are_served(
    sessions: sessionmaker[Session], dialogue: Dialogue
) -> None:
    app = build_app(dialogue=dialogue, sessions=sessions, token=TOKEN, clock=lambda: NOW)
    with running(app) as url, httpx2.Client(base_url=url, timeout=60) as client:
        user = RasaUser(client)
        body = user.request("action_settle_balance", "balance", intent="check_balance")

        assert user.post(body).status_code == 401
        assert user.post(body, token="wrong-token-0123456789").status_code == 401
        assert client.get("/actions").status_code == 401
        assert client.get("/health").status_code == 200
        assert user.post(body, token=TOKEN).status_code == 200
        bearer = client.post("/webhook", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
        assert bearer.status_code == 200
