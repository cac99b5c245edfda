"""`settle call`: place one reminder call now, if the compliance rules allow it.

    settle call --borrower 12              # about the borrower's loan furthest behind
    settle call --borrower 12 --loan 30

The call goes to the borrower's first phone number through Twilio, with answering-machine
detection; Twilio then fetches the call's script from Settle's voice webhook, so Twilio must be
able to reach `SETTLE_PUBLIC_BASE_URL`. A refusal (outside the hours, an opt-out, no consent for
automated calls, the 7-day wait after a conversation, ...) is printed with its reason codes and
nothing is dialled; the exit status is then 1. One loan gets at most one reminder call a day:
asking again prints the call already made.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Annotated
from urllib.parse import urlsplit

import typer

from bots.outbox import RetryPolicy
from bots.voice import CallError, CallPlacement, place_reminder_call
from compliance import Outcome
from settle.app import build_container
from settle.settings import ConfigError, Settings, load_settings, variable_name
from settle.wiring import twilio_account


def _check_reachable(settings: Settings) -> None:
    """Twilio fetches the call's script from the public URL: a loopback address cannot work
    (unless API requests go to a local server too, as in a test set-up)."""
    host = urlsplit(settings.public_base_url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback and settings.twilio_api_url is None:
        raise ConfigError(
            f"{variable_name('public_base_url')}: {settings.public_base_url} is this machine; "
            "Twilio fetches the call's script from there, so set it to the public https address "
            "that reaches Settle (a tunnel such as ngrok in development)"
        )


def call(
    borrower: Annotated[
        int, typer.Option("--borrower", metavar="ID", help="The borrower to call.")
    ],
    loan: Annotated[
        int | None,
        typer.Option(
            "--loan", metavar="ID", help="The loan to remind of (default: the one furthest behind)."
        ),
    ] = None,
) -> None:
    """Place a reminder call to a borrower now, if the compliance rules allow it."""
    settings = load_settings()
    account = twilio_account(settings)
    if account is None:
        raise ConfigError(
            "Twilio is not configured: set SETTLE_TWILIO_ACCOUNT_SID, SETTLE_TWILIO_AUTH_TOKEN "
            "and SETTLE_TWILIO_FROM_NUMBER"
        )
    _check_reachable(settings)
    # Building the container also checks the business name and callback number every call says.
    container = build_container(settings)
    try:
        placement = asyncio.run(
            place_reminder_call(
                sessions=container.sessions,
                account=account,
                borrower_id=borrower,
                loan_id=loan,
                profile=settings.jurisdiction,
                retry=RetryPolicy(delays=(2.0, 10.0)),
            )
        )
    except CallError as exc:
        typer.echo(f"settle: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        container.engine.dispose()
    line, ok = describe(placement)
    typer.echo(line, err=not ok)
    if not ok:
        raise typer.Exit(1)


def describe(placement: CallPlacement) -> tuple[str, bool]:
    """One line saying what happened, and whether a call was (or had been) placed."""
    about = f"borrower {placement.borrower_id}, loan {placement.loan_id}"
    decision = placement.decision
    if decision is not None and decision.outcome is Outcome.DEFER:
        until = decision.defer_until.isoformat() if decision.defer_until else "later"
        return f"not called ({about}): not before {until} ({', '.join(decision.reasons)})", False
    if decision is not None and decision.outcome is Outcome.DENY:
        return f"not called ({about}): refused ({', '.join(decision.reasons)})", False
    status = placement.status.value if placement.status else "unknown"
    if decision is None:
        return (
            f"already called today ({about}): call {placement.call_sid or '-'} ({status})",
            placement.call_sid is not None,
        )
    if placement.placed:
        return f"calling ({about}): call {placement.call_sid}", True
    return (
        f"the call was not placed ({about}): {status}, {placement.error or 'no reason given'}",
        False,
    )
