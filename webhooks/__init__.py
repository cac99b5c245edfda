"""FastAPI routers for everything a channel calls: signature checks, idempotency, responses.

No business logic lives here: routers authenticate, hand the payload to the channel's adapter in
`bots`, run the turn and render the answer: Rasa's REST channel (`webhooks.rest`), the demo web
chat page (`webhooks.webchat`), Telegram (`webhooks.telegram`), Twilio SMS and WhatsApp
(`webhooks.twilio_messages`) and Twilio Voice (`webhooks.twilio_voice`). A channel that is not
configured keeps its routes, which answer 404 without reading the request.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter
from sqlalchemy.orm import Session, sessionmaker

from bots.outbox import Outbox
from bots.telegram import TelegramChannel
from bots.twilio import TwilioAccount
from bots.voice import VoiceCaller
from dialogue import Dialogue
from webhooks.rest import build_rest_router
from webhooks.telegram import build_telegram_router
from webhooks.twilio_messages import build_twilio_messages_router
from webhooks.twilio_voice import build_twilio_voice_router
from webhooks.webchat import build_webchat_router


def build_webhook_router(
    *,
    dialogue: Callable[[], Dialogue],
    sessions: sessionmaker[Session],
    demo_credentials: bool,
    outbox: Outbox | None = None,
    telegram: TelegramChannel | None = None,
    twilio: TwilioAccount | None = None,
    caller: VoiceCaller | None = None,
    clock: Callable[[], datetime] | None = None,
) -> APIRouter:
    """Every channel route and the demo chat page; `dialogue` is called when a turn needs it.

    Without an `outbox` the push channels have nothing to send with, so they are off too.
    """
    router = APIRouter()
    outbox = outbox or Outbox(sessions=sessions, transports={})
    router.include_router(
        build_telegram_router(dialogue=dialogue, outbox=outbox, telegram=telegram, clock=clock)
    )
    router.include_router(
        build_twilio_messages_router(
            dialogue=dialogue, sessions=sessions, outbox=outbox, account=twilio, clock=clock
        )
    )
    router.include_router(
        build_twilio_voice_router(
            dialogue=dialogue,
            sessions=sessions,
            outbox=outbox,
            account=twilio,
            caller=caller,
            clock=clock,
        )
    )
    router.include_router(build_rest_router(dialogue=dialogue, clock=clock))
    router.include_router(
        build_webchat_router(
            dialogue=dialogue, sessions=sessions, demo_credentials=demo_credentials, clock=clock
        )
    )
    return router


__all__ = [
    "build_rest_router",
    "build_telegram_router",
    "build_twilio_messages_router",
    "build_twilio_voice_router",
    "build_webchat_router",
    "build_webhook_router",
]
