"""Fixtures for the composition root: a clean environment and an empty database per backend.

Each test runs in its own directory with no `SETTLE_*` variables set, so neither the developer's
shell nor a `var/settle.env` in the checkout can change what a test sees.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from models import make_engine
from tests.conftest import BACKENDS, PG_URL

# A schema apart from the shared `engine` fixture's, which stays migrated for the whole run.
PG_SCHEMA = f"settle_root_test_{os.getpid()}"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No SETTLE_* variables and a fresh working directory; returns that directory."""
    for name in list(os.environ):
        if name.upper().startswith("SETTLE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty, never migrated database on each configured backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'settle.db'}"
        return
    admin = make_engine(PG_URL, cipher=None)
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
    separator = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{separator}options=-csearch_path%3D{PG_SCHEMA}"
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
    admin.dispose()
