"""A deterministic demo portfolio: borrowers in several time zones and languages, loans in every
bucket, and the servicing history (payments, promises, an extension, an arrangement, a write-off)
that makes the assistant worth trying.

Bulk rows go in through Core `insert` (the same column types, so personal data is still
encrypted); on-time payments are written as the allocations the waterfall would make for a
payment of exactly one installment on its due date (a test replays them through `post_payment`
and compares). The special cases use the real servicing functions.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import islice
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from models import (
    AllocationComponent,
    Amortization,
    Borrower,
    BorrowerPhone,
    HoldKind,
    Installment,
    Loan,
    LoanStatus,
    OfferKind,
    Payment,
    PaymentAllocation,
    is_postgresql,
    session_cipher,
)
from servicing.balance import Bucket, bucket_counts, delinquent_loans, loan_balance
from servicing.calendar import add_months
from servicing.extensions import ExtensionDecision, apply_extension, quote_extension
from servicing.holds import place_hold
from servicing.loans import write_off_loan
from servicing.money import from_minor
from servicing.products import catalogue
from servicing.promises import evaluate_promises, record_promise
from servicing.restructuring import accept_offer, quote_restructuring
from servicing.schedule import generate_schedule


@dataclass(frozen=True)
class Region:
    """Where a demo borrower lives: zone, country, currency, language, phone numbering."""

    time_zone: str
    country: str
    currency: str
    language: str
    area_code: str


REGIONS = (
    Region("America/New_York", "US", "USD", "en", "212"),
    Region("America/Chicago", "US", "USD", "en", "312"),
    Region("America/Denver", "US", "USD", "en", "303"),
    Region("America/Los_Angeles", "US", "USD", "en", "213"),
    Region("Pacific/Honolulu", "US", "USD", "en", "808"),
    Region("Europe/London", "GB", "GBP", "en", "207946"),
    Region("Asia/Shanghai", "CN", "CNY", "zh", "138"),
)
REGION_WEIGHTS = (18, 14, 8, 16, 2, 17, 25)
GIVEN_EN = ("Ada", "Ben", "Cora", "Dev", "Elena", "Farid", "Grace", "Hugo", "Iris", "Jamal")
FAMILY_EN = ("Park", "Okafor", "Nguyen", "Smith", "Garcia", "Khan", "Brown", "Silva", "Cohen")
GIVEN_ZH = ("伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军")
FAMILY_ZH = ("王", "李", "张", "刘", "陈", "杨", "黄", "赵", "周", "吴")
STREETS = ("Main St", "Oak Ave", "High Street", "Station Road", "人民路", "解放大道")
# (days past due at which a loan's payments stopped, weight); 0 pays everything due, -1 a loan
# repaid in full before the seed date.
BEHAVIOURS = ((0, 62), (12, 10), (45, 8), (75, 6), (150, 6), (-1, 8))


@dataclass
class SeedSummary:
    """What a seed run created."""

    borrowers: int = 0
    loans: int = 0
    installments: int = 0
    payments: int = 0
    buckets: dict[Bucket, int] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    stories: list[str] = field(default_factory=list)


def _phone(rng: random.Random, region: Region, serial: int) -> tuple[str, str]:
    """A valid number and its kind, from ranges kept for fiction where the country has one.

    US 555-0100..0199 and London 020 7946 0xxx are reserved for drama; the UK's drama mobile
    range (07700 900xxx) is not a valid number to libphonenumber, so UK borrowers get landlines.
    """
    if region.country == "US":
        return f"+1{region.area_code}55501{serial % 100:02d}", "mobile"
    if region.country == "GB":
        return f"+44{region.area_code}0{serial % 1000:03d}", "landline"
    return f"+86{region.area_code}{rng.randrange(10**8):08d}", "mobile"


def _national_id(rng: random.Random, country: str) -> str:
    if country == "US":  # 9xx area numbers are never issued as SSNs
        return (
            f"9{rng.randrange(100):02d}-{rng.randrange(1, 100):02d}-{rng.randrange(1, 10**4):04d}"
        )
    if country == "GB":  # the QQ prefix is reserved for examples
        return f"QQ{rng.randrange(10**6):06d}C"
    return (
        f"11010119{rng.randrange(60, 100):02d}{rng.randrange(1, 13):02d}{rng.randrange(10**6):06d}"
    )


def _name(rng: random.Random, region: Region) -> str:
    if region.language == "zh":
        return rng.choice(FAMILY_ZH) + rng.choice(GIVEN_ZH) + rng.choice(GIVEN_ZH)
    return f"{rng.choice(GIVEN_EN)} {rng.choice(FAMILY_EN)}"


def _next_id(session: Session, model: type[Any]) -> int:
    return int(session.scalar(select(func.coalesce(func.max(model.id), 0))) or 0) + 1


def _chunks(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


def _flush_rows(session: Session, pending: dict[type[Any], list[dict[str, Any]]]) -> None:
    for model in (Borrower, BorrowerPhone, Loan, Installment, Payment, PaymentAllocation):
        # render_nulls keeps one executemany per chunk instead of one per shape of row.
        statement = insert(model).execution_options(render_nulls=True)
        for chunk in _chunks(pending[model], 5000):
            session.execute(statement, chunk)
        pending[model].clear()


def _sync_sequences(session: Session) -> None:
    # Explicit ids bypass PostgreSQL's sequences; move them past what was written.
    if not is_postgresql(session):
        return
    for table in (
        "borrowers",
        "borrower_phones",
        "loans",
        "installments",
        "payments",
        "payment_allocations",
    ):
        session.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"  # noqa: S608 - fixed names
                f" (SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )
        )


def seed_portfolio(*, session: Session, loans: int, seed: int, as_of: date) -> SeedSummary:
    """Add `loans` demo loans (and their borrowers) as they would stand on `as_of`."""
    rng = random.Random(seed)
    cipher = session_cipher(session)
    products = catalogue()
    tables: tuple[type[Any], ...] = (
        Borrower, BorrowerPhone, Loan, Installment, Payment, PaymentAllocation
    )  # fmt: skip
    ids: dict[type[Any], int] = {m: _next_id(session, m) for m in tables}
    pending: dict[type[Any], list[dict[str, Any]]] = {m: [] for m in ids}
    first_loan_id = ids[Loan]
    summary = SeedSummary()
    now = datetime.now(UTC)
    for n in range(loans):
        region = rng.choices(REGIONS, REGION_WEIGHTS)[0]
        borrower_id, loan_id = ids[Borrower], ids[Loan]
        ids[Borrower] += 1
        ids[Loan] += 1
        phone, phone_kind = _phone(rng, region, borrower_id)
        pending[Borrower].append(
            {
                "id": borrower_id,
                "external_ref": f"DEMO-B{seed}-{borrower_id}",
                "full_name": _name(rng, region),
                "preferred_language": region.language,
                "time_zone": region.time_zone,
                "country": region.country,
                "postal_address": f"{rng.randrange(1, 999)} {rng.choice(STREETS)}",
                "date_of_birth": date(
                    rng.randrange(1950, 2004), rng.randrange(1, 13), rng.randrange(1, 29)
                ),
                "national_id": _national_id(rng, region.country),
                "created_at": now,
            }
        )
        pending[BorrowerPhone].append(
            {
                "id": ids[BorrowerPhone],
                "borrower_id": borrower_id,
                "number": phone,
                "number_index": cipher.blind_index(phone),
                "kind": phone_kind,
                "created_at": now,
            }
        )
        ids[BorrowerPhone] += 1
        product = products.get("consumer" if rng.random() < 0.2 else "personal")
        term = rng.choice((6, 12, 12, 18, 24, 24, 36, 36, 48, 60))
        stop_dpd = rng.choices([b for b, _ in BEHAVIOURS], [w for _, w in BEHAVIOURS])[0]
        if stop_dpd < 0:  # repaid in full: the whole schedule lies before the seed date
            disbursed_on = add_months(as_of, -(term + 1)) - timedelta(days=rng.randrange(1, 200))
        else:
            disbursed_on = as_of - timedelta(days=rng.randrange(35, 30 * min(term, 30)))
        scale = 7 if region.currency == "CNY" else 1
        principal_minor = rng.randrange(500, 30000) * 100 * scale
        rate = Decimal(rng.randrange(500, 3600)) / 10000
        schedule = generate_schedule(
            principal_minor=principal_minor,
            annual_rate=rate,
            term_months=term,
            first_due_on=add_months(disbursed_on, 1),
            amortization=product.amortization,
        )
        # Installments due before the cutoff were paid on their due dates; the first unpaid one
        # then leaves the loan up to `stop_dpd` days past due.
        cutoff = as_of + timedelta(days=1) if stop_dpd <= 0 else as_of - timedelta(days=stop_dpd)
        status = LoanStatus.ACTIVE
        paid_through = 0
        for item in schedule:
            paid = item.due_on < cutoff
            paid_on = item.due_on
            installment_id = ids[Installment]
            ids[Installment] += 1
            pending[Installment].append(
                {
                    "id": installment_id,
                    "loan_id": loan_id,
                    "seq": item.seq,
                    "due_on": item.due_on,
                    "original_due_on": item.due_on,
                    "principal_minor": item.principal_minor,
                    "interest_minor": item.interest_minor,
                    "fee_minor": 0,
                    "principal_paid_minor": item.principal_minor if paid else 0,
                    "interest_paid_minor": item.interest_minor if paid else 0,
                    "fee_paid_minor": 0,
                    "paid_on": paid_on if paid else None,
                }
            )
            if not paid:
                continue
            paid_through += 1
            payment_id = ids[Payment]
            ids[Payment] += 1
            pending[Payment].append(
                {
                    "id": payment_id,
                    "loan_id": loan_id,
                    "external_ref": None,
                    "amount_minor": item.total_minor,
                    "currency": region.currency,
                    "received_on": paid_on,
                    "method": "card",
                    "posted_at": now,
                }
            )
            for component, amount in (
                (AllocationComponent.INTEREST, item.interest_minor),
                (AllocationComponent.PRINCIPAL, item.principal_minor),
            ):
                if amount:
                    pending[PaymentAllocation].append(
                        {
                            "id": ids[PaymentAllocation],
                            "payment_id": payment_id,
                            "loan_id": loan_id,
                            "installment_id": installment_id,
                            "component": component,
                            "amount_minor": amount,
                            "applied_on": paid_on,
                        }
                    )
                    ids[PaymentAllocation] += 1
        if paid_through == len(schedule):
            status = LoanStatus.SETTLED
        summary.statuses[status.value] += 1
        summary.installments += len(schedule)
        summary.payments += paid_through
        pending[Loan].append(
            {
                "id": loan_id,
                "external_ref": f"DEMO-L{seed}-{loan_id}",
                "borrower_id": borrower_id,
                "product": product.code,
                "currency": region.currency,
                "principal_minor": principal_minor,
                "annual_rate": rate,
                "term_months": term,
                "amortization": Amortization(product.amortization),
                "disbursed_on": disbursed_on,
                "status": status,
                "credit_minor": 0,
                "closed_on": schedule[-1].due_on if status is LoanStatus.SETTLED else None,
                "created_at": now,
            }
        )
        summary.borrowers += 1
        summary.loans += 1
        if (n + 1) % 5000 == 0:
            _flush_rows(session, pending)
    _flush_rows(session, pending)
    _sync_sequences(session)
    session.flush()
    _add_stories(session, rng, first_loan_id, as_of, summary)
    summary.buckets = bucket_counts(session=session, as_of=as_of)
    return summary


def _late_loans(session: Session, first_loan_id: int, as_of: date) -> dict[Bucket, list[int]]:
    by_bucket: dict[Bucket, list[int]] = {bucket: [] for bucket in Bucket}
    for late in delinquent_loans(session=session, as_of=as_of):
        if late.loan_id >= first_loan_id:
            by_bucket[late.bucket].append(late.loan_id)
    for ids in by_bucket.values():
        ids.sort()
    return by_bucket


def _add_stories(
    session: Session, rng: random.Random, first_loan_id: int, as_of: date, summary: SeedSummary
) -> None:
    """Promises, an extension, an arrangement, a hold and a write-off, through the real rules."""
    late = _late_loans(session, first_loan_id, as_of)
    share = max(1, summary.loans // 100)
    candidates = late[Bucket.DPD_1_30] + late[Bucket.DPD_31_60]
    for loan_id in rng.sample(candidates, min(share, len(candidates))):
        balance = loan_balance(session=session, loan_id=loan_id, as_of=as_of)
        record_promise(
            session=session,
            loan_id=loan_id,
            amount=from_minor(balance.past_due_minor, balance.currency),
            due_on=as_of + timedelta(days=rng.randrange(2, 10)),
            channel=rng.choice(("sms", "telegram", "voice")),
            promised_on=as_of,
        )
        summary.stories.append(f"loan {loan_id}: promise to pay the arrears")
    for loan_id in late[Bucket.DPD_61_90][: max(1, share // 2)]:
        # Promised three weeks ago, never paid: evaluates as broken.
        balance = loan_balance(session=session, loan_id=loan_id, as_of=as_of - timedelta(days=21))
        if balance.past_due_minor <= 0:
            continue
        record_promise(
            session=session,
            loan_id=loan_id,
            amount=from_minor(balance.past_due_minor, balance.currency),
            due_on=as_of - timedelta(days=14),
            channel="sms",
            promised_on=as_of - timedelta(days=21),
        )
        summary.stories.append(f"loan {loan_id}: broken promise")
    evaluate_promises(session=session, as_of=as_of)
    for loan_id in late[Bucket.DPD_1_30]:
        if quote_extension(session=session, loan_id=loan_id, months=1, as_of=as_of).decision == (
            ExtensionDecision.APPROVED
        ):
            apply_extension(session=session, loan_id=loan_id, months=1, on=as_of)
            summary.stories.append(f"loan {loan_id}: payments deferred one month")
            break
    for loan_id in late[Bucket.DPD_31_60][-1:]:
        offers = quote_restructuring(session=session, loan_id=loan_id, as_of=as_of)
        plan = next(o for o in offers if o.kind is OfferKind.REAMORTIZE)
        accept_offer(session=session, offer_id=plan.id, on=as_of)
        summary.stories.append(f"loan {loan_id}: arrangement over {plan.number_of_payments} months")
    for loan_id in late[Bucket.DPD_61_90][-1:]:
        loan = session.get(Loan, loan_id)
        assert loan is not None
        place_hold(
            session=session,
            borrower_id=loan.borrower_id,
            loan_id=loan_id,
            kind=HoldKind.DISPUTE,
            source="demo",
            at=datetime.combine(as_of, time(9), tzinfo=UTC),
        )
        summary.stories.append(f"loan {loan_id}: disputed, on hold")
    for loan_id in late[Bucket.DPD_90_PLUS][-max(1, share // 2) :]:
        write_off_loan(session=session, loan_id=loan_id, on=as_of)
        summary.statuses[LoanStatus.ACTIVE.value] -= 1
        summary.statuses[LoanStatus.WRITTEN_OFF.value] += 1
        summary.stories.append(f"loan {loan_id}: written off")
