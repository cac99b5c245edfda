"""The dialogue's speed and accuracy: NLU latency, throughput, load time and memory; one whole
turn in-process on SQLite and PostgreSQL; intent accuracy and the false-action rate.

    .venv/bin/python bench/conversation.py [--turns 300] [--pg postgresql://postgres@127.0.0.1:5432/test]

Baselines, measured in the same run:
- NLU: the sentence encoder alone on the same messages, batch 1 (the floor the parse pays);
- turn: a transaction that locks the conversation row and appends one audit event, the least a
  turn writes, on the same database.
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from common import fresh_engine, rss_mb
from sqlalchemy import event, select
from sqlalchemy.orm import sessionmaker

from compliance import NewEvent, append, stream_for
from compliance.screening import AbuseDetector
from dialogue import (
    CollectingOutput,
    Dialogue,
    Inbound,
    InboundKind,
    Nlu,
    data_files,
    evaluate_held_out,
    false_actions,
    load_nlu,
)
from dialogue.encoder import CachingEncoder, SentenceEncoder
from dialogue.nlu.store import DEFAULT_MODEL_PATH
from dialogue.nlu.training_data import read_many
from models import Channel, Conversation, is_postgresql
from servicing import NewBorrower, NewLoan, create_borrower, create_loan

NOW = datetime(2026, 11, 22, 18, 0, tzinfo=UTC)
TODAY = date(2026, 11, 22)
# What a verified borrower asks, turn after turn (account questions touch servicing and audit).
QUESTIONS = [
    "how much do I owe",
    "when is my next payment due",
    "how do I pay",
    "what's the payoff amount",
    "我还欠多少钱",
    "thanks",
]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p99 * 1000


def timed_each(action: Callable[[str], object], texts: list[str]) -> list[float]:
    samples = []
    for text in texts:
        start = time.perf_counter()
        action(text)
        samples.append(time.perf_counter() - start)
    return samples


def nlu_figures(model_path: Path) -> tuple[CachingEncoder, Nlu]:
    rss_before = rss_mb()
    start = time.perf_counter()
    bare = SentenceEncoder()
    encoder_seconds = time.perf_counter() - start
    # As the app runs it: one cached encoder shared by the NLU and the abuse screen.
    encoder = CachingEncoder(bare)
    start = time.perf_counter()
    nlu = load_nlu(encoder, path=model_path)
    model_seconds = time.perf_counter() - start
    print(f"load: encoder {encoder_seconds:.2f} s, intent model {model_seconds * 1000:.0f} ms")
    files = data_files()
    texts = [e.text for path, lang in files.test for e in read_many([(path, lang)]).examples]
    for text in texts[:20]:
        nlu.parse(text, today=TODAY)  # warm-up
    encode = timed_each(lambda t: bare.encode([t]), texts)
    # A trailing space changes no prediction but misses the cache: a fresh message each time.
    parse = timed_each(lambda t: nlu.parse(f"{t} ", today=TODAY), texts)
    e_med, e_p99 = percentiles(encode)
    p_med, p_p99 = percentiles(parse)
    print(
        f"NLU parse, batch 1, {len(texts)} held-out messages: median {p_med:.1f} ms, p99 {p_p99:.1f} ms"
    )
    print(
        f"  baseline encoder alone: median {e_med:.1f} ms, p99 {e_p99:.1f} ms; ratio {p_med / e_med:.2f}x"
    )
    start = time.perf_counter()
    nlu.parse_many(texts, today=TODAY)
    batch_seconds = time.perf_counter() - start
    print(
        f"NLU batch throughput: {len(texts) / batch_seconds:.0f} messages/s ({len(texts)} in one call)"
    )
    print(f"process RSS: {rss_mb():.0f} MB after loading (was {rss_before:.0f} MB before)")
    for report in evaluate_held_out(nlu, files, today=TODAY):
        print(
            f"held-out {report.language}: {report.examples} examples, accuracy {report.accuracy:.3f},"
            f" macro-F1 {report.macro_f1:.3f}"
        )
    total = acted = 0
    for fa in false_actions(nlu, files, today=TODAY):
        total += fa.sentences
        acted += fa.actions
        print(f"false actions {fa.language}: {fa.actions} of {fa.sentences} ({fa.rate:.1%})")
    print(
        f"false actions overall: {acted} of {total} ({acted / total:.1%}); threshold {nlu.threshold:.2f}"
    )
    return encoder, nlu


def turn_figures(backend: str, pg_url: str, encoder: CachingEncoder, nlu: Nlu, turns: int) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        engine = fresh_engine(backend, pg_url, Path(workdir), schema="bench_dialogue")
        sessions = sessionmaker(engine, expire_on_commit=False)
        conversations = 20
        phones = [f"+1415555{2600 + i:04d}" for i in range(conversations)]
        with sessions.begin() as session:
            for i, phone in enumerate(phones):
                borrower = create_borrower(
                    session=session,
                    borrower=NewBorrower(
                        external_ref=f"B{i}",
                        full_name=f"Borrower {i}",
                        country="US",
                        phones=[phone],
                        preferred_language="en",
                        time_zone="America/Los_Angeles",
                        date_of_birth=date(1980, 1, 1 + i),
                        national_id=f"123-45-{6700 + i}",
                    ),
                )
                create_loan(
                    session=session,
                    loan=NewLoan(
                        external_ref=f"L{i}",
                        borrower_id=borrower.id,
                        principal=Decimal("1200.00"),
                        currency="USD",
                        annual_rate=Decimal("0.12"),
                        term_months=12,
                        disbursed_on=date(2026, 6, 15),
                        product="personal",
                    ),
                )
        clock_ticks = itertools.count()

        def clock() -> datetime:
            return NOW + timedelta(milliseconds=next(clock_ticks))

        dialogue = Dialogue(
            sessions=sessions,
            nlu=nlu,
            detector=AbuseDetector(encoder=encoder),
            clock=clock,
        )
        ids = itertools.count()

        def say(phone: str, text: str) -> None:
            dialogue.handle(
                Inbound(
                    channel=Channel.SMS,
                    channel_message_id=f"m{next(ids)}",
                    address=phone,
                    received_at=NOW,
                    text=text,
                    kind=InboundKind.TEXT,
                ),
                CollectingOutput(),
            )

        for i, phone in enumerate(phones):
            say(phone, "how much do I owe")
            say(phone, f"1980-01-{1 + i:02d}")
            say(phone, f"{6700 + i}")
        statements = {"all": 0, "audit": 0}

        def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            statements["all"] += 1
            if statement.lstrip().upper().startswith("INSERT INTO AUDIT_EVENTS"):
                statements["audit"] += 1

        event.listen(engine, "before_cursor_execute", count)
        samples = []
        for n in range(turns):
            phone = phones[n % conversations]
            text = QUESTIONS[n % len(QUESTIONS)]
            # Every timed message is new to the encoder, as a borrower's message is: six
            # questions repeated would otherwise be answered from its cache.
            encoder.clear()
            start = time.perf_counter()
            say(phone, text)
            samples.append(time.perf_counter() - start)
        event.remove(engine, "before_cursor_execute", count)

        def baseline() -> None:
            with sessions.begin() as session:
                query = select(Conversation).where(Conversation.id == 1)
                if is_postgresql(session):
                    query = query.with_for_update()
                session.scalars(query).first()
                append(
                    session=session,
                    event=NewEvent(
                        stream=stream_for("conversation", 1),
                        kind="bench",
                        occurred_at=clock(),
                        actor="settle",
                        payload={"text": "how much do I owe"},
                    ),
                )

        base = []
        for _ in range(turns):
            start = time.perf_counter()
            baseline()
            base.append(time.perf_counter() - start)
        t_med, t_p99 = percentiles(samples)
        b_med, b_p99 = percentiles(base)
        print(
            f"turn on {backend}, {turns} turns of verified borrowers: median {t_med:.1f} ms, p99 {t_p99:.1f} ms"
        )
        print(
            f"  baseline lock + one audit append: median {b_med:.2f} ms, p99 {b_p99:.2f} ms; ratio {t_med / b_med:.1f}x"
        )
        print(
            f"  statements per turn: {statements['all'] / turns:.1f}, of which audit inserts"
            f" {statements['audit'] / turns:.1f}"
        )
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--pg", default=os.environ.get("SETTLE_TEST_DATABASE_URL", ""))
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH)
    args = parser.parse_args()
    print(
        f"cpu count {os.cpu_count()}, maxrss so far {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )
    encoder, nlu = nlu_figures(args.model)
    for backend in ("sqlite", "postgresql") if args.pg else ("sqlite",):
        turn_figures(backend, args.pg, encoder, nlu, args.turns)


if __name__ == "__main__":
    main()
