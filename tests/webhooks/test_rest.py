"""Rasa's REST channel contract: the request and response shapes Rasa clients and widgets use."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.webhooks.conftest import messages_taken
from webhooks.rest import HEALTH_PATH, MAX_BODY_BYTES, PATH


def say(client: TestClient, sender: str, message: str, **extra: Any) -> list[dict[str, Any]]:
    response = client.post(PATH, json={"sender": sender, "message": message, **extra})
    assert response.status_code == 200, response.text
    replies = response.json()
    assert isinstance(replies, list)
    return replies


def test_replies_are_addressed_to_the_sender_in_rasas_shape(client: TestClient) -> None:
    replies = say(client, "3f2b9c1e-widget-0a1b2c3d4e5f", "hi")

    assert replies
    for reply in replies:
        assert reply["recipient_id"] == "3f2b9c1e-widget-0a1b2c3d4e5f"
        assert reply["text"]
        assert set(reply) <= {"recipient_id", "text", "buttons"}
    buttons = replies[-1]["buttons"]
    assert buttons
    assert all(set(button) == {"title", "payload"} for button in buttons)
    assert all(button["payload"].startswith("/") for button in buttons)


def test_a_button_payload_sent_back_as_the_message_is_understood(client: TestClient) -> None:
    greeting = say(client, "widget-2-0a1b2c3d4e5f", "hello")
    balance = next(b for b in greeting[-1]["buttons"] if b["payload"] == "/check_balance")

    replies = say(client, "widget-2-0a1b2c3d4e5f", balance["payload"])

    # Account details need identity first: the bot starts verifying, it does not fall back.
    text = " ".join(reply["text"] for reply in replies).lower()
    assert "didn't understand" not in text
    assert any(word in text for word in ("phone", "date of birth", "confirm"))


def test_a_reply_without_choices_has_no_buttons_key(client: TestClient) -> None:
    say(client, "widget-3-0a1b2c3d4e5f", "hi")
    replies = say(client, "widget-3-0a1b2c3d4e5f", "/check_balance")
    assert any("buttons" not in reply for reply in replies)


def test_metadata_is_accepted_and_optional(client: TestClient) -> None:
    assert say(client, "widget-4-0a1b2c3d4e5f", "hi", metadata={"locale": "en-US"})
    assert say(client, "widget-4-0a1b2c3d4e5f", "thanks", metadata=None)


def test_a_retry_with_the_same_message_id_gets_the_same_replies_without_a_second_turn(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    first = say(client, "widget-5-0a1b2c3d4e5f", "hi", metadata={"message_id": "m-1"})
    again = say(client, "widget-5-0a1b2c3d4e5f", "hi", metadata={"message_id": "m-1"})

    assert again == first
    assert messages_taken(sessions) == 1


def test_message_ids_are_scoped_to_their_sender(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    say(client, "alice-tab-0a1b2c3d4e5f", "hi", metadata={"message_id": "1"})
    other = say(client, "bob-tab-0a1b2c3d4e5f", "hi", metadata={"message_id": "1"})

    assert {reply["recipient_id"] for reply in other} == {"bob-tab-0a1b2c3d4e5f"}
    assert messages_taken(sessions) == 2


def test_without_a_message_id_every_post_is_a_new_message(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    say(client, "widget-6-0a1b2c3d4e5f", "hi")
    say(client, "widget-6-0a1b2c3d4e5f", "hi")
    assert messages_taken(sessions) == 2


def test_malformed_json_gets_422_in_the_error_envelope(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    response = client.post(
        PATH, content=b'{"sender": "x", "message": ', headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["fields"][0]["field"] == "body"
    assert "not valid JSON" in error["message"]
    assert messages_taken(sessions) == 0


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ({"message": "hi"}, "sender", "field required"),
        ({"sender": "", "message": "hi"}, "sender", "non-empty"),
        ({"sender": 42, "message": "hi"}, "sender", "string"),
        ({"sender": "x" * 65, "message": "hi"}, "sender", "longer than 64"),
        ({"sender": "test", "message": "hi"}, "sender", "shorter than 16"),
        ({"sender": "widget-0a1b2c3d4e5f"}, "message", "field required"),
        ({"sender": "widget-0a1b2c3d4e5f", "message": ["hi"]}, "message", "string"),
        (
            {"sender": "widget-0a1b2c3d4e5f", "message": "hi", "metadata": "m-1"},
            "metadata",
            "object",
        ),
        (
            {"sender": "widget-0a1b2c3d4e5f", "message": "hi", "metadata": {"message_id": ""}},
            "metadata.message_id",
            "1 to 63",
        ),
        ([{"sender": "widget-0a1b2c3d4e5f", "message": "hi"}], "body", "JSON object"),
    ],
)
def test_a_malformed_message_gets_422_naming_the_field(
    client: TestClient,
    sessions: sessionmaker[Session],
    body: Any,
    field: str,
    problem: str,
) -> None:
    response = client.post(PATH, json=body)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["fields"][0]["field"] == field
    assert problem in error["fields"][0]["message"]
    assert messages_taken(sessions) == 0


def test_an_oversized_message_is_refused_with_a_clear_reason(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    response = client.post(PATH, json={"sender": "widget-0a1b2c3d4e5f", "message": "a" * 2001})

    assert response.status_code == 422
    assert response.json()["error"]["message"] == "message: longer than 2000 characters (2001)"
    assert messages_taken(sessions) == 0


def test_an_oversized_body_is_refused_before_it_is_parsed(client: TestClient) -> None:
    body = b'{"sender": "widget-0a1b2c3d4e5f", "message": "' + b"a" * MAX_BODY_BYTES + b'"}'
    response = client.post(PATH, content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_the_route_documents_rasas_request_shape(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"][PATH]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["sender", "message"]


def test_the_channel_answers_rasas_health_probe(client: TestClient) -> None:
    response = client.get(HEALTH_PATH)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
