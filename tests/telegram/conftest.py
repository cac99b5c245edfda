"""A local Bot API server, updates shaped as Telegram sends them, and a webhook client over them.

`BotApiServer` plays api.telegram.org on 127.0.0.1: it answers `POST /bot<token>/<method>` the
way Telegram does (`{"ok": true, "result": ...}`), records each request's method and fields, and
can be told to answer the next calls of a method with an error (429 with `retry_after`, 500,
403, 400) or to hold its answer until released (a request that times out after it was sent).
The `TelegramChannel` under test is pointed at it through `api_url`, as a deployment points it
at a self-hosted Bot API server.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from bots.outbox import Outbox, RetryPolicy
from bots.telegram import TelegramChannel
from dialogue import Dialogue, Nlu
from models import Channel
from settle.app import install_error_handlers
from tests.webhooks.conftest import NOW
from webhooks.telegram import PATH, SECRET_HEADER, build_telegram_router

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw8"
BOT_ID = 123456789
BOT_USERNAME = "settle_test_bot"
SECRET = "s3cret-Token_for-the-webhook"
CHAT_ID = 5551234567
# The Unix time of NOW (2025-06-20 18:00 UTC), as Telegram dates its messages.
DATE = 1750442400


@dataclass(frozen=True)
class Call:
    """One request the Bot API received: the method and its fields (JSON fields decoded)."""

    method: str
    fields: dict[str, Any]
    token: str


@dataclass
class _Scripted:
    status: int
    body: dict[str, Any]


ERRORS: dict[int, dict[str, Any]] = {
    400: {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
    403: {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
    500: {"ok": False, "error_code": 500, "description": "Internal Server Error"},
}


def too_many_requests(retry_after: int) -> dict[str, Any]:
    return {
        "ok": False,
        "error_code": 429,
        "description": f"Too Many Requests: retry after {retry_after}",
        "parameters": {"retry_after": retry_after},
    }


@dataclass
class BotApiServer:
    """Telegram's Bot API on 127.0.0.1, recording what it is asked."""

    url: str = ""
    calls: list[Call] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    # Set whenever a call is recorded (tests that wait for a background call).
    called: threading.Condition = field(default_factory=threading.Condition)
    # While cleared, sendMessage answers only once it is set (a request that times out).
    release: threading.Event = field(default_factory=threading.Event)
    _idle: threading.Event = field(default_factory=threading.Event)
    _scripted: dict[str, list[_Scripted]] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(101))

    def __post_init__(self) -> None:
        self.release.set()

    def fail_next(self, method: str, status: int, body: dict[str, Any] | None = None) -> None:
        """Answer the next call of `method` with this error (in the order they were scripted)."""
        answer = _Scripted(status, body or ERRORS[status])
        self._scripted.setdefault(method, []).append(answer)

    def methods(self) -> list[str]:
        return [call.method for call in self.calls]

    def of(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def sent_texts(self) -> list[str]:
        return [str(call.fields["text"]) for call in self.of("sendMessage")]

    def wait_for(self, method: str, count: int = 1, timeout: float = 30.0) -> list[Call]:
        """The calls of `method`, once there are `count` of them (an error if they never come)."""
        with self.called:
            arrived = self.called.wait_for(lambda: len(self.of(method)) >= count, timeout)
        assert arrived, f"{method} was called {len(self.of(method))} times, not {count}"
        return self.of(method)

    # --- answering ----------------------------------------------------------------------------

    def answer(self, token: str, method: str, fields: dict[str, Any]) -> tuple[int, Any]:
        with self.called:
            self.calls.append(Call(method=method, fields=fields, token=token))
            self.called.notify_all()
        scripted = self._scripted.get(method)
        if scripted:
            failure = scripted.pop(0)
            return failure.status, failure.body
        if method == "sendMessage":
            self.release.wait(timeout=30)
        return 200, {"ok": True, "result": self._result(method, fields)}

    def _result(self, method: str, fields: dict[str, Any]) -> Any:
        if method == "getMe":
            return {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Settle",
                "username": BOT_USERNAME,
                "can_join_groups": False,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        if method in ("sendMessage", "editMessageReplyMarkup"):
            message: dict[str, Any] = {
                "message_id": next(self._ids)
                if method == "sendMessage"
                else int(fields["message_id"]),
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Settle"},
                "chat": {"id": int(fields["chat_id"]), "first_name": "Jane", "type": "private"},
                "date": DATE,
                "text": fields.get("text", ""),
            }
            markup = fields.get("reply_markup")
            if isinstance(markup, dict) and "inline_keyboard" in markup:
                message["reply_markup"] = markup
            return message
        if method == "getUpdates":
            offset = int(fields.get("offset", 0))
            pending = [u for u in self.updates if u["update_id"] >= offset]
            if not pending:
                # A long poll with nothing new: wait a little, as Telegram does.
                self._idle.wait(timeout=0.2)
            return pending
        return True  # answerCallbackQuery, setWebhook, deleteWebhook


def _server(api: BotApiServer) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            _, bot, method = self.path.split("/", 2)
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length).decode("utf-8")
            if self.headers.get("content-type", "").startswith("application/json"):
                fields = json.loads(body or "{}")
            else:
                fields = {key: _decoded(value) for key, value in parse_qsl(body)}
            status, answer = api.answer(bot.removeprefix("bot"), method, fields)
            data = json.dumps(answer).encode("utf-8")
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (the timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test asserts on the recorded calls."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server


def _decoded(value: str) -> Any:
    """aiogram sends objects (reply_markup, allowed_updates) as JSON in a form field."""
    if value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


@pytest.fixture
def bot_api() -> Iterator[BotApiServer]:
    api = BotApiServer()
    server = _server(api)
    host, port = server.server_address[:2]
    api.url = f"http://{host!s}:{port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        api.release.set()
        server.shutdown()
        server.server_close()


def channel_for(api: BotApiServer, **options: Any) -> TelegramChannel:
    return TelegramChannel(token=TOKEN, webhook_secret=SECRET, api_url=api.url, **options)


@pytest.fixture
def telegram(bot_api: BotApiServer) -> TelegramChannel:
    return channel_for(bot_api)


@pytest.fixture
def waits() -> list[float]:
    """The pauses the outbox asked for between retries (it does not really sleep in tests)."""
    return []


@pytest.fixture
def outbox(
    sessions: sessionmaker[Session], telegram: TelegramChannel, waits: list[float]
) -> Outbox:
    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    return Outbox(
        sessions=sessions,
        transports={Channel.TELEGRAM: telegram.transport},
        retry=RetryPolicy(delays=(0, 0, 0), lease=timedelta(minutes=5)),
        clock=lambda: NOW,
        sleep=sleep,
    )


@pytest.fixture
def dialogue(sessions: sessionmaker[Session], nlu: Nlu) -> Dialogue:
    return Dialogue(sessions=sessions, nlu=nlu, clock=lambda: NOW)


def build_app(dialogue: Dialogue, outbox: Outbox, telegram: TelegramChannel | None) -> FastAPI:
    """The webhook as the application serves it, closing the bot's HTTP session at shutdown."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if telegram is not None:
            await telegram.close()

    app = FastAPI(lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(
        build_telegram_router(
            dialogue=lambda: dialogue, outbox=outbox, telegram=telegram, clock=lambda: NOW
        )
    )
    return app


@pytest.fixture
def client(dialogue: Dialogue, outbox: Outbox, telegram: TelegramChannel) -> Iterator[TestClient]:
    with TestClient(build_app(dialogue, outbox, telegram)) as client:
        yield client


def post_update(client: TestClient, update: dict[str, Any], *, secret: str | None = SECRET) -> Any:
    """Deliver an update as Telegram does: JSON, with the secret token header."""
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    return client.post(PATH, json=update, headers=headers)


# --- updates, as Telegram sends them ----------------------------------------------------------


_update_ids = itertools.count(813_000_001)
_message_ids = itertools.count(1365)


def next_update_id() -> int:
    return next(_update_ids)


def person(user_id: int = CHAT_ID) -> dict[str, Any]:
    return {
        "id": user_id,
        "is_bot": False,
        "first_name": "Jane",
        "last_name": "Doe",
        "username": "janedoe",
        "language_code": "en",
    }


def private_chat(chat_id: int = CHAT_ID) -> dict[str, Any]:
    return {
        "id": chat_id,
        "first_name": "Jane",
        "last_name": "Doe",
        "username": "janedoe",
        "type": "private",
    }


def group_chat() -> dict[str, Any]:
    return {"id": -1001234567890, "title": "Doe family", "type": "supergroup"}


def message(content: dict[str, Any], *, chat: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "message_id": next(_message_ids),
        "from": person(),
        "chat": chat or private_chat(),
        "date": DATE,
        **content,
    }


def message_update(
    content: dict[str, Any], *, chat: dict[str, Any] | None = None, update_id: int | None = None
) -> dict[str, Any]:
    return {
        "update_id": update_id or next_update_id(),
        "message": message(content, chat=chat),
    }


def text_update(text: str, **options: Any) -> dict[str, Any]:
    content: dict[str, Any] = {"text": text}
    if text.startswith("/"):
        command = text.split()[0]
        content["entities"] = [{"offset": 0, "length": len(command), "type": "bot_command"}]
    return message_update(content, **options)


def contact_update(phone: str, *, user_id: int | None = CHAT_ID) -> dict[str, Any]:
    contact: dict[str, Any] = {"phone_number": phone, "first_name": "Jane", "last_name": "Doe"}
    if user_id is not None:
        contact["user_id"] = user_id
    return message_update({"contact": contact})


def sticker_update() -> dict[str, Any]:
    return message_update(
        {
            "sticker": {
                "file_id": "CAACAgIAAxkBAAIBY2ZbQ1x5AAF3bR0AAd2u1hV6w0p8AAJGAAOtZbwU9gABmz2uAAE",
                "file_unique_id": "AgADRgADrWW8FA",
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": "👍",
                "set_name": "HotCherry",
                "file_size": 22370,
            }
        }
    )


def photo_update(caption: str | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {
        "photo": [
            {
                "file_id": "AgACAgIAAxkBAAIBZGZbQ2xVbGw6f3h0-small",
                "file_unique_id": "AQADk8gxG9Xt2Ep4",
                "file_size": 1462,
                "width": 90,
                "height": 67,
            },
            {
                "file_id": "AgACAgIAAxkBAAIBZGZbQ2xVbGw6f3h0-large",
                "file_unique_id": "AQADk8gxG9Xt2Ep9",
                "file_size": 61503,
                "width": 1280,
                "height": 960,
            },
        ]
    }
    if caption is not None:
        content["caption"] = caption
    return message_update(content)


def voice_update() -> dict[str, Any]:
    return message_update(
        {
            "voice": {
                "duration": 3,
                "mime_type": "audio/ogg",
                "file_id": "AwACAgIAAxkBAAIBZWZbQ3voice",
                "file_unique_id": "AgAD3UAAAv",
                "file_size": 9876,
            }
        }
    )


def callback_update(
    data: str, *, message_id: int = 101, message_text: str = "How can I help?"
) -> dict[str, Any]:
    return {
        "update_id": next_update_id(),
        "callback_query": {
            "id": f"43821{next(_message_ids)}9323",
            "from": person(),
            "message": {
                "message_id": message_id,
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Settle"},
                "chat": private_chat(),
                "date": DATE,
                "text": message_text,
                "reply_markup": {
                    "inline_keyboard": [[{"text": "My account", "callback_data": data}]]
                },
            },
            "chat_instance": "-6283942039432021771",
            "data": data,
        },
    }


def edited_update(text: str, *, message_id: int) -> dict[str, Any]:
    return {
        "update_id": next_update_id(),
        "edited_message": {
            "message_id": message_id,
            "from": person(),
            "chat": private_chat(),
            "date": DATE,
            "edit_date": DATE + 30,
            "text": text,
        },
    }


def live_location_edit(*, message_id: int) -> dict[str, Any]:
    return {
        "update_id": next_update_id(),
        "edited_message": {
            "message_id": message_id,
            "from": person(),
            "chat": private_chat(),
            "date": DATE,
            "edit_date": DATE + 60,
            "location": {
                "latitude": 37.774929,
                "longitude": -122.419416,
                "live_period": 900,
                "horizontal_accuracy": 12.5,
            },
        },
    }
