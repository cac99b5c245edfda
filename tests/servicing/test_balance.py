"""Balances: days past due, buckets, accrued interest and payoff, one loan and whole portfolio."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from models import Loan, LoanStatus
from servicing import (
    Bucket,
    InvalidInput,
    bucket_counts,
    bucket_for,
    delinquent_loans,
    loan_balance,
    write_off_loan,
)
from servicing.demo import seed_portfolio
from servicing.payments import apply_due_credit, post_payment
from tests.servicing.factories import make_loan


@pytest.mark.parametrize(
    ("days", "bucket"),
    [(0, Bucket.CURRENT), (1, Bucket.DPD_1_30), (30, Bucket.DPD_1_30), (31, Bucket.DPD_31_60),
     (60, Bucket.DPD_31_60), (61, Bucket.DPD_61_90), (90, Bucket.DPD_61_90),
     (91, Bucket.DPD_90_PLUS), (400, Bucket.DPD_90_PLUS)],
)  # fmt: skip
def test_bucket_edges(days: int, bucket: Bucket) -> None:
    assert bucket_for(days) is bucket


def test_days_past_due_counts_from_the_oldest_unpaid_due_date(session: Session) -> None:
    loan = make_loan(session)  # first due 2025-02-15, 12 monthly installments
    assert (
        loan_balance(session=session, loan_id=loan.id, as_of=date(2025, 2, 15)).days_past_due == 0
    )
    on_16th = loan_balance(session=session, loan_id=loan.id, as_of=date(2025, 2, 16))
    assert (on_16th.days_past_due, on_16th.bucket) == (1, Bucket.DPD_1_30)
    later = loan_balance(session=session, loan_id=loan.id, as_of=date(2025, 5, 20))
    assert later.days_past_due == (date(2025, 5, 20) - date(2025, 2, 15)).days
    four = loan.installments[:4]  # due Feb 15 .. May 15
    assert later.past_due_minor == sum(i.principal_minor + i.interest_minor for i in four)


def test_payoff_is_principal_plus_due_plus_accrued(session: Session) -> None:
    loan = make_loan(session)
    # Half-way through the first period: half of the first month's interest has accrued.
    balance = loan_balance(session=session, loan_id=loan.id, as_of=date(2025, 1, 29))
    first = loan.installments[0]
    assert balance.interest_due_minor == 0
    assert balance.accrued_interest_minor == round(first.interest_minor * 14 / 31)
    assert balance.payoff_minor == 120000 + balance.accrued_interest_minor
    assert balance.next_due_on == date(2025, 2, 15)
    assert balance.next_due_minor == first.principal_minor + first.interest_minor


def test_as_of_before_disbursement_is_refused(session: Session) -> None:
    loan = make_loan(session)
    with pytest.raises(InvalidInput) as refused:
        loan_balance(session=session, loan_id=loan.id, as_of=date(2024, 12, 31))
    assert refused.value.field == "as_of"


def _loans_holding_credit(session: Session) -> list[Loan]:
    """Consumer loans (hold credit) that overpaid early: credit covers their first installments."""
    held = []
    for overpaid in ("300.00", "500.00", "700.00"):
        loan = make_loan(session, product="consumer", disbursed_on=date(2026, 6, 1))
        post_payment(
            session=session,
            loan_id=loan.id,
            amount=Decimal(overpaid),
            currency="USD",
            received_on=date(2026, 6, 20),
        )
        held.append(loan)
    return held


def test_set_based_delinquency_agrees_with_each_loan(session: Session) -> None:
    as_of = date(2026, 11, 22)
    seed_portfolio(session=session, loans=150, seed=9, as_of=as_of)
    held = _loans_holding_credit(session)
    # Written off and settled after the earlier days asked below: still active on those days.
    write_off_loan(session=session, loan_id=make_loan(session).id, on=as_of)
    settled_late = make_loan(session, disbursed_on=date(2026, 1, 5), term_months=6)
    post_payment(
        session=session,
        loan_id=settled_late.id,
        amount=Decimal("2000.00"),
        currency="USD",
        received_on=as_of - timedelta(days=10),
    )
    assert settled_late.status is LoanStatus.SETTLED
    closed_since = 0
    for day in (as_of, as_of - timedelta(days=45), as_of + timedelta(days=20)):
        late = {d.loan_id: d for d in delinquent_loans(session=session, as_of=day)}
        counts = bucket_counts(session=session, as_of=day)
        active = session.scalars(
            select(Loan).where(or_(Loan.status == LoanStatus.ACTIVE, Loan.closed_on > day))
        ).all()
        closed_since += sum(1 for loan in active if loan.status is not LoanStatus.ACTIVE)
        expected = dict.fromkeys(Bucket, 0)
        for loan in active:
            if day < loan.disbursed_on:
                expected[Bucket.CURRENT] += 1
                continue
            loan_id = loan.id
            balance = loan_balance(session=session, loan_id=loan_id, as_of=day)
            expected[balance.bucket] += 1
            if balance.days_past_due:
                assert late[loan_id].days_past_due == balance.days_past_due
            else:
                assert loan_id not in late
        assert counts == expected
        # 700.00 paid in June still covers every installment due by these days; 300.00 does not.
        assert held[-1].id not in late
        assert held[0].id in late
    assert closed_since > 0, "the portfolio must have loans closed after an as_of day"


def test_held_credit_is_not_past_due_until_it_runs_out(session: Session) -> None:
    loan = make_loan(session, product="consumer")  # 100.00 principal + interest a month
    post_payment(
        session=session,
        loan_id=loan.id,
        amount=Decimal("300.00"),
        currency="USD",
        received_on=date(2025, 1, 20),
    )  # pays #1 early, 188.00 held
    day = date(2025, 4, 20)
    covered = loan_balance(session=session, loan_id=loan.id, as_of=day)
    assert covered.credit_minor == 18800
    # #2 (111.00, due 03-15) is covered; #3 (110.00, due 04-15) only partly: 33.00 past due.
    assert covered.past_due_minor == 11100 + 11000 - 18800
    assert covered.days_past_due == 5
    assert loan.credit_minor == 18800, "reading a balance writes nothing"
    assert [d.days_past_due for d in delinquent_loans(session=session, as_of=day)] == [5]
    assert bucket_counts(session=session, as_of=day)[Bucket.DPD_1_30] == 1
    before = loan_balance(session=session, loan_id=loan.id, as_of=date(2025, 4, 1))
    assert (before.past_due_minor, before.days_past_due) == (0, 0)
    assert bucket_counts(session=session, as_of=date(2025, 4, 1))[Bucket.CURRENT] == 1
    assert list(delinquent_loans(session=session, as_of=date(2025, 4, 1))) == []

    applied = apply_due_credit(session=session, as_of=date(2025, 4, 15))

    assert applied == {loan.id: 18800}
    assert loan.credit_minor == 0
    after = loan_balance(session=session, loan_id=loan.id, as_of=day)
    assert (after.past_due_minor, after.days_past_due) == (3300, 5)
    assert apply_due_credit(session=session, as_of=date(2025, 4, 16)) == {}


def test_balance_status_is_the_status_on_the_day(session: Session) -> None:
    loan = make_loan(session)
    write_off_loan(session=session, loan_id=loan.id, on=date(2025, 9, 1))
    before = loan_balance(session=session, loan_id=loan.id, as_of=date(2025, 6, 1))
    after = loan_balance(session=session, loan_id=loan.id, as_of=date(2025, 9, 1))
    assert before.status is LoanStatus.ACTIVE
    assert before.accrued_interest_minor > 0
    assert after.status is LoanStatus.WRITTEN_OFF
    assert after.accrued_interest_minor == 0
    assert [d.loan_id for d in delinquent_loans(session=session, as_of=date(2025, 6, 1))] == [
        loan.id
    ]
    assert bucket_counts(session=session, as_of=date(2025, 6, 1))[Bucket.DPD_90_PLUS] == 1
    assert sum(bucket_counts(session=session, as_of=date(2025, 9, 1)).values()) == 0
