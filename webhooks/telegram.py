"""Telegram's webhook: `POST /webhooks/telegram`, authenticated by the secret token, answered fast.

    POST /webhooks/telegram
    X-Telegram-Bot-Api-Secret-Token: <SETTLE_TELEGRAM_WEBHOOK_SECRET>
    {"update_id": 912, "message": {...}}
    200 {"ok": true}

In order: 404 when Telegram is off (no bot token or no webhook secret); 401 when the secret
header is missing or wrong, compared in constant time before a byte of the body is read; 413 for
a body larger than any update; 400 for one that is not an update. Then aiogram's dispatcher runs
the turn (in a worker thread, its replies written to the outbox in the turn's transaction), the
route answers 200, and the Bot API calls (the replies, a callback query's answer) are made after
the answer, so a slow Bot API never makes Telegram send the update again (it does after 60 s).
A resent update finds its turn done and sends only what is still pending, never a second copy.
An update the handlers do not answer (a group message, an unknown type) gets 200 and nothing else:
an error would only make Telegram send it again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiogram import Dispatcher
from aiogram.types import Update
from fastapi import APIRouter, BackgroundTasks, HTTPException, Request
from pydantic import ValidationError

from bots.outbox import Outbox
from bots.telegram import TelegramChannel, build_dispatcher, feed
from dialogue import Dialogue
from webhooks.bodies import read_capped

PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
# An update carries one message (4,096 characters), perhaps the one it replies to, and their
# entities: far below this even in four-byte UTF-8.
MAX_BODY_BYTES = 256 * 1024
OFF = (
    "Telegram is not configured: set SETTLE_TELEGRAM_BOT_TOKEN and "
    "SETTLE_TELEGRAM_WEBHOOK_SECRET, then run `settle telegram set-webhook`"
)


def build_telegram_router(
    *,
    dialogue: Callable[[], Dialogue],
    outbox: Outbox,
    telegram: TelegramChannel | None,
    clock: Callable[[], datetime] | None = None,
) -> APIRouter:
    """The Telegram webhook; `telegram` None (or without a webhook secret): it answers 404."""
    router = APIRouter(tags=["channels"])
    dispatcher: Dispatcher | None = None
    if telegram is not None and telegram.webhook_enabled:
        dispatcher = build_dispatcher(dialogue=dialogue, telegram=telegram, clock=clock)

    @router.post(PATH, responses={401: {}, 404: {}, 413: {}})
    async def telegram_webhook(request: Request, background: BackgroundTasks) -> dict[str, Any]:
        """One update from Telegram; the replies go out through the Bot API after the answer."""
        if telegram is None or dispatcher is None:
            raise HTTPException(404, OFF)
        if not telegram.accepts(request.headers.get(SECRET_HEADER)):
            raise HTTPException(401, f"missing or wrong {SECRET_HEADER}")
        update = telegram_update(telegram, await read_body(request))
        followup = await feed(dispatcher, telegram, update)
        background.add_task(followup.run, telegram.bot, outbox)
        return {"ok": True}

    return router


async def read_body(request: Request) -> bytes:
    """The body, up to `MAX_BODY_BYTES` (413 beyond, even when no length is declared)."""
    return await read_capped(request, MAX_BODY_BYTES)


def telegram_update(telegram: TelegramChannel, body: bytes) -> Update:
    """The update in `body`; 400 when it is not one (Telegram never sends that)."""
    try:
        data = json.loads(body)
    except ValueError:
        raise HTTPException(400, "the body is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        raise HTTPException(400, "not a Telegram update (no update_id)")
    try:
        return telegram.read_update(data)
    except ValidationError as exc:
        raise HTTPException(
            400, f"not a Telegram update: {exc.error_count()} invalid fields"
        ) from None
