"""Where a loan stands on a date: what is owed, past due, next due, days past due, payoff.

One loan is read with its schedule and the allocations made up to the date. Whole-portfolio days
past due and buckets are one set-based query over open installments, never a loop over loans.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from sqlalchemy import (
    Date,
    Integer,
    Select,
    String,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement

from models import AllocationComponent, Installment, Loan, LoanStatus, PaymentAllocation
from servicing.errors import InvalidInput
from servicing.ledger import Period, accrued_interest, odd_first_period_days
from servicing.loans import get_loan
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
    # Unpaid fees of installments not yet due (an extension fee on a moved installment).
    future_fees_minor: int
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
        """What repays the loan in full on `as_of`; `post_payment` settles the loan on it."""
        total = (
            self.principal_outstanding_minor
            + self.interest_due_minor
            + self.fees_due_minor
            + self.future_fees_minor
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


def _status_on(loan: Loan, as_of: date) -> LoanStatus:
    """The loan's status on `as_of`: a loan settled or written off later was still active then."""
    if loan.closed_on is not None and as_of < loan.closed_on:
        return LoanStatus.ACTIVE
    return loan.status


def _net_of_credit(due: list[InstallmentPosition], credit_minor: int) -> list[int]:
    """Unpaid amount of each installment due by the day, less held credit, oldest covered first.

    Held credit is applied to installments as they fall due (the daily `apply_due_credit`, or the
    next payment); until it is, what it covers is not counted as past due.
    """
    left = max(credit_minor, 0)
    uncovered: list[int] = []
    for position in due:
        covered = min(left, max(position.unpaid_minor, 0))
        left -= covered
        uncovered.append(position.unpaid_minor - covered)
    return uncovered


def loan_balance(*, session: Session, loan_id: int, as_of: date) -> Balance:
    """The position of loan `loan_id` on `as_of`, counting payments applied by that day."""
    loan = get_loan(session=session, loan_id=loan_id)
    if as_of < loan.disbursed_on:
        raise InvalidInput("as_of is before the loan was disbursed", field="as_of")
    paid = _paid_as_of(session, loan.id, as_of)
    live = sorted(
        (i for i in loan.installments if i.superseded_by_arrangement_id is None),
        key=lambda i: (i.due_on, i.seq),
    )
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
        for i in live
    ]
    status = _status_on(loan, as_of)
    periods = [
        Period(p.due_on, p.interest_minor, p.interest_paid_minor, odd_first_period_days(loan, i))
        for p, i in zip(positions, live, strict=True)
    ]
    _, accrued = accrued_interest(periods, disbursed_on=loan.disbursed_on, as_of=as_of)
    credit = _credit_as_of(session, loan.id, as_of)
    due = [p for p in positions if p.due_on <= as_of]
    uncovered = _net_of_credit(due, credit)
    past = [(p, u) for p, u in zip(due, uncovered, strict=True) if p.due_on < as_of and u > 0]
    upcoming = [p for p in positions if p.due_on > as_of and p.unpaid_minor > 0]
    days_past_due = (as_of - past[0][0].due_on).days if past else 0
    return Balance(
        loan_id=loan.id,
        currency=loan.currency,
        as_of=as_of,
        status=status,
        principal_outstanding_minor=sum(
            p.principal_minor - p.principal_paid_minor for p in positions
        ),
        interest_due_minor=sum(p.interest_minor - p.interest_paid_minor for p in due),
        fees_due_minor=sum(p.fee_minor - p.fee_paid_minor for p in due),
        future_fees_minor=sum(
            p.fee_minor - p.fee_paid_minor for p in positions if p.due_on > as_of
        ),
        accrued_interest_minor=0 if status is LoanStatus.WRITTEN_OFF else accrued,
        past_due_minor=sum(u for _, u in past),
        due_today_minor=sum(u for p, u in zip(due, uncovered, strict=True) if p.due_on == as_of),
        next_due_on=upcoming[0].due_on if upcoming else None,
        next_due_minor=upcoming[0].unpaid_minor if upcoming else 0,
        days_past_due=days_past_due,
        bucket=bucket_for(days_past_due),
        credit_minor=credit,
        installments=tuple(positions),
    )


@dataclass(frozen=True)
class Delinquency:
    """Days past due and bucket of one loan on a date."""

    loan_id: int
    days_past_due: int
    bucket: Bucket


def _active_on(as_of: ColumnElement[date]) -> ColumnElement[bool]:
    """Loans active on `as_of`: active now, or settled or written off after that day."""
    return or_(Loan.status == LoanStatus.ACTIVE, Loan.closed_on > as_of)


def _oldest_unpaid_due() -> Select[int, int, int]:
    """Per loan active on :as_of with something unpaid past due: days past due, credit held.

    The credit is a correlated sum over the loan's CREDIT allocations (found through the
    allocations' loan index), so only late loans pay for it.
    """
    as_of = bindparam("as_of", type_=Date)
    credit = (
        select(func.coalesce(func.sum(PaymentAllocation.amount_minor), 0))
        .where(
            PaymentAllocation.loan_id == Installment.loan_id,
            PaymentAllocation.component == AllocationComponent.CREDIT,
            PaymentAllocation.applied_on <= as_of,
        )
        .scalar_subquery()
    )
    return (
        select(
            Installment.loan_id.label("loan_id"),
            days_between(func.min(Installment.due_on), as_of).label("days_past_due"),
            credit.label("credit_minor"),
        )
        .join(Loan, Loan.id == Installment.loan_id)
        .where(
            _active_on(as_of),
            Installment.superseded_by_arrangement_id.is_(None),
            Installment.due_on < as_of,
            or_(Installment.paid_on.is_(None), Installment.paid_on > as_of),
        )
        .group_by(Installment.loan_id)
    )


def _days_past_due_net_of_credit(
    session: Session, loan_ids: list[int], as_of: date
) -> dict[int, int]:
    """Days past due of late loans holding credit on `as_of`, the credit covering their oldest
    arrears first (the rule of `loan_balance`), in two queries for all of them."""
    if not loan_ids:
        return {}
    installments = session.execute(
        select(
            Installment.id,
            Installment.loan_id,
            Installment.due_on,
            Installment.principal_minor + Installment.interest_minor + Installment.fee_minor,
        )
        .where(
            Installment.loan_id.in_(loan_ids),
            Installment.superseded_by_arrangement_id.is_(None),
            Installment.due_on < as_of,
        )
        .order_by(Installment.loan_id, Installment.due_on, Installment.seq)
    ).all()
    paid: dict[int | None, int] = defaultdict(int)
    credit: dict[int, int] = defaultdict(int)
    for loan_id, installment_id, component, amount in session.execute(
        select(
            PaymentAllocation.loan_id,
            PaymentAllocation.installment_id,
            PaymentAllocation.component,
            func.sum(PaymentAllocation.amount_minor),
        )
        .where(PaymentAllocation.loan_id.in_(loan_ids), PaymentAllocation.applied_on <= as_of)
        .group_by(
            PaymentAllocation.loan_id, PaymentAllocation.installment_id, PaymentAllocation.component
        )
    ):
        if AllocationComponent(component) is AllocationComponent.CREDIT:
            credit[int(loan_id)] += int(amount)
        else:
            paid[installment_id] += int(amount)
    days: dict[int, int] = {}
    left = dict(credit)
    for installment_id, loan_id, due_on, due_minor in installments:
        unpaid = int(due_minor) - paid[installment_id]
        covered = min(max(left.get(loan_id, 0), 0), max(unpaid, 0))
        left[loan_id] = left.get(loan_id, 0) - covered
        if unpaid - covered > 0 and loan_id not in days:
            days[loan_id] = (as_of - due_on).days
    return {loan_id: days.get(loan_id, 0) for loan_id in loan_ids}


def delinquent_loans(*, session: Session, as_of: date) -> Iterator[Delinquency]:
    """Every loan active on `as_of` with something past due that day, by one set-based query.

    Late loans holding credit that day (few) are corrected afterwards: credit covers arrears.
    """
    held: list[int] = []
    for loan_id, days, credit in session.execute(_oldest_unpaid_due(), {"as_of": as_of}).all():
        if int(credit) > 0:
            held.append(int(loan_id))
        else:
            yield Delinquency(int(loan_id), int(days), bucket_for(int(days)))
    for loan_id, days in _days_past_due_net_of_credit(session, held, as_of).items():
        if days > 0:
            yield Delinquency(loan_id, days, bucket_for(days))


def bucket_counts(*, session: Session, as_of: date) -> dict[Bucket, int]:
    """How many loans active on `as_of` are in each bucket, computed in the database.

    One statement counts the late loans per bucket and lists, apart, the late loans holding credit
    that day (few); those are then placed by what their credit leaves past due.
    """
    late = _oldest_unpaid_due().cte("late")
    dpd = late.c.days_past_due
    label = case(
        (dpd <= 30, Bucket.DPD_1_30.value),
        (dpd <= 60, Bucket.DPD_31_60.value),
        (dpd <= 90, Bucket.DPD_61_90.value),
        else_=Bucket.DPD_90_PLUS.value,
    )
    counted = (
        select(label.label("bucket"), func.count().label("n"), literal(None, Integer).label("id"))
        .where(late.c.credit_minor <= 0)
        .group_by(label)
    )
    held = select(
        literal(None, String).label("bucket"), literal(0).label("n"), late.c.loan_id.label("id")
    ).where(late.c.credit_minor > 0)
    counts = dict.fromkeys(Bucket, 0)
    credit_held: list[int] = []
    for name, count, loan_id in session.execute(union_all(counted, held), {"as_of": as_of}):
        if loan_id is None:
            counts[Bucket(name)] = int(count)
        else:
            credit_held.append(int(loan_id))
    for days in _days_past_due_net_of_credit(session, credit_held, as_of).values():
        if days > 0:
            counts[bucket_for(days)] += 1
    active = session.scalar(
        select(func.count())
        .select_from(Loan)
        .where(_active_on(bindparam("as_of", as_of, type_=Date)))
    )
    counts[Bucket.CURRENT] = int(active or 0) - sum(
        n for bucket, n in counts.items() if bucket is not Bucket.CURRENT
    )
    return counts
