"""Loading loans and payments from the lender's CSV exports, all or nothing.

Every row is checked by the same servicing functions the API uses; a bad row is reported with its
line number, the column at fault and the reason, and if any row is bad nothing from the file is
kept. A row the database itself refuses is a row error too, never a traceback.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TextIO

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from servicing.borrowers import NewBorrower, create_borrower, get_borrower_by_ref
from servicing.errors import InvalidInput, NotFound, ServicingError
from servicing.loans import NewLoan, create_loan, get_loan_by_ref, parse_rate
from servicing.payments import post_payment

LOAN_COLUMNS = (
    "borrower_ref", "full_name", "country", "phone", "preferred_language", "time_zone",
    "postal_address", "date_of_birth", "national_id", "loan_ref", "product", "principal",
    "currency", "annual_rate", "term_months", "disbursed_on", "first_due_on",
)  # fmt: skip
LOAN_REQUIRED = (
    "borrower_ref", "full_name", "country", "loan_ref", "principal", "currency", "annual_rate",
    "term_months", "disbursed_on",
)  # fmt: skip
PAYMENT_COLUMNS = ("loan_ref", "amount", "currency", "received_on", "payment_ref", "method")
PAYMENT_REQUIRED = ("loan_ref", "amount", "currency", "received_on")


@dataclass(frozen=True)
class RowError:
    """Why one line of the file was refused."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class ImportFailed(Exception):
    """The file had bad rows; nothing from it was kept."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} bad row(s); nothing imported")
        self.errors = errors


@dataclass(frozen=True)
class ImportResult:
    """What an import created."""

    rows: int
    borrowers_created: int = 0
    loans_created: int = 0
    payments_posted: int = 0


Row = dict[str, str]


def _rows(
    stream: TextIO, columns: tuple[str, ...], required: tuple[str, ...]
) -> tuple[list[tuple[int, Row]], list[RowError]]:
    """The rows to import, and the lines refused before any rule runs (more cells than columns)."""
    reader = csv.DictReader(stream)
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in required if c not in header]
    if missing:
        raise ImportFailed([RowError(1, f"missing column(s): {', '.join(missing)}")])
    unknown = [h for h in header if h not in columns]
    if unknown:
        raise ImportFailed([RowError(1, f"unknown column(s): {', '.join(unknown)}")])
    rows: list[tuple[int, Row]] = []
    errors: list[RowError] = []
    for raw in reader:
        extra = raw.get(None)
        if extra:
            errors.append(
                RowError(
                    reader.line_num,
                    f"{len(header) + len(extra)} cells, but the header has {len(header)} columns",
                )
            )
            continue
        values = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        rows.append((reader.line_num, values))
    return rows, errors


@contextmanager
def _columns(renamed: dict[str, str]) -> Iterator[None]:
    """Name the CSV column in an error a servicing function raised under its own field name."""
    try:
        yield
    except ServicingError as exc:
        if exc.field in renamed:
            exc.field = renamed[exc.field]
        raise


def _reason(exc: ServicingError) -> str:
    """The error as a row reason: a bad value is led by its column (unless the message already
    starts with it); unknown references and conflicts already quote the reference at fault."""
    if isinstance(exc, InvalidInput) and exc.field and not exc.message.startswith(exc.field):
        return f"{exc.field}: {exc.message}"
    return exc.message


def _required(row: Row, names: Iterable[str]) -> None:
    for name in names:
        if not row.get(name):
            raise InvalidInput(f"{name} is empty", field=name)


def _date(row: Row, name: str) -> date | None:
    value = row.get(name, "")
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} {value!r} is not a date (YYYY-MM-DD)", field=name) from None


def _int(row: Row, name: str) -> int:
    try:
        return int(row[name])
    except ValueError:
        raise InvalidInput(f"{name} {row[name]!r} is not a whole number", field=name) from None


def _each_row(
    session: Session, rows: list[tuple[int, Row]], handle: Callable[[Row], None]
) -> list[RowError]:
    errors: list[RowError] = []
    for line, row in rows:
        try:
            with session.begin_nested():
                handle(row)
        except ServicingError as exc:
            errors.append(RowError(line, _reason(exc)))
        except (SQLAlchemyError, OverflowError) as exc:
            # The savepoint rolled the row back. The database's own text may quote the row's
            # values (personal data), so only the kind of failure is reported.
            cause = getattr(exc, "orig", None) or exc
            errors.append(RowError(line, f"the database refused this row ({type(cause).__name__})"))
    return errors


def import_loans(*, session: Session, stream: TextIO, today: date | None = None) -> ImportResult:
    """Create the borrowers and loans in a loans CSV; `ImportFailed` lists every bad line.

    `today` (the caller's clock) refuses disbursements later than tomorrow.
    """
    rows, refused = _rows(stream, LOAN_COLUMNS, LOAN_REQUIRED)
    counts = {"borrowers": 0, "loans": 0}

    def handle(row: Row) -> None:
        _required(row, LOAN_REQUIRED)
        try:
            borrower = get_borrower_by_ref(session=session, external_ref=row["borrower_ref"])
        except NotFound:
            with _columns({"external_ref": "borrower_ref", "phones": "phone"}):
                borrower = create_borrower(
                    session=session,
                    borrower=NewBorrower(
                        external_ref=row["borrower_ref"],
                        full_name=row["full_name"],
                        country=row["country"],
                        phones=[row["phone"]] if row.get("phone") else [],
                        preferred_language=row.get("preferred_language") or "en",
                        time_zone=row.get("time_zone") or None,
                        postal_address=row.get("postal_address") or None,
                        date_of_birth=_date(row, "date_of_birth"),
                        national_id=row.get("national_id") or None,
                    ),
                )
            counts["borrowers"] += 1
        disbursed_on = _date(row, "disbursed_on")
        assert disbursed_on is not None  # required above
        with _columns({"external_ref": "loan_ref", "borrower_id": "borrower_ref"}):
            create_loan(
                session=session,
                today=today,
                loan=NewLoan(
                    external_ref=row["loan_ref"],
                    borrower_id=borrower.id,
                    principal=Decimal(row["principal"])
                    if _is_number(row["principal"])
                    else _bad(row, "principal"),
                    currency=row["currency"],
                    annual_rate=parse_rate(row["annual_rate"]),
                    term_months=_int(row, "term_months"),
                    disbursed_on=disbursed_on,
                    first_due_on=_date(row, "first_due_on"),
                    product=row.get("product") or None,
                ),
            )
        counts["loans"] += 1

    errors = sorted(refused + _each_row(session, rows, handle), key=lambda e: e.line)
    if errors:
        raise ImportFailed(errors)
    return ImportResult(
        rows=len(rows), borrowers_created=counts["borrowers"], loans_created=counts["loans"]
    )


def import_payments(*, session: Session, stream: TextIO, today: date | None = None) -> ImportResult:
    """Post the payments in a payments CSV, in date order; `ImportFailed` lists every bad line.

    `today` (the caller's clock) refuses payments received later than tomorrow.
    """
    rows, refused = _rows(stream, PAYMENT_COLUMNS, PAYMENT_REQUIRED)
    # Payments post in the order they were received, whatever order the export lists them in.
    rows.sort(key=lambda item: item[1].get("received_on", ""))
    posted = 0

    def handle(row: Row) -> None:
        nonlocal posted
        _required(row, PAYMENT_REQUIRED)
        received_on = _date(row, "received_on")
        assert received_on is not None  # required above
        loan = get_loan_by_ref(session=session, external_ref=row["loan_ref"])
        with _columns({"external_ref": "payment_ref", "loan_id": "loan_ref"}):
            post_payment(
                session=session,
                loan_id=loan.id,
                amount=Decimal(row["amount"]) if _is_number(row["amount"]) else _bad(row, "amount"),
                currency=row["currency"],
                received_on=received_on,
                external_ref=row.get("payment_ref") or None,
                method=row.get("method") or "import",
                today=today,
            )
        posted += 1

    errors = sorted(refused + _each_row(session, rows, handle), key=lambda e: e.line)
    if errors:
        raise ImportFailed(errors)
    return ImportResult(rows=len(rows), payments_posted=posted)


def _is_number(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except ArithmeticError:
        return False


def _bad(row: Row, name: str) -> Decimal:
    raise InvalidInput(f"{name} {row[name]!r} is not a number", field=name)
