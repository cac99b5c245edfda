"""Payments: posting money received against a loan and allocating every unit of it.

The waterfall (DESIGN.md) pays fees, then interest, then principal, oldest installment first:
every installment due on or before the day the money arrived, then the next upcoming one (paying
the next installment early is not an overpayment). Whatever is left is an overpayment, handled as
the loan's product says: prepaid principal from the last installment back (shortening the term), or
held as credit for the borrower.

Every unit moved is a `PaymentAllocation` row, so for each loan
    sum(payments) == sum(allocations), sum(CREDIT allocations) == loan.credit_minor,
and each installment's paid columns equal its non-credit allocations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import (
    AllocationComponent,
    Installment,
    Loan,
    LoanStatus,
    Payment,
    PaymentAllocation,
)
from servicing.errors import Conflict, InvalidInput
from servicing.loans import get_loan, lock_loan, require_active
from servicing.money import check_currency, positive_minor, round_half_up
from servicing.products import Overpayment, catalogue
from servicing.schedule import MONTHS_PER_YEAR

# (component, due column, paid column) in waterfall order.
_COMPONENTS: tuple[tuple[AllocationComponent, str, str], ...] = (
    (AllocationComponent.FEE, "fee_minor", "fee_paid_minor"),
    (AllocationComponent.INTEREST, "interest_minor", "interest_paid_minor"),
    (AllocationComponent.PRINCIPAL, "principal_minor", "principal_paid_minor"),
)
_MAX_REF = 64
_MAX_METHOD = 32


def _owed(installment: Installment, due: str, paid: str) -> int:
    return int(getattr(installment, due)) - int(getattr(installment, paid))


def _unpaid(installment: Installment) -> int:
    return sum(_owed(installment, due, paid) for _, due, paid in _COMPONENTS)


@dataclass
class _Allocator:
    """One pot of money (a payment, or held credit) being moved into allocation rows."""

    session: Session
    loan: Loan
    payment: Payment | None
    on: date
    remaining: int

    def record(
        self, installment: Installment | None, component: AllocationComponent, amount: int
    ) -> None:
        """One allocation row; the caller keeps the installment's paid columns in step."""
        self.session.add(
            PaymentAllocation(
                payment=self.payment,
                loan_id=self.loan.id,
                installment_id=None if installment is None else installment.id,
                component=component,
                amount_minor=amount,
                applied_on=self.on,
            )
        )

    def take(
        self, installment: Installment, component: AllocationComponent, due: str, paid: str
    ) -> None:
        """As much of one component of one installment as the money left covers."""
        amount = min(_owed(installment, due, paid), self.remaining)
        if amount <= 0:
            return
        setattr(installment, paid, int(getattr(installment, paid)) + amount)
        self.record(installment, component, amount)
        self.remaining -= amount

    def pay(self, installment: Installment) -> None:
        """Fees, then interest, then principal of one installment."""
        for component, due, paid in _COMPONENTS:
            self.take(installment, component, due, paid)
        _close_if_paid(installment, self.on)

    def to_credit(self) -> None:
        """Hold what is left for the borrower."""
        if self.remaining > 0:
            self.record(None, AllocationComponent.CREDIT, self.remaining)
            self.loan.credit_minor += self.remaining
            self.remaining = 0


def _close_if_paid(installment: Installment, on: date) -> None:
    if installment.paid_on is None and _unpaid(installment) == 0:
        installment.paid_on = on


def _schedule(session: Session, loan: Loan) -> list[Installment]:
    """Live (not superseded) installments, oldest due first, read fresh after the lock."""
    statement = (
        select(Installment)
        .where(Installment.loan_id == loan.id, Installment.superseded_by_arrangement_id.is_(None))
        .order_by(Installment.due_on, Installment.seq)
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(statement))


def _open(installments: list[Installment]) -> list[Installment]:
    return [i for i in installments if i.paid_on is None]


def _pay_due(allocator: _Allocator, installments: list[Installment]) -> None:
    for installment in _open(installments):
        if installment.due_on > allocator.on or allocator.remaining <= 0:
            return
        allocator.pay(installment)


def _pay_next_upcoming(allocator: _Allocator, installments: list[Installment]) -> None:
    upcoming = [i for i in _open(installments) if i.due_on > allocator.on and _unpaid(i) > 0]
    if upcoming and allocator.remaining > 0:
        allocator.pay(upcoming[0])


def _reprice_interest(loan: Loan, future: list[Installment]) -> None:
    """Interest of each later installment on the principal still outstanding before it.

    Installments whose interest is partly paid keep their terms: their period's charge is settled.
    """
    outstanding = sum(_owed(i, "principal_minor", "principal_paid_minor") for i in future)
    for installment in future:
        if installment.interest_paid_minor == 0:
            installment.interest_minor = round_half_up(
                Decimal(outstanding) * loan.annual_rate / MONTHS_PER_YEAR
            )
        outstanding -= _owed(installment, "principal_minor", "principal_paid_minor")


def _reduce_principal(allocator: _Allocator, installments: list[Installment]) -> None:
    """Prepay principal from the last installment back, so the term shortens, not the payment."""
    if allocator.remaining <= 0:
        return
    future = _open(installments)
    for installment in reversed(future):
        allocator.take(
            installment, AllocationComponent.PRINCIPAL, "principal_minor", "principal_paid_minor"
        )
    _reprice_interest(allocator.loan, future)
    for installment in future:
        _close_if_paid(installment, allocator.on)
    # Money beyond every unit of principal is owed back to the borrower.
    allocator.to_credit()


def _settle_if_done(loan: Loan, installments: list[Installment], on: date) -> None:
    """A loan on which nothing is owed any more is settled that day."""
    if any(_unpaid(i) > 0 for i in installments):
        return
    for installment in installments:
        _close_if_paid(installment, on)
    loan.status = LoanStatus.SETTLED
    loan.closed_on = on


def _last_money_day(session: Session, loan_id: int) -> date | None:
    """The latest day money was applied on the loan (payments and credit applications)."""
    latest = session.scalar(
        select(func.max(PaymentAllocation.applied_on)).where(PaymentAllocation.loan_id == loan_id)
    )
    return latest if isinstance(latest, date) else None


def _refuse_back_dating(session: Session, loan: Loan, on: date, *, field: str) -> None:
    if on < loan.disbursed_on:
        raise InvalidInput(
            f"{field} {on.isoformat()} is before the loan was disbursed on"
            f" {loan.disbursed_on.isoformat()}",
            field=field,
        )
    latest = _last_money_day(session, loan.id)
    if latest is not None and on < latest:
        raise Conflict(
            f"{field} {on.isoformat()} is before the latest payment on this loan, applied on"
            f" {latest.isoformat()}; a back-dated payment would need that one reversed and"
            " re-applied, and reversals are not built",
            field=field,
        )


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


def _apply_credit_on(
    session: Session, loan: Loan, installments: list[Installment], on: date
) -> int:
    if loan.credit_minor <= 0:
        return 0
    allocator = _Allocator(session, loan, None, on, loan.credit_minor)
    _pay_due(allocator, installments)
    applied = loan.credit_minor - allocator.remaining
    if applied > 0:
        # The negative CREDIT row balances the component rows: held money changed place, no more.
        allocator.record(None, AllocationComponent.CREDIT, -applied)
        loan.credit_minor -= applied
    return applied


def apply_credit(*, session: Session, loan_id: int, on: date) -> int:
    """Apply the loan's held credit to what is due on or before `on`; the amount applied."""
    loan = lock_loan(session=session, loan_id=loan_id)
    require_active(loan, action="apply credit")
    _refuse_back_dating(session, loan, on, field="on")
    installments = _schedule(session, loan)
    applied = _apply_credit_on(session, loan, installments, on)
    _settle_if_done(loan, installments, on)
    session.flush()
    return applied


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
    mode = catalogue().get(loan.product).overpayment
    installments = _schedule(session, loan)
    if mode is Overpayment.HOLD_CREDIT:
        _apply_credit_on(session, loan, installments, payment.received_on)
    allocator = _Allocator(session, loan, payment, payment.received_on, payment.amount_minor)
    _pay_due(allocator, installments)
    _pay_next_upcoming(allocator, installments)
    if mode is Overpayment.REDUCE_PRINCIPAL:
        _reduce_principal(allocator, installments)
    else:
        allocator.to_credit()
    _settle_if_done(loan, installments, payment.received_on)


def post_payment(
    *,
    session: Session,
    loan_id: int,
    amount: Decimal,
    currency: str,
    received_on: date,
    external_ref: str | None = None,
    method: str = "unknown",
) -> Payment:
    """Record money received against a loan and allocate it; a retried `external_ref` is a no-op."""
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
    _refuse_back_dating(session, loan, received_on, field="received_on")
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
