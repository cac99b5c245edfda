"""What every Twilio contract test needs: a local server playing Twilio's REST API, an account
whose client talks to it, and a signer that signs webhook requests exactly as Twilio does.

    def test_x(twilio_api: FakeTwilioApi, twilio_account: TwilioAccount,
               twilio_signer: TwilioSigner) -> None:
        twilio_api.script("Messages.json", TwilioReply.error(429, 20429, "Too Many Requests"))
        headers = twilio_signer.headers(MESSAGES_PATH, form)
        ...
        assert twilio_api.requests_to("Messages.json")[0].form["To"] == "+14155552671"

The server answers what Twilio answers (JSON bodies of the 2010-04-01 API, 201 on create, its
error envelope), checks the account's Basic credentials like Twilio (401, code 20003), and
records every request. Tests script answers per path suffix; unscripted requests get a created
Message (SM...) or Call (CA...) echoing what was asked.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.datastructures import FormData

from bots.twilio import TwilioAccount

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "f" * 8 + "0123456789abcdef" + "e" * 8
FROM_NUMBER = "+12025550181"
WHATSAPP_FROM = "+14155238886"  # Twilio's WhatsApp sandbox number
PUBLIC_BASE_URL = "https://settle.example.com"
CREATED_AT = "Fri, 20 Jun 2025 18:00:00 +0000"


@dataclass(frozen=True)
class TwilioReply:
    """One scripted answer: an HTTP status and JSON body, or `hang` (no answer until the end)."""

    status: int = 201
    body: Mapping[str, Any] | None = None
    hang: bool = False

    @classmethod
    def error(cls, status: int, code: int, message: str) -> TwilioReply:
        """Twilio's error envelope, as its API returns it."""
        return cls(
            status=status,
            body={
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
        )

    @classmethod
    def hanging(cls) -> TwilioReply:
        """Take the request and never answer (until the test ends): a timeout after sending."""
        return cls(hang=True)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake API received."""

    method: str
    path: str
    form: dict[str, str]
    multi: dict[str, list[str]]
    headers: dict[str, str]

    @property
    def credentials(self) -> tuple[str, str] | None:
        value = self.headers.get("authorization", "")
        if not value.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        return user, password


@dataclass
class FakeTwilioApi:
    """Plays api.twilio.com on 127.0.0.1; see the module docstring."""

    account_sid: str
    auth_token: str
    requests: list[RecordedRequest] = field(default_factory=list)
    scripts: dict[str, list[TwilioReply]] = field(default_factory=dict)
    url: str = ""
    released: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, path_suffix: str, *replies: TwilioReply) -> None:
        """Answer the next requests whose path ends with `path_suffix` with `replies`, in turn."""
        with self._lock:
            self.scripts.setdefault(path_suffix, []).extend(replies)

    def requests_to(self, path_suffix: str, method: str = "POST") -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith(path_suffix) and r.method == method]

    def messages(self) -> list[dict[str, str]]:
        """The forms of every Messages.json create request, in order."""
        return [r.form for r in self.requests_to("/Messages.json")]

    # --- the server side ------------------------------------------------------------------

    def answer(self, request: RecordedRequest) -> TwilioReply:
        with self._lock:
            self.requests.append(request)
            for suffix, queue in self.scripts.items():
                if request.path.endswith(suffix) and queue:
                    return queue.pop(0)
        if request.credentials != (self.account_sid, self.auth_token):
            return TwilioReply.error(401, 20003, "Authenticate")
        return self.created(request)

    def created(self, request: RecordedRequest) -> TwilioReply:
        base = f"/2010-04-01/Accounts/{self.account_sid}"
        form = request.form
        if request.path.endswith("/Messages.json"):
            sid = "SM" + secrets.token_hex(16)
            return TwilioReply(
                201,
                {
                    "account_sid": self.account_sid,
                    "api_version": "2010-04-01",
                    "body": form.get("Body", ""),
                    "date_created": CREATED_AT,
                    "date_sent": None,
                    "date_updated": CREATED_AT,
                    "direction": "outbound-api",
                    "error_code": None,
                    "error_message": None,
                    "from": form.get("From"),
                    "messaging_service_sid": None,
                    "num_media": "0",
                    "num_segments": "1",
                    "price": None,
                    "price_unit": "USD",
                    "sid": sid,
                    "status": "queued",
                    "subresource_uris": {"media": f"{base}/Messages/{sid}/Media.json"},
                    "to": form.get("To"),
                    "uri": f"{base}/Messages/{sid}.json",
                },
            )
        if request.path.endswith("/Calls.json"):
            sid = "CA" + secrets.token_hex(16)
            return TwilioReply(
                201,
                {
                    "account_sid": self.account_sid,
                    "api_version": "2010-04-01",
                    "date_created": CREATED_AT,
                    "date_updated": CREATED_AT,
                    "direction": "outbound-api",
                    "from": form.get("From"),
                    "from_formatted": form.get("From"),
                    "sid": sid,
                    "status": "queued",
                    "to": form.get("To"),
                    "to_formatted": form.get("To"),
                    "uri": f"{base}/Calls/{sid}.json",
                },
            )
        return TwilioReply.error(404, 20404, f"The requested resource {request.path} was not found")


def _handler(api: FakeTwilioApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length).decode("utf-8") if length else ""
            url = urlsplit(self.path)
            multi = parse_qs(raw, keep_blank_values=True)
            request = RecordedRequest(
                method=self.command,
                path=url.path,
                form={key: values[-1] for key, values in multi.items()},
                multi=multi,
                headers={key.lower(): value for key, value in self.headers.items()},
            )
            reply = api.answer(request)
            if reply.hang:
                api.released.wait(timeout=30)
                return
            payload = json.dumps(reply.body or {}).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = _serve
        do_POST = _serve
        do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the recorded requests are what tests read."""

    return Handler


@contextlib.contextmanager
def serving(api: FakeTwilioApi) -> Iterator[None]:
    """Serve `api` on a free port of 127.0.0.1 (its `url`) for the duration of the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    server.daemon_threads = True
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        api.released.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def twilio_api() -> Iterator[FakeTwilioApi]:
    """A fake Twilio REST API on 127.0.0.1, for this test only."""
    api = FakeTwilioApi(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
    with serving(api):
        yield api


@pytest.fixture
def twilio_account(twilio_api: FakeTwilioApi) -> TwilioAccount:
    """A Twilio account with SMS and WhatsApp senders, whose REST client calls `twilio_api`."""
    return TwilioAccount(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        from_number=FROM_NUMBER,
        whatsapp_from=WHATSAPP_FROM,
        public_base_url=PUBLIC_BASE_URL,
        api_url=twilio_api.url,
    )


@dataclass(frozen=True)
class TwilioSigner:
    """Signs webhook requests as Twilio does: HMAC-SHA1 of the public URL and the form."""

    account: TwilioAccount

    def signature(
        self, path: str, form: Mapping[str, str] | Sequence[tuple[str, str]], query: str = ""
    ) -> str:
        return self.account.signature(
            url=self.account.public_url(path, query), params=_params(form)
        )

    def headers(
        self, path: str, form: Mapping[str, str] | Sequence[tuple[str, str]], query: str = ""
    ) -> dict[str, str]:
        """The `X-Twilio-Signature` header Twilio would send with this form to this path."""
        return {"X-Twilio-Signature": self.signature(path, form, query)}


def _params(form: Mapping[str, str] | Sequence[tuple[str, str]]) -> FormData:
    """The form as the validator reads it (a repeated field signed with each of its values)."""
    return FormData(list(form.items()) if isinstance(form, Mapping) else list(form))


@pytest.fixture
def twilio_signer(twilio_account: TwilioAccount) -> TwilioSigner:
    return TwilioSigner(twilio_account)
