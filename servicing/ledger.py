"""The ledger core shared by payments, credit, arrangements and forbearance.

- `Allocator` moves one pot of money (a payment, or held credit) into allocation rows, keeping each
  installment's paid columns in step with its rows.
- `accrued_interest` is the one definition of interest earned in the running period, used by
  balances, payoff and restructuring alike.
- `refuse_back_dating` and `refuse_future` are the one place that says which days a change to a
  loan may be dated: never before the loan's latest change, never after tomorrow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, localcontext

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import (
    AllocationComponent,
    Arrangement,
    Extension,
    Installment,
    Loan,
    LoanStatus,
    Payment,
    PaymentAllocation,
)
from servicing.calendar import add_months
from servicing.errors import Conflict, InvalidInput
from servicing.money import round_half_up
from servicing.schedule import period_interest

# (component, due column, paid column) in waterfall order.
COMPONENTS: tuple[tuple[AllocationComponent, str, str], ...] = (
    (AllocationComponent.FEE, "fee_minor", "fee_paid_minor"),
    (AllocationComponent.INTEREST, "interest_minor", "interest_paid_minor"),
    (AllocationComponent.PRINCIPAL, "principal_minor", "principal_paid_minor"),
)


def owed(installment: Installment, due: str, paid: str) -> int:
    """What is still unpaid of one component of an installment."""
    return int(getattr(installment, due)) - int(getattr(installment, paid))


def unpaid(installment: Installment) -> int:
    """What is still unpaid of an installment, all components."""
    return sum(owed(installment, due, paid) for _, due, paid in COMPONENTS)


def close_if_paid(installment: Installment, on: date) -> None:
    """Stamp `paid_on` the day nothing is left unpaid."""
    if installment.paid_on is None and unpaid(installment) == 0:
        installment.paid_on = on


@dataclass
class Allocator:
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
        amount = min(owed(installment, due, paid), self.remaining)
        if amount <= 0:
            return
        setattr(installment, paid, int(getattr(installment, paid)) + amount)
        self.record(installment, component, amount)
        self.remaining -= amount

    def pay(self, installment: Installment) -> None:
        """Fees, then interest, then principal of one installment."""
        for component, due, paid in COMPONENTS:
            self.take(installment, component, due, paid)
        close_if_paid(installment, self.on)

    def to_credit(self) -> None:
        """Hold what is left for the borrower."""
        if self.remaining > 0:
            self.record(None, AllocationComponent.CREDIT, self.remaining)
            self.loan.credit_minor += self.remaining
            self.remaining = 0


def live_schedule(session: Session, loan: Loan) -> list[Installment]:
    """Live (not superseded) installments, oldest due first, read fresh after the lock."""
    statement = (
        select(Installment)
        .where(Installment.loan_id == loan.id, Installment.superseded_by_arrangement_id.is_(None))
        .order_by(Installment.due_on, Installment.seq)
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(statement))


def open_only(installments: list[Installment]) -> list[Installment]:
    """The installments not yet paid in full."""
    return [i for i in installments if i.paid_on is None]


def pay_due(allocator: Allocator, installments: list[Installment]) -> None:
    """Every installment due on or before the allocator's day, oldest first."""
    for installment in open_only(installments):
        if installment.due_on > allocator.on or allocator.remaining <= 0:
            return
        allocator.pay(installment)


def apply_credit_on(session: Session, loan: Loan, installments: list[Installment], on: date) -> int:
    """Apply held credit to what is due on or before `on`; the amount applied."""
    if loan.credit_minor <= 0:
        return 0
    allocator = Allocator(session, loan, None, on, loan.credit_minor)
    pay_due(allocator, installments)
    applied = loan.credit_minor - allocator.remaining
    if applied > 0:
        # The negative CREDIT row balances the component rows: held money changed place, no more.
        allocator.record(None, AllocationComponent.CREDIT, -applied)
        loan.credit_minor -= applied
    return applied


def settle_if_done(loan: Loan, installments: list[Installment], on: date) -> None:
    """A loan on which nothing is owed any more is settled that day."""
    if any(unpaid(i) > 0 for i in installments):
        return
    for installment in installments:
        close_if_paid(installment, on)
    loan.status = LoanStatus.SETTLED
    loan.closed_on = on


# --- interest ---------------------------------------------------------------------------------


def odd_first_period_days(loan: Loan, installment: Installment) -> int | None:
    """Days of the loan's first period when it is not exactly one month, else None.

    Only the loan's own first installment (not an arrangement's) can have an odd period.
    """
    if installment.seq != 1 or installment.arrangement_id is not None:
        return None
    if installment.original_due_on == add_months(loan.disbursed_on, 1):
        return None
    return (installment.original_due_on - loan.disbursed_on).days


def installment_interest(loan: Loan, installment: Installment, outstanding_minor: int) -> int:
    """The interest one installment charges on `outstanding_minor` (odd first period by days)."""
    return period_interest(
        outstanding_minor, loan.annual_rate, days=odd_first_period_days(loan, installment)
    )


@dataclass(frozen=True)
class Period:
    """What accrual needs to know of one live installment."""

    due_on: date
    interest_minor: int
    interest_paid_minor: int
    odd_days: int | None  # the length of an odd first period, else None (a month)


def period_of(loan: Loan, installment: Installment) -> Period:
    """The accrual view of an installment row."""
    return Period(
        installment.due_on,
        installment.interest_minor,
        installment.interest_paid_minor,
        odd_first_period_days(loan, installment),
    )


def accrued_interest(
    periods: list[Period], *, disbursed_on: date, as_of: date
) -> tuple[int | None, int]:
    """(index of the installment running on `as_of`, interest accrued on it and not yet paid).

    The running installment is the first one due after `as_of`. Its interest is earned evenly over
    its period: from the previous due date (or disbursement), but never longer than its nominal
    length (a month, or the odd first period) before its due date, so a deferral adds no interest.
    Interest already paid on it counts against what was earned.
    """
    index = next((k for k, p in enumerate(periods) if p.due_on > as_of), None)
    if index is None:
        return None, 0
    current = periods[index]
    start = periods[index - 1].due_on if index > 0 else disbursed_on
    if current.odd_days is not None:
        nominal_start = current.due_on - timedelta(days=current.odd_days)
    else:
        nominal_start = add_months(current.due_on, -1)
    start = max(start, nominal_start)
    period_days = (current.due_on - start).days
    elapsed = max((as_of - start).days, 0)
    if period_days <= 0 or elapsed == 0:
        return index, 0
    with localcontext() as ctx:
        ctx.prec = 50
        earned = round_half_up(Decimal(current.interest_minor * elapsed) / period_days)
    return index, max(min(earned, current.interest_minor) - current.interest_paid_minor, 0)


# --- which days a change may be dated -----------------------------------------------------------


def last_money_day(session: Session, loan_id: int) -> date | None:
    """The latest day money was applied on the loan (payments and credit applications)."""
    latest = session.scalar(
        select(func.max(PaymentAllocation.applied_on)).where(PaymentAllocation.loan_id == loan_id)
    )
    return latest if isinstance(latest, date) else None


def last_change(session: Session, loan_id: int) -> tuple[date, str] | None:
    """The latest day the loan changed, and what changed: money, an extension, an arrangement."""
    candidates: list[tuple[date, str]] = []
    money = last_money_day(session, loan_id)
    if money is not None:
        candidates.append((money, "the latest payment on this loan, applied on"))
    extended = session.scalar(
        select(func.max(Extension.granted_on)).where(Extension.loan_id == loan_id)
    )
    if isinstance(extended, date):
        candidates.append((extended, "an extension granted on this loan on"))
    arranged = session.scalar(
        select(func.max(Arrangement.started_on)).where(Arrangement.loan_id == loan_id)
    )
    if isinstance(arranged, date):
        candidates.append((arranged, "an arrangement started on this loan on"))
    return max(candidates, key=lambda c: c[0]) if candidates else None


def refuse_back_dating(session: Session, loan: Loan, on: date, *, field: str) -> None:
    """Refuse a change dated before disbursement or before the loan's latest change.

    Changes are applied in date order; one dated before a later change would need that change
    reversed and re-applied, and reversals are not built.
    """
    if on < loan.disbursed_on:
        raise InvalidInput(
            f"{field} {on.isoformat()} is before the loan was disbursed on"
            f" {loan.disbursed_on.isoformat()}",
            field=field,
        )
    latest = last_change(session, loan.id)
    if latest is not None and on < latest[0]:
        day, what = latest
        raise Conflict(
            f"{field} {on.isoformat()} is before {what} {day.isoformat()}; going back before it"
            " would need a reversal of it and a re-application, and reversals are not built",
            field=field,
        )


def refuse_future(day: date, *, today: date | None, field: str) -> None:
    """Refuse a day later than tomorrow (time zones put the lender's today up to a day ahead)."""
    if today is None:
        return
    latest = today + timedelta(days=1)
    if day > latest:
        raise InvalidInput(
            f"{field} {day.isoformat()} is in the future; the latest allowed is"
            f" {latest.isoformat()}",
            field=field,
        )


_MAX_CHANNEL = 16


def check_channel(channel: str) -> str:
    """The channel a borrower used, as stored: lower case, 1 to 16 characters."""
    cleaned = channel.strip().lower()
    if not cleaned or len(cleaned) > _MAX_CHANNEL:
        raise InvalidInput(f"channel must be 1 to {_MAX_CHANNEL} characters", field="channel")
    return cleaned
