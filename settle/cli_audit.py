"""`settle audit`: verify the audit trail, export a stream for a regulator, take a checkpoint,
purge streams past retention.

`app` is a typer group the root command line registers as `audit`. Each command builds its own
settings and database container, like the other commands of `settle.cli`.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from compliance import (
    UnknownStream,
    checkpoint,
    export_stream,
    purge_expired,
    stream_for,
    verify,
)
from settle.app import build_container
from settle.settings import load_settings

app = typer.Typer(
    help="The tamper-evident audit trail: verify, export, checkpoint, purge.",
    no_args_is_help=True,
)


@app.command("verify")
def verify_command() -> None:
    """Recompute every chain and checkpoint; exit status 1 and the first broken link if any."""
    container = build_container(load_settings())
    try:
        with container.session() as session:
            report = verify(session=session)
    finally:
        container.engine.dispose()
    if report.ok:
        typer.echo(
            f"audit trail verified: {report.events} events in {report.streams} streams, "
            f"{report.checkpoints} checkpoints"
        )
        return
    first = report.first
    assert first is not None
    typer.echo(f"BROKEN {first}")
    for problem in report.problems[1:]:
        typer.echo(f"  also {problem}")
    hidden = report.problem_count - len(report.problems)
    more = f" ({hidden} not listed)" if hidden else ""
    typer.echo(
        f"{report.problem_count} problems{more} in {report.events} events, {report.streams} "
        f"streams, {report.checkpoints} checkpoints"
    )
    raise typer.Exit(1)


@app.command("export")
def export_command(
    conversation: Annotated[
        int | None, typer.Option(min=0, help="Export the stream of this conversation id.")
    ] = None,
    stream: Annotated[
        str | None, typer.Option(help="Export any stream by name (loan:5, staff:3, ...).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(dir_okay=False, writable=True, help="File to write (default: stdout)."),
    ] = None,
) -> None:
    """Write one stream as JSON Lines with the hashes needed to check it."""
    if (conversation is None) == (stream is None):
        raise typer.BadParameter("give exactly one of --conversation and --stream")
    name = stream_for("conversation", conversation) if conversation is not None else str(stream)
    container = build_container(load_settings())
    try:
        with container.session() as session:
            if out is None:
                written = export_stream(session=session, stream=name, out=sys.stdout)
            else:
                # Written beside the target, then moved: a failed export leaves no partial file.
                partial = out.with_name(out.name + ".partial")
                with partial.open("w", encoding="utf-8", newline="\n") as handle:
                    written = export_stream(session=session, stream=name, out=handle)
                partial.replace(out)
    except UnknownStream as exc:
        if out is not None:
            out.with_name(out.name + ".partial").unlink(missing_ok=True)
        typer.echo(f"settle audit export: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        container.engine.dispose()
    where = str(out) if out is not None else "standard output"
    typer.echo(f"exported {written} events of {name} to {where}", err=True)


@app.command("checkpoint")
def checkpoint_command() -> None:
    """Record the head of every stream now, chained to the previous checkpoint."""
    container = build_container(load_settings())
    try:
        with container.session() as session:
            taken = checkpoint(session=session, at=datetime.now(UTC))
            summary = (
                f"checkpoint {taken.id} at {taken.taken_at.isoformat()}: "
                f"{taken.stream_count} streams, hash {taken.hash}"
            )
    finally:
        container.engine.dispose()
    typer.echo(summary)


@app.command("purge")
def purge_command() -> None:
    """Delete streams whose last event is older than SETTLE_AUDIT_RETENTION_DAYS."""
    settings = load_settings()
    retention = timedelta(days=settings.audit_retention_days)
    now = datetime.now(UTC)
    container = build_container(settings)
    try:
        with container.session() as session:
            purged = purge_expired(session=session, now=now, retention=retention)
    finally:
        container.engine.dispose()
    cutoff = (now - retention).date().isoformat()
    if not purged:
        typer.echo(f"nothing to purge: no stream has been inactive since before {cutoff}")
        return
    typer.echo(
        f"purged {len(purged)} streams with no event since before {cutoff} "
        f"(retention {settings.audit_retention_days} days):"
    )
    for stream in purged:
        typer.echo(f"  {stream}")
