"""Loans: booking one with its generated schedule, reading it, locking it, writing it off."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import Amortization, Installment, Loan, LoanStatus, is_postgresql
from servicing.borrowers import get_borrower
from servicing.calendar import add_months
from servicing.errors import Conflict, InvalidInput, NotFound
from servicing.money import check_currency, decimal_places, positive_minor
from servicing.products import catalogue
from servicing.schedule import ScheduledInstallment, check_terms, generate_schedule


@dataclass(frozen=True)
class NewLoan:
    """What the lender tells Settle about a disbursed loan."""

    external_ref: str
    borrower_id: int
    principal: Decimal
    currency: str
    annual_rate: Decimal
    term_months: int
    disbursed_on: date
    product: str | None = None
    first_due_on: date | None = None
    amortization: Amortization | None = None


RATE_PLACES = 6  # the scale of the annual_rate columns


def parse_rate(value: Decimal | str | float, *, field: str = "annual_rate") -> Decimal:
    """An annual rate as an exact decimal fraction (at most six decimal places, never rounded)."""
    try:
        rate = Decimal(str(value))
    except InvalidOperation as exc:
        raise InvalidInput(f"{value!r} is not a rate", field=field) from exc
    if rate.is_finite() and decimal_places(rate) > RATE_PLACES:
        raise InvalidInput(
            f"{field} {value} has more than {RATE_PLACES} decimal places", field=field
        )
    return rate


def installment_rows(
    schedule: list[ScheduledInstallment], *, start_seq: int = 1
) -> list[Installment]:
    """Unsaved installment rows for a generated schedule."""
    return [
        Installment(
            seq=start_seq + item.seq - 1,
            due_on=item.due_on,
            original_due_on=item.due_on,
            principal_minor=item.principal_minor,
            interest_minor=item.interest_minor,
            fee_minor=0,
            principal_paid_minor=0,
            interest_paid_minor=0,
            fee_paid_minor=0,
            # An installment that asks for nothing (tiny loans, long terms) is paid by definition.
            paid_on=item.due_on if item.total_minor == 0 else None,
        )
        for item in schedule
    ]


def create_loan(*, session: Session, loan: NewLoan, today: date | None = None) -> Loan:
    """Book a disbursed loan and generate its schedule.

    With `today`, a disbursement later than tomorrow is refused.
    """
    get_borrower(session=session, borrower_id=loan.borrower_id)
    if today is not None and loan.disbursed_on > today + timedelta(days=1):
        raise InvalidInput(
            f"disbursed_on {loan.disbursed_on.isoformat()} is in the future", field="disbursed_on"
        )
    if not loan.external_ref.strip():
        raise InvalidInput("external_ref must not be empty", field="external_ref")
    product = catalogue().get(loan.product)
    currency = check_currency(loan.currency)
    principal_minor = positive_minor(loan.principal, currency, field="principal")
    rate = parse_rate(loan.annual_rate)
    check_terms(principal_minor=principal_minor, annual_rate=rate, term_months=loan.term_months)
    first_due_on = loan.first_due_on or add_months(loan.disbursed_on, 1)
    if first_due_on <= loan.disbursed_on:
        raise InvalidInput("first_due_on must be after disbursed_on", field="first_due_on")
    if first_due_on > add_months(loan.disbursed_on, 2):
        raise InvalidInput(
            "first_due_on must be within two months of disbursed_on", field="first_due_on"
        )
    amortization = loan.amortization or product.amortization
    # A first period that is not exactly one month is charged interest for its actual days.
    odd_days = (
        None
        if first_due_on == add_months(loan.disbursed_on, 1)
        else (first_due_on - loan.disbursed_on).days
    )
    schedule = generate_schedule(
        principal_minor=principal_minor,
        annual_rate=rate,
        term_months=loan.term_months,
        first_due_on=first_due_on,
        amortization=amortization,
        first_period_days=odd_days,
    )
    row = Loan(
        external_ref=loan.external_ref.strip(),
        borrower_id=loan.borrower_id,
        product=product.code,
        currency=currency,
        principal_minor=principal_minor,
        annual_rate=rate,
        term_months=loan.term_months,
        amortization=amortization,
        disbursed_on=loan.disbursed_on,
        status=LoanStatus.ACTIVE,
        credit_minor=0,
        installments=installment_rows(schedule),
    )
    try:
        # Added inside the savepoint, so a refused row leaves the session as it was.
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"a loan with external_ref {loan.external_ref!r} exists", field="external_ref"
        ) from exc
    return row


def get_loan(*, session: Session, loan_id: int) -> Loan:
    """The loan `loan_id`, or `NotFound`."""
    row = session.get(Loan, loan_id)
    if row is None:
        raise NotFound(f"no loan with id {loan_id}", field="loan_id")
    return row


def get_loan_by_ref(*, session: Session, external_ref: str) -> Loan:
    """The loan the lender knows as `external_ref`, or `NotFound`."""
    row = session.scalars(select(Loan).where(Loan.external_ref == external_ref)).first()
    if row is None:
        raise NotFound(f"no loan with external_ref {external_ref!r}", field="loan_ref")
    return row


def lock_loan(*, session: Session, loan_id: int) -> Loan:
    """The loan, row-locked until the transaction ends (PostgreSQL), so changes never interleave."""
    statement = select(Loan).where(Loan.id == loan_id)
    if is_postgresql(session):
        statement = statement.with_for_update()
    row = session.scalars(statement.execution_options(populate_existing=True)).first()
    if row is None:
        raise NotFound(f"no loan with id {loan_id}", field="loan_id")
    return row


def open_installments(loan: Loan) -> list[Installment]:
    """Installments still owed on (not superseded, something unpaid), oldest first."""
    return [
        i for i in loan.installments if i.superseded_by_arrangement_id is None and i.paid_on is None
    ]


def require_active(loan: Loan, *, action: str) -> None:
    """Refuse servicing changes to a loan that is written off or settled."""
    if loan.status is not LoanStatus.ACTIVE:
        raise Conflict(f"cannot {action}: loan {loan.id} is {loan.status.value}", field="loan_id")


def write_off_loan(*, session: Session, loan_id: int, on: date) -> Loan:
    """Mark a loan written off: it is never contacted for collection again."""
    loan = lock_loan(session=session, loan_id=loan_id)
    require_active(loan, action="write off")
    loan.status = LoanStatus.WRITTEN_OFF
    loan.closed_on = on
    session.flush()
    return loan
