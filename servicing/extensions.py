"""Extensions (deferrals): quoting and granting a pause of whole months in a loan's schedule.

Every unpaid installment, from the oldest unpaid one onward, moves later by the same number of
months, so the borrower has that many months with nothing new due and the schedule ends that many
months later. Moving only some installments would stack two payments on one date. Whether a
deferral is granted automatically, referred to a collector or declined follows the product's
`ExtensionRules` (servicing/products.yaml); every refusal carries a reason code the borrower can be
told.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Extension, HoldKind, Installment, Loan, LoanStatus
from servicing.balance import loan_balance
from servicing.calendar import add_months
from servicing.errors import InvalidInput, NotEligible
from servicing.holds import active_holds
from servicing.ledger import refuse_back_dating, refuse_future
from servicing.loans import get_loan, lock_loan, open_installments
from servicing.money import from_minor
from servicing.products import ExtensionRules, catalogue

# Every kind of hold stops a deferral: it is a collection decision made while one is in force.
BLOCKING_HOLDS = frozenset(
    {HoldKind.DISPUTE, HoldKind.BANKRUPTCY, HoldKind.ATTORNEY, HoldKind.CEASE}
)


class ExtensionDecision(StrEnum):
    """The outcome of an extension request."""

    APPROVED = "approved"
    REFERRED = "referred"
    DECLINED = "declined"


class ExtensionReason(StrEnum):
    """Why an extension is not granted automatically."""

    LOAN_NOT_ACTIVE = "loan_not_active"
    MONTHS_NOT_OFFERED = "months_not_offered"
    NOTHING_TO_DEFER = "nothing_to_defer"
    ACCOUNT_ON_HOLD = "account_on_hold"
    LIMIT_PER_12_MONTHS = "limit_per_12_months"
    LIMIT_PER_LOAN = "limit_per_loan"
    TOO_FAR_PAST_DUE = "too_far_past_due"
    REFERRED_TO_HUMAN = "referred_to_human"


_MESSAGES = {
    ExtensionReason.LOAN_NOT_ACTIVE: "This loan is closed, so its payments cannot be moved.",
    ExtensionReason.MONTHS_NOT_OFFERED: "We can move your payments by {allowed} months only.",
    ExtensionReason.NOTHING_TO_DEFER: (
        "Nothing is left to pay on this loan, so there is nothing to move."
    ),
    ExtensionReason.ACCOUNT_ON_HOLD: (
        "Your account is on hold, so we cannot change your payments right now."
    ),
    ExtensionReason.LIMIT_PER_12_MONTHS: (
        "You have already had {per_year} extension(s) in the last 12 months, the most we allow."
    ),
    ExtensionReason.LIMIT_PER_LOAN: (
        "This loan has already had {per_loan} extension(s), the most we allow."
    ),
    ExtensionReason.TOO_FAR_PAST_DUE: (
        "Your account is too far behind for an extension; we can talk about other ways to catch up."
    ),
    ExtensionReason.REFERRED_TO_HUMAN: (
        "A member of our team needs to review this request and will get back to you."
    ),
}

# Reasons that fault the request rather than the loan.
_FIELDS = {ExtensionReason.MONTHS_NOT_OFFERED: "months"}


@dataclass(frozen=True)
class MovedInstallment:
    """One installment an extension moves, with its due date before and after."""

    seq: int
    old_due_on: date
    new_due_on: date


@dataclass(frozen=True)
class ExtensionQuote:
    """What an extension of `months` would do to a loan, and whether it is granted."""

    loan_id: int
    decision: ExtensionDecision
    reason: ExtensionReason | None
    message: str
    months: int
    fee_minor: int
    currency: str
    moves: tuple[MovedInstallment, ...]


def _anchor_day(loan: Loan, installment: Installment) -> int:
    """The day of the month the installment's schedule was built on: its first due date's day."""
    schedule = [i for i in loan.installments if i.arrangement_id == installment.arrangement_id]
    return min(schedule, key=lambda i: i.seq).original_due_on.day


def moved_due_on(loan: Loan, installment: Installment, months: int) -> date:
    """The installment's due date `months` later, back on its schedule's day where the month has it.

    `add_months` clamps Jan 31 to Feb 28; moving that Feb 28 on by a month gives Mar 31, not
    Mar 28, so a schedule on the 31st keeps its day through short months. Never earlier than
    `add_months` of the current date.
    """
    moved = add_months(installment.due_on, months)
    last_day = calendar.monthrange(moved.year, moved.month)[1]
    return moved.replace(day=max(moved.day, min(_anchor_day(loan, installment), last_day)))


def _rules(loan: Loan) -> ExtensionRules:
    return catalogue().get(loan.product).extension


def _count_extensions(session: Session, loan_id: int, *, since: date | None = None) -> int:
    """Extensions granted on the loan, all of them or those granted after `since`."""
    statement = select(func.count()).select_from(Extension).where(Extension.loan_id == loan_id)
    if since is not None:
        statement = statement.where(Extension.granted_on > since)
    return int(session.scalar(statement) or 0)


def _blocked_by_hold(session: Session, loan_id: int) -> bool:
    return any(h.kind in BLOCKING_HOLDS for h in active_holds(session=session, loan_id=loan_id))


def _refusal(
    session: Session, loan: Loan, months: int, as_of: date, moving: list[Installment]
) -> tuple[ExtensionDecision, ExtensionReason] | None:
    """The first rule the request breaks, checked in the order a borrower would be told."""
    rules = _rules(loan)
    declined = ExtensionDecision.DECLINED
    if loan.status is not LoanStatus.ACTIVE:
        return declined, ExtensionReason.LOAN_NOT_ACTIVE
    if months not in rules.months_allowed:
        return declined, ExtensionReason.MONTHS_NOT_OFFERED
    if not moving:
        return declined, ExtensionReason.NOTHING_TO_DEFER
    if _blocked_by_hold(session, loan.id):
        return declined, ExtensionReason.ACCOUNT_ON_HOLD
    year_ago = add_months(as_of, -12)
    if _count_extensions(session, loan.id, since=year_ago) >= rules.max_per_12_months:
        return declined, ExtensionReason.LIMIT_PER_12_MONTHS
    if _count_extensions(session, loan.id) >= rules.max_per_loan:
        return declined, ExtensionReason.LIMIT_PER_LOAN
    days_past_due = loan_balance(session=session, loan_id=loan.id, as_of=as_of).days_past_due
    if days_past_due <= rules.max_days_past_due:
        return None
    if days_past_due <= rules.refer_max_days_past_due:
        return ExtensionDecision.REFERRED, ExtensionReason.REFERRED_TO_HUMAN
    return declined, ExtensionReason.TOO_FAR_PAST_DUE


def _approval_message(moves: tuple[MovedInstallment, ...], months: int, fee: str) -> str:
    return (
        f"Your payments move {months} month(s) later: the one due {moves[0].old_due_on:%Y-%m-%d} "
        f"is now due {moves[0].new_due_on:%Y-%m-%d}, and each later one moves the same way. "
        f"The fee is {fee}."
    )


def _refusal_message(reason: ExtensionReason, rules: ExtensionRules) -> str:
    return _MESSAGES[reason].format(
        allowed=", ".join(str(m) for m in rules.months_allowed),
        per_year=rules.max_per_12_months,
        per_loan=rules.max_per_loan,
    )


def _quote(session: Session, loan: Loan, months: int, as_of: date) -> ExtensionQuote:
    rules = _rules(loan)
    moving = open_installments(loan)
    refusal = _refusal(session, loan, months, as_of, moving)
    if refusal is not None:
        decision, reason = refusal
        return ExtensionQuote(
            loan_id=loan.id,
            decision=decision,
            reason=reason,
            message=_refusal_message(reason, rules),
            months=months,
            fee_minor=0,
            currency=loan.currency,
            moves=(),
        )
    moves = tuple(MovedInstallment(i.seq, i.due_on, moved_due_on(loan, i, months)) for i in moving)
    fee_minor = rules.fee_minor(loan.currency)
    fee = f"{from_minor(fee_minor, loan.currency)} {loan.currency}"
    return ExtensionQuote(
        loan_id=loan.id,
        decision=ExtensionDecision.APPROVED,
        reason=None,
        message=_approval_message(moves, months, fee),
        months=months,
        fee_minor=fee_minor,
        currency=loan.currency,
        moves=moves,
    )


def quote_extension(*, session: Session, loan_id: int, months: int, as_of: date) -> ExtensionQuote:
    """Whether an extension of `months` would be granted on `as_of`, and what it would move.

    Eligibility is judged on the day asked, so a day before the loan's latest change (money, an
    extension, an arrangement) is refused (field `on`): the answer would ignore that change.
    """
    loan = get_loan(session=session, loan_id=loan_id)
    refuse_back_dating(session, loan, as_of, field="on")
    return _quote(session, loan, months, as_of)


def apply_extension(
    *, session: Session, loan_id: int, months: int, on: date, today: date | None = None
) -> Extension:
    """Grant an extension of `months` on `on`, or `NotEligible` with the reason code.

    A referred request is refused here too (reason `referred_to_human`): a collector grants it
    through the console. `on` may not be before the loan's latest change; with `today` it must be
    within a day of it (time zones): eligibility is judged on the day the extension is granted, so
    a past day on which the loan was still eligible cannot be chosen.
    """
    loan = lock_loan(session=session, loan_id=loan_id)
    refuse_future(on, today=today, field="on")
    if today is not None and on < today - timedelta(days=1):
        raise InvalidInput(
            f"on {on.isoformat()} is in the past; an extension is granted on the day it is asked"
            f" for (from {(today - timedelta(days=1)).isoformat()})",
            field="on",
        )
    refuse_back_dating(session, loan, on, field="on")
    quote = _quote(session, loan, months, on)
    if quote.decision is not ExtensionDecision.APPROVED:
        reason = quote.reason or ExtensionReason.REFERRED_TO_HUMAN
        raise NotEligible(quote.message, reason=reason.value, field=_FIELDS.get(reason, "loan_id"))
    moving = open_installments(loan)
    new_dates = {move.seq: move.new_due_on for move in quote.moves}
    for installment in moving:
        installment.due_on = new_dates[installment.seq]
    # Interest components stay as scheduled: these products charge no interest for the deferral
    # itself; the fee is the price of the extension.
    moving[0].fee_minor += quote.fee_minor
    extension = Extension(
        loan_id=loan.id,
        months=months,
        installments_moved=len(moving),
        fee_minor=quote.fee_minor,
        granted_on=on,
        first_moved_seq=moving[0].seq,
    )
    session.add(extension)
    session.flush()
    return extension


def list_extensions(*, session: Session, loan_id: int) -> list[Extension]:
    """The extensions granted on a loan, oldest first."""
    get_loan(session=session, loan_id=loan_id)
    return list(
        session.scalars(
            select(Extension)
            .where(Extension.loan_id == loan_id)
            .order_by(Extension.granted_on, Extension.id)
        )
    )
