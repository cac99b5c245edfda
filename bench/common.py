"""What every benchmark script shares: a fresh migrated database per backend, and a timer."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from models import PiiCipher, generate_key, make_engine, upgrade


def rss_mb() -> float:
    """This process's resident memory now, in MB (Linux)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds `action` took, and what it returned."""
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def fresh_engine(
    backend: str, pg_url: str, workdir: Path, *, schema: str, **engine_options: Any
) -> Engine:
    """A migrated, empty database: a SQLite file in `workdir`, or a new PostgreSQL schema."""
    cipher = PiiCipher.from_text(generate_key())
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{workdir / 'bench.db'}", cipher=cipher, **engine_options)
    else:
        admin = make_engine(pg_url, cipher=None)
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        admin.dispose()
        engine = make_engine(pg_url, cipher=cipher, search_path=schema, **engine_options)
    upgrade(engine)
    return engine
