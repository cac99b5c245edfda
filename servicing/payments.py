"""Payments: posting money received against a loan and allocating every unit of it.

The waterfall (DESIGN.md) pays fees, then interest, then principal, oldest installment first:
every installment due on or before the day the money arrived, then the next upcoming one (paying
the next installment early is not an overpayment). Whatever is left is an overpayment, handled as
the loan's product says: prepaid principal from the last installment back (shortening the term), or
held as credit for the borrower. Money that covers the payoff on its day settles the loan instead.

Every unit moved is a `PaymentAllocation` row, so for each loan
    sum(payments) == sum(allocations), sum(CREDIT allocations) == loan.credit_minor,
and each installment's paid columns equal its non-credit allocations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import AllocationComponent, Installment, Loan, LoanStatus, Payment
from servicing.arrangements import break_overdue_settlement
from servicing.errors import Conflict, InvalidInput
from servicing.ledger import (
    Allocator,
    accrued_interest,
    apply_credit_on,
    close_if_paid,
    installment_interest,
    last_change,
    live_schedule,
    open_only,
    owed,
    pay_due,
    period_of,
    refuse_back_dating,
    refuse_future,
    settle_if_done,
    unpaid,
)
from servicing.loans import get_loan, lock_loan, require_active
from servicing.money import check_currency, positive_minor
from servicing.products import Overpayment, catalogue

_MAX_REF = 64
_MAX_METHOD = 32


def _pay_next_upcoming(allocator: Allocator, installments: list[Installment]) -> None:
    upcoming = [i for i in open_only(installments) if i.due_on > allocator.on and unpaid(i) > 0]
    if upcoming and allocator.remaining > 0:
        allocator.pay(upcoming[0])


def _reprice_interest(loan: Loan, future: list[Installment]) -> None:
    """Interest of each later installment on the principal still outstanding before it.

    Installments whose interest is partly paid keep their terms: their period's charge is settled.
    """
    outstanding = sum(owed(i, "principal_minor", "principal_paid_minor") for i in future)
    for installment in future:
        if installment.interest_paid_minor == 0:
            installment.interest_minor = installment_interest(loan, installment, outstanding)
        outstanding -= owed(installment, "principal_minor", "principal_paid_minor")


def _reduce_principal(allocator: Allocator, installments: list[Installment]) -> None:
    """Prepay principal from the last installment back, so the term shortens, not the payment."""
    if allocator.remaining <= 0:
        return
    future = open_only(installments)
    for installment in reversed(future):
        allocator.take(
            installment, AllocationComponent.PRINCIPAL, "principal_minor", "principal_paid_minor"
        )
    _reprice_interest(allocator.loan, future)
    for installment in future:
        close_if_paid(installment, allocator.on)
    # Money beyond every unit of principal is owed back to the borrower.
    allocator.to_credit()


@dataclass(frozen=True)
class _Payoff:
    """What repays the loan in full on a day, and the interest accrued in the running period."""

    amount_minor: int
    running: int | None  # index of the installment running on the day
    accrued_minor: int


def _payoff(loan: Loan, installments: list[Installment], on: date) -> _Payoff:
    """The payoff on `on` (the figure `loan_balance(...).payoff_minor` shows for that day).

    Principal outstanding, interest of installments due by `on`, every unpaid fee, the interest
    accrued in the running period, less held credit.
    """
    periods = [period_of(loan, i) for i in installments]
    running, accrued = accrued_interest(periods, disbursed_on=loan.disbursed_on, as_of=on)
    total = accrued - loan.credit_minor
    for installment in installments:
        total += owed(installment, "principal_minor", "principal_paid_minor")
        total += owed(installment, "fee_minor", "fee_paid_minor")
        if installment.due_on <= on:
            total += owed(installment, "interest_minor", "interest_paid_minor")
    return _Payoff(max(total, 0), running, accrued)


def _pay_off(allocator: Allocator, installments: list[Installment], payoff: _Payoff) -> None:
    """Settle the loan: interest stops at what has accrued, then credit and money pay the rest.

    The running installment's interest becomes what it has earned by the day; later installments'
    unpaid interest is dropped (it was never earned). Held credit, then the payment, pay every open
    installment; what is left is owed back to the borrower.
    """
    if payoff.running is not None:
        running = installments[payoff.running]
        running.interest_minor = running.interest_paid_minor + payoff.accrued_minor
        for later in installments[payoff.running + 1 :]:
            later.interest_minor = later.interest_paid_minor
    loan = allocator.loan
    if loan.credit_minor > 0:
        credit = Allocator(allocator.session, loan, None, allocator.on, loan.credit_minor)
        for installment in open_only(installments):
            credit.pay(installment)
        applied = loan.credit_minor - credit.remaining
        if applied > 0:
            credit.record(None, AllocationComponent.CREDIT, -applied)
            loan.credit_minor -= applied
    for installment in open_only(installments):
        allocator.pay(installment)
    allocator.to_credit()


def apply_credit(*, session: Session, loan_id: int, on: date) -> int:
    """Apply the loan's held credit to what is due on or before `on`; the amount applied."""
    loan = lock_loan(session=session, loan_id=loan_id)
    require_active(loan, action="apply credit")
    refuse_back_dating(session, loan, on, field="on")
    installments = live_schedule(session, loan)
    applied = apply_credit_on(session, loan, installments, on)
    settle_if_done(loan, installments, on)
    session.flush()
    return applied


def apply_due_credit(*, session: Session, as_of: date) -> dict[int, int]:
    """The daily job: apply held credit to installments due by `as_of`, on every loan holding some.

    One query finds the active loans with credit (few: most products prepay principal instead);
    each is then locked and served by `apply_credit`. A loan changed after `as_of` is left for a
    later run (applying credit before that change would be back-dated). Returns {loan id: applied}
    for the loans where credit moved.
    """
    loan_ids = session.scalars(
        select(Loan.id)
        .where(Loan.status == LoanStatus.ACTIVE, Loan.credit_minor > 0)
        .order_by(Loan.id)
    ).all()
    applied: dict[int, int] = {}
    for loan_id in loan_ids:
        latest = last_change(session, loan_id)
        if latest is not None and as_of < latest[0]:
            continue
        amount = apply_credit(session=session, loan_id=loan_id, on=as_of)
        if amount:
            applied[loan_id] = amount
    return applied


def _clean_ref(external_ref: str | None) -> str | None:
    if external_ref is None:
        return None
    ref = external_ref.strip()
    if not ref or len(ref) > _MAX_REF:
        raise InvalidInput(f"external_ref must be 1 to {_MAX_REF} characters", field="external_ref")
    return ref


def _existing(session: Session, ref: str | None, loan: Loan, amount_minor: int) -> Payment | None:
    """The payment already posted under `ref` if this is a retry of it; Conflict if not."""
    if ref is None:
        return None
    found = session.scalars(select(Payment).where(Payment.external_ref == ref)).first()
    if found is None:
        return None
    if found.loan_id != loan.id or found.amount_minor != amount_minor:
        raise Conflict(
            f"external_ref {ref!r} was already used for another payment", field="external_ref"
        )
    return found


def _store_payment(session: Session, payment: Payment) -> None:
    session.add(payment)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        # A concurrent post under the same reference on another loan won the race.
        raise Conflict(
            f"external_ref {payment.external_ref!r} was already used for another payment",
            field="external_ref",
        ) from exc


def _allocate(session: Session, loan: Loan, payment: Payment) -> None:
    on = payment.received_on
    if break_overdue_settlement(session=session, loan=loan, on=on):
        session.flush()
    installments = live_schedule(session, loan)
    # Held credit pays what is due before the new money does.
    apply_credit_on(session, loan, installments, on)
    allocator = Allocator(session, loan, payment, on, payment.amount_minor)
    payoff = _payoff(loan, installments, on)
    if payment.amount_minor >= payoff.amount_minor:
        _pay_off(allocator, installments, payoff)
    else:
        pay_due(allocator, installments)
        _pay_next_upcoming(allocator, installments)
        if catalogue().get(loan.product).overpayment is Overpayment.REDUCE_PRINCIPAL:
            _reduce_principal(allocator, installments)
        else:
            allocator.to_credit()
    settle_if_done(loan, installments, on)


def post_payment(
    *,
    session: Session,
    loan_id: int,
    amount: Decimal,
    currency: str,
    received_on: date,
    external_ref: str | None = None,
    method: str = "unknown",
    today: date | None = None,
) -> Payment:
    """Record money received against a loan and allocate it; a retried `external_ref` is a no-op.

    With `today`, a `received_on` later than tomorrow is refused. A payment that covers the payoff
    on `received_on` settles the loan (interest stops at what has accrued).
    """
    loan = lock_loan(session=session, loan_id=loan_id)
    if check_currency(currency) != loan.currency:
        raise InvalidInput(
            f"the payment is in {currency.upper()} but loan {loan.id} is in {loan.currency}",
            field="currency",
        )
    amount_minor = positive_minor(amount, loan.currency, field="amount")
    ref = _clean_ref(external_ref)
    method = method.strip() or "unknown"
    if len(method) > _MAX_METHOD:
        raise InvalidInput(f"method must be at most {_MAX_METHOD} characters", field="method")
    # A retry is answered before the state checks: the first post may have settled the loan.
    retried = _existing(session, ref, loan, amount_minor)
    if retried is not None:
        return retried
    require_active(loan, action="post a payment")
    refuse_future(received_on, today=today, field="received_on")
    refuse_back_dating(session, loan, received_on, field="received_on")
    payment = Payment(
        loan_id=loan.id,
        external_ref=ref,
        amount_minor=amount_minor,
        currency=loan.currency,
        received_on=received_on,
        method=method,
    )
    _store_payment(session, payment)
    _allocate(session, loan, payment)
    session.flush()
    return payment


def list_payments(*, session: Session, loan_id: int) -> list[Payment]:
    """The payments posted on a loan, in the order they were received."""
    get_loan(session=session, loan_id=loan_id)
    return list(
        session.scalars(
            select(Payment)
            .where(Payment.loan_id == loan_id)
            .order_by(Payment.received_on, Payment.id)
        )
    )
