"""Twilio's messaging webhooks: SMS and WhatsApp messages in, delivery statuses back.

    POST /webhooks/twilio/messages   (signed form: MessageSid, From, To, Body, NumMedia, ...)
    200 application/xml  <?xml version="1.0" encoding="UTF-8"?><Response />

    POST /webhooks/twilio/status     (signed form: MessageSid, MessageStatus, ErrorCode, ...)
    204

Both start with `signed_form`: 404 while Twilio is not configured, 403 unless the request
carries Twilio's signature of the public URL and the form, before anything is read or stored.

Replies go through the REST API, not as TwiML `<Message>` (the reasons are in `bots.sms`): the
turn runs and commits with its replies staged in the outbox, the webhook answers an empty
`<Response/>`, and the replies are sent after the answer (a background task), each with a
status callback. A message Twilio posts again (same `MessageSid`) is not processed again, and
only what was not yet sent of its replies is sent; never a second copy.

Status callbacks move the outbound message forward (queued/sent -> delivered -> read, or
undelivered/failed with Twilio's error code) and append the change to the conversation's audit
stream. A callback for a message Settle has no record of (one sent from Twilio's console, or
one that raced ahead of the record of its send) changes nothing and is answered 204 all the
same, so Twilio does not report errors for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, BackgroundTasks, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker
from twilio.twiml.messaging_response import MessagingResponse

from bots import sms
from bots.outbox import Outbox, PushTurn, record_status, take_turn
from bots.twilio import MESSAGE_STATUS_PATH, MESSAGES_PATH, TwilioAccount
from dialogue import Dialogue, Inbound, InvalidInbound
from models import Channel
from webhooks.twilio_auth import signed_form

logger = logging.getLogger(__name__)

XML = "application/xml"

DialogueProvider = Callable[[], Dialogue]
Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


def empty_twiml() -> Response:
    """TwiML that tells Twilio to send nothing itself: Settle's replies go through the API."""
    return Response(content=str(MessagingResponse()), media_type=XML)


def build_twilio_messages_router(
    *,
    dialogue: DialogueProvider,
    sessions: sessionmaker[Session],
    outbox: Outbox,
    account: TwilioAccount | None,
    clock: Clock | None = None,
) -> APIRouter:
    """The SMS/WhatsApp webhook and the message status callback; 404 while Twilio is off."""
    router = APIRouter(tags=["channels"])
    now = clock or _now

    @router.post(MESSAGES_PATH, response_class=Response)
    async def twilio_message(request: Request, background: BackgroundTasks) -> Response:
        """One SMS or WhatsApp message from a borrower; the replies follow by the REST API."""
        form = await signed_form(request, account)
        try:
            inbound = sms.parse(form, received_at=now())
        except sms.InvalidMessage as exc:
            raise HTTPException(400, str(exc)) from None
        transport = outbox.transports.get(inbound.channel)
        if transport is None:
            # Twilio shows the failure in its debugger; nothing is taken in that cannot be
            # answered.
            whatsapp = inbound.channel is Channel.WHATSAPP
            hint = ": set SETTLE_TWILIO_WHATSAPP_FROM" if whatsapp else ""
            logger.error("a %s message arrived but that channel is not configured", inbound.channel)
            raise HTTPException(503, f"{inbound.channel} is not configured{hint}")

        def turn() -> PushTurn:
            try:
                return take_turn(
                    dialogue(), inbound, transport, recipient=inbound.address, clock=now
                )
            except InvalidInbound as exc:
                raise HTTPException(400, str(exc)) from None

        pushed = await run_in_threadpool(turn)
        _check_keyword(form, inbound, pushed)
        background.add_task(outbox.deliver_turn, pushed)
        return empty_twiml()

    @router.post(MESSAGE_STATUS_PATH, status_code=204, response_class=Response)
    async def twilio_message_status(request: Request) -> Response:
        """Twilio's status callback for a message Settle sent."""
        form = await signed_form(request, account)
        sid = str(form.get("MessageSid") or form.get("SmsSid") or "").strip()
        reported = str(form.get("MessageStatus") or form.get("SmsStatus") or "").strip().lower()
        if not sid or not reported:
            raise HTTPException(400, "MessageSid and MessageStatus are required")
        status = sms.TWILIO_STATUS.get(reported)
        if status is None:
            logger.info("Twilio status %r for %s changes nothing", reported, sid)
            return Response(status_code=204)
        channel = sms.status_channel(form)
        error = sms.delivery_error(str(form.get("ErrorCode") or ""))
        at = now()

        def record() -> bool:
            with sessions.begin() as session:
                row = record_status(
                    session,
                    channel=channel,
                    provider_message_id=sid,
                    status=status,
                    at=at,
                    error=error,
                )
                return row is not None

        if not await run_in_threadpool(record):
            logger.info("status %s for %s message %s: not on record", reported, channel, sid)
        return Response(status_code=204)

    return router


def _check_keyword(form: Mapping[str, Any], inbound: Inbound, pushed: PushTurn) -> None:
    """Log a STOP/START/HELP Twilio acted on that the dialogue did not (a lexicon gap)."""
    if pushed.result.duplicate:
        return
    missed = sms.missed_keyword(form, pushed.result.action)
    if missed is not None:
        logger.warning(
            "Twilio treated %s message %s as %s but the dialogue did not (action %s): add the "
            "keyword to compliance/screening/data/inbound.yaml",
            inbound.channel,
            inbound.channel_message_id,
            missed,
            pushed.result.action,
        )
