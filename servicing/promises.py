"""Promises to pay: recording a borrower's promise, and resolving promises as kept or broken.

A promise is kept when the payments received from the day it was made to the day it falls due add
up to the promised amount; it is broken the day after it falls due otherwise. Only payments posted
after the promise was recorded count: money already in hand when it was made (say, the payment that
kept the previous promise) cannot keep it. Resolution reads the
running totals of every pending promise in one grouped query, never one query per promise.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from models import Payment, PromiseStatus, PromiseToPay
from servicing.errors import InvalidInput
from servicing.ledger import check_channel, refuse_future
from servicing.loans import get_loan, lock_loan, require_active
from servicing.money import positive_minor

# A promise further out than this is not a promise but a payment plan, i.e. an arrangement, and
# goes through restructuring with its eligibility rules and approvals.
MAX_PROMISE_DAYS = 30


def _check_due_on(due_on: date, promised_on: date) -> None:
    latest = promised_on + timedelta(days=MAX_PROMISE_DAYS)
    if not promised_on <= due_on <= latest:
        raise InvalidInput(
            f"due_on must be between {promised_on.isoformat()} and {latest.isoformat()}"
            f" (at most {MAX_PROMISE_DAYS} days out; longer needs a payment arrangement)",
            field="due_on",
        )


def pending_promise(*, session: Session, loan_id: int) -> PromiseToPay | None:
    """The loan's pending promise, if it has one."""
    get_loan(session=session, loan_id=loan_id)
    return session.scalars(
        select(PromiseToPay)
        .where(PromiseToPay.loan_id == loan_id, PromiseToPay.status == PromiseStatus.PENDING)
        .order_by(PromiseToPay.id.desc())
    ).first()


def record_promise(
    *,
    session: Session,
    loan_id: int,
    amount: Decimal,
    due_on: date,
    channel: str,
    promised_on: date,
    today: date | None = None,
) -> PromiseToPay:
    """Record a promise to pay `amount` by `due_on`; it replaces any pending promise on the loan.

    With `today`, a `promised_on` later than tomorrow is refused.
    """
    loan = lock_loan(session=session, loan_id=loan_id)
    require_active(loan, action="record a promise to pay")
    amount_minor = positive_minor(amount, loan.currency, field="amount")
    if promised_on < loan.disbursed_on:
        raise InvalidInput("promised_on is before the loan was disbursed", field="promised_on")
    refuse_future(promised_on, today=today, field="promised_on")
    _check_due_on(due_on, promised_on)
    cleaned_channel = check_channel(channel)
    earlier = pending_promise(session=session, loan_id=loan.id)
    if earlier is not None:
        earlier.status = PromiseStatus.CANCELLED
        earlier.resolved_on = promised_on
    promise = PromiseToPay(
        loan_id=loan.id,
        amount_minor=amount_minor,
        promised_on=promised_on,
        due_on=due_on,
        channel=cleaned_channel,
        status=PromiseStatus.PENDING,
    )
    session.add(promise)
    session.flush()
    return promise


def _pending(session: Session, as_of: date, loan_id: int | None) -> list[PromiseToPay]:
    statement = select(PromiseToPay).where(
        PromiseToPay.status == PromiseStatus.PENDING, PromiseToPay.promised_on <= as_of
    )
    if loan_id is not None:
        statement = statement.where(PromiseToPay.loan_id == loan_id)
    return list(session.scalars(statement.order_by(PromiseToPay.id)))


def _kept_days(session: Session, as_of: date, loan_id: int | None) -> dict[int, date]:
    """For each pending promise already met by `as_of`, the day its payments reached the amount.

    One statement: payments in each promise's window with their running total per promise (a
    window sum over the day, so same-day payments count together), grouped to the first day the
    total reached the promised amount.
    """
    window = and_(
        Payment.loan_id == PromiseToPay.loan_id,
        # Posted after the promise was recorded: one payment never keeps two promises.
        Payment.posted_at >= PromiseToPay.created_at,
        Payment.received_on >= PromiseToPay.promised_on,
        Payment.received_on <= PromiseToPay.due_on,
        Payment.received_on <= as_of,
    )
    running = (
        select(
            PromiseToPay.id.label("promise_id"),
            PromiseToPay.amount_minor.label("promised"),
            Payment.received_on.label("received_on"),
            func.sum(Payment.amount_minor)
            .over(partition_by=PromiseToPay.id, order_by=Payment.received_on)
            .label("paid_so_far"),
        )
        .join(Payment, window)
        .where(PromiseToPay.status == PromiseStatus.PENDING)
    )
    if loan_id is not None:
        running = running.where(PromiseToPay.loan_id == loan_id)
    totals = running.subquery()
    reached = func.min(case((totals.c.paid_so_far >= totals.c.promised, totals.c.received_on)))
    rows = session.execute(
        select(totals.c.promise_id, reached.label("kept_on")).group_by(totals.c.promise_id)
    )
    return {int(promise_id): kept_on for promise_id, kept_on in rows if kept_on is not None}


def evaluate_promises(
    *, session: Session, as_of: date, loan_id: int | None = None
) -> list[PromiseToPay]:
    """Resolve pending promises as of `as_of`; the promises whose status changed."""
    pending = _pending(session, as_of, loan_id)
    if not pending:
        return []
    kept = _kept_days(session, as_of, loan_id)
    changed: list[PromiseToPay] = []
    for promise in pending:
        if promise.id in kept:
            promise.status = PromiseStatus.KEPT
            promise.resolved_on = kept[promise.id]
        elif promise.due_on < as_of:
            promise.status = PromiseStatus.BROKEN
            promise.resolved_on = promise.due_on + timedelta(days=1)
        else:
            continue
        changed.append(promise)
    session.flush()
    return changed
