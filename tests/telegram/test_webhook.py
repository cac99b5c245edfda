"""The Telegram webhook against a real dialogue and a local Bot API server.

Updates are posted as Telegram posts them (JSON, the secret token header); what Settle does is
read from the requests the Bot API server receives and from the database.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bots.outbox import Outbox
from bots.telegram import TelegramChannel
from dialogue import Dialogue, issue_link_token
from models import Channel, Conversation, DeliveryStatus, OutboundMessage
from tests.telegram.conftest import (
    CHAT_ID,
    SECRET,
    TOKEN,
    BotApiServer,
    build_app,
    callback_update,
    contact_update,
    edited_update,
    group_chat,
    live_location_edit,
    message_update,
    next_update_id,
    person,
    photo_update,
    post_update,
    sticker_update,
    text_update,
    too_many_requests,
    voice_update,
)
from tests.webhooks.conftest import NOW, add_demo_borrower, messages_taken
from webhooks.telegram import MAX_BODY_BYTES, PATH, SECRET_HEADER

MONEY = re.compile(r"\$\d[\d,]*\.\d\d")
ONLY_TEXT = "I can only read text messages"


def conversation(sessions: sessionmaker[Session]) -> Conversation:
    with sessions() as session:
        [found] = session.scalars(
            select(Conversation).where(Conversation.channel == Channel.TELEGRAM)
        ).all()
        return found


def outbox_rows(sessions: sessionmaker[Session]) -> list[OutboundMessage]:
    with sessions() as session:
        return list(session.scalars(select(OutboundMessage).order_by(OutboundMessage.id)))


def inline_keyboard(markup: Any) -> list[tuple[str, str]]:
    return [(b["text"], b["callback_data"]) for row in markup["inline_keyboard"] for b in row]


# --- a whole conversation ---------------------------------------------------------------------


def test_a_deep_link_links_the_chat_and_the_verified_borrower_sees_the_balance(
    client: TestClient, bot_api: BotApiServer, sessions: sessionmaker[Session]
) -> None:
    borrower = add_demo_borrower(sessions)
    with sessions.begin() as session:
        token = issue_link_token(session=session, borrower_id=borrower.id, at=NOW)

    assert post_update(client, text_update(f"/start {token}")).status_code == 200
    [greeting] = bot_api.of("sendMessage")
    assert greeting.token == TOKEN
    assert greeting.fields["chat_id"] == str(CHAT_ID)
    assert greeting.fields["text"].startswith("Hello!")
    assert inline_keyboard(greeting.fields["reply_markup"]) == [
        ("My account", "/check_balance"),
        ("Talk to a person", "/request_human"),
    ]
    # The token named the borrower: the chat is theirs, though nothing is proven yet.
    assert conversation(sessions).borrower_id == borrower.id

    press = callback_update("/check_balance", message_id=101)
    assert post_update(client, press).status_code == 200
    [answered] = bot_api.of("answerCallbackQuery")
    assert answered.fields == {"callback_query_id": press["callback_query"]["id"]}
    [edited] = bot_api.of("editMessageReplyMarkup")
    assert edited.fields == {"chat_id": str(CHAT_ID), "message_id": "101"}  # keyboard removed
    # Linked already, so no phone number is asked: identity comes first.
    assert "date of birth" in bot_api.sent_texts()[-1]

    post_update(client, text_update("March 3 1985"))
    assert "last 4 digits" in bot_api.sent_texts()[-1]
    before = list(bot_api.sent_texts())
    post_update(client, text_update("6789"))

    after = bot_api.sent_texts()[len(before) :]
    assert "verified" in after[0]
    assert "past due" in after[-1]
    assert MONEY.search(after[-1])
    assert not any(MONEY.search(text) for text in before)  # nothing said before verification
    assert bot_api.methods() == [
        "sendMessage",
        "answerCallbackQuery",
        "editMessageReplyMarkup",
        "sendMessage",
        "sendMessage",
        *["sendMessage"] * len(after),
    ]
    rows = outbox_rows(sessions)
    assert {row.status for row in rows} == {DeliveryStatus.SENT}
    assert [row.provider_message_id for row in rows] == [
        f"{CHAT_ID}:{101 + n}" for n in range(len(rows))
    ]


def test_sharing_ones_own_contact_answers_the_phone_question_in_one_tap(
    client: TestClient, bot_api: BotApiServer, sessions: sessionmaker[Session]
) -> None:
    borrower = add_demo_borrower(sessions, phone="+14155552671")

    post_update(client, text_update("how much do I owe"))
    [asked] = bot_api.of("sendMessage")
    assert "mobile number" in asked.fields["text"]
    assert asked.fields["reply_markup"] == {
        "keyboard": [[{"text": "Share my phone number", "request_contact": True}]],
        "resize_keyboard": True,
        "one_time_keyboard": True,
    }

    # Telegram writes the sender's own number without the "+".
    post_update(client, contact_update("14155552671", user_id=CHAT_ID))
    answer = bot_api.of("sendMessage")[-1]
    assert "date of birth" in answer.fields["text"]
    assert answer.fields["reply_markup"] == {"remove_keyboard": True}
    assert conversation(sessions).borrower_id == borrower.id

    post_update(client, text_update("March 3 1985"))
    post_update(client, text_update("6789"))
    assert MONEY.search(bot_api.sent_texts()[-1])


def test_someone_elses_contact_links_nothing(
    client: TestClient, bot_api: BotApiServer, sessions: sessionmaker[Session]
) -> None:
    add_demo_borrower(sessions, phone="+14155552671")

    post_update(client, contact_update("+14155552671", user_id=CHAT_ID + 1))

    assert ONLY_TEXT in bot_api.sent_texts()[-1]
    assert conversation(sessions).borrower_id is None


# --- authentication, and a channel that is off ------------------------------------------------


@pytest.mark.parametrize("secret", [None, "", "not-the-secret-token", SECRET + "x"])
def test_a_missing_or_wrong_secret_is_refused_before_the_body_is_read(
    client: TestClient,
    bot_api: BotApiServer,
    sessions: sessionmaker[Session],
    secret: str | None,
) -> None:
    headers = {SECRET_HEADER: secret} if secret is not None else {}

    refused = client.post(PATH, json=text_update("hi"), headers=headers)
    unreadable = client.post(PATH, content=b"\xff not json", headers=headers)

    assert refused.status_code == unreadable.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"
    assert messages_taken(sessions) == 0
    assert bot_api.calls == []


def test_a_channel_that_is_off_answers_404_and_processes_nothing(
    dialogue: Dialogue,
    outbox: Outbox,
    bot_api: BotApiServer,
    sessions: sessionmaker[Session],
) -> None:
    without_secret = TelegramChannel(token=TOKEN, api_url=bot_api.url)
    for telegram in (None, without_secret):
        with TestClient(build_app(dialogue, outbox, telegram)) as client:
            answer = post_update(client, text_update("hi"))
        assert answer.status_code == 404
        assert "SETTLE_TELEGRAM_WEBHOOK_SECRET" in answer.json()["error"]["message"]
    assert messages_taken(sessions) == 0
    assert bot_api.calls == []


def test_an_oversized_or_malformed_body_is_refused(
    client: TestClient, bot_api: BotApiServer, sessions: sessionmaker[Session]
) -> None:
    headers = {SECRET_HEADER: SECRET}
    huge = b'{"update_id": 1, "message": {"text": "' + b"a" * MAX_BODY_BYTES + b'"}}'

    assert client.post(PATH, content=huge, headers=headers).status_code == 413
    assert client.post(PATH, content=b"{not json", headers=headers).status_code == 400
    assert client.post(PATH, json=[1, 2], headers=headers).status_code == 400
    assert client.post(PATH, json={"message": {}}, headers=headers).status_code == 400
    assert messages_taken(sessions) == 0
    assert bot_api.calls == []


# --- once, and only once ----------------------------------------------------------------------


def test_a_resent_update_is_processed_once_and_answered_once(
    client: TestClient, bot_api: BotApiServer, sessions: sessionmaker[Session]
) -> None:
    update = text_update("hi")
    press = callback_update("/request_human")

    assert post_update(client, update).status_code == 200
    assert post_update(client, press).status_code == 200
    sent_first, rows_first = len(bot_api.of("sendMessage")), len(outbox_rows(sessions))
    assert post_update(client, update).status_code == 200
    assert post_update(client, press).status_code == 200

    assert messages_taken(sessions) == 2
    assert bot_api.methods().count("answerCallbackQuery") == 1
    assert bot_api.methods().count("editMessageReplyMarkup") == 1
    assert sent_first > 0
    # The resends wrote no new reply and sent nothing more.
    assert len(outbox_rows(sessions)) == rows_first
    assert len(bot_api.of("sendMessage")) == sent_first == rows_first


def test_a_resent_update_sends_only_what_is_still_pending(
    client: TestClient, bot_api: BotApiServer, sessions: sessionmaker[Session]
) -> None:
    # Telegram asks for a pause longer than the outbox waits inline: the reply stays pending.
    bot_api.fail_next("sendMessage", 429, too_many_requests(120))
    update = text_update("hi")

    post_update(client, update)
    [row] = outbox_rows(sessions)
    assert row.status is DeliveryStatus.PENDING
    assert row.next_attempt_at is not None

    post_update(client, update)  # Telegram sends the update again
    [row] = outbox_rows(sessions)
    assert row.status is DeliveryStatus.SENT
    assert len(bot_api.of("sendMessage")) == 2  # the refused try, then the one that went out
    assert messages_taken(sessions) == 1


def test_a_rate_limited_send_is_retried_after_the_pause_telegram_asks_for(
    client: TestClient, bot_api: BotApiServer, sessions: sessionmaker[Session], waits: list[float]
) -> None:
    bot_api.fail_next("sendMessage", 429, too_many_requests(3))
    bot_api.fail_next("sendMessage", 500)

    post_update(client, text_update("hi"))

    assert waits == [3.0, 0.0]
    [row] = outbox_rows(sessions)
    assert row.status is DeliveryStatus.SENT
    assert row.attempts == 3
    texts = bot_api.sent_texts()
    assert len(texts) == 3
    assert len(set(texts)) == 1


def test_a_borrower_who_blocked_the_bot_is_recorded_as_failed_not_retried(
    client: TestClient, bot_api: BotApiServer, sessions: sessionmaker[Session]
) -> None:
    bot_api.fail_next("sendMessage", 403)

    post_update(client, text_update("hi"))

    [row] = outbox_rows(sessions)
    assert row.status is DeliveryStatus.FAILED
    assert row.error == "403: Forbidden: bot was blocked by the user"
    assert len(bot_api.of("sendMessage")) == 1


# --- what is not a plain text message ---------------------------------------------------------


@pytest.mark.parametrize(
    "update",
    [sticker_update, photo_update, voice_update],
    ids=["sticker", "photo", "voice"],
)
def test_stickers_photos_and_voice_notes_get_a_polite_answer(
    client: TestClient, bot_api: BotApiServer, sessions: sessionmaker[Session], update: Any
) -> None:
    assert post_update(client, update()).status_code == 200

    [answer] = bot_api.sent_texts()
    assert ONLY_TEXT in answer
    assert messages_taken(sessions) == 1


def test_a_caption_is_read_as_what_the_borrower_wrote(
    client: TestClient, bot_api: BotApiServer
) -> None:
    post_update(client, photo_update(caption="how much do I owe"))

    [answer] = bot_api.sent_texts()
    assert ONLY_TEXT not in answer
    assert "mobile number" in answer


def test_an_edited_message_is_read_as_a_new_one_and_live_locations_are_not_answered(
    client: TestClient, bot_api: BotApiServer, sessions: sessionmaker[Session]
) -> None:
    original = text_update("helo")
    post_update(client, original)
    replies = len(bot_api.sent_texts())

    post_update(
        client, edited_update("how much do I owe", message_id=original["message"]["message_id"])
    )
    assert len(bot_api.sent_texts()) > replies
    assert "mobile number" in bot_api.sent_texts()[-1]

    calls = len(bot_api.calls)
    assert post_update(client, live_location_edit(message_id=77)).status_code == 200
    assert len(bot_api.calls) == calls
    assert messages_taken(sessions) == 2


def test_group_chats_get_no_account_talk(
    client: TestClient, bot_api: BotApiServer, sessions: sessionmaker[Session]
) -> None:
    add_demo_borrower(sessions)

    answer = post_update(client, text_update("how much do I owe", chat=group_chat()))

    assert answer.status_code == 200
    assert bot_api.calls == []
    assert messages_taken(sessions) == 0


def test_messages_from_bots_and_service_messages_are_not_answered(
    client: TestClient, bot_api: BotApiServer, sessions: sessionmaker[Session]
) -> None:
    from_bot = text_update("hi")
    from_bot["message"]["from"] = {**person(), "is_bot": True}
    pinned = message_update(
        {"pinned_message": {"message_id": 5, "date": 0, "chat": {"id": CHAT_ID, "type": "private"}}}
    )

    for update in (from_bot, pinned):
        assert post_update(client, update).status_code == 200

    assert bot_api.calls == []
    assert messages_taken(sessions) == 0


def test_update_types_settle_does_not_handle_are_acknowledged_and_ignored(
    client: TestClient, bot_api: BotApiServer, sessions: sessionmaker[Session]
) -> None:
    blocked = {
        "update_id": next_update_id(),
        "my_chat_member": {
            "chat": {"id": CHAT_ID, "first_name": "Jane", "type": "private"},
            "from": person(),
            "date": 1750442400,
            "old_chat_member": {
                "user": {"id": 1, "is_bot": True, "first_name": "S"},
                "status": "member",
            },
            "new_chat_member": {
                "user": {"id": 1, "is_bot": True, "first_name": "S"},
                "status": "kicked",
                "until_date": 0,
            },
        },
    }
    from_the_future = {"update_id": next_update_id(), "hologram": {"id": 1}}

    assert post_update(client, blocked).status_code == 200
    with pytest.warns(RuntimeWarning, match="unknown update type"):
        assert post_update(client, from_the_future).status_code == 200

    assert bot_api.calls == []
    assert messages_taken(sessions) == 0


def test_telegram_commands_are_read_as_words_the_dialogue_knows(
    client: TestClient, bot_api: BotApiServer
) -> None:
    post_update(client, text_update("/start"))
    post_update(client, text_update("/help"))
    post_update(client, text_update("/stop"))

    greeting, help_info, stopped = bot_api.sent_texts()
    assert greeting.startswith("Hello!")
    assert "call us on" in help_info
    assert "You won't receive any more messages from us on Telegram" in stopped
