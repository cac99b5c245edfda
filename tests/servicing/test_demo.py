"""The demo portfolio: deterministic, covers every bucket and story, and its bulk-written history
is exactly what the real payment rules produce."""

from __future__ import annotations

from collections import Counter
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import (
    AccountHold,
    Arrangement,
    Borrower,
    BorrowerPhone,
    Extension,
    Loan,
    LoanStatus,
    Payment,
    PaymentAllocation,
    PromiseStatus,
    PromiseToPay,
)
from servicing import (
    Bucket,
    NewLoan,
    create_loan,
    find_borrowers_by_phone,
    from_minor,
    normalize_phone,
    post_payment,
)
from servicing.demo import seed_portfolio

AS_OF = date(2026, 11, 22)


def loan_shapes(session: Session, ids: list[int]) -> list[tuple[object, ...]]:
    rows = session.scalars(select(Loan).where(Loan.id.in_(ids)).order_by(Loan.id))
    return [
        (loan.principal_minor, loan.annual_rate, loan.term_months, loan.disbursed_on, loan.status,
         loan.currency, loan.borrower.time_zone, [i.paid_on for i in loan.installments])
        for loan in rows
    ]  # fmt: skip


def test_same_seed_same_portfolio(session: Session) -> None:
    first = seed_portfolio(session=session, loans=40, seed=11, as_of=AS_OF)
    top = int(session.scalar(select(func.max(Loan.id))) or 0)
    second = seed_portfolio(session=session, loans=40, seed=11, as_of=AS_OF)
    assert first.statuses == second.statuses
    assert [s.split(":")[1] for s in first.stories] == [s.split(":")[1] for s in second.stories]
    assert loan_shapes(session, list(range(top - 39, top + 1))) == loan_shapes(
        session, list(range(top + 1, top + 41))
    )
    other = seed_portfolio(session=session, loans=40, seed=12, as_of=AS_OF)
    assert loan_shapes(session, list(range(top + 41, top + 81))) != loan_shapes(
        session, list(range(top + 1, top + 41))
    )
    assert other.loans == 40


def test_portfolio_covers_every_bucket_zone_language_and_story(session: Session) -> None:
    summary = seed_portfolio(session=session, loans=300, seed=1, as_of=AS_OF)
    assert all(summary.buckets[bucket] > 0 for bucket in Bucket), summary.buckets
    zones = set(session.scalars(select(Borrower.time_zone)))
    assert {"America/New_York", "America/Los_Angeles", "Europe/London", "Asia/Shanghai"} <= zones
    assert set(session.scalars(select(Borrower.preferred_language))) == {"en", "zh"}
    statuses = Counter(session.scalars(select(Loan.status)))
    assert statuses[LoanStatus.WRITTEN_OFF] >= 1
    assert statuses[LoanStatus.SETTLED] >= 1
    promises = Counter(session.scalars(select(PromiseToPay.status)))
    assert promises[PromiseStatus.PENDING] >= 1
    assert promises[PromiseStatus.BROKEN] >= 1
    for model in (Extension, Arrangement, AccountHold):
        assert session.scalar(select(func.count()).select_from(model)) == 1, model
    # Every seeded number is one the servicing rules accept, found again through the blind index.
    for phone in session.scalars(select(BorrowerPhone)):
        assert normalize_phone(phone.number) == phone.number
        assert phone.borrower in find_borrowers_by_phone(session=session, phone=phone.number)


def test_seeded_history_is_what_post_payment_makes(session: Session) -> None:
    seed_portfolio(session=session, loans=60, seed=5, as_of=AS_OF)
    loans = list(
        session.scalars(
            select(Loan).where(Loan.status == LoanStatus.ACTIVE).order_by(Loan.id).limit(15)
        )
    )
    checked = 0
    for seeded in loans:
        payments = list(
            session.scalars(
                select(Payment).where(Payment.loan_id == seeded.id).order_by(Payment.received_on)
            )
        )
        if not payments or any(i.superseded_by_arrangement_id for i in seeded.installments):
            continue
        replay = create_loan(
            session=session,
            loan=NewLoan(
                external_ref=f"REPLAY-{seeded.id}",
                borrower_id=seeded.borrower_id,
                principal=from_minor(seeded.principal_minor, seeded.currency),
                currency=seeded.currency,
                annual_rate=seeded.annual_rate,
                term_months=seeded.term_months,
                disbursed_on=seeded.disbursed_on,
                product=seeded.product,
            ),
        )
        for payment in payments:
            post_payment(
                session=session,
                loan_id=replay.id,
                amount=from_minor(payment.amount_minor, payment.currency),
                currency=payment.currency,
                received_on=payment.received_on,
            )
        assert allocations(session, replay) == allocations(session, seeded)
        assert paid_state(replay) == paid_state(seeded)
        checked += 1
    assert checked >= 5


def allocations(session: Session, loan: Loan) -> list[tuple[object, ...]]:
    seq = {i.id: i.seq for i in loan.installments}
    rows = session.scalars(
        select(PaymentAllocation)
        .where(PaymentAllocation.loan_id == loan.id)
        .order_by(PaymentAllocation.id)
    )
    return [
        (seq.get(a.installment_id or 0), a.component, a.amount_minor, a.applied_on) for a in rows
    ]


def paid_state(loan: Loan) -> list[tuple[object, ...]]:
    return [
        (i.seq, i.due_on, i.principal_paid_minor, i.interest_paid_minor, i.paid_on)
        for i in loan.installments
    ]
