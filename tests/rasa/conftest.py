"""Rasa's side of the bridge: action calls in the JSON shape Rasa 3 sends, posted over HTTP to
rasa-sdk's real action server (sanic) on 127.0.0.1, running Settle's actions on the test database.

`RasaUser` plays one Rasa conversation: it builds each request from its tracker (slots, latest
message, events) as Rasa's `RemoteAction` does, and applies the slot events it gets back, as
Rasa's tracker would, so the next request carries them.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

rasa_sdk = pytest.importorskip("rasa_sdk", reason="the rasa extra is not installed")

import httpx2  # noqa: E402
from sanic import Sanic  # noqa: E402

from bots.rasa_actions import build_app  # noqa: E402
from dialogue import Dialogue, Nlu  # noqa: E402
from models import InboundMessage  # noqa: E402
from tests.servicing.factories import make_borrower, make_loan  # noqa: E402

# A Friday, 11:00 in Los Angeles where the test borrower lives.
NOW = datetime(2025, 6, 20, 18, 0, tzinfo=UTC)
PHONE = "+14155552671"
DATE_OF_BIRTH = date(1985, 3, 3)
NATIONAL_ID = "123-45-6789"
TOKEN = "rasa-action-token-0123456789"
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "rasa"
DOMAIN: dict[str, Any] = yaml.safe_load((EXAMPLES / "domain.yml").read_text(encoding="utf-8"))


@contextmanager
def running(app: Sanic[Any, Any]) -> Iterator[str]:
    """Serve `app` on a free port of 127.0.0.1 in a thread; yields its base URL."""
    # Sanic's touch-up recompiles its own server classes on an app's first start (a speed-up);
    # the second app started in one process must not do it again.
    app.config.TOUCHUP = False
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop = asyncio.Event()
    failed: list[BaseException] = []

    async def serve() -> None:
        # Listening once this returns; startup and the server events are ours to run.
        server = await app.create_server(sock=listener, access_log=False)
        assert server is not None
        await server.startup()
        await server.before_start()
        await server.after_start()
        started.set()
        await stop.wait()
        await server.before_stop()
        closing = server.close()
        if closing is not None:
            await closing
        await server.after_stop()

    def main() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(serve())
        except BaseException as exc:  # reported to the test thread
            failed.append(exc)
            started.set()
        finally:
            loop.close()

    thread = threading.Thread(target=main, name="rasa-action-server", daemon=True)
    thread.start()
    started.wait(timeout=30)
    try:
        if failed:
            raise failed[0]
        yield f"http://127.0.0.1:{port}"
    finally:
        if loop.is_running():
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        # Sanic allows one app of a name per process; the next test builds its own.
        Sanic.unregister_app(app)


@dataclass
class RasaUser:
    """One Rasa conversation calling the action server."""

    client: httpx2.Client
    sender_id: str = field(default_factory=lambda: f"rasa-user-{uuid.uuid4().hex}")
    slots: dict[str, Any] = field(default_factory=lambda: dict.fromkeys(DOMAIN.get("slots", {})))
    events: list[dict[str, Any]] = field(default_factory=list)
    clock: itertools.count[int] = field(default_factory=lambda: itertools.count(1750442400))

    def request(
        self,
        action: str,
        text: str,
        *,
        intent: str = "inform",
        entities: list[dict[str, Any]] | None = None,
        message_id: str | None = None,
    ) -> dict[str, Any]:
        """The JSON body Rasa posts to run `action` after the user said `text`."""
        mid = message_id or uuid.uuid4().hex
        at = float(next(self.clock))
        latest = {
            "intent": {"name": intent, "confidence": 0.97},
            "entities": entities or [],
            "text": text,
            "message_id": mid,
            "metadata": {},
            "intent_ranking": [{"name": intent, "confidence": 0.97}],
        }
        events = [
            *self.events,
            {
                "event": "action",
                "timestamp": at,
                "name": "action_listen",
                "policy": None,
                "confidence": None,
                "action_text": None,
                "hide_rule_turn": False,
            },
            {
                "event": "user",
                "timestamp": at,
                "text": text,
                "parse_data": latest,
                "input_channel": "rest",
                "message_id": mid,
                "metadata": {},
            },
        ]
        return {
            "next_action": action,
            "sender_id": self.sender_id,
            "tracker": {
                "sender_id": self.sender_id,
                "slots": dict(self.slots),
                "latest_message": latest,
                "latest_event_time": at,
                "followup_action": None,
                "paused": False,
                "events": events,
                "latest_input_channel": "rest",
                "active_loop": {},
                "latest_action": {"action_name": "action_listen"},
                "latest_action_name": "action_listen",
            },
            "domain": DOMAIN,
            "version": rasa_sdk.__version__,
        }

    def post(self, body: dict[str, Any], **params: str) -> httpx2.Response:
        return self.client.post("/webhook", json=body, params=params or None)

    def run(self, action: str, text: str, **options: Any) -> dict[str, Any]:
        """Run `action` for the user's `text`; the response JSON, with its slots applied."""
        body = self.request(action, text, **options)
        reply = self.post(body)
        assert reply.status_code == 200, reply.text
        result: dict[str, Any] = reply.json()
        self.events = [*body["tracker"]["events"], *result["events"]]
        for event in result["events"]:
            if event["event"] == "slot":
                self.slots[event["name"]] = event["value"]
        return result

    def verify(self) -> dict[str, Any]:
        """Answer Settle's identity questions through the continue action."""
        self.run("action_settle_continue", PHONE)
        self.run("action_settle_continue", "March 3 1985")
        return self.run("action_settle_continue", "6789")


def texts(result: dict[str, Any]) -> str:
    return " | ".join(message["text"] for message in result["responses"])


def slot_values(result: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in result["events"] if e["event"] == "slot"}


def messages_taken(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(InboundMessage)) or 0)


@pytest.fixture
def borrower(sessions: sessionmaker[Session]) -> int:
    """A borrower with one USD loan 21 days past due (its first installment fell due May 30)."""
    with sessions.begin() as session:
        person = make_borrower(
            session, phones=[PHONE], date_of_birth=DATE_OF_BIRTH, national_id=NATIONAL_ID
        )
        make_loan(session, borrower_id=person.id, disbursed_on=date(2025, 4, 30))
        return person.id


@pytest.fixture
def dialogue(sessions: sessionmaker[Session], nlu: Nlu) -> Dialogue:
    return Dialogue(sessions=sessions, nlu=nlu, clock=lambda: NOW)


@pytest.fixture
def server(sessions: sessionmaker[Session], dialogue: Dialogue) -> Iterator[httpx2.Client]:
    """A client of the action server, running the test's dialogue on the test's sessions."""
    app = build_app(dialogue=dialogue, sessions=sessions, clock=lambda: NOW)
    with running(app) as url, httpx2.Client(base_url=url, timeout=60) as client:
        yield client


@pytest.fixture
def user(server: httpx2.Client) -> RasaUser:
    return RasaUser(server)
