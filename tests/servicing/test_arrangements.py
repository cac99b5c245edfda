"""Arrangements after acceptance: a settlement's discount is final only if it is paid on time.

A settlement paid in full by its due day completes and its discount is forgiven for good; one not
paid in full by then breaks: what was paid on it goes to the old schedule, which comes back.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from models import (
    Arrangement,
    ArrangementStatus,
    Installment,
    Loan,
    LoanStatus,
    OfferKind,
    RestructuringOffer,
)
from servicing import from_minor, loan_balance, post_payment, review_arrangements
from servicing.restructuring import accept_offer, decide_offer, quote_restructuring
from tests.servicing.factories import make_loan
from tests.servicing.test_money_conservation import assert_invariants

QUOTED = date(2025, 5, 1)  # three installments of the 1,200.00 loan are unpaid


def _settled_on_terms(session: Session) -> tuple[Loan, RestructuringOffer, Installment]:
    loan = make_loan(session)
    offers = quote_restructuring(session=session, loan_id=loan.id, as_of=QUOTED)
    [offer] = [o for o in offers if o.kind is OfferKind.SETTLEMENT]
    decide_offer(session=session, offer_id=offer.id, approve=True, by="sv", on=QUOTED)
    arrangement = accept_offer(session=session, offer_id=offer.id, on=QUOTED)
    [lump] = [i for i in loan.installments if i.arrangement_id == arrangement.id]
    return loan, offer, lump


def _pay(session: Session, loan: Loan, minor: int, on: date) -> None:
    post_payment(
        session=session,
        loan_id=loan.id,
        amount=from_minor(minor, "USD"),
        currency="USD",
        received_on=on,
    )


def _contract_total(loan: Loan) -> int:
    return sum(
        i.principal_minor + i.interest_minor + i.fee_minor
        for i in loan.installments
        if i.arrangement_id is None
    )


def test_a_settlement_paid_by_its_due_day_completes_and_the_discount_is_final(
    session: Session,
) -> None:
    loan, offer, lump = _settled_on_terms(session)
    arrangement = loan.installments[-1]
    _pay(session, loan, lump.principal_minor, lump.due_on)

    assert loan.status is LoanStatus.SETTLED
    [changed] = review_arrangements(session=session, as_of=lump.due_on + timedelta(days=1))

    assert changed.id == arrangement.arrangement_id
    assert changed.status is ArrangementStatus.COMPLETED
    assert changed.forgiven_minor == offer.discount_minor > 0
    assert review_arrangements(session=session, as_of=lump.due_on + timedelta(days=2)) == []
    assert_invariants(session, loan)


def test_an_unpaid_settlement_breaks_and_the_old_schedule_returns(session: Session) -> None:
    loan, offer, lump = _settled_on_terms(session)
    contract_total = _contract_total(loan)
    _pay(session, loan, 30000, QUOTED + timedelta(days=3))  # 300.00 of the lump sum
    assert review_arrangements(session=session, as_of=lump.due_on) == []  # due day: still time

    broken_on = lump.due_on + timedelta(days=1)
    [arrangement] = review_arrangements(session=session, as_of=broken_on)

    assert arrangement.status is ArrangementStatus.BROKEN
    assert arrangement.forgiven_minor == 0
    assert lump.superseded_by_arrangement_id == arrangement.id
    assert lump.principal_paid_minor == 0
    assert lump.paid_on is None
    old = [i for i in loan.installments if i.arrangement_id is None]
    assert all(i.superseded_by_arrangement_id is None for i in old)
    # The 300.00 paid on the settlement went to the oldest restored installments instead.
    still_owed = sum(
        i.principal_minor + i.interest_minor - i.principal_paid_minor - i.interest_paid_minor
        for i in old
    )
    assert still_owed + loan.credit_minor == contract_total - 30000
    assert loan.credit_minor == 0
    # 300.00 pays February's and March's installments (106.62 and 106.61) and part of April's.
    assert old[0].paid_on == old[1].paid_on == broken_on
    assert old[2].paid_on is None
    balance = loan_balance(session=session, loan_id=loan.id, as_of=broken_on)
    assert balance.days_past_due == (broken_on - date(2025, 4, 15)).days
    assert balance.principal_outstanding_minor > offer.balance_minor - offer.discount_minor
    assert_invariants(session, loan)


def test_a_payment_after_the_due_day_breaks_the_settlement_first(session: Session) -> None:
    loan, _, lump = _settled_on_terms(session)

    # The full lump sum, a day late: the offer has ended, the money goes to the old schedule.
    payment = post_payment(
        session=session,
        loan_id=loan.id,
        amount=from_minor(lump.principal_minor, "USD"),
        currency="USD",
        received_on=lump.due_on + timedelta(days=1),
    )

    assert loan.status is LoanStatus.ACTIVE
    arrangement = session.get(Arrangement, lump.arrangement_id)
    assert arrangement is not None
    assert arrangement.status is ArrangementStatus.BROKEN
    assert lump.superseded_by_arrangement_id == arrangement.id
    assert lump.principal_paid_minor == 0
    by_id = {i.id: i for i in loan.installments}
    assert payment.allocations
    assert all(
        a.installment_id is None or by_id[a.installment_id].arrangement_id is None
        for a in payment.allocations
    )
    assert review_arrangements(session=session, as_of=lump.due_on + timedelta(days=2)) == []
    assert_invariants(session, loan)


def test_a_reamortized_arrangement_completes_when_its_schedule_is_paid(session: Session) -> None:
    loan = make_loan(session)
    offers = quote_restructuring(session=session, loan_id=loan.id, as_of=QUOTED)
    plan = next(o for o in offers if o.kind is OfferKind.REAMORTIZE)
    arrangement = accept_offer(session=session, offer_id=plan.id, on=QUOTED)
    late = QUOTED + timedelta(days=400)
    assert review_arrangements(session=session, as_of=late) == []  # arrears, not a break
    _pay(session, loan, plan.total_cost_minor, late)

    assert review_arrangements(session=session, as_of=late) == [arrangement]
    assert arrangement.status is ArrangementStatus.COMPLETED
    assert Decimal(arrangement.forgiven_minor) == 0
