"""Shared fixtures: every database test runs on SQLite and, when configured, on PostgreSQL.

`SETTLE_TEST_DATABASE_URL` names a PostgreSQL server; the suite then runs each database test on
both backends, inside a schema of its own, and stops with one line if the server is unreachable.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from dialogue import Nlu, load_nlu
from dialogue.encoder import shared_encoder
from dialogue.nlu.store import DEFAULT_MODEL_PATH
from models import PiiCipher, make_engine
from models.schema import upgrade

TEST_KEY = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="  # 32 bytes of "A": tests only
# One schema per run, so two runs on one server (two developers, CI beside a developer) never
# drop each other's tables.
PG_SCHEMA = f"settle_test_{os.getpid()}"
PG_URL = os.environ.get("SETTLE_TEST_DATABASE_URL", "").strip()
BACKENDS = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]


def pytest_sessionstart(session: pytest.Session) -> None:
    if not PG_URL:
        return
    try:
        probe = make_engine(PG_URL, cipher=None)
        with probe.connect() as connection:
            connection.execute(text("SELECT 1"))
        probe.dispose()
    except (OperationalError, Exception) as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        safe = make_url(PG_URL).render_as_string(hide_password=True)
        pytest.exit(f"SETTLE_TEST_DATABASE_URL={safe} is unreachable: {reason}", returncode=1)


@pytest.fixture(scope="session")
def cipher() -> PiiCipher:
    return PiiCipher.from_text(TEST_KEY)


def _postgres_engine(cipher: PiiCipher) -> Engine:
    admin = make_engine(PG_URL, cipher=None)
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
    admin.dispose()
    return make_engine(PG_URL, cipher=cipher, search_path=PG_SCHEMA)


@pytest.fixture(scope="session", params=BACKENDS)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, cipher: PiiCipher
) -> Iterator[Engine]:
    """A migrated database, one per backend for the whole run."""
    if request.param == "postgresql":
        built = _postgres_engine(cipher)
    else:
        path: Path = tmp_path_factory.mktemp("db") / "settle.db"
        built = make_engine(f"sqlite:///{path}", cipher=cipher)
    upgrade(built)
    yield built
    built.dispose()
    if request.param == "postgresql":
        admin = make_engine(PG_URL, cipher=None)
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        admin.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session whose work is rolled back after the test, commits included."""
    connection = engine.connect()
    outer = connection.begin()
    db = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield db
    finally:
        db.close()
        outer.rollback()
        connection.close()


@pytest.fixture(scope="session")
def nlu() -> Nlu:
    """The NLU on the shipped data: the cached model under var/, trained once if stale."""
    return load_nlu(
        shared_encoder(), path=Path(__file__).resolve().parents[1] / DEFAULT_MODEL_PATH
    )


@pytest.fixture
def sessions(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Sessions for code that runs its own transactions (the dialogue engine), all rolled back
    after the test: each `begin()` becomes a savepoint of one outer transaction."""
    connection = engine.connect()
    outer = connection.begin()
    try:
        yield sessionmaker(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
    finally:
        outer.rollback()
        connection.close()
