"""Twilio Voice webhooks: calls answered, answers gathered, call statuses.

    POST /webhooks/twilio/voice          a call is answered: Settle's reminder call (its URL
                                         names the call) or a borrower calling the number
    POST /webhooks/twilio/voice/gather   what the caller pressed or said at a Gather (the
                                         action URL names the step and the turn), or how a
                                         transfer to the collector line ended
    POST /webhooks/twilio/voice/status   a status callback of a call Settle placed

Every route starts with `signed_form` (404 when Twilio is off, 403 for a request Twilio did not
sign for this URL) and answers TwiML as application/xml. The flows are in `bots.voice`; this
module maps HTTP to them. Turns are blocking database code and run in the thread pool; texts a
turn staged (a payment link) are sent after the answer, from the outbox.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import APIRouter, BackgroundTasks, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

from bots.outbox import Outbox
from bots.twilio import VOICE_PATH, TwilioAccount
from bots.voice import (
    GATHER_PATH,
    STATUS_PATH,
    InvalidCallRequest,
    VoiceAnswer,
    VoiceCaller,
    VoiceFlow,
    call_ref,
    gather_point,
    read_form,
)
from dialogue import Dialogue
from models import Channel
from webhooks.twilio_auth import signed_form

TWIML = "application/xml"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


def build_twilio_voice_router(
    *,
    dialogue: Callable[[], Dialogue],
    sessions: sessionmaker[Session],
    outbox: Outbox,
    account: TwilioAccount | None,
    caller: VoiceCaller | None,
    clock: Callable[[], datetime] | None = None,
) -> APIRouter:
    """The voice routes; with no account (or no caller) they answer 404 and process nothing."""
    router = APIRouter(tags=["channels"])
    now = clock or (lambda: datetime.now(UTC))
    flow = (
        VoiceFlow(
            dialogue=dialogue,
            sessions=sessions,
            account=account,
            caller=caller,
            clock=now,
            can_text=Channel.SMS in outbox.transports,
        )
        if account is not None and caller is not None
        else None
    )

    def configured() -> VoiceFlow:
        if flow is None:
            raise HTTPException(
                404,
                "Twilio Voice is not configured: set SETTLE_BUSINESS_NAME and "
                "SETTLE_CALLBACK_NUMBER",
            )
        return flow

    def answered(answer: VoiceAnswer, background: BackgroundTasks) -> Response:
        if answer.texts:
            background.add_task(outbox.send, list(answer.texts))
        return Response(content=answer.twiml, media_type=TWIML)

    @router.post(VOICE_PATH)
    async def twilio_voice(request: Request, background: BackgroundTasks) -> Response:
        """A call is answered: the reminder's opening, or an incoming call's greeting."""
        form = await signed_form(request, account)
        voice = configured()
        try:
            call = read_form(form)
            ref = call_ref(request.query_params)
        except InvalidCallRequest as exc:
            raise HTTPException(400, str(exc)) from None
        return answered(await run_in_threadpool(voice.answer, call, ref), background)

    @router.post(GATHER_PATH)
    async def twilio_voice_gather(request: Request, background: BackgroundTasks) -> Response:
        """What the caller pressed or said, as the next turn of the conversation."""
        form = await signed_form(request, account)
        voice = configured()
        try:
            call = read_form(form)
            point = gather_point(request.query_params)
        except InvalidCallRequest as exc:
            raise HTTPException(400, str(exc)) from None
        return answered(await run_in_threadpool(voice.gathered, call, point), background)

    @router.post(STATUS_PATH)
    async def twilio_voice_status(request: Request) -> Response:
        """A call's status; a final one is recorded as the call's contact attempt."""
        form = await signed_form(request, account)
        voice = configured()
        try:
            call = read_form(form)
            ref = call_ref(request.query_params)
            await run_in_threadpool(voice.status, call, ref)
        except InvalidCallRequest as exc:
            raise HTTPException(400, str(exc)) from None
        return Response(content=EMPTY_TWIML, media_type=TWIML)

    return router
