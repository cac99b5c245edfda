"""The web application factory: settings, database and routes wired together in one place.

Run it with `settle serve`, or `uvicorn --factory settle.app:create_app`. Routes reach the
database and the settings through `request.app.state.container` (a `Container`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException

from console import build_api_router, servicing_error_status
from dialogue import Dialogue
from models import PiiCipher, session_factory
from servicing import NotEligible, ServicingError
from settle.database import build_engine, describe_revision, display_url, read_schema_state
from settle.settings import ConfigError, Settings, load_settings
from settle.wiring import Channels, build_channels, build_dialogue
from webhooks import build_webhook_router

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Lazy(Generic[T]):
    """A value built on first use, once, even when several threads ask at the same moment."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._value: T | None = None

    def __call__(self) -> T:
        value = self._value
        if value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._build()
                value = self._value
        return value

    @property
    def built(self) -> bool:
        return self._value is not None


@dataclass(frozen=True)
class Container:
    """What the running application is built from; one per app, on `app.state.container`."""

    settings: Settings
    engine: Engine
    cipher: PiiCipher
    sessions: sessionmaker[Session]
    channels: Channels
    # The dialogue loads the language model (seconds, or a minute to train it first): built by
    # the first turn, so the app starts at once and /healthz never waits for it.
    dialogue: Lazy[Dialogue] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A frozen dataclass: the lazy slot is set once here, then only filled in.
        object.__setattr__(
            self, "dialogue", Lazy(lambda: build_dialogue(self.settings, self.sessions))
        )

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block succeeds and rolls back when it raises."""
        with self.sessions.begin() as session:
            yield session


def create_app(settings: Settings | None = None) -> FastAPI:
    """The Settle web application; exits with one line when settings or the database are wrong."""
    try:
        container = build_container(settings if settings is not None else load_settings())
    except ConfigError as exc:
        raise SystemExit("\n".join(f"settle: {line}" for line in str(exc).splitlines())) from None
    _configure_logging(container.settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        channels = container.channels
        for note in channels.notes:
            logger.info("%s", note)
        # Each server process sweeps the outbox: rows a crash left pending, retries whose time
        # has come. Claims are compare-and-set, so several processes never send a row twice.
        sweeper = asyncio.create_task(channels.outbox.run()) if channels.pushes else None
        # With a provider calling, load the language model now, beside serving: Telegram
        # resends an update it has no answer to within 60 s, Twilio gives up after 15 s.
        preload = (
            asyncio.create_task(asyncio.to_thread(container.dialogue))
            if channels.pushes or channels.twilio is not None
            else None
        )
        try:
            yield
        finally:
            if preload is not None and not preload.done():
                preload.cancel()
            if sweeper is not None:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
            if channels.telegram is not None:
                await channels.telegram.close()
            container.engine.dispose()

    app = FastAPI(title="Settle", version="0.1.0", lifespan=lifespan)
    app.state.container = container
    install_error_handlers(app)
    app.add_api_route("/healthz", healthz, methods=["GET"], tags=["operations"])
    # Feature routers (console, webhooks, web chat) are included here as they arrive.
    app.include_router(
        build_webhook_router(
            dialogue=container.dialogue,
            sessions=container.sessions,
            demo_credentials=container.settings.env == "development",
            outbox=container.channels.outbox,
            telegram=container.channels.telegram,
            twilio=container.channels.twilio,
            caller=container.channels.caller,
        )
    )
    api_token = container.settings.api_token
    app.include_router(
        build_api_router(
            sessions=container.sessions,
            api_token=api_token.get_secret_value() if api_token is not None else None,
        )
    )
    return app


def build_container(settings: Settings) -> Container:
    """Engine, cipher and sessions for `settings`; `ConfigError` unless the schema is current."""
    cipher = settings.pii_cipher()
    engine = build_engine(settings)
    try:
        state = read_schema_state(engine, settings)
        if not state.up_to_date:
            raise ConfigError(
                f"the database at {display_url(settings.database_url)} is at revision "
                f"{describe_revision(state.current)}, this version of Settle needs {state.head}; "
                "run `settle db upgrade`"
            )
    except ConfigError:
        engine.dispose()
        raise
    sessions = session_factory(engine)
    try:
        channels = build_channels(settings, sessions)
    except ConfigError:
        engine.dispose()
        raise
    return Container(
        settings=settings, engine=engine, cipher=cipher, sessions=sessions, channels=channels
    )


def container_of(request: Request) -> Container:
    """The container of the application serving `request`."""
    return cast(Container, request.app.state.container)


def healthz(request: Request) -> JSONResponse:
    """Liveness and database reachability, for load balancers and `make run` users."""
    try:
        with container_of(request).engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        logger.warning("health check: database unreachable: %s", exc)
        return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


def error_response(
    status_code: int,
    code: str,
    message: str,
    fields: list[dict[str, str]] | None = None,
    *,
    reason: str | None = None,
) -> JSONResponse:
    """The one error envelope every Settle API answers with."""
    error: dict[str, Any] = {"code": code, "message": message}
    if fields is not None:
        error["fields"] = fields
    if reason is not None:
        error["reason"] = reason
    return JSONResponse({"error": error}, status_code=status_code)


def install_error_handlers(app: FastAPI) -> None:
    """Map exceptions to the error envelope; typed exceptions of other packages are added here."""

    async def invalid_request(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        fields = [_field_problem(error) for error in exc.errors()]
        message = "; ".join(f"{item['field']}: {item['message']}" for item in fields)
        return error_response(422, "invalid_request", message, fields)

    app.add_exception_handler(RequestValidationError, invalid_request)

    async def servicing_refused(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ServicingError)
        fields = [{"field": exc.field, "message": exc.message}] if exc.field else None
        reason = exc.reason if isinstance(exc, NotEligible) else None
        return error_response(
            servicing_error_status(exc), exc.code, exc.message, fields, reason=reason
        )

    app.add_exception_handler(ServicingError, servicing_refused)

    async def http_problem(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            413: "payload_too_large",
        }
        response = error_response(
            exc.status_code, code.get(exc.status_code, "http_error"), str(exc.detail)
        )
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    app.add_exception_handler(StarletteHTTPException, http_problem)


def _field_problem(error: Any) -> dict[str, str]:
    # loc is ("body" | "query" | "path" | "header" | "cookie", *path inside it).
    location, *path = [*error.get("loc", ())] or ["body"]
    if error.get("type") == "json_invalid":
        # Its path is a character offset into the body, not a field.
        reason = error.get("ctx", {}).get("error", "malformed")
        return {"field": "body", "location": "body", "message": f"not valid JSON ({reason})"}
    field = ""
    for part in path:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    msg = str(error.get("msg", "invalid value"))
    # "Field required" reads better mid-sentence as "field required"; "JSON ..." stays as it is.
    if msg[1:2].islower():
        msg = msg[:1].lower() + msg[1:]
    return {"field": field or str(location), "location": str(location), "message": msg}


def _configure_logging(settings: Settings) -> None:
    # basicConfig leaves an already configured root logger alone (uvicorn's, pytest's).
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
