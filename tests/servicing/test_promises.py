"""Promises to pay: recorded within limits, kept by payments in their window, else broken."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from models import Loan, PromiseStatus, PromiseToPay
from servicing import Conflict, InvalidInput, write_off_loan
from servicing.payments import post_payment
from servicing.promises import MAX_PROMISE_DAYS, evaluate_promises, pending_promise, record_promise
from tests.servicing.factories import make_loan

PROMISED_ON = date(2025, 3, 1)
DUE_ON = date(2025, 3, 10)


def promise(
    session: Session,
    loan: Loan,
    amount: str = "100.00",
    *,
    due_on: date = DUE_ON,
    channel: str = "sms",
    promised_on: date = PROMISED_ON,
) -> PromiseToPay:
    return record_promise(
        session=session,
        loan_id=loan.id,
        amount=Decimal(amount),
        due_on=due_on,
        channel=channel,
        promised_on=promised_on,
    )


def pay(session: Session, loan: Loan, amount: str, on: date) -> None:
    post_payment(
        session=session, loan_id=loan.id, amount=Decimal(amount), currency="USD", received_on=on
    )


def test_recorded_promise_is_pending(session: Session) -> None:
    loan = make_loan(session)
    made = promise(session, loan, "120.50", channel=" Telegram ")

    assert (made.status, made.amount_minor, made.channel) == (
        PromiseStatus.PENDING,
        12050,
        "telegram",
    )
    assert pending_promise(session=session, loan_id=loan.id) is made


def test_kept_early_resolves_on_the_day_the_sum_was_reached(session: Session) -> None:
    loan = make_loan(session)
    made = promise(session, loan, "100.00")
    pay(session, loan, "60.00", date(2025, 3, 3))
    pay(session, loan, "40.00", date(2025, 3, 5))
    pay(session, loan, "10.00", date(2025, 3, 7))

    changed = evaluate_promises(session=session, as_of=date(2025, 3, 8))

    assert changed == [made]
    assert (made.status, made.resolved_on) == (PromiseStatus.KEPT, date(2025, 3, 5))
    assert pending_promise(session=session, loan_id=loan.id) is None


def test_kept_on_the_due_day(session: Session) -> None:
    loan = make_loan(session)
    made = promise(session, loan, "100.00")
    pay(session, loan, "100.00", DUE_ON)

    evaluate_promises(session=session, as_of=date(2025, 3, 20))

    assert (made.status, made.resolved_on) == (PromiseStatus.KEPT, DUE_ON)


def test_same_day_payments_count_together(session: Session) -> None:
    loan = make_loan(session)
    made = promise(session, loan, "100.00")
    pay(session, loan, "50.00", date(2025, 3, 4))
    pay(session, loan, "50.00", date(2025, 3, 4))

    evaluate_promises(session=session, as_of=date(2025, 3, 4))

    assert (made.status, made.resolved_on) == (PromiseStatus.KEPT, date(2025, 3, 4))


def test_broken_the_day_after_it_fell_due(session: Session) -> None:
    loan = make_loan(session)
    made = promise(session, loan, "100.00")

    assert evaluate_promises(session=session, as_of=DUE_ON) == []  # still has today
    assert made.status is PromiseStatus.PENDING
    changed = evaluate_promises(session=session, as_of=date(2025, 3, 11))

    assert changed == [made]
    assert (made.status, made.resolved_on) == (PromiseStatus.BROKEN, date(2025, 3, 11))


def test_partial_payment_still_breaks_it(session: Session) -> None:
    loan = make_loan(session)
    made = promise(session, loan, "100.00")
    pay(session, loan, "99.99", date(2025, 3, 9))

    evaluate_promises(session=session, as_of=date(2025, 3, 15))

    assert (made.status, made.resolved_on) == (PromiseStatus.BROKEN, date(2025, 3, 11))


def test_payments_outside_the_window_do_not_count(session: Session) -> None:
    loan = make_loan(session)
    pay(session, loan, "100.00", date(2025, 2, 28))  # the day before the promise
    made = promise(session, loan, "100.00")
    pay(session, loan, "100.00", date(2025, 3, 11))  # the day after it fell due

    evaluate_promises(session=session, as_of=date(2025, 3, 12))

    assert made.status is PromiseStatus.BROKEN


def test_payments_after_as_of_are_not_seen_yet(session: Session) -> None:
    loan = make_loan(session)
    made = promise(session, loan, "100.00")
    pay(session, loan, "100.00", date(2025, 3, 6))

    assert evaluate_promises(session=session, as_of=date(2025, 3, 5)) == []
    assert made.status is PromiseStatus.PENDING


def test_a_newer_promise_cancels_the_pending_one(session: Session) -> None:
    loan = make_loan(session)
    first = promise(session, loan, "100.00")
    second = promise(session, loan, "50.00", promised_on=date(2025, 3, 5), due_on=date(2025, 3, 20))

    assert (first.status, first.resolved_on) == (PromiseStatus.CANCELLED, date(2025, 3, 5))
    assert pending_promise(session=session, loan_id=loan.id) is second
    evaluate_promises(session=session, as_of=date(2025, 3, 15))
    assert first.status is PromiseStatus.CANCELLED  # never resolved again


def test_evaluation_is_limited_to_one_loan_when_asked(session: Session) -> None:
    mine, other = make_loan(session), make_loan(session)
    made, untouched = promise(session, mine), promise(session, other)

    changed = evaluate_promises(session=session, as_of=date(2025, 3, 20), loan_id=mine.id)

    assert changed == [made]
    assert untouched.status is PromiseStatus.PENDING


def test_resolution_reads_all_sums_in_one_statement(session: Session) -> None:
    loans = [make_loan(session) for _ in range(5)]
    for loan in loans:
        promise(session, loan, "100.00")
        pay(session, loan, "100.00", date(2025, 3, 2))
    session.flush()
    statements: list[str] = []

    def count(conn: Connection, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    bind = session.connection()
    event.listen(bind, "before_cursor_execute", count)
    try:
        changed = evaluate_promises(session=session, as_of=date(2025, 3, 20))
    finally:
        event.remove(bind, "before_cursor_execute", count)

    assert len(changed) == 5
    assert all(p.status is PromiseStatus.KEPT for p in changed)
    assert len(statements) == 2  # the pending promises, then every running total at once


@pytest.mark.parametrize(
    ("amount", "kwargs", "field_name"),
    [
        ("0.00", {}, "amount"),
        ("-10.00", {}, "amount"),
        ("10.001", {}, "amount"),
        ("100.00", {"due_on": date(2025, 2, 28)}, "due_on"),
        ("100.00", {"due_on": PROMISED_ON + timedelta(days=MAX_PROMISE_DAYS + 1)}, "due_on"),
        ("100.00", {"channel": "  "}, "channel"),
        ("100.00", {"promised_on": date(2025, 1, 1), "due_on": date(2025, 1, 5)}, "promised_on"),
    ],
)
def test_refusals(session: Session, amount: str, kwargs: dict[str, Any], field_name: str) -> None:
    loan = make_loan(session)

    with pytest.raises(InvalidInput) as raised:
        promise(session, loan, amount, **kwargs)

    assert raised.value.field == field_name
    assert pending_promise(session=session, loan_id=loan.id) is None


def test_the_furthest_allowed_due_day_is_accepted(session: Session) -> None:
    loan = make_loan(session)

    furthest = PROMISED_ON + timedelta(days=MAX_PROMISE_DAYS)

    made = promise(session, loan, due_on=furthest)

    assert made.due_on == furthest


def test_no_promise_on_a_written_off_loan(session: Session) -> None:
    loan = make_loan(session)
    write_off_loan(session=session, loan_id=loan.id, on=date(2025, 2, 1))

    with pytest.raises(Conflict):
        promise(session, loan)


def test_one_payment_never_keeps_two_promises(session: Session) -> None:
    loan = make_loan(session)
    first = promise(session, loan, "100.00")
    pay(session, loan, "100.00", date(2025, 3, 5))
    evaluate_promises(session=session, as_of=date(2025, 3, 5))
    assert (first.status, first.resolved_on) == (PromiseStatus.KEPT, date(2025, 3, 5))

    # Later that day another promise; the money already paid cannot keep it.
    second = promise(
        session, loan, "100.00", promised_on=date(2025, 3, 5), due_on=date(2025, 3, 20)
    )
    evaluate_promises(session=session, as_of=date(2025, 3, 21))

    assert (second.status, second.resolved_on) == (PromiseStatus.BROKEN, date(2025, 3, 21))


def test_a_payment_made_after_the_promise_on_the_same_day_keeps_it(session: Session) -> None:
    loan = make_loan(session)
    pay(session, loan, "40.00", date(2025, 3, 5))  # before the promise: does not count
    made = promise(session, loan, "100.00", promised_on=date(2025, 3, 5))
    pay(session, loan, "60.00", date(2025, 3, 5))
    evaluate_promises(session=session, as_of=date(2025, 3, 6))
    assert made.status is PromiseStatus.PENDING
    pay(session, loan, "40.00", date(2025, 3, 8))
    evaluate_promises(session=session, as_of=date(2025, 3, 8))
    assert (made.status, made.resolved_on) == (PromiseStatus.KEPT, date(2025, 3, 8))


def test_a_promise_dated_after_tomorrow_is_refused(session: Session) -> None:
    loan = make_loan(session)
    with pytest.raises(InvalidInput) as refused:
        record_promise(
            session=session,
            loan_id=loan.id,
            amount=Decimal("10.00"),
            due_on=date(2025, 3, 10),
            channel="sms",
            promised_on=date(2025, 3, 3),
            today=date(2025, 3, 1),
        )
    assert refused.value.field == "promised_on"
