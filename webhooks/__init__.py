"""FastAPI routers for everything a channel calls: signature checks, idempotency, responses.

No business logic lives here: routers authenticate, hand the payload to the channel's adapter in
`bots`, run the turn and render the answer. Built so far: Rasa's REST channel (`webhooks.rest`)
and the demo web chat page (`webhooks.webchat`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter
from sqlalchemy.orm import Session, sessionmaker

from dialogue import Dialogue
from webhooks.rest import build_rest_router
from webhooks.webchat import build_webchat_router


def build_webhook_router(
    *,
    dialogue: Callable[[], Dialogue],
    sessions: sessionmaker[Session],
    demo_credentials: bool,
    clock: Callable[[], datetime] | None = None,
) -> APIRouter:
    """Every channel route and the demo chat page; `dialogue` is called when a turn needs it."""
    router = APIRouter()
    router.include_router(build_rest_router(dialogue=dialogue, clock=clock))
    router.include_router(
        build_webchat_router(
            dialogue=dialogue, sessions=sessions, demo_credentials=demo_credentials, clock=clock
        )
    )
    return router


__all__ = ["build_rest_router", "build_webchat_router", "build_webhook_router"]
