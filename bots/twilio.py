"""What Twilio's SMS, WhatsApp and voice adapters share: the account, its client, its signatures.

Twilio signs every webhook with the account's auth token over the public URL it called and the
form fields it posted (`X-Twilio-Signature`); `TwilioAccount.is_signed` checks that with the
twilio library's own `RequestValidator`, so a request that Twilio did not send, or that was
altered on the way, is refused before anything is read from it. Deployments behind a proxy set
`SETTLE_PUBLIC_BASE_URL` to the address Twilio calls, since that is what Twilio signs.

The REST client is the twilio library's, on its aiohttp-based async HTTP client. `api_url`
replaces `https://<product>.twilio.com` in every request it makes: an operator can send through
a regional edge or an egress proxy, and the contract tests point it at a local HTTP server that
records what Twilio would have been asked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from aiohttp import ClientSession, ClientTimeout, encode_basic_auth
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client

# Paths of Settle's Twilio webhooks (below SETTLE_PUBLIC_BASE_URL).
MESSAGES_PATH = "/webhooks/twilio/messages"
MESSAGE_STATUS_PATH = "/webhooks/twilio/status"
VOICE_PATH = "/webhooks/twilio/voice"
WHATSAPP_PREFIX = "whatsapp:"
_TWILIO_HOST = re.compile(r"^https://[a-z0-9.-]+\.twilio\.com")


@dataclass(frozen=True)
class TwilioAccount:
    """A Twilio account Settle sends and receives through, with the numbers it owns."""

    account_sid: str
    auth_token: str = field(repr=False)
    # The number SMS and calls come from, E.164.
    from_number: str
    # The WhatsApp sender ("+14155238886" or "whatsapp:+14155238886"); None: WhatsApp is off.
    whatsapp_from: str | None
    # Where Twilio reaches Settle, as Twilio signs it: "https://settle.example.com".
    public_base_url: str
    # Replaces https://<product>.twilio.com in API requests; None: Twilio itself.
    api_url: str | None = None

    def public_url(self, path: str, query: str = "") -> str:
        """The URL Twilio called for `path`: what its signature covers."""
        url = f"{self.public_base_url}{path}"
        return f"{url}?{query}" if query else url

    def is_signed(self, *, url: str, params: Mapping[str, Any], signature: str | None) -> bool:
        """Whether `signature` is Twilio's signature of this URL and these form fields.

        `params` is the posted form as received (a Starlette `FormData`, whose `getlist` the
        validator uses for a repeated field) or a plain dict.
        """
        if not signature:
            return False
        return bool(RequestValidator(self.auth_token).validate(url, params, signature))

    def signature(self, *, url: str, params: Mapping[str, Any]) -> str:
        """The signature Twilio would send for this request (for tests and the benchmark)."""
        return str(RequestValidator(self.auth_token).compute_signature(url, params))

    def whatsapp_sender(self) -> str | None:
        if self.whatsapp_from is None:
            return None
        number = self.whatsapp_from.removeprefix(WHATSAPP_PREFIX)
        return f"{WHATSAPP_PREFIX}{number}"

    def client(self) -> Client:
        """A twilio REST client whose `*_async` calls go to `api_url` (or Twilio)."""
        return Client(
            self.account_sid,
            self.auth_token,
            http_client=_RedirectingHttpClient(self.api_url),
        )


class _RedirectingHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # untyped base
    """Twilio's async HTTP client, sending to another base URL when one is configured.

    Each request opens and closes its own aiohttp session, also when it fails: a client built at
    start-up must not bind a session to an event loop that is not running yet, and the library's
    own per-request session is left open when a request raises. Callers bound the wait.
    """

    def __init__(self, api_url: str | None) -> None:
        super().__init__(pool_connections=False)
        self._api_url = api_url.rstrip("/") if api_url else None

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        if self._api_url is not None:
            url = _TWILIO_HOST.sub(self._api_url, url, count=1)
        headers = dict(headers or {})
        if auth is not None:
            headers["Authorization"] = encode_basic_auth(auth[0], auth[1])
        async with ClientSession() as session:
            response = await session.request(
                method.upper(),
                url,
                params=cast(Any, params),
                data=data,
                headers=headers,
                timeout=ClientTimeout(total=timeout) if timeout else None,
                allow_redirects=allow_redirects,
            )
            return Response(response.status, await response.text(), response.headers)
