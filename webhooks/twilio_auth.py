"""Reading a Twilio webhook safely: the account must be configured and the signature must match.

Every Twilio route starts with `await signed_form(request, account)`: 404 when Twilio is not
configured (the channel is off and says so), 413 for a body no Twilio request reaches, 403 when
`X-Twilio-Signature` is not Twilio's signature, computed with the auth token, of the public URL
(`SETTLE_PUBLIC_BASE_URL` + path + query) and the posted form. Only then is the form used.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import HTTPException, Request
from starlette.datastructures import FormData, UploadFile

from bots.twilio import TwilioAccount
from webhooks.bodies import read_capped

# Twilio's largest requests (a 1,600-character message with every parameter) are a few KB.
MAX_FORM_BYTES = 64 * 1024
SIGNATURE_HEADER = "X-Twilio-Signature"


def require_account(account: TwilioAccount | None) -> TwilioAccount:
    """The configured account, or 404: an unconfigured channel has no webhook."""
    if account is None:
        raise HTTPException(
            404,
            "Twilio is not configured: set SETTLE_TWILIO_ACCOUNT_SID, SETTLE_TWILIO_AUTH_TOKEN "
            "and SETTLE_TWILIO_FROM_NUMBER",
        )
    return account


async def signed_form(request: Request, account: TwilioAccount | None) -> FormData:
    """The posted form of a request Twilio signed; 404, 413 or 403 before it is trusted."""
    account = require_account(account)
    body = await read_capped(request, MAX_FORM_BYTES)
    # Twilio posts application/x-www-form-urlencoded, UTF-8; blank fields are signed too.
    try:
        fields: list[tuple[str, str | UploadFile]] = [
            *parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        ]
    except UnicodeDecodeError:
        raise HTTPException(403, "the request is not signed by Twilio for this URL") from None
    form = FormData(fields)
    url = account.public_url(request.url.path, request.url.query)
    if not account.is_signed(
        url=url, params=form, signature=request.headers.get(SIGNATURE_HEADER)
    ):
        raise HTTPException(403, "the request is not signed by Twilio for this URL")
    return form
