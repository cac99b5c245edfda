"""CSV import: good files load, a bad row names its line and reason, and nothing is kept."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from models import Borrower, Loan, Payment
from servicing import get_loan_by_ref, imports, loan_balance
from servicing.imports import ImportFailed, import_loans, import_payments

# The examples docs/SERVICING.md shows are the ones tested.
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
LOANS = (EXAMPLES / "loans.csv").read_text(encoding="utf-8")
PAYMENTS = (EXAMPLES / "payments.csv").read_text(encoding="utf-8")


def count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_loans_then_payments_import(session: Session) -> None:
    result = import_loans(session=session, stream=io.StringIO(LOANS))
    assert (result.rows, result.borrowers_created, result.loans_created) == (3, 2, 3)
    chinese = get_loan_by_ref(session=session, external_ref="IMP-L3")
    assert chinese.borrower.time_zone == "Asia/Shanghai"  # derived from the +86 number
    assert chinese.product == "personal"  # the default product
    assert get_loan_by_ref(session=session, external_ref="IMP-L2").installments[0].due_on.day == 1

    # Listed out of order on purpose: payments post in the order they were received.
    shuffled = PAYMENTS.splitlines()
    text = "\n".join([shuffled[0], shuffled[2], shuffled[1], shuffled[3]]) + "\n"
    result = import_payments(session=session, stream=io.StringIO(text))
    assert result.payments_posted == 3
    loan = get_loan_by_ref(session=session, external_ref="IMP-L1")
    balance = loan_balance(session=session, loan_id=loan.id, as_of=loan.installments[1].due_on)
    assert balance.days_past_due == 0
    first, second = loan.installments[0], loan.installments[1]
    assert (
        balance.principal_outstanding_minor
        == 120000 - first.principal_minor - second.principal_minor
    )


@pytest.mark.parametrize(
    ("line", "edit", "reason"),
    [
        (3, ("600.00", "-600.00"), "principal must be greater than zero"),
        (3, ("USD,0.1,", "USD,1.7,"), "annual_rate"),
        (3, ("2025-03-01", "2025-13-01"), "not a date"),
        (3, (",6,", ",six,"), "not a whole number"),
        (4, (",CNY,", ",ABC,"), "unknown currency"),
        (4, ("+86 138 0013 8000", "12"), "not a valid phone number"),
        (3, ("IMP-L2", "IMP-L1"), "exists"),
    ],
)
def test_a_bad_row_names_its_line_and_nothing_is_kept(
    session: Session, line: int, edit: tuple[str, str], reason: str
) -> None:
    lines = LOANS.splitlines()
    lines[line - 1] = lines[line - 1].replace(*edit, 1)
    before = (count(session, Borrower), count(session, Loan))
    with pytest.raises(ImportFailed) as failed:
        import_loans(session=session, stream=io.StringIO("\n".join(lines) + "\n"))
    assert [e.line for e in failed.value.errors] == [line]
    assert reason in failed.value.errors[0].reason
    session.rollback()  # what the CLI does with a failed import
    assert (count(session, Borrower), count(session, Loan)) == before


def test_every_bad_payment_row_is_reported(session: Session) -> None:
    import_loans(session=session, stream=io.StringIO(LOANS))
    bad = PAYMENTS + "IMP-L9,10.00,USD,2025-03-20,,\nIMP-L1,0,USD,2025-03-21,,\n"
    before = count(session, Payment)
    with pytest.raises(ImportFailed) as failed:
        import_payments(session=session, stream=io.StringIO(bad))
    assert [(e.line, e.reason) for e in failed.value.errors] == [
        (5, "no loan with external_ref 'IMP-L9'"),
        (6, "amount must be greater than zero"),
    ]
    # The three good rows were rolled back with the bad ones (savepoints inside the import).
    session.rollback()
    assert count(session, Payment) == before


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("loan_ref,amount,currency", "missing column(s): received_on"),
        ("loan_ref,amount,currency,received_on,colour", "unknown column(s): colour"),
    ],
)
def test_header_problems_are_line_one(session: Session, header: str, reason: str) -> None:
    with pytest.raises(ImportFailed) as failed:
        import_payments(session=session, stream=io.StringIO(header + "\n"))
    assert str(failed.value.errors[0]) == f"line 1: {reason}"


def test_amount_words_are_refused(session: Session) -> None:
    import_loans(session=session, stream=io.StringIO(LOANS))
    with pytest.raises(ImportFailed) as failed:
        import_payments(
            session=session,
            stream=io.StringIO("loan_ref,amount,currency,received_on\nIMP-L1,ten,USD,2025-02-15\n"),
        )
    assert failed.value.errors[0].reason == "amount 'ten' is not a number"


LOAN_HEADER = (
    "borrower_ref,full_name,country,phone,time_zone,loan_ref,principal,currency,annual_rate,"
    "term_months,disbursed_on\n"
)


def _loan_row(ref: str, principal: str = "1000.00", *, extra: str = "") -> str:
    return (
        f"B-{ref},Ann,US,+14155550123,America/Los_Angeles,{ref},{principal},USD,0.1,12,"
        f"2025-01-15{extra}\n"
    )


def test_row_errors_name_the_column_and_extra_cells_are_refused(session: Session) -> None:
    text = (
        LOAN_HEADER
        + _loan_row("X1")
        + _loan_row("X2", "1000.001")
        + _loan_row("X3", "100000000000000000")
        + _loan_row("X4", extra=",extra")
    )
    with pytest.raises(ImportFailed) as failed:
        import_loans(session=session, stream=io.StringIO(text))

    assert [str(e) for e in failed.value.errors] == [
        "line 3: principal: 1000.001 has more decimal places than USD allows",
        "line 4: principal must be at most 10000000000000.00 USD",
        "line 5: 12 cells, but the header has 11 columns",
    ]


def test_a_row_the_database_refuses_is_a_row_error(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_loans(session=session, stream=io.StringIO(LOANS))
    failures: list[Exception] = [
        OverflowError("Python int too large to convert to SQLite INTEGER"),
        DataError("INSERT ...", {"number": "+8613800138000"}, ValueError("out of range")),
    ]
    real = imports.post_payment

    def flaky(**kwargs: Any) -> Payment:
        if kwargs["received_on"] >= date(2025, 3, 10) and failures:
            raise failures.pop(0)
        return real(**kwargs)

    monkeypatch.setattr(imports, "post_payment", flaky)
    with pytest.raises(ImportFailed) as failed:
        import_payments(session=session, stream=io.StringIO(PAYMENTS))

    reasons = [e.reason for e in failed.value.errors]
    # Sorted by line: the CNY row (line 4, 03-10) failed first, the 03-15 row (line 3) next.
    assert reasons == [
        "the database refused this row (ValueError)",
        "the database refused this row (OverflowError)",
    ]
    assert [e.line for e in failed.value.errors] == [3, 4]


def test_future_days_are_refused_against_the_callers_today(session: Session) -> None:
    today = date(2025, 3, 1)
    with pytest.raises(ImportFailed) as loans_failed:
        import_loans(
            session=session,
            stream=io.StringIO(LOAN_HEADER + _loan_row("F1").replace("2025-01-15", "2025-03-03")),
            today=today,
        )
    assert [e.reason for e in loans_failed.value.errors] == [
        "disbursed_on 2025-03-03 is in the future"
    ]
    import_loans(session=session, stream=io.StringIO(LOAN_HEADER + _loan_row("F2")), today=today)
    with pytest.raises(ImportFailed) as payments_failed:
        import_payments(
            session=session,
            stream=io.StringIO(
                "loan_ref,amount,currency,received_on\nF2,10.00,USD,2025-03-02\n"
                "F2,10.00,USD,2025-03-03\n"
            ),
            today=today,
        )
    assert [(e.line, e.reason) for e in payments_failed.value.errors] == [
        (3, "received_on 2025-03-03 is in the future; the latest allowed is 2025-03-02")
    ]
