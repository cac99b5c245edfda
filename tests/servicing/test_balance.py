"""Balances: days past due, buckets, accrued interest and payoff, one loan and whole portfolio."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Loan, LoanStatus
from servicing import (
    Bucket,
    InvalidInput,
    bucket_counts,
    bucket_for,
    delinquent_loans,
    loan_balance,
)
from servicing.demo import seed_portfolio
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


def test_set_based_delinquency_agrees_with_each_loan(session: Session) -> None:
    as_of = date(2026, 11, 22)
    seed_portfolio(session=session, loans=150, seed=9, as_of=as_of)
    for day in (as_of, as_of - timedelta(days=45), as_of + timedelta(days=20)):
        late = {d.loan_id: d for d in delinquent_loans(session=session, as_of=day)}
        counts = bucket_counts(session=session, as_of=day)
        active = session.scalars(select(Loan).where(Loan.status == LoanStatus.ACTIVE)).all()
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
