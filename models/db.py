"""Engines and sessions: one place that knows how to reach SQLite or PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from models.pii import PiiCipher
from models.types import CIPHER_ATTRIBUTE


def normalize_url(url: str | URL) -> URL:
    """The URL with the driver Settle uses (psycopg 3 for PostgreSQL)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(
    url: str | URL,
    *,
    cipher: PiiCipher | None,
    search_path: str | None = None,
    **engine_options: Any,
) -> Engine:
    """An engine for `url` that encrypts personal data with `cipher`.

    `search_path` pins PostgreSQL to one schema (the test suite uses a schema of its own).
    """
    parsed = normalize_url(url)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql" and search_path:
        connect_args["options"] = f"-csearch_path={search_path}"
    if parsed.get_backend_name() == "sqlite":
        connect_args["check_same_thread"] = False
        connect_args["timeout"] = 30
    engine = create_engine(parsed, connect_args=connect_args, **engine_options)
    setattr(engine.dialect, CIPHER_ATTRIBUTE, cipher)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT; let SQLAlchemy emit BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # Writers queue for the one write lock; under a burst of writes, waiting beats failing.
    cursor.execute("PRAGMA busy_timeout=30000")
    # WAL lets readers run beside the one writer.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front: a deferred BEGIN that later upgrades from read to
    # write fails at once with "database is locked" instead of waiting out busy_timeout.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to `engine`; objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def is_postgresql(session_or_engine: Session | Engine) -> bool:
    """Whether the database behind it is PostgreSQL (for row locks and SKIP LOCKED)."""
    bind = (
        session_or_engine.get_bind()
        if isinstance(session_or_engine, Session)
        else session_or_engine
    )
    return bind.dialect.name == "postgresql"
