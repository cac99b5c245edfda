"""The database as the composition root sees it: an engine from settings, and its schema state."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from models import SchemaState, make_engine, schema_state
from settle.settings import ConfigError, Settings


def display_url(url: str) -> str:
    """The URL fit for messages and logs: any password is replaced by ***."""
    return make_url(url).render_as_string(hide_password=True)


def ensure_sqlite_directory(url: str) -> None:
    """Create the missing parent directory of a relative SQLite file (`var/` on a fresh clone)."""
    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return
    if database.startswith("file:"):
        return
    path = Path(database)
    if not path.is_absolute():
        path.parent.mkdir(parents=True, exist_ok=True)


def build_engine(settings: Settings) -> Engine:
    """The engine for `settings.database_url`, encrypting personal data with the configured key."""
    return make_engine(settings.database_url, cipher=settings.pii_cipher())


def read_schema_state(engine: Engine, settings: Settings) -> SchemaState:
    """Where the database stands against the shipped migrations; `ConfigError` if unreachable."""
    try:
        return schema_state(engine)
    except SQLAlchemyError as exc:
        raise ConfigError(unreachable_message(settings, exc)) from None


def unreachable_message(settings: Settings, exc: SQLAlchemyError) -> str:
    """One line saying the database cannot be reached, and why."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    return (
        f"SETTLE_DATABASE_URL: cannot use the database at {display_url(settings.database_url)}: "
        f"{reason}"
    )


def describe_revision(revision: str | None) -> str:
    """A revision id for people: `none` for a database that was never migrated."""
    return revision if revision is not None else "none (empty database)"
