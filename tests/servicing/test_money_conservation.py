"""Property tests: however payments arrive, no money is created or lost.

For any sequence of payments (tiny to huge, from disbursement to well after maturity) on either
product, every loan keeps:
- the sum of its payments equal to the sum of all its allocations;
- the sum of its CREDIT allocations equal to the credit it holds;
- each installment's paid columns equal to its non-credit allocations, and within what it asks;
- a payoff that never goes negative, and, once settled, no installment left open.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql import ColumnElement

from models import AllocationComponent, Installment, Loan, LoanStatus, Payment, PaymentAllocation
from servicing import (
    ExtensionDecision,
    apply_extension,
    from_minor,
    loan_balance,
    quote_extension,
)
from servicing.calendar import add_months
from servicing.payments import apply_credit, post_payment
from tests.servicing.factories import make_loan, unique_ref

DISBURSED = date(2025, 1, 15)
PROPERTY_SETTINGS = settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    deadline=None,
    max_examples=60,
)

amounts = st.one_of(
    st.integers(min_value=1, max_value=100),  # tiny: a cent to a dollar
    st.integers(min_value=1, max_value=200_000),  # around an installment
    st.integers(min_value=200_000, max_value=2_000_000),  # paying off and beyond
)
payments = st.lists(
    st.tuples(amounts, st.integers(min_value=0, max_value=60)), min_size=1, max_size=12
)
loans = st.fixed_dictionaries(
    {
        "product": st.sampled_from(["personal", "consumer"]),
        "principal": st.integers(min_value=10_000, max_value=1_000_000),
        "annual_rate": st.integers(min_value=0, max_value=3600),  # basis points
        "term_months": st.integers(min_value=1, max_value=24),
    }
)


def _sum(session: Session, column: InstrumentedAttribute[int], *where: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(column), 0)).where(*where)) or 0)


def assert_balance_sane(session: Session, loan: Loan, as_of: date) -> None:
    """Nothing owed is negative (payoff clamps at zero, so its parts are checked too)."""
    balance = loan_balance(session=session, loan_id=loan.id, as_of=as_of)
    assert balance.payoff_minor >= 0
    assert balance.principal_outstanding_minor >= 0
    assert balance.interest_due_minor >= 0
    assert balance.fees_due_minor >= 0
    assert balance.accrued_interest_minor >= 0
    assert balance.past_due_minor >= 0
    assert balance.credit_minor == loan.credit_minor
    if loan.status is LoanStatus.SETTLED:
        assert balance.payoff_minor == 0
        assert balance.principal_outstanding_minor == 0
        assert balance.days_past_due == 0


def assert_invariants(session: Session, loan: Loan) -> None:
    received = _sum(session, Payment.amount_minor, Payment.loan_id == loan.id)
    allocated = _sum(session, PaymentAllocation.amount_minor, PaymentAllocation.loan_id == loan.id)
    credit = _sum(
        session,
        PaymentAllocation.amount_minor,
        PaymentAllocation.loan_id == loan.id,
        PaymentAllocation.component == AllocationComponent.CREDIT,
    )
    assert received == allocated, "money created or lost"
    assert credit == loan.credit_minor >= 0

    by_installment: dict[tuple[int, AllocationComponent], int] = defaultdict(int)
    for allocation in session.scalars(
        select(PaymentAllocation).where(
            PaymentAllocation.loan_id == loan.id,
            PaymentAllocation.component != AllocationComponent.CREDIT,
        )
    ):
        assert allocation.installment_id is not None
        # Negative rows only move money out of a broken settlement's installment, never a payment's.
        assert allocation.amount_minor > 0 or allocation.payment_id is None
        by_installment[(allocation.installment_id, allocation.component)] += allocation.amount_minor
    for i in session.scalars(select(Installment).where(Installment.loan_id == loan.id)):
        assert by_installment[(i.id, AllocationComponent.FEE)] == i.fee_paid_minor
        assert by_installment[(i.id, AllocationComponent.INTEREST)] == i.interest_paid_minor
        assert by_installment[(i.id, AllocationComponent.PRINCIPAL)] == i.principal_paid_minor
        assert 0 <= i.fee_paid_minor <= i.fee_minor
        assert 0 <= i.interest_paid_minor <= i.interest_minor
        assert 0 <= i.principal_paid_minor <= i.principal_minor
        fully_paid = (
            i.fee_paid_minor == i.fee_minor
            and i.interest_paid_minor == i.interest_minor
            and i.principal_paid_minor == i.principal_minor
        )
        assert (i.paid_on is not None) == fully_paid
        if loan.status is LoanStatus.SETTLED and i.superseded_by_arrangement_id is None:
            assert i.paid_on is not None, "a settled loan has an open installment"


@PROPERTY_SETTINGS
@given(terms=loans, sequence=payments, final_credit_day=st.integers(min_value=0, max_value=90))
def test_payments_never_create_or_lose_money(
    session: Session,
    terms: dict[str, int | str],
    sequence: list[tuple[int, int]],
    final_credit_day: int,
) -> None:
    loan = make_loan(
        session,
        product=terms["product"],
        principal=from_minor(int(terms["principal"]), "USD"),
        annual_rate=Decimal(int(terms["annual_rate"])) / 10_000,
        term_months=int(terms["term_months"]),
    )
    day = DISBURSED
    for amount_minor, gap_days in sequence:
        day += timedelta(days=gap_days)
        if loan.status is not LoanStatus.ACTIVE:
            break
        post_payment(
            session=session,
            loan_id=loan.id,
            amount=from_minor(amount_minor, "USD"),
            currency="USD",
            received_on=day,
            external_ref=unique_ref("P"),
        )
        assert_invariants(session, loan)
        assert_balance_sane(session, loan, day)

    if loan.status is LoanStatus.ACTIVE:
        later = day + timedelta(days=final_credit_day)
        apply_credit(session=session, loan_id=loan.id, on=later)
        assert_invariants(session, loan)
        assert_balance_sane(session, loan, later)


@PROPERTY_SETTINGS
@given(terms=loans, extra_minor=st.integers(min_value=0, max_value=1_000_000))
def test_paying_everything_settles_and_returns_the_excess(
    session: Session, terms: dict[str, int | str], extra_minor: int
) -> None:
    loan = make_loan(
        session,
        product=terms["product"],
        principal=from_minor(int(terms["principal"]), "USD"),
        annual_rate=Decimal(int(terms["annual_rate"])) / 10_000,
        term_months=int(terms["term_months"]),
    )
    after_maturity = max(i.due_on for i in loan.installments)
    owed = sum(i.principal_minor + i.interest_minor + i.fee_minor for i in loan.installments)

    post_payment(
        session=session,
        loan_id=loan.id,
        amount=from_minor(owed + extra_minor, "USD"),
        currency="USD",
        received_on=after_maturity,
    )

    assert loan.status is LoanStatus.SETTLED
    assert loan.closed_on == after_maturity
    assert loan.credit_minor == extra_minor
    assert_invariants(session, loan)
    balance = loan_balance(session=session, loan_id=loan.id, as_of=after_maturity)
    assert balance.payoff_minor == 0
    assert balance.days_past_due == 0


@PROPERTY_SETTINGS
@given(
    terms=loans,
    first_due_shift=st.one_of(st.just(0), st.integers(min_value=-30, max_value=28)),
    paid_before=st.tuples(
        st.integers(min_value=0, max_value=300_000), st.integers(min_value=0, max_value=200)
    ),
    payoff_day=st.integers(min_value=0, max_value=800),
    extend=st.booleans(),
)
def test_paying_the_quoted_payoff_settles_the_loan(
    session: Session,
    terms: dict[str, int | str],
    first_due_shift: int,
    paid_before: tuple[int, int],
    payoff_day: int,
    extend: bool,
) -> None:
    """Whatever the loan and day, posting exactly `payoff_minor` settles it, nothing left over."""
    loan = make_loan(
        session,
        product=terms["product"],
        principal=from_minor(int(terms["principal"]), "USD"),
        annual_rate=Decimal(int(terms["annual_rate"])) / 10_000,
        term_months=int(terms["term_months"]),
        first_due_on=add_months(DISBURSED, 1) + timedelta(days=first_due_shift),
    )
    amount_before, day_before = paid_before
    if amount_before:
        post_payment(
            session=session,
            loan_id=loan.id,
            amount=from_minor(amount_before, "USD"),
            currency="USD",
            received_on=DISBURSED + timedelta(days=day_before),
        )
    day = max(DISBURSED + timedelta(days=payoff_day), DISBURSED + timedelta(days=day_before))
    assume(loan.status is LoanStatus.ACTIVE)
    if extend:
        quote = quote_extension(session=session, loan_id=loan.id, months=1, as_of=day)
        if quote.decision is ExtensionDecision.APPROVED:
            apply_extension(session=session, loan_id=loan.id, months=1, on=day)
    payoff = loan_balance(session=session, loan_id=loan.id, as_of=day).payoff_minor
    assume(payoff > 0)

    post_payment(
        session=session,
        loan_id=loan.id,
        amount=from_minor(payoff, "USD"),
        currency="USD",
        received_on=day,
    )

    assert loan.status is LoanStatus.SETTLED
    assert loan.closed_on == day
    assert loan.credit_minor == 0
    live = [i for i in loan.installments if i.superseded_by_arrangement_id is None]
    assert all(i.paid_on is not None for i in live)
    assert_invariants(session, loan)
    after = loan_balance(session=session, loan_id=loan.id, as_of=day)
    assert (after.payoff_minor, after.credit_minor, after.days_past_due) == (0, 0, 0)
