"""`settle rasa-actions`: serve Settle's custom actions to a Rasa assistant.

    settle rasa-actions                        # http://127.0.0.1:5055/webhook
    SETTLE_RASA_ACTION_TOKEN=... settle rasa-actions --host 0.0.0.0 --port 5055

A Rasa action server (rasa-sdk's own, see bots.rasa_actions) whose actions run Settle's dialogue
turns against the configured database. rasa-sdk is an optional extra: without it the command says
to install `settle[rasa]`. Anyone who can reach the server can speak for any Rasa user, so it
listens on a loopback interface unless a token (the `token:` of Rasa's endpoints.yml) is set.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Annotated

import typer

from settle.app import build_container
from settle.settings import ConfigError, load_settings

DEFAULT_PORT = 5055  # Rasa's default action server port
ACTION_KEY_VARIABLE = "SETTLE_RASA_ACTION_TOKEN"
MIN_TOKEN_CHARS = 16
# The top-level modules `bots.rasa_actions` imports that the `rasa` extra provides.
EXTRA_MODULES = frozenset({"rasa_sdk", "sanic"})
INSTALL_HINT = (
    "the Rasa action server needs the rasa-sdk package, which is an optional extra: "
    "install settle[rasa] (pip install 'settle[rasa]')"
)


def rasa_actions(
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="Port to listen on (Rasa's default is 5055).")
    ] = DEFAULT_PORT,
    host: Annotated[
        str | None, typer.Option(help="Interface to bind [SETTLE_HOST, 127.0.0.1].")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            show_default=False,
            help="Shared secret Rasa must send (endpoints.yml `token:`); required off loopback "
            "[SETTLE_RASA_ACTION_TOKEN].",
        ),
    ] = None,
) -> None:
    """Serve Settle's balance, extension, plan, promise and handoff actions to a Rasa assistant."""
    try:
        from bots import rasa_actions as bridge
    except ImportError as exc:
        if (exc.name or "").split(".")[0] not in EXTRA_MODULES:
            raise
        typer.echo(f"settle: {INSTALL_HINT}", err=True)
        raise typer.Exit(1) from None
    settings = load_settings()
    bind = host or settings.host
    configured = settings.rasa_action_token
    secret = _checked_token(
        token if token is not None else (configured.get_secret_value() if configured else None),
        bind,
    )
    container = build_container(settings)
    try:
        logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(message)s")
        typer.echo("loading the language model...", err=True)
        app = bridge.build_app(
            dialogue=container.dialogue(), sessions=container.sessions, token=secret
        )
        typer.echo(
            f"Rasa action server on http://{bind}:{port}/webhook with "
            f"{len(bridge.ACTION_NAMES)} actions ({', '.join(bridge.ACTION_NAMES)})"
            + ("" if secret else "; no token: reachable from this machine only"),
            err=True,
        )
        bridge.serve(app, host=bind, port=port)
    finally:
        container.engine.dispose()


def _checked_token(token: str | None, host: str) -> str | None:
    """The token to require; `ConfigError` when it is too short, or absent off loopback."""
    if token is not None and token.strip():
        if len(token.strip()) < MIN_TOKEN_CHARS:
            raise ConfigError(
                f"{ACTION_KEY_VARIABLE}: must be at least {MIN_TOKEN_CHARS} characters long"
            )
        return token.strip()
    if not _is_loopback(host):
        raise ConfigError(
            f"{ACTION_KEY_VARIABLE}: required when the action server listens on {host}: anyone who "
            "can reach it can act for any Rasa user; set it here and as `token:` of the "
            "action_endpoint in Rasa's endpoints.yml, or listen on 127.0.0.1"
        )
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
