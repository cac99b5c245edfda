"""Test data built through the servicing API: a US borrower with a phone, a USD personal loan.

Every call gets fresh external references, so tests (and hypothesis examples sharing one rolled-back
session) never collide. Pass keyword overrides for any field of `NewBorrower` or `NewLoan`.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from models import Borrower, Loan
from servicing.borrowers import NewBorrower, create_borrower
from servicing.loans import NewLoan, create_loan

_refs = itertools.count(1)


def unique_ref(prefix: str) -> str:
    """A reference no other factory call in this test run has used."""
    return f"{prefix}-{next(_refs)}"


def make_borrower(session: Session, **overrides: Any) -> Borrower:
    """A stored US borrower with one mobile phone, overridable field by field."""
    borrower = NewBorrower(
        external_ref=unique_ref("B"),
        full_name="Jane Doe",
        country="US",
        phones=["+14155552671"],
        preferred_language="en",
        time_zone="America/Los_Angeles",
    )
    return create_borrower(session=session, borrower=replace(borrower, **overrides))


def make_loan(session: Session, **overrides: Any) -> Loan:
    """A stored USD personal loan (1,200.00 at 12% over 12 months from 2025-01-15).

    A new borrower is made unless `borrower_id` is given.
    """
    if "borrower_id" not in overrides:
        overrides["borrower_id"] = make_borrower(session).id
    loan = NewLoan(
        external_ref=unique_ref("L"),
        borrower_id=0,
        principal=Decimal("1200.00"),
        currency="USD",
        annual_rate=Decimal("0.12"),
        term_months=12,
        disbursed_on=date(2025, 1, 15),
        product="personal",
    )
    return create_loan(session=session, loan=replace(loan, **overrides))
