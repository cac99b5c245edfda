"""Polling mode: the same handlers as the webhook, fed by getUpdates, replies sent at once."""

from __future__ import annotations

import asyncio

import anyio
from sqlalchemy.orm import Session, sessionmaker

from bots.outbox import Outbox
from bots.telegram import ALLOWED_UPDATES, TelegramChannel, build_dispatcher
from dialogue import Dialogue
from settle.cli_telegram import polling
from tests.telegram.conftest import (
    CHAT_ID,
    BotApiServer,
    callback_update,
    text_update,
)
from tests.webhooks.conftest import NOW, messages_taken


def test_polling_removes_the_webhook_then_answers_each_update_once_in_order(
    dialogue: Dialogue,
    outbox: Outbox,
    telegram: TelegramChannel,
    bot_api: BotApiServer,
    sessions: sessionmaker[Session],
) -> None:
    press = callback_update("/check_balance", message_id=101)
    bot_api.updates.extend([text_update("hi"), press])
    dispatcher = build_dispatcher(
        dialogue=lambda: dialogue, telegram=telegram, clock=lambda: NOW, outbox=outbox
    )

    async def run() -> None:
        polled = asyncio.create_task(
            polling(dispatcher, telegram, outbox, handle_signals=False, sweep_every=None)
        )
        await anyio.to_thread.run_sync(bot_api.wait_for, "sendMessage", 2)
        await dispatcher.stop_polling()
        await polled

    asyncio.run(run())

    calls = [c for c in bot_api.calls if c.method not in ("getUpdates", "getMe")]
    assert [c.method for c in calls] == [
        "deleteWebhook",
        "sendMessage",
        "answerCallbackQuery",
        "editMessageReplyMarkup",
        "sendMessage",
    ]
    greeting, asked = bot_api.of("sendMessage")
    assert greeting.fields["chat_id"] == asked.fields["chat_id"] == str(CHAT_ID)
    assert greeting.fields["text"].startswith("Hello!")
    assert "mobile number" in asked.fields["text"]
    assert bot_api.of("answerCallbackQuery")[0].fields == {
        "callback_query_id": press["callback_query"]["id"]
    }
    assert bot_api.of("getUpdates")[0].fields["allowed_updates"] == list(ALLOWED_UPDATES)
    assert messages_taken(sessions) == 2
