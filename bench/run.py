"""Servicing benchmarks: seeding, one loan's balance, whole-portfolio days past due.

Each figure is reported beside a baseline measured in the same run on the same database, so the
ratio survives a noisy machine:
- seeding N loans   vs inserting the same number of installment-sized rows into a scratch table;
- one loan's balance vs loading the same loan and its installments through the ORM;
- portfolio buckets  vs `SELECT count(*)` over the installments table.

    .venv/bin/python bench/run.py --loans 100000 [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from common import fresh_engine, timed
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, selectinload

from models import Installment, Loan
from servicing import bucket_counts, loan_balance, seed_portfolio

AS_OF = date(2026, 11, 22)
PG_SCHEMA = "settle_bench"


def raw_insert_baseline(engine: Engine, rows: int) -> float:
    """Insert `rows` installment-shaped tuples into a scratch table: the cost of writing alone."""
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS bench_scratch"))
        connection.execute(
            text(
                "CREATE TABLE bench_scratch (id INTEGER PRIMARY KEY, loan_id INTEGER, seq INTEGER,"
                " due_on DATE, principal BIGINT, interest BIGINT, paid_on DATE)"
            )
        )
    payload = [
        {"id": i, "loan_id": i // 24, "seq": i % 24, "due_on": AS_OF, "principal": i, "interest": i,
         "paid_on": None}
        for i in range(rows)
    ]  # fmt: skip
    statement = text(
        "INSERT INTO bench_scratch VALUES (:id, :loan_id, :seq, :due_on, :principal, :interest,"
        " :paid_on)"
    )

    def insert() -> None:
        with engine.begin() as connection:
            for start in range(0, rows, 5000):
                connection.execute(statement, payload[start : start + 5000])

    elapsed, _ = timed(insert)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE bench_scratch"))
    return elapsed


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_backend(backend: str, loans: int, calls: int, pg_url: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as workdir:
        engine = fresh_engine(backend, pg_url, Path(workdir), schema=PG_SCHEMA)
        try:
            return measure(engine, loans, calls)
        finally:
            engine.dispose()


def measure(engine: Engine, loans: int, calls: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with Session(engine) as session:
        out["seed_s"], summary = timed(
            lambda: seed_portfolio(session=session, loans=loans, seed=1, as_of=AS_OF)
        )
        session.commit()
    out["installments"] = summary.installments
    out["raw_insert_s"] = raw_insert_baseline(engine, summary.installments)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))

    rng = random.Random(3)
    with Session(engine) as session:
        ids = list(session.scalars(select(Loan.id)))
        sample = [rng.choice(ids) for _ in range(calls)]
        balance_s, orm_s = [], []
        for loan_id in sample:
            session.expunge_all()
            start = time.perf_counter()
            session.scalars(
                select(Loan).where(Loan.id == loan_id).options(selectinload(Loan.installments))
            ).one()
            orm_s.append(time.perf_counter() - start)
            session.expunge_all()
            start = time.perf_counter()
            loan_balance(session=session, loan_id=loan_id, as_of=AS_OF)
            balance_s.append(time.perf_counter() - start)
        out["balance_median_ms"] = statistics.median(balance_s) * 1e3
        out["balance_p99_ms"] = percentile(balance_s, 0.99) * 1e3
        out["orm_load_median_ms"] = statistics.median(orm_s) * 1e3

        counts: list[float] = []
        buckets_s: list[float] = []
        for _ in range(5):
            elapsed, _ = timed(
                lambda: session.scalar(select(func.count()).select_from(Installment))
            )
            counts.append(elapsed)
            elapsed, buckets = timed(lambda: bucket_counts(session=session, as_of=AS_OF))
            buckets_s.append(elapsed)
        out["count_s"] = statistics.median(counts)
        out["buckets_s"] = statistics.median(buckets_s)
        out["buckets"] = {b.value: n for b, n in buckets.items()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=2000, help="balance calls to time")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    print(f"loans={args.loans} balance calls={args.calls} as_of={AS_OF}\n")
    print(
        "| backend | seed N loans | raw insert of as many installment rows | ratio |"
        " balance median / p99 | ORM load of the loan (median) | ratio |"
        " buckets, whole portfolio | SELECT count(*) installments | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for backend in args.backends.split(","):
        r = bench_backend(backend, args.loans, args.calls, args.pg_url)
        print(
            f"| {backend} | {r['seed_s']:.1f} s ({r['installments']:,} installments)"
            f" | {r['raw_insert_s']:.1f} s | {r['seed_s'] / r['raw_insert_s']:.1f}x"
            f" | {r['balance_median_ms']:.2f} / {r['balance_p99_ms']:.2f} ms"
            f" | {r['orm_load_median_ms']:.2f} ms"
            f" | {r['balance_median_ms'] / r['orm_load_median_ms']:.1f}x"
            f" | {r['buckets_s'] * 1e3:.0f} ms | {r['count_s'] * 1e3:.0f} ms"
            f" | {r['buckets_s'] / r['count_s']:.1f}x |",
            flush=True,
        )
        print(f"<!-- {backend} buckets: {r['buckets']} -->", flush=True)


if __name__ == "__main__":
    main()
