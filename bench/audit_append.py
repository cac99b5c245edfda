"""Audit trail benchmark: events appended per second with many threads and streams, and verify.

Each figure is set beside a baseline measured in the same run on the same database: the same
number of rows, in the same transactions and threads, inserted with a plain INSERT into a
scratch table shaped like `audit_events` (no hashing, no stream heads, no locks).
- batched, own streams: every thread commits `append_many` batches of --batch events, each event
  on a random stream among the thread's own --streams streams (threads never share a head);
- batched, shared streams: the same, but all threads draw from one pool of --streams streams, so
  concurrent batches meet on heads and wait for each other's row locks;
- single: every thread commits one `append` per transaction;
- verify: `verify` over everything appended, against `SELECT` of every event row.

    .venv/bin/python bench/audit_append.py [--threads 8] [--streams 1000] [--events 12500]
        [--batch 100] [--single 300] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from compliance.audit import NewEvent, append, append_many, verify
from models import PiiCipher, generate_key, make_engine
from models.schema import upgrade

PG_SCHEMA = "settle_bench_audit"
T0 = datetime(2026, 3, 8, 9, 0, tzinfo=UTC)
SCRATCH = (
    "CREATE TABLE bench_scratch (id {pk}, stream VARCHAR(64), seq INTEGER, kind VARCHAR(48),"
    " occurred_at TIMESTAMP, actor VARCHAR(64), payload TEXT, prev_hash VARCHAR(64),"
    " hash VARCHAR(64))"
)
SCRATCH_INSERT = text(
    "INSERT INTO bench_scratch (stream, seq, kind, occurred_at, actor, payload, prev_hash, hash)"
    " VALUES (:stream, :seq, :kind, :occurred_at, :actor, :payload, :prev_hash, :hash)"
)
FILLER_HASH = "ab" * 32


def fresh_engine(backend: str, pg_url: str, workdir: Path, threads: int) -> Engine:
    cipher = PiiCipher.from_text(generate_key())
    if backend == "sqlite":
        engine = make_engine(
            f"sqlite:///{workdir / 'bench.db'}", cipher=cipher, pool_size=threads + 2
        )
    else:
        admin = make_engine(pg_url, cipher=None)
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
            connection.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
        admin.dispose()
        engine = make_engine(pg_url, cipher=cipher, search_path=PG_SCHEMA, pool_size=threads + 2)
    upgrade(engine)
    pk = "INTEGER PRIMARY KEY" if backend == "sqlite" else "BIGSERIAL PRIMARY KEY"
    with engine.begin() as connection:
        connection.execute(text(SCRATCH.format(pk=pk)))
    return engine


def drop_schema(pg_url: str) -> None:
    admin = make_engine(pg_url, cipher=None)
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
    admin.dispose()


def in_threads(threads: int, work: Callable[[int], None]) -> float:
    """Run `work(thread_index)` in `threads` threads started together; wall-clock seconds."""
    start = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        start.wait()
        try:
            work(index)
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    return elapsed


def make_events(rng: random.Random, streams: range, count: int, tag: int) -> list[NewEvent]:
    return [
        NewEvent(
            stream=f"conversation:{rng.choice(streams)}",
            kind="message_in",
            occurred_at=T0 + timedelta(milliseconds=n),
            actor="borrower",
            payload={"text": f"I can pay 120.00 next Friday ({tag}-{n})", "channel": "sms"},
        )
        for n in range(count)
    ]


def scratch_rows(events: list[NewEvent]) -> list[dict[str, Any]]:
    return [
        {
            "stream": e.stream,
            "seq": n,
            "kind": e.kind,
            "occurred_at": e.occurred_at.replace(tzinfo=None),
            "actor": e.actor,
            "payload": '{"channel":"sms","text":"I can pay 120.00 next Friday"}',
            "prev_hash": FILLER_HASH,
            "hash": FILLER_HASH,
        }
        for n, e in enumerate(events)
    ]


def measure(engine: Engine, args: argparse.Namespace) -> dict[str, float]:
    out: dict[str, float] = {}
    batches = args.events // args.batch
    # Events made up front, so only the writing is timed.
    pool = range(args.streams)

    def own(thread: int) -> range:
        return range(thread * args.streams, (thread + 1) * args.streams)

    own_work = [
        [make_events(random.Random(t * 1000 + b), own(t), args.batch, t) for b in range(batches)]
        for t in range(args.threads)
    ]
    shared_work = [
        [make_events(random.Random(-t * 1000 - b), pool, args.batch, t) for b in range(batches)]
        for t in range(args.threads)
    ]
    rows = [[scratch_rows(batch) for batch in per_thread] for per_thread in own_work]
    singles = [
        make_events(random.Random(-t - 1), own(t), args.single, t) for t in range(args.threads)
    ]
    single_rows = [scratch_rows(batch) for batch in singles]

    def baseline_batched(index: int) -> None:
        for batch in rows[index]:
            with engine.begin() as connection:
                connection.execute(SCRATCH_INSERT, batch)

    def audit_batched(work: list[list[list[NewEvent]]]) -> Callable[[int], None]:
        def run(index: int) -> None:
            for batch in work[index]:
                with Session(engine) as session, session.begin():
                    append_many(session=session, events=batch)

        return run

    def baseline_single(index: int) -> None:
        for row in single_rows[index]:
            with engine.begin() as connection:
                connection.execute(SCRATCH_INSERT, row)

    def audit_single(index: int) -> None:
        for one in singles[index]:
            with Session(engine) as session, session.begin():
                append(session=session, event=one)

    total = args.threads * batches * args.batch
    out["batched_events"] = total
    out["baseline_batched_s"] = in_threads(args.threads, baseline_batched)
    out["own_s"] = in_threads(args.threads, audit_batched(own_work))
    out["shared_s"] = in_threads(args.threads, audit_batched(shared_work))
    out["single_events"] = args.threads * args.single
    out["baseline_single_s"] = in_threads(args.threads, baseline_single)
    out["single_s"] = in_threads(args.threads, audit_single)

    with engine.connect() as connection:
        began = time.perf_counter()
        scanned = len(connection.execute(text("SELECT * FROM audit_events")).all())
        out["select_s"] = time.perf_counter() - began
    with Session(engine) as session:
        began = time.perf_counter()
        report = verify(session=session)
        out["verify_s"] = time.perf_counter() - began
    if not report.ok or report.events != scanned or scanned != 2 * total + out["single_events"]:
        raise SystemExit(
            f"verify disagrees: {report.events} events, {scanned} rows, {report.first}"
        )
    out["verified_events"] = report.events
    out["streams"] = report.streams
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--streams", type=int, default=1000, help="streams per thread / shared")
    parser.add_argument("--events", type=int, default=12_500, help="batched events per thread")
    parser.add_argument("--batch", type=int, default=100, help="events per append_many")
    parser.add_argument("--single", type=int, default=300, help="single appends per thread")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    print(
        f"threads={args.threads} streams={args.streams} batched events per thread={args.events}"
        f" (batches of {args.batch}) single appends per thread={args.single}\n"
    )
    print("| backend | mode | events | audit events/s | plain INSERT rows/s | audit / plain |")
    print("|---|---|---|---|---|---|")
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory() as workdir:
            engine = fresh_engine(backend, args.pg_url, Path(workdir), args.threads)
            try:
                r = measure(engine, args)
            finally:
                engine.dispose()
                if backend == "postgresql":
                    drop_schema(args.pg_url)
        for mode, events, audit_s, base_s in (
            (
                f"append_many x{args.batch}, own streams",
                r["batched_events"],
                r["own_s"],
                r["baseline_batched_s"],
            ),
            (
                f"append_many x{args.batch}, shared streams",
                r["batched_events"],
                r["shared_s"],
                r["baseline_batched_s"],
            ),
            ("append (1 per commit)", r["single_events"], r["single_s"], r["baseline_single_s"]),
            ("verify vs SELECT *", r["verified_events"], r["verify_s"], r["select_s"]),
        ):
            print(
                f"| {backend} | {mode} | {events:,.0f} | {events / audit_s:,.0f}"
                f" | {events / base_s:,.0f} | {base_s / audit_s:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
