"""Where a loan stands on a date: what is owed, past due, next due, days past due, payoff.

One loan is read with its schedule and the allocations made up to the date. Whole-portfolio days
past due and buckets are one set-based query over open installments, never a loop over loans.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Date, Select, bindparam, case, func, or_, select
from sqlalchemy.orm import Session

from models import AllocationComponent, Installment, Loan, LoanStatus, PaymentAllocation
from servicing.calendar import add_months
from servicing.errors import InvalidInput
from servicing.loans import get_loan
from servicing.money import round_half_up
from servicing.sql import days_between


class Bucket(StrEnum):
    """Delinquency bucket by days past due."""

    CURRENT = "current"
    DPD_1_30 = "1-30"
    DPD_31_60 = "31-60"
    DPD_61_90 = "61-90"
    DPD_90_PLUS = "90+"


def bucket_for(days_past_due: int) -> Bucket:
    """The bucket a number of days past due falls in."""
    if days_past_due <= 0:
        return Bucket.CURRENT
    if days_past_due <= 30:
        return Bucket.DPD_1_30
    if days_past_due <= 60:
        return Bucket.DPD_31_60
    if days_past_due <= 90:
        return Bucket.DPD_61_90
    return Bucket.DPD_90_PLUS


@dataclass(frozen=True)
class InstallmentPosition:
    """One installment as of a date: what it asks for and what was paid by then."""

    seq: int
    due_on: date
    principal_minor: int
    interest_minor: int
    fee_minor: int
    principal_paid_minor: int
    interest_paid_minor: int
    fee_paid_minor: int

    @property
    def due_minor(self) -> int:
        return self.principal_minor + self.interest_minor + self.fee_minor

    @property
    def paid_minor(self) -> int:
        return self.principal_paid_minor + self.interest_paid_minor + self.fee_paid_minor

    @property
    def unpaid_minor(self) -> int:
        return self.due_minor - self.paid_minor


@dataclass(frozen=True)
class Balance:
    """A loan's position on `as_of`, in minor units of `currency`."""

    loan_id: int
    currency: str
    as_of: date
    status: LoanStatus
    principal_outstanding_minor: int
    interest_due_minor: int
    fees_due_minor: int
    accrued_interest_minor: int
    past_due_minor: int
    due_today_minor: int
    next_due_on: date | None
    next_due_minor: int
    days_past_due: int
    bucket: Bucket
    credit_minor: int
    installments: tuple[InstallmentPosition, ...]

    @property
    def payoff_minor(self) -> int:
        """What repays the loan in full on `as_of`."""
        total = (
            self.principal_outstanding_minor
            + self.interest_due_minor
            + self.fees_due_minor
            + self.accrued_interest_minor
            - self.credit_minor
        )
        return max(total, 0)


def _paid_as_of(session: Session, loan_id: int, as_of: date) -> dict[int, dict[str, int]]:
    rows = session.execute(
        select(
            PaymentAllocation.installment_id,
            PaymentAllocation.component,
            func.sum(PaymentAllocation.amount_minor),
        )
        .where(
            PaymentAllocation.loan_id == loan_id,
            PaymentAllocation.installment_id.is_not(None),
            PaymentAllocation.applied_on <= as_of,
        )
        .group_by(PaymentAllocation.installment_id, PaymentAllocation.component)
    )
    paid: dict[int, dict[str, int]] = defaultdict(dict)
    for installment_id, component, amount in rows:
        paid[int(installment_id or 0)][AllocationComponent(component).value] = int(amount)
    return paid


def _credit_as_of(session: Session, loan_id: int, as_of: date) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(PaymentAllocation.amount_minor), 0)).where(
            PaymentAllocation.loan_id == loan_id,
            PaymentAllocation.component == AllocationComponent.CREDIT,
            PaymentAllocation.applied_on <= as_of,
        )
    )
    return int(total or 0)


def _accrued(positions: list[InstallmentPosition], loan: Loan, as_of: date) -> int:
    """Interest earned so far in the period running on `as_of`, pro rata by days."""
    upcoming = [p for p in positions if p.due_on > as_of]
    if not upcoming:
        return 0
    current = upcoming[0]
    earlier = [p.due_on for p in positions if p.due_on <= as_of]
    period_start = max(earlier) if earlier else loan.disbursed_on
    period_start = max(period_start, add_months(current.due_on, -1))
    period_days = (current.due_on - period_start).days
    elapsed = max((as_of - period_start).days, 0)
    if period_days <= 0 or elapsed == 0:
        return 0
    unpaid_interest = current.interest_minor - current.interest_paid_minor
    return min(
        round_half_up(Decimal(current.interest_minor * elapsed) / period_days), unpaid_interest
    )


def loan_balance(*, session: Session, loan_id: int, as_of: date) -> Balance:
    """The position of loan `loan_id` on `as_of`, counting payments applied by that day."""
    loan = get_loan(session=session, loan_id=loan_id)
    if as_of < loan.disbursed_on:
        raise InvalidInput("as_of is before the loan was disbursed", field="as_of")
    paid = _paid_as_of(session, loan.id, as_of)
    positions = [
        InstallmentPosition(
            seq=i.seq,
            due_on=i.due_on,
            principal_minor=i.principal_minor,
            interest_minor=i.interest_minor,
            fee_minor=i.fee_minor,
            principal_paid_minor=paid[i.id].get("principal", 0),
            interest_paid_minor=paid[i.id].get("interest", 0),
            fee_paid_minor=paid[i.id].get("fee", 0),
        )
        for i in loan.installments
        if i.superseded_by_arrangement_id is None
    ]
    due = [p for p in positions if p.due_on <= as_of]
    past = [p for p in due if p.due_on < as_of and p.unpaid_minor > 0]
    upcoming = [p for p in positions if p.due_on > as_of and p.unpaid_minor > 0]
    days_past_due = (as_of - past[0].due_on).days if past else 0
    written_off = loan.status is LoanStatus.WRITTEN_OFF
    return Balance(
        loan_id=loan.id,
        currency=loan.currency,
        as_of=as_of,
        status=loan.status,
        principal_outstanding_minor=sum(
            p.principal_minor - p.principal_paid_minor for p in positions
        ),
        interest_due_minor=sum(p.interest_minor - p.interest_paid_minor for p in due),
        fees_due_minor=sum(p.fee_minor - p.fee_paid_minor for p in due),
        accrued_interest_minor=0 if written_off else _accrued(positions, loan, as_of),
        past_due_minor=sum(p.unpaid_minor for p in past),
        due_today_minor=sum(p.unpaid_minor for p in due if p.due_on == as_of),
        next_due_on=upcoming[0].due_on if upcoming else None,
        next_due_minor=upcoming[0].unpaid_minor if upcoming else 0,
        days_past_due=days_past_due,
        bucket=bucket_for(days_past_due),
        credit_minor=_credit_as_of(session, loan.id, as_of),
        installments=tuple(positions),
    )


@dataclass(frozen=True)
class Delinquency:
    """Days past due and bucket of one loan on a date."""

    loan_id: int
    days_past_due: int
    bucket: Bucket


def _oldest_unpaid_due() -> Select[int, int]:
    as_of = bindparam("as_of", type_=Date)
    return (
        select(
            Installment.loan_id.label("loan_id"),
            days_between(func.min(Installment.due_on), as_of).label("days_past_due"),
        )
        .join(Loan, Loan.id == Installment.loan_id)
        .where(
            Loan.status == LoanStatus.ACTIVE,
            Installment.superseded_by_arrangement_id.is_(None),
            Installment.due_on < as_of,
            or_(Installment.paid_on.is_(None), Installment.paid_on > as_of),
        )
        .group_by(Installment.loan_id)
    )


def delinquent_loans(*, session: Session, as_of: date) -> Iterator[Delinquency]:
    """Every active loan with something past due on `as_of`, by one set-based query."""
    rows = session.execute(_oldest_unpaid_due(), {"as_of": as_of})
    for loan_id, days in rows:
        yield Delinquency(int(loan_id), int(days), bucket_for(int(days)))


def bucket_counts(*, session: Session, as_of: date) -> dict[Bucket, int]:
    """How many active loans are in each bucket on `as_of`, computed in the database."""
    late = _oldest_unpaid_due().subquery()
    dpd = late.c.days_past_due
    label = case(
        (dpd <= 30, Bucket.DPD_1_30.value),
        (dpd <= 60, Bucket.DPD_31_60.value),
        (dpd <= 90, Bucket.DPD_61_90.value),
        else_=Bucket.DPD_90_PLUS.value,
    )
    counts = dict.fromkeys(Bucket, 0)
    for name, count in session.execute(
        select(label, func.count()).select_from(late).group_by(label), {"as_of": as_of}
    ):
        counts[Bucket(name)] = int(count)
    active = session.scalar(
        select(func.count()).select_from(Loan).where(Loan.status == LoanStatus.ACTIVE)
    )
    counts[Bucket.CURRENT] = int(active or 0) - sum(counts.values())
    return counts
