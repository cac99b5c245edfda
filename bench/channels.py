"""Webhook round trips under load: Telegram and SMS, against `settle serve` (uvicorn) on this machine.

    .venv/bin/python bench/channels.py [--conversations 50] [--workers 1 2] [--pg postgresql://postgres@127.0.0.1:5432/test]

Starts `settle serve` in a subprocess on a fresh database (SQLite, then PostgreSQL when `--pg` is
given), with Telegram and Twilio configured to call a local HTTP server that plays the Bot API
and Twilio's Messages API. Then N conversations talk at once, each a borrower going through a
whole exchange (greeting, a balance question, identity verification, the balance, thanks), one
message after another:

- Telegram: a signed update (`X-Telegram-Bot-Api-Secret-Token`) to `/webhooks/telegram`;
- SMS: a Twilio-signed form to `/webhooks/twilio/messages`.

For every message it measures the webhook's HTTP answer, and the round trip from sending the
webhook to the provider server receiving Settle's first reply (`sendMessage`,
`Messages.json`): HTTP in, turn, API call out. Baseline, in the same run and at the same
concurrency: `GET /healthz` (HTTP plus one database query).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx2 as httpx
from aiohttp import web
from sqlalchemy import select, text

from bots.twilio import MESSAGES_PATH, TwilioAccount
from compliance import ContactRequest, Outcome, evaluate_many, load_profile
from models import (
    Borrower,
    BorrowerPhone,
    Channel,
    Initiator,
    PiiCipher,
    generate_key,
    make_engine,
)

ROOT = Path(__file__).resolve().parents[1]
SETTLE = str(Path(sys.executable).with_name("settle"))
# Credentials of the local provider server only: nothing real.
BOT_TOKEN = "123456789:AAbenchbenchbenchbenchbenchbenchbe"  # noqa: S105
SECRET = "bench-webhook-secret-0123456789"  # noqa: S105
ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "benchauthtoken0123456789abcdef01"  # noqa: S105
FROM_NUMBER = "+12025550100"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Provider:
    """The local Bot API and Twilio API: records when each recipient receives a message."""

    received: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    waiters: dict[str, asyncio.Event] = field(default_factory=dict)
    sids: int = 0

    def note(self, recipient: str) -> None:
        self.received[recipient].append(time.perf_counter())
        event = self.waiters.get(recipient)
        if event is not None:
            event.set()

    async def telegram(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        fields = dict(await request.post())
        if method == "sendMessage":
            chat = str(fields["chat_id"])
            self.note(f"tg:{chat}")
            self.sids += 1
            result: Any = {
                "message_id": self.sids,
                "date": int(time.time()),
                "chat": {"id": int(chat), "type": "private"},
                "text": fields.get("text", ""),
            }
        else:
            result = True
        return web.json_response({"ok": True, "result": result})

    async def twilio(self, request: web.Request) -> web.Response:
        fields = dict(await request.post())
        self.note(f"sms:{fields['To']}")
        self.sids += 1
        sid = f"SM{self.sids:032x}"
        return web.json_response(
            {"sid": sid, "status": "queued", "to": fields["To"], "from": fields["From"]},
            status=201,
        )


async def start_provider(provider: Provider, port: int) -> web.AppRunner:
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", provider.telegram)
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", provider.twilio)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


@dataclass(frozen=True)
class Person:
    phone: str
    date_of_birth: str
    id_last4: str


def people(database_url: str, key: str, count: int) -> list[Person]:
    """Seeded borrowers with a phone of their own, their date of birth and ID digits."""
    engine = make_engine(database_url, cipher=PiiCipher.from_text(key))
    found: list[Person] = []
    with engine.connect() as connection:
        shared = {
            row[0]
            for row in connection.execute(
                text(
                    "SELECT number_index FROM borrower_phones GROUP BY number_index "
                    "HAVING COUNT(DISTINCT borrower_id) > 1"
                )
            )
        }
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        for phone in session.scalars(select(BorrowerPhone).order_by(BorrowerPhone.id)):
            if phone.number_index in shared:
                continue
            borrower = session.get(Borrower, phone.borrower_id)
            assert borrower is not None
            digits = "".join(ch for ch in borrower.national_id or "" if ch.isdigit())
            if borrower.date_of_birth is None or len(digits) < 4:
                continue
            if borrower.preferred_language != "en":
                continue
            # Only borrowers Settle may answer by SMS (no hold, opt-out or missing consent),
            # so every message has a reply to time.
            [decision] = evaluate_many(
                session=session,
                requests=[
                    ContactRequest(
                        borrower_id=borrower.id,
                        loan_id=None,
                        channel=Channel.SMS,
                        initiated_by=Initiator.BORROWER,
                        address_index=phone.number_index,
                    )
                ],
                at=datetime.now(UTC),
                profile=load_profile("us_reg_f"),
            )
            if decision.outcome is not Outcome.ALLOW:
                continue
            found.append(
                Person(phone.number, borrower.date_of_birth.strftime("%B %d %Y"), digits[-4:])
            )
            if len(found) == count:
                break
    engine.dispose()
    return found


def lines_for(person: Person, *, with_phone: bool) -> list[str]:
    lines = ["hi", "how much do I owe"]
    if with_phone:
        lines.append(person.phone)
    return [*lines, person.date_of_birth, person.id_last4, "thanks"]


@dataclass
class Figures:
    http: list[float] = field(default_factory=list)
    round_trip: list[float] = field(default_factory=list)
    wall: float = 0.0
    missing: int = 0
    # What was said when no reply came (a turn the bot answers with silence, or a lost reply).
    unanswered: dict[str, int] = field(default_factory=lambda: defaultdict(int))


async def converse(
    client: httpx.AsyncClient,
    provider: Provider,
    recipient: str,
    lines: list[str],
    post: Any,
    figures: Figures,
) -> None:
    for n, line in enumerate(lines):
        event = asyncio.Event()
        provider.waiters[recipient] = event
        before = len(provider.received[recipient])
        start = time.perf_counter()
        response = await post(client, n, line)
        figures.http.append(time.perf_counter() - start)
        response.raise_for_status()
        try:
            while len(provider.received[recipient]) == before:
                await asyncio.wait_for(event.wait(), timeout=20)
                event.clear()
        except TimeoutError:
            figures.missing += 1
            figures.unanswered[line if n != 2 else "<phone or date of birth>"] += 1
            continue
        figures.round_trip.append(provider.received[recipient][before] - start)
        # Let the rest of this turn's replies arrive before the borrower answers.
        await asyncio.sleep(0.05)


async def load(
    base: str, provider: Provider, crowd: list[Person], account: TwilioAccount, *, first_chat: int
) -> dict[str, Figures]:
    figures = {"healthz": Figures(), "telegram": Figures(), "sms": Figures()}
    limits = httpx.Limits(max_connections=len(crowd) * 2)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def health(_n: int) -> None:
            for _ in range(6):
                start = time.perf_counter()
                (await client.get("/healthz")).raise_for_status()
                figures["healthz"].http.append(time.perf_counter() - start)

        await asyncio.gather(*(health(n) for n in range(len(crowd))))

        def telegram_post(chat: int) -> Any:
            async def post(c: httpx.AsyncClient, n: int, line: str) -> httpx.Response:
                update = {
                    "update_id": chat * 100 + n,
                    "message": {
                        "message_id": n + 1,
                        "from": {"id": chat, "is_bot": False, "first_name": "Bench"},
                        "chat": {"id": chat, "type": "private", "first_name": "Bench"},
                        "date": int(time.time()),
                        "text": line,
                    },
                }
                return await c.post(
                    "/webhooks/telegram",
                    content=json.dumps(update),
                    headers={
                        "X-Telegram-Bot-Api-Secret-Token": SECRET,
                        "Content-Type": "application/json",
                    },
                )

            return post

        def sms_post(person: Person, index: int) -> Any:
            async def post(c: httpx.AsyncClient, n: int, line: str) -> httpx.Response:
                params = {
                    "MessageSid": f"SM{index:016x}{n:016x}",
                    "SmsSid": f"SM{index:016x}{n:016x}",
                    "AccountSid": ACCOUNT_SID,
                    "From": person.phone,
                    "To": FROM_NUMBER,
                    "Body": line,
                    "NumMedia": "0",
                    "NumSegments": "1",
                    "SmsStatus": "received",
                    "ApiVersion": "2010-04-01",
                }
                url = account.public_url(MESSAGES_PATH)
                return await c.post(
                    MESSAGES_PATH,
                    content=urlencode(params),
                    headers={
                        "X-Twilio-Signature": account.signature(url=url, params=params),
                        "Content-Type": "application/x-www-form-urlencoded",
                    },
                )

            return post

        started = time.perf_counter()
        await asyncio.gather(
            *(
                converse(
                    client,
                    provider,
                    f"tg:{first_chat + i}",
                    lines_for(person, with_phone=True),
                    telegram_post(first_chat + i),
                    figures["telegram"],
                )
                for i, person in enumerate(crowd)
            )
        )
        figures["telegram"].wall = time.perf_counter() - started
        started = time.perf_counter()
        await asyncio.gather(
            *(
                converse(
                    client,
                    provider,
                    f"sms:{person.phone}",
                    lines_for(person, with_phone=False),
                    sms_post(person, first_chat + i),
                    figures["sms"],
                )
                for i, person in enumerate(crowd)
            )
        )
        figures["sms"].wall = time.perf_counter() - started
    return figures


def ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return 1000 * ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_backend(name: str, database_url: str, conversations: int, workers: int) -> None:
    key = generate_key()
    server_port, provider_port = free_port(), free_port()
    base = f"http://127.0.0.1:{server_port}"
    env = {
        **os.environ,
        "SETTLE_ENV": "development",
        "SETTLE_DATABASE_URL": database_url,
        "SETTLE_ENCRYPTION_KEY": key,
        "SETTLE_API_TOKEN": "bench-api-token-0123456789",
        "SETTLE_PUBLIC_BASE_URL": base,
        "SETTLE_TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "SETTLE_TELEGRAM_WEBHOOK_SECRET": SECRET,
        "SETTLE_TELEGRAM_API_URL": f"http://127.0.0.1:{provider_port}",
        "SETTLE_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "SETTLE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "SETTLE_TWILIO_FROM_NUMBER": FROM_NUMBER,
        "SETTLE_TWILIO_API_URL": f"http://127.0.0.1:{provider_port}",
        "SETTLE_NLU_MODEL_PATH": str(ROOT / "var" / "nlu" / "intent-model.npz"),
        "SETTLE_LOG_LEVEL": "warning",
    }
    # Our own command line, with fixed arguments.
    subprocess.run([SETTLE, "db", "upgrade"], env=env, check=True, capture_output=True)  # noqa: S603
    subprocess.run(  # noqa: S603
        [SETTLE, "seed", "--loans", str(max(300, conversations * 4))],
        env=env,
        check=True,
        capture_output=True,
    )
    crowd = people(database_url, key, conversations + 1)
    account = TwilioAccount(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        from_number=FROM_NUMBER,
        whatsapp_from=None,
        public_base_url=base,
    )
    server = subprocess.Popen(  # noqa: S603
        [SETTLE, "serve", "--port", str(server_port), "--workers", str(workers)],
        env=env,
        cwd=tempfile.mkdtemp(prefix="settle-bench-"),
    )
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        # Each worker loads the language model at start-up (channels are configured); give
        # them the time, then warm up.
        time.sleep(10)
        provider = Provider()

        async def main() -> dict[str, Figures]:
            runner = await start_provider(provider, provider_port)
            try:
                # One warm-up exchange (its own chat and its own number) loads the language
                # model in the server.
                await load(base, provider, crowd[-1:], account, first_chat=6_000_000)
                provider.received.clear()
                return await load(base, provider, crowd[:-1], account, first_chat=7_000_000)
            finally:
                await runner.cleanup()

        figures = asyncio.run(main())
    finally:
        server.terminate()
        server.wait(timeout=30)
    floor = statistics.median(figures["healthz"].http)
    processes = "one worker" if workers == 1 else f"{workers} workers"
    print(f"\n{name}: {conversations} concurrent conversations, uvicorn, {processes}")
    print(f"  {'':34} {'median ms':>10} {'p99 ms':>8} {'x healthz':>10} {'n':>5}")
    print(
        f"  {'GET /healthz (baseline)':34} {ms(figures['healthz'].http, 0.5):10.1f}"
        f" {ms(figures['healthz'].http, 0.99):8.1f} {1.0:10.1f} {len(figures['healthz'].http):5}"
    )
    for channel in ("telegram", "sms"):
        got = figures[channel]
        for label, values in (("webhook answer", got.http), ("in -> first reply out", got.round_trip)):
            print(
                f"  {channel + ' ' + label:34} {ms(values, 0.5):10.1f} {ms(values, 0.99):8.1f}"
                f" {statistics.median(values) / floor:10.1f} {len(values):5}"
            )
        print(f"  {channel} throughput: {len(got.http) / got.wall:.0f} messages/s")
        if got.missing:
            print(
                f"  {channel}: {got.missing} messages got no reply within 20 s:"
                f" {dict(got.unanswered)}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--pg", help="a PostgreSQL server URL; a scratch database is made on it")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1], help="server processes, one run each"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        for workers in args.workers:
            database = f"{workdir}/bench-{workers}.db"
            run_backend("SQLite", f"sqlite:///{database}", args.conversations, workers)
    if args.pg:
        admin = make_engine(args.pg, cipher=None, isolation_level="AUTOCOMMIT")
        try:
            url = args.pg.rsplit("/", 1)[0] + "/settle_channels_bench"
            for workers in args.workers:
                with admin.connect() as connection:
                    connection.execute(text("DROP DATABASE IF EXISTS settle_channels_bench"))
                    connection.execute(text("CREATE DATABASE settle_channels_bench"))
                run_backend("PostgreSQL", url, args.conversations, workers)
        finally:
            with admin.connect() as connection:
                connection.execute(text("DROP DATABASE IF EXISTS settle_channels_bench"))
            admin.dispose()


if __name__ == "__main__":
    main()
