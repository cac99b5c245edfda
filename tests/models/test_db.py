"""The embedded SQLite database under concurrent writers: they queue, none fails."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text

from models import make_engine


def test_concurrent_read_then_write_transactions_queue_instead_of_failing(
    tmp_path: Path,
) -> None:
    # Each unit of work reads, then writes: with a deferred BEGIN, the upgrade from reader to
    # writer fails at once with "database is locked" when another writer got there first.
    engine = make_engine(f"sqlite:///{tmp_path / 'race.db'}", cipher=None, pool_size=10)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE ledger (n INTEGER)"))
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(25):
                with engine.begin() as connection:
                    total = connection.execute(text("SELECT count(*) FROM ledger")).scalar_one()
                    connection.execute(text("INSERT INTO ledger VALUES (:n)"), {"n": total})
        except BaseException as exc:  # collected and reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with engine.connect() as connection:
        counts = connection.execute(text("SELECT count(*), count(DISTINCT n) FROM ledger")).one()
    # Serialised: every transaction saw all earlier ones, so every count is distinct.
    assert tuple(counts) == (200, 200)
    engine.dispose()
