"""Posting payments: the waterfall to the cent, overpayments, held credit, refusals, balances.

The default loan (tests/servicing/factories.py) is 1,200.00 USD at 12% over 12 months, disbursed
2025-01-15, first due 2025-02-15. Its annuity schedule starts
    #1 2025-02-15 principal 94.62 interest 12.00
    #2 2025-03-15 principal 95.56 interest 11.05
    #3 2025-04-15 principal 96.52 interest 10.10
    ...
    #11 2025-12-15 principal 104.52 interest 2.10
    #12 2026-01-15 principal 105.56 interest 1.06
and the same loan as a `consumer` product (equal principal, held credit) pays 100.00 principal a
month with interest 12.00, 11.00, 10.00, ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import AllocationComponent, Installment, Loan, LoanStatus, Payment, PaymentAllocation
from servicing import Conflict, InvalidInput, loan_balance, write_off_loan
from servicing.payments import apply_credit, list_payments, post_payment
from tests.servicing.factories import make_loan

FEE = AllocationComponent.FEE
INTEREST = AllocationComponent.INTEREST
PRINCIPAL = AllocationComponent.PRINCIPAL
CREDIT = AllocationComponent.CREDIT

Row = tuple[int | None, AllocationComponent, int]  # (installment seq or None, component, minor)


def pay(session: Session, loan: Loan, amount: str, on: date, **kwargs: str) -> Payment:
    return post_payment(
        session=session,
        loan_id=loan.id,
        amount=Decimal(amount),
        currency=kwargs.pop("currency", "USD"),
        received_on=on,
        **kwargs,
    )


def installment(loan: Loan, seq: int) -> Installment:
    return next(i for i in loan.installments if i.seq == seq)


def rows_of(session: Session, loan: Loan, *, payment: Payment | None) -> list[Row]:
    """The allocation rows of one payment (or, with None, those made from held credit)."""
    seq_of = {i.id: i.seq for i in loan.installments}
    statement = select(PaymentAllocation).where(PaymentAllocation.loan_id == loan.id)
    if payment is None:
        statement = statement.where(PaymentAllocation.payment_id.is_(None))
    else:
        statement = statement.where(PaymentAllocation.payment_id == payment.id)
    return [
        (
            None if a.installment_id is None else seq_of[a.installment_id],
            a.component,
            a.amount_minor,
        )
        for a in session.scalars(statement.order_by(PaymentAllocation.id))
    ]


@dataclass(frozen=True)
class WaterfallCase:
    name: str
    product: str
    payments: list[tuple[str, date]]
    expected: list[Row]  # allocations of the last payment
    credit_minor: int = 0
    fee_on_first_minor: int = 0
    from_credit: list[Row] = field(default_factory=list)  # rows made from held credit


CASES = [
    WaterfallCase(
        "partial payment: fee, then interest, then principal of the oldest",
        "personal",
        [("50.00", date(2025, 2, 20))],
        [(1, FEE, 2500), (1, INTEREST, 1200), (1, PRINCIPAL, 1300)],
        fee_on_first_minor=2500,
    ),
    WaterfallCase(
        "two installments past due, then the next upcoming one",
        "personal",
        [("250.00", date(2025, 3, 20))],
        [
            (1, INTEREST, 1200),
            (1, PRINCIPAL, 9462),
            (2, INTEREST, 1105),
            (2, PRINCIPAL, 9556),
            (3, INTEREST, 1010),
            (3, PRINCIPAL, 2667),
        ],
    ),
    WaterfallCase(
        "early payment of the next installment is not an overpayment",
        "personal",
        [("106.62", date(2025, 2, 1))],
        [(1, INTEREST, 1200), (1, PRINCIPAL, 9462)],
    ),
    WaterfallCase(
        "overpayment reduces principal from the last installment back",
        "personal",
        [("306.62", date(2025, 2, 1))],
        [(1, INTEREST, 1200), (1, PRINCIPAL, 9462), (12, PRINCIPAL, 10556), (11, PRINCIPAL, 9444)],
    ),
    WaterfallCase(
        "overpayment is held as credit",
        "consumer",
        [("200.00", date(2025, 2, 1))],
        [(1, INTEREST, 1200), (1, PRINCIPAL, 10000), (None, CREDIT, 8800)],
        credit_minor=8800,
    ),
    WaterfallCase(
        "held credit pays what is due before the new money does",
        "consumer",
        [("200.00", date(2025, 2, 1)), ("50.00", date(2025, 3, 15))],
        [(2, PRINCIPAL, 2300), (3, INTEREST, 1000), (3, PRINCIPAL, 1700)],
        from_credit=[(2, INTEREST, 1100), (2, PRINCIPAL, 7700), (None, CREDIT, -8800)],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_waterfall(session: Session, case: WaterfallCase) -> None:
    loan = make_loan(session, product=case.product)
    if case.fee_on_first_minor:
        installment(loan, 1).fee_minor = case.fee_on_first_minor  # as an extension fee would
        session.flush()
    payments = [pay(session, loan, amount, on) for amount, on in case.payments]

    assert rows_of(session, loan, payment=payments[-1]) == case.expected
    assert rows_of(session, loan, payment=None) == case.from_credit
    assert loan.credit_minor == case.credit_minor


def test_reduce_principal_shortens_the_term_and_reprices_interest(session: Session) -> None:
    loan = make_loan(session)
    pay(session, loan, "306.62", date(2025, 2, 1))  # 200.00 beyond installment #1

    last = installment(loan, 12)
    assert (last.principal_paid_minor, last.interest_minor, last.paid_on) == (
        10556,
        0,
        date(2025, 2, 1),
    )
    # Outstanding before #2 is 1,200.00 - 94.62 - 200.00 = 905.38; a month at 1% is 9.05.
    assert installment(loan, 2).interest_minor == 905
    # Before #11 only its own unpaid principal is left: 104.52 - 94.44 = 10.08 -> 0.10.
    assert installment(loan, 11).interest_minor == 10
    assert installment(loan, 11).paid_on is None
    assert loan.status is LoanStatus.ACTIVE


def test_payment_that_settles_the_loan(session: Session) -> None:
    loan = make_loan(session, term_months=1)  # one installment: 1,200.00 + 12.00
    payment = pay(session, loan, "1212.00", date(2025, 2, 15))

    assert rows_of(session, loan, payment=payment) == [(1, INTEREST, 1200), (1, PRINCIPAL, 120000)]
    assert loan.status is LoanStatus.SETTLED
    assert loan.closed_on == date(2025, 2, 15)
    assert installment(loan, 1).paid_on == date(2025, 2, 15)


def test_early_payoff_reprices_interest_and_returns_the_excess_as_credit(session: Session) -> None:
    loan = make_loan(
        session, term_months=2
    )  # 2025-02-15: 597.01 + 12.00; 2025-03-15: 602.99 + 6.03
    payment = pay(session, loan, "1220.00", date(2025, 2, 1))

    # The payment covers the payoff: #1's interest stops at the 17 of 31 days earned
    # (1200 x 17 / 31 = 658), #2's interest was never earned and is dropped; the rest is credit.
    assert rows_of(session, loan, payment=payment) == [
        (1, INTEREST, 658),
        (1, PRINCIPAL, 59701),
        (2, PRINCIPAL, 60299),
        (None, CREDIT, 1342),
    ]
    assert installment(loan, 1).interest_minor == 658
    assert installment(loan, 2).interest_minor == 0
    assert loan.status is LoanStatus.SETTLED
    assert loan.credit_minor == 1342


def test_apply_credit_pays_what_falls_due_later(session: Session) -> None:
    loan = make_loan(session, product="consumer")
    pay(session, loan, "200.00", date(2025, 2, 1))

    assert apply_credit(session=session, loan_id=loan.id, on=date(2025, 3, 1)) == 0  # nothing due
    applied = apply_credit(session=session, loan_id=loan.id, on=date(2025, 3, 15))

    assert applied == 8800
    assert rows_of(session, loan, payment=None) == [
        (2, INTEREST, 1100),
        (2, PRINCIPAL, 7700),
        (None, CREDIT, -8800),
    ]
    assert loan.credit_minor == 0
    assert installment(loan, 2).principal_paid_minor == 7700
    assert installment(loan, 2).paid_on is None


def test_paid_on_is_the_day_the_last_unit_arrived(session: Session) -> None:
    loan = make_loan(session)
    pay(session, loan, "50.00", date(2025, 2, 10))
    pay(session, loan, "56.62", date(2025, 2, 20))

    first = installment(loan, 1)
    assert (first.interest_paid_minor, first.principal_paid_minor) == (1200, 9462)
    assert first.paid_on == date(2025, 2, 20)
    assert installment(loan, 2).paid_on is None


def test_list_payments_in_order_received(session: Session) -> None:
    loan = make_loan(session)
    first = pay(session, loan, "10.00", date(2025, 2, 1))
    second = pay(session, loan, "20.00", date(2025, 2, 1))
    third = pay(session, loan, "30.00", date(2025, 3, 1))

    assert list_payments(session=session, loan_id=loan.id) == [first, second, third]


REFUSALS = [
    ("wrong currency", {"amount": "10.00", "currency": "GBP"}, InvalidInput, "currency"),
    ("unknown currency", {"amount": "10.00", "currency": "ZZZ"}, InvalidInput, "currency"),
    ("zero", {"amount": "0.00"}, InvalidInput, "amount"),
    ("negative", {"amount": "-5.00"}, InvalidInput, "amount"),
    ("too many decimals", {"amount": "10.001"}, InvalidInput, "amount"),
    ("before disbursement", {"received_on": date(2025, 1, 14)}, InvalidInput, "received_on"),
    ("before the last payment", {"received_on": date(2025, 2, 9)}, Conflict, "received_on"),
]


@pytest.mark.parametrize(
    ("given", "error", "field_name"),
    [r[1:] for r in REFUSALS],
    ids=[r[0] for r in REFUSALS],
)
def test_refusals(
    session: Session, given: dict[str, Any], error: type[Exception], field_name: str
) -> None:
    loan = make_loan(session)
    pay(session, loan, "10.00", date(2025, 2, 10))
    arguments: dict[str, Any] = {
        "amount": "10.00",
        "currency": "USD",
        "received_on": date(2025, 2, 20),
    } | given

    with pytest.raises(error) as raised:
        post_payment(
            session=session,
            loan_id=loan.id,
            amount=Decimal(str(arguments["amount"])),
            currency=str(arguments["currency"]),
            received_on=arguments["received_on"],
        )

    assert getattr(raised.value, "field", None) == field_name
    assert len(list_payments(session=session, loan_id=loan.id)) == 1


def test_back_dated_payment_names_the_latest_payment_and_why(session: Session) -> None:
    loan = make_loan(session)
    pay(session, loan, "10.00", date(2025, 2, 10))

    with pytest.raises(Conflict, match=r"2025-02-10.*reversal"):
        pay(session, loan, "10.00", date(2025, 2, 1))


def test_written_off_loan_refuses_payments(session: Session) -> None:
    loan = make_loan(session)
    write_off_loan(session=session, loan_id=loan.id, on=date(2025, 6, 1))

    with pytest.raises(Conflict) as raised:
        pay(session, loan, "10.00", date(2025, 6, 2))
    assert raised.value.field == "loan_id"


def test_settled_loan_refuses_new_payments(session: Session) -> None:
    loan = make_loan(session, term_months=1)
    pay(session, loan, "1212.00", date(2025, 2, 15))

    with pytest.raises(Conflict, match="settled"):
        pay(session, loan, "1.00", date(2025, 2, 16))


def test_same_ref_same_payment_is_returned_unchanged(session: Session) -> None:
    loan = make_loan(session, term_months=1)
    first = pay(session, loan, "1212.00", date(2025, 2, 15), external_ref="psp-1")
    # A retry arrives later, after the first post settled the loan: still the same answer.
    again = pay(session, loan, "1212.00", date(2025, 2, 20), external_ref="psp-1")

    assert again.id == first.id
    assert again.received_on == date(2025, 2, 15)
    assert len(list_payments(session=session, loan_id=loan.id)) == 1
    assert len(rows_of(session, loan, payment=first)) == 2


@pytest.mark.parametrize(
    ("other_loan", "amount"), [(False, "20.00"), (True, "10.00")], ids=["amount", "loan"]
)
def test_same_ref_for_another_payment_conflicts(
    session: Session, other_loan: bool, amount: str
) -> None:
    loan = make_loan(session)
    pay(session, loan, "10.00", date(2025, 2, 10), external_ref="psp-2")
    target = make_loan(session) if other_loan else loan

    with pytest.raises(Conflict) as raised:
        pay(session, target, amount, date(2025, 2, 11), external_ref="psp-2")
    assert raised.value.field == "external_ref"


def test_apply_credit_refuses_written_off_loan(session: Session) -> None:
    loan = make_loan(session, product="consumer")
    pay(session, loan, "200.00", date(2025, 2, 1))
    write_off_loan(session=session, loan_id=loan.id, on=date(2025, 3, 1))

    with pytest.raises(Conflict):
        apply_credit(session=session, loan_id=loan.id, on=date(2025, 3, 15))
    assert loan.credit_minor == 8800


def test_paying_the_arrears_brings_days_past_due_to_zero(session: Session) -> None:
    loan = make_loan(session)
    before = loan_balance(session=session, loan_id=loan.id, as_of=date(2025, 3, 20))
    assert (before.days_past_due, before.past_due_minor) == (33, 10662 + 10661)

    pay(session, loan, "213.23", date(2025, 3, 20))

    after = loan_balance(session=session, loan_id=loan.id, as_of=date(2025, 3, 20))
    assert (after.days_past_due, after.past_due_minor) == (0, 0)
    assert after.principal_outstanding_minor == 120000 - 9462 - 9556


def test_balance_before_a_payment_ignores_it(session: Session) -> None:
    loan = make_loan(session)
    pay(session, loan, "213.23", date(2025, 3, 20))

    earlier = loan_balance(session=session, loan_id=loan.id, as_of=date(2025, 3, 19))
    assert earlier.days_past_due == 32
    assert earlier.past_due_minor == 10662 + 10661
    assert earlier.principal_outstanding_minor == 120000


def test_partial_payment_keeps_the_loan_past_due(session: Session) -> None:
    loan = make_loan(session)
    pay(session, loan, "106.62", date(2025, 3, 20))  # pays #1, #2 still late

    balance = loan_balance(session=session, loan_id=loan.id, as_of=date(2025, 3, 20))
    assert balance.days_past_due == 5
    assert balance.past_due_minor == 10661
