"""`settle telegram`: register the webhook, poll for development, issue a borrower's deep link.

    settle telegram set-webhook --url https://settle.example.com/webhooks/telegram
    settle telegram delete-webhook
    settle telegram poll                 # development: no public URL needed
    settle telegram link --borrower 12   # prints https://t.me/<bot>?start=<token>

`app` is a typer group the root command line registers as `telegram`. The bot token comes from
SETTLE_TELEGRAM_BOT_TOKEN; the webhook also needs SETTLE_TELEGRAM_WEBHOOK_SECRET, which
`set-webhook` hands to Telegram so that it sends it back with every update.
The channel is built from settings by `settle.wiring.telegram_channel`, as for the web app.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import typer
from aiogram import Dispatcher
from aiogram.exceptions import TelegramAPIError
from sqlalchemy.orm import Session, sessionmaker

from bots.outbox import Outbox
from bots.telegram import ALLOWED_UPDATES, TelegramChannel, build_dispatcher, poll
from dialogue import LinkTokenError, issue_link_token
from models import Channel
from settle.app import build_container
from settle.settings import ConfigError, Settings, load_settings
from settle.wiring import telegram_channel

T = TypeVar("T")
# How often polling mode sends what a failed send left pending (the web app's sweeper does it
# for the webhook).
SWEEP_SECONDS = 15.0

app = typer.Typer(
    help="The Telegram bot: webhook registration, polling for development, deep links.",
    no_args_is_help=True,
)


def _require(settings: Settings, *, webhook: bool = False) -> TelegramChannel:
    telegram = telegram_channel(settings)
    if telegram is None:
        raise ConfigError(
            "SETTLE_TELEGRAM_BOT_TOKEN: not set; create a bot with @BotFather and set its token"
        )
    if webhook and not telegram.webhook_enabled:
        raise ConfigError(
            "SETTLE_TELEGRAM_WEBHOOK_SECRET: not set; the webhook needs a secret of 16 to 256 "
            "characters of A-Z, a-z, 0-9, _ and - (for example: python3 -c "
            "'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return telegram


def _call(telegram: TelegramChannel, request: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run one Bot API conversation; a refusal from Telegram becomes one line and exit status 1."""

    async def run() -> T:
        try:
            return await request()
        finally:
            await telegram.close()

    try:
        return asyncio.run(run())
    except TelegramAPIError as error:
        typer.echo(f"settle: Telegram: {error.message}", err=True)
        raise typer.Exit(1) from None


@app.command("set-webhook")
def set_webhook(
    url: Annotated[
        str,
        typer.Option(
            "--url",
            metavar="URL",
            help="The public HTTPS address of /webhooks/telegram, as Telegram will call it.",
        ),
    ],
    drop_pending: Annotated[
        bool, typer.Option(help="Discard the updates Telegram is holding for the bot.")
    ] = False,
) -> None:
    """Tell Telegram to post updates to URL, with the webhook secret."""
    telegram = _require(load_settings(), webhook=True)
    secret = telegram.webhook_secret
    _call(
        telegram,
        lambda: telegram.bot.set_webhook(
            url=url,
            secret_token=secret,
            allowed_updates=list(ALLOWED_UPDATES),
            drop_pending_updates=drop_pending,
        ),
    )
    typer.echo(f"Telegram will post updates to {url}")


@app.command("delete-webhook")
def delete_webhook(
    drop_pending: Annotated[
        bool, typer.Option(help="Discard the updates Telegram is holding for the bot.")
    ] = False,
) -> None:
    """Stop Telegram posting updates (to poll instead, or to switch the bot off)."""
    telegram = _require(load_settings())
    _call(telegram, lambda: telegram.bot.delete_webhook(drop_pending_updates=drop_pending))
    typer.echo("Telegram's webhook is removed; updates wait for `settle telegram poll`")


@app.command("link")
def link(
    borrower: Annotated[int, typer.Option("--borrower", metavar="ID", help="The borrower's id.")],
    username: Annotated[
        str | None,
        typer.Option(
            "--username", metavar="BOT", help="The bot's username (default: asked of Telegram)."
        ),
    ] = None,
) -> None:
    """Issue a one-time link token for a borrower and print the t.me deep link that uses it."""
    settings = load_settings()
    telegram = _require(settings)
    if username is None:
        me = _call(telegram, telegram.bot.get_me)
        username = me.username or ""
    container = build_container(settings)
    try:
        with container.session() as session:
            token = issue_link_token(
                session=session,
                borrower_id=borrower,
                at=datetime.now(UTC),
                channel=Channel.TELEGRAM,
            )
    except LinkTokenError as exc:
        typer.echo(f"settle: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        container.engine.dispose()
    typer.echo(f"https://t.me/{username.removeprefix('@')}?start={token}")


@app.command("poll")
def poll_command() -> None:
    """Answer the bot by long polling (development): removes the webhook first. Ctrl-C stops."""
    settings = load_settings()
    telegram = _require(settings)
    container = build_container(settings)
    try:
        typer.echo("loading the language model...", err=True)
        container.dialogue()
        outbox = telegram_outbox(telegram, container.sessions)
        dispatcher = build_dispatcher(dialogue=container.dialogue, telegram=telegram, outbox=outbox)
        asyncio.run(polling(dispatcher, telegram, outbox))
    except TelegramAPIError as error:
        typer.echo(f"settle: Telegram: {error.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        container.engine.dispose()


def telegram_outbox(telegram: TelegramChannel, sessions: sessionmaker[Session]) -> Outbox:
    return Outbox(sessions=sessions, transports={Channel.TELEGRAM: telegram.transport})


async def polling(
    dispatcher: Dispatcher,
    telegram: TelegramChannel,
    outbox: Outbox,
    *,
    handle_signals: bool = True,
    sweep_every: float | None = SWEEP_SECONDS,
) -> None:
    """Delete the webhook (Telegram refuses getUpdates while one is set), then poll until
    stopped; every `sweep_every` seconds the outbox sends what a failed send left for later."""
    sweeper = asyncio.create_task(outbox.run(interval=sweep_every)) if sweep_every else None
    try:
        await telegram.bot.delete_webhook(drop_pending_updates=False)
        me = await telegram.bot.get_me()
        typer.echo(f"polling as @{me.username}; Ctrl-C to stop", err=True)
        await poll(dispatcher, telegram, handle_signals=handle_signals)
    finally:
        if sweeper is not None:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
        await telegram.close()


__all__ = ["app", "polling", "telegram_outbox"]
