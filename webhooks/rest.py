"""Rasa's REST channel: `POST /webhooks/rest/webhook`, so Rasa chat widgets and clients work.

    POST /webhooks/rest/webhook  {"sender": "abc", "message": "hi", "metadata": {"message_id": "7"}}
    200 [{"recipient_id": "abc", "text": "Hello! ...", "buttons": [{"title", "payload"}]}]

A button's payload sent back as the message ("/check_balance") is understood by the dialogue. The
body is read with a size cap first; the turn is synchronous database code and runs in FastAPI's
thread pool. Parsing lives in `bots.webchat`; this module only maps HTTP to it and back.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError

from bots import webchat
from dialogue import Dialogue, Inbound, InvalidInbound
from webhooks.bodies import read_capped

PATH = "/webhooks/rest/webhook"
HEALTH_PATH = "/webhooks/rest/"
# Far above any valid message (2,000 characters of four-byte UTF-8 plus metadata); a body this
# large is refused before it is parsed.
MAX_BODY_BYTES = 64 * 1024

DialogueProvider = Callable[[], Dialogue]
Clock = Callable[[], datetime]

_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["sender", "message"],
    "properties": {
        "sender": {"type": "string", "maxLength": webchat.MAX_SENDER_CHARS},
        "message": {"type": "string", "maxLength": webchat.MAX_MESSAGE_CHARS},
        "metadata": {
            "type": "object",
            "properties": {
                "message_id": {
                    "type": "string",
                    "maxLength": webchat.MAX_MESSAGE_ID_CHARS,
                    "description": "The client's id of this message; a retry with the same id "
                    "gets the same replies and is not processed twice.",
                }
            },
        },
    },
}
_RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["recipient_id", "text"],
        "properties": {
            "recipient_id": {"type": "string"},
            "text": {"type": "string"},
            "buttons": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"title": {"type": "string"}, "payload": {"type": "string"}},
                },
            },
        },
    },
}


async def read_json(request: Request) -> Any:
    """The request's JSON body, read up to `MAX_BODY_BYTES`: 413 beyond that, 422 if malformed."""
    body = await read_capped(request, MAX_BODY_BYTES)
    try:
        return json.loads(body)
    except ValueError as exc:
        reason = getattr(exc, "msg", "not UTF-8 text")
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": reason, "ctx": {"error": reason}}]
        ) from None


def invalid(field: str, message: str) -> RequestValidationError:
    """A validation error rendered in the project's error envelope, like FastAPI's own."""
    location = ("body", *field.split(".")) if field != "body" else ("body",)
    return RequestValidationError([{"loc": location, "msg": message, "type": "value_error"}])


def _now() -> datetime:
    return datetime.now(UTC)


def build_rest_router(*, dialogue: DialogueProvider, clock: Clock | None = None) -> APIRouter:
    """The Rasa-compatible REST channel; `dialogue` is called per request (it may load lazily)."""
    router = APIRouter(tags=["channels"])
    now = clock or _now

    @router.get(HEALTH_PATH)
    def rest_health() -> dict[str, str]:
        """Rasa's REST channel answers this; clients probe it before they post."""
        return {"status": "ok"}

    @router.post(
        PATH,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _REQUEST_SCHEMA}},
            },
            "responses": {"200": {"content": {"application/json": {"schema": _RESPONSE_SCHEMA}}}},
        },
    )
    async def rest_webhook(request: Request) -> list[dict[str, Any]]:
        """One message from a Rasa REST client; answers with the bot's messages."""
        payload = await read_json(request)
        try:
            inbound = webchat.parse(payload, received_at=now())
        except webchat.InvalidMessage as exc:
            raise invalid(exc.field, exc.message) from None
        # The turn (and, the first time, loading the model) is blocking database code: it runs
        # in the thread pool, as a plain `def` route would, after the body is safely read.
        return await run_in_threadpool(turn, inbound)

    def turn(inbound: Inbound) -> list[dict[str, Any]]:
        try:
            return webchat.answer(dialogue(), inbound)
        except InvalidInbound as exc:
            raise invalid("body", str(exc)) from None

    return router
