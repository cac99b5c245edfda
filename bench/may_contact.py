"""Contact decisions for a whole portfolio at one instant, on SQLite and PostgreSQL.

Seeds the demo portfolio (one borrower per loan), adds contact history (attempts over the last
week, opt-outs, consents, stated inconvenient times, holds), then times `may_contact_many` for
every loan at one instant, with the channel cycling SMS / voice / web / Telegram:

- baseline:   a plain `SELECT id, time_zone` of the same borrower rows;
- evaluate:   loading every fact and deciding, without recording (`evaluate_many`);
- record:     the same plus one audit event per decision (`may_contact_many`, one append_many).

Each is reported as decisions per second and as a ratio to the baseline measured in the same
run. The first evaluation in a process also fills the phone-number zone cache; it is reported
apart from the repeat.

    .venv/bin/python bench/may_contact.py --borrowers 100000 [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import random
import tempfile
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

from common import fresh_engine, timed
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.orm import Session

from compliance import NewEvent, append_many, stream_for
from compliance.contact import ContactRequest, decide, evaluate_many, may_contact_many
from compliance.contact.decide import _collector_paused
from compliance.contact.facts import _facts, _load
from compliance.contact.sql import _id_filters
from compliance.local_time import phone_zones
from compliance.profiles import load_profile
from models import (
    AccountHold,
    AttemptOutcome,
    Borrower,
    BorrowerPhone,
    Channel,
    Consent,
    ConsentKind,
    ContactAttempt,
    HoldKind,
    InconvenientTime,
    Initiator,
    Loan,
    OptOut,
)
from servicing import seed_portfolio

AS_OF = date(2026, 11, 22)
# 12:00 in New York, 09:00 in Los Angeles, 07:00 in Honolulu, 17:00 in London, 01:00 in Shanghai:
# a mix of allowed and deferred windows.
AT = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
PG_SCHEMA = "settle_bench_contact"
CHANNELS = (Channel.SMS, Channel.VOICE, Channel.WEB, Channel.TELEGRAM)


def add_history(session: Session, rng: random.Random) -> dict[str, int]:
    """Contact history on a share of the portfolio, written in bulk."""
    loans = session.execute(select(Loan.id, Loan.borrower_id).order_by(Loan.id)).all()
    query = select(BorrowerPhone.borrower_id, BorrowerPhone.number_index)
    phones = {b: i for b, i in session.execute(query).all()}  # noqa: C416
    attempts: list[dict[str, Any]] = []
    opt_outs: list[dict[str, Any]] = []
    consents: list[dict[str, Any]] = []
    blocked: list[dict[str, Any]] = []
    holds: list[dict[str, Any]] = []
    outcomes = (AttemptOutcome.SENT, AttemptOutcome.NO_ANSWER, AttemptOutcome.ANSWERED,
                AttemptOutcome.MACHINE, AttemptOutcome.DELIVERED)  # fmt: skip
    for loan_id, borrower_id in loans:
        number = phones.get(borrower_id)
        if rng.random() < 0.4:  # 40% were contacted in the last week, 1 to 6 times
            for _ in range(rng.randint(1, 6)):
                attempts.append({
                    "borrower_id": borrower_id, "loan_id": loan_id,
                    "channel": rng.choice(CHANNELS[:3]), "initiated_by": Initiator.SETTLE,
                    "address_index": number, "outcome": rng.choice(outcomes),
                    "at": AT - timedelta(minutes=rng.randrange(1, 8 * 24 * 60)),
                })  # fmt: skip
        if rng.random() < 0.05:  # the borrower texted in
            attempts.append({
                "borrower_id": borrower_id, "loan_id": loan_id, "channel": Channel.SMS,
                "initiated_by": Initiator.BORROWER, "address_index": number,
                "outcome": AttemptOutcome.RECEIVED,
                "at": AT - timedelta(minutes=rng.randrange(1, 30 * 24 * 60)),
            })  # fmt: skip
        if rng.random() < 0.6 and number is not None:
            consents.append({
                "borrower_id": borrower_id, "kind": ConsentKind.SMS, "address_index": number,
                "given_at": AT - timedelta(days=rng.randrange(1, 90)), "source": "bench",
            })  # fmt: skip
        if rng.random() < 0.05:
            opt_outs.append({
                "borrower_id": borrower_id, "channel": rng.choice((None, Channel.SMS)),
                "at": AT - timedelta(days=3), "source": "bench",
            })  # fmt: skip
        if rng.random() < 0.03:
            blocked.append({
                "borrower_id": borrower_id, "channel": None, "weekdays": "12345",
                "starts": clock(12), "ends": clock(14), "stated_at": AT - timedelta(days=9),
                "active": True,
            })  # fmt: skip
        if rng.random() < 0.01:
            holds.append({
                "borrower_id": borrower_id, "loan_id": loan_id,
                "kind": rng.choice(list(HoldKind)), "active": True,
                "placed_at": AT - timedelta(days=1), "source": "bench",
            })  # fmt: skip
    for model, rows in ((ContactAttempt, attempts), (OptOut, opt_outs), (Consent, consents),
                        (InconvenientTime, blocked), (AccountHold, holds)):  # fmt: skip
        for start in range(0, len(rows), 5000):
            session.execute(insert(model), rows[start : start + 5000])
    # Most contacted loans had their validation notice (US-VALIDATION) sent with the first contact.
    contacted = sorted({(row["loan_id"], row["borrower_id"]) for row in attempts})
    notices = [
        NewEvent(stream_for("loan", loan_id), "validation_notice", AT - timedelta(days=9),
                 "settle", {"loan_id": loan_id, "borrower_id": borrower_id, "channel": "sms"})
        for loan_id, borrower_id in contacted
        if rng.random() < 0.9
    ]  # fmt: skip
    append_many(session=session, events=notices)
    return {"attempts": len(attempts), "opt_outs": len(opt_outs), "consents": len(consents),
            "inconvenient": len(blocked), "holds": len(holds),
            "validation_notices": len(notices)}  # fmt: skip


def measure(engine: Engine, borrowers: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    rng = random.Random(11)
    with Session(engine) as session:
        out["seed_s"], _ = timed(
            lambda: seed_portfolio(session=session, loans=borrowers, seed=1, as_of=AS_OF)
        )
        out["history"] = add_history(session, rng)
        session.commit()
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))

    profile = load_profile("us_reg_f")
    with Session(engine) as session:
        pairs = session.execute(select(Loan.borrower_id, Loan.id).order_by(Loan.id)).all()
        requests = [
            ContactRequest(b, loan, CHANNELS[n % len(CHANNELS)], Initiator.SETTLE)
            for n, (b, loan) in enumerate(pairs)
        ]
        ids = [r.borrower_id for r in requests]
        out["decisions"] = len(requests)

        def baseline() -> int:
            rows = 0
            for condition in _id_filters(Borrower.id, ids):
                rows += len(session.execute(
                    select(Borrower.id, Borrower.time_zone).where(condition)).all())  # fmt: skip
            return rows

        baseline_runs = [timed(baseline)[0] for _ in range(3)]
        out["baseline_s"] = min(baseline_runs)

        phone_zones.cache_clear()
        out["cold_s"], decisions = timed(
            lambda: evaluate_many(session=session, requests=requests, at=AT, profile=profile)
        )
        warm = [
            timed(lambda: evaluate_many(session=session, requests=requests, at=AT,
                                        profile=profile))[0]
            for _ in range(2)
        ]  # fmt: skip
        out["warm_s"] = min(warm)
        # The split, under the same collector pause `evaluate_many` runs in.
        with _collector_paused():
            out["load_s"], loaded = timed(lambda: _load(session, requests, AT, profile))
            out["decide_s"], _ = timed(
                lambda: [decide(_facts(r, loaded), profile, AT) for r in requests]
            )
        out["outcomes"] = Counter(d.outcome.value for d in decisions)
        out["reasons"] = Counter(code for d in decisions for code in d.reasons).most_common(8)
        out["record_s"], _ = timed(
            lambda: may_contact_many(session=session, requests=requests, at=AT, profile=profile)
        )
        session.rollback()
    return out


def bench_backend(backend: str, borrowers: int, pg_url: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as workdir:
        engine = fresh_engine(backend, pg_url, Path(workdir), schema=PG_SCHEMA)
        try:
            return measure(engine, borrowers)
        finally:
            engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--borrowers", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    print(f"borrowers (= loans = decisions) = {args.borrowers:,}, at {AT.isoformat()}\n")
    print(
        "| backend | baseline SELECT | evaluate, cold | evaluate, warm (load + decide) | ratio |"
        " evaluate + record | ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    for backend in args.backends.split(","):
        r = bench_backend(backend, args.borrowers, args.pg_url)
        n = r["decisions"]
        print(
            f"| {backend} | {r['baseline_s'] * 1e3:.0f} ms ({n / r['baseline_s']:,.0f} rows/s)"
            f" | {r['cold_s']:.2f} s ({n / r['cold_s']:,.0f}/s)"
            f" | {r['warm_s']:.2f} s ({n / r['warm_s']:,.0f}/s;"
            f" {r['load_s']:.2f} + {r['decide_s']:.2f} s)"
            f" | {r['warm_s'] / r['baseline_s']:.1f}x"
            f" | {r['record_s']:.2f} s ({n / r['record_s']:,.0f}/s)"
            f" | {r['record_s'] / r['baseline_s']:.1f}x |",
            flush=True,
        )
        print(
            f"<!-- {backend}: seed {r['seed_s']:.0f} s; history {r['history']};"
            f" outcomes {dict(r['outcomes'])}; top reasons {r['reasons']} -->",
            flush=True,
        )


if __name__ == "__main__":
    main()
