"""The `settle` command line: set up a development checkout, migrate the database, serve the app.

`app` is the root typer application and `db_app` its `settle db` group; other commands are added
to them in this module. Every command builds its own settings with `load_settings()`, so a bad
setting surfaces as one `settle: ...` line from `main()`.
"""

from __future__ import annotations

import os
import secrets
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from sqlalchemy import func, select

from models import Loan, generate_key, upgrade
from servicing import ImportFailed, import_loans, import_payments, seed_portfolio
from settle.app import build_container
from settle.cli_audit import app as audit_app
from settle.cli_chat import chat
from settle.cli_nlu import app as nlu_app
from settle.cli_nlu import train as train_nlu
from settle.cli_rasa import rasa_actions
from settle.cli_screen import app as screen_app
from settle.cli_telegram import app as telegram_app
from settle.cli_voice import call
from settle.database import (
    build_engine,
    describe_revision,
    display_url,
    ensure_sqlite_directory,
    read_schema_state,
)
from settle.settings import ENV_FILE, ConfigError, load_settings

# Exit status for a configuration problem, as for a command-line usage error.
CONFIG_ERROR_EXIT = 2

app = typer.Typer(
    name="settle",
    help="Settle: conversational collections and loan servicing assistant.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(screen_app, name="screen")
app.add_typer(nlu_app, name="nlu")
app.command("train")(train_nlu)
app.command("chat")(chat)
app.add_typer(telegram_app, name="telegram")
app.command("rasa-actions")(rasa_actions)
app.command("call")(call)


@app.command()
def init() -> None:
    """Write var/settle.env with a fresh encryption key and API token (development only)."""
    settings = load_settings()
    if settings.env != "development":
        raise ConfigError(
            f"SETTLE_ENV: `settle init` is for development (it is {settings.env}); "
            "set SETTLE_ENCRYPTION_KEY and SETTLE_API_TOKEN in the environment instead"
        )
    path = ENV_FILE
    if path.exists():
        typer.echo(f"{path} already exists; left unchanged")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    contents = (
        "# Written by `settle init` for development. Keep it private: the key decrypts\n"
        "# personal data, and losing it makes stored personal data unreadable.\n"
        f"SETTLE_ENCRYPTION_KEY={generate_key()}\n"
        f"SETTLE_API_TOKEN={secrets.token_urlsafe(32)}\n"
    )
    # Created with mode 600 from the start, so the key is never readable by others.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(contents)
    path.chmod(0o600)
    typer.echo(f"wrote {path} with a new SETTLE_ENCRYPTION_KEY and SETTLE_API_TOKEN")


@app.command()
def keygen() -> None:
    """Print a new encryption key for SETTLE_ENCRYPTION_KEY."""
    typer.echo(generate_key())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration to SETTLE_DATABASE_URL."""
    settings = load_settings()
    ensure_sqlite_directory(settings.database_url)
    engine = build_engine(settings)
    try:
        before = read_schema_state(engine, settings)
        where = display_url(settings.database_url)
        if before.up_to_date:
            typer.echo(f"{where}: already at {before.head}")
            return
        upgrade(engine)
        typer.echo(f"{where}: upgraded from {describe_revision(before.current)} to {before.head}")
    finally:
        engine.dispose()


@db_app.command("current")
def db_current() -> None:
    """Show the revision the database is at and the newest one this code ships."""
    settings = load_settings()
    engine = build_engine(settings)
    try:
        state = read_schema_state(engine, settings)
    finally:
        engine.dispose()
    typer.echo(f"database: {display_url(settings.database_url)}")
    typer.echo(f"current:  {describe_revision(state.current)}")
    typer.echo(f"head:     {state.head}")
    if not state.up_to_date:
        typer.echo("run `settle db upgrade` to bring it up to date")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind [SETTLE_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [SETTLE_PORT].")] = None,
    reload: Annotated[bool, typer.Option(help="Restart when the code changes.")] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes; each loads the language model (about 0.5 GB) and sweeps the "
            "outbox.",
        ),
    ] = 1,
) -> None:
    """Serve the web application."""
    if reload and workers > 1:
        raise typer.BadParameter("--reload serves one process; leave out --workers")
    settings = load_settings()
    # Check settings and schema here, so a problem is one line before uvicorn starts.
    build_container(settings).engine.dispose()
    uvicorn.run(
        "settle.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        reload=reload,
        workers=workers,
        reload_dirs=[str(Path(__file__).resolve().parents[1])] if reload else None,
        log_level=settings.log_level,
    )


@app.command()
def seed(
    loans: Annotated[int, typer.Option(min=1, help="How many demo loans to add.")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same portfolio.")] = 1,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The day the portfolio stands at (YYYY-MM-DD).")
    ] = None,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing when the database has loans.")
    ] = False,
) -> None:
    """Add a deterministic demo portfolio (every bucket, several time zones, en and zh)."""
    day = _parse_day(as_of, option="--as-of")
    container = build_container(load_settings())
    try:
        with container.session() as session:
            if if_empty and session.scalar(select(func.count()).select_from(Loan)):
                typer.echo("the database already has loans; demo portfolio not added")
                return
            summary = seed_portfolio(session=session, loans=loans, seed=seed, as_of=day)
    finally:
        container.engine.dispose()
    typer.echo(
        f"added {summary.loans} loans for {summary.borrowers} borrowers as of {day}: "
        f"{summary.installments} installments, {summary.payments} payments"
    )
    typer.echo("buckets: " + ", ".join(f"{b.value} {n}" for b, n in summary.buckets.items()))
    for story in summary.stories:
        typer.echo(f"  {story}")


@app.command("import")
def import_file(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Import a loans CSV or a payments CSV (told apart by their columns); all rows or none."""
    with path.open(newline="", encoding="utf-8-sig") as stream:
        header = stream.readline()
        stream.seek(0)
        kind = "payments" if "received_on" in header else "loans"
        container = build_container(load_settings())
        today = datetime.now(UTC).date()
        try:
            with container.session() as session:
                if kind == "payments":
                    result = import_payments(session=session, stream=stream, today=today)
                else:
                    result = import_loans(session=session, stream=stream, today=today)
        except ImportFailed as failed:
            for error in failed.errors:
                typer.echo(f"{path}: {error}", err=True)
            typer.echo(f"{path}: {failed}", err=True)
            raise typer.Exit(1) from None
        finally:
            container.engine.dispose()
    typer.echo(
        f"{path}: {result.rows} {kind} rows imported"
        f" ({result.borrowers_created} borrowers, {result.loans_created} loans,"
        f" {result.payments_posted} payments)"
    )


def _parse_day(text: str | None, *, option: str) -> date:
    if text is None:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a date (YYYY-MM-DD)", param_hint=option
        ) from None


def main() -> None:
    """Entry point of the `settle` script."""
    try:
        app()
    except ConfigError as exc:
        for line in str(exc).splitlines():
            print(f"settle: {line}", file=sys.stderr)
        sys.exit(CONFIG_ERROR_EXIT)
