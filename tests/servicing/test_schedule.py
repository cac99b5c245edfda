"""Schedules agree to the cent with an independent reference, repay exactly, and fall on real days.

numpy-financial is the independent reference here: its `pmt`/`ipmt`/`ppmt` are a separate,
floating-point implementation of the annuity formulas, used only in this test (floats are fine
for a reference compared within a cent; the schedule itself is exact decimal arithmetic).
"""

from __future__ import annotations

import random
import warnings
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import numpy_financial as npf
import pytest
from sqlalchemy.orm import Session

from models import Amortization
from servicing import InvalidInput, generate_schedule, loan_balance
from tests.servicing.factories import make_loan

SEED = 20250115
LOANS = 200
FIRST_DUE = date(2025, 2, 15)


def random_terms(count: int) -> list[tuple[int, Decimal, int]]:
    """(principal in cents, annual rate, months): 100.00 to 500,000.00, 0 to 36%, 1 to 360."""
    rng = random.Random(SEED)
    terms = [
        (
            rng.randint(10_000, 50_000_000),
            Decimal(rng.randint(0, 3600)) / 10_000,
            rng.randint(1, 360),
        )
        for _ in range(count - 3)
    ]
    # The edges, always: zero rate, one month, the longest term at the highest rate.
    terms += [
        (1_234_567, Decimal(0), 360),
        (50_000_000, Decimal("0.36"), 1),
        (10_000, Decimal("0.36"), 360),
    ]
    return terms


TERMS = random_terms(LOANS)


def reference(
    principal_minor: int, annual_rate: Decimal, months: int
) -> tuple[np.ndarray, np.ndarray]:
    """Interest and principal of each period per numpy-financial, in major units."""
    rate = float(annual_rate) / 12
    principal = principal_minor / 100
    periods = np.arange(1, months + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # npf divides by the rate even at zero
        interest = npf.ipmt(rate, periods, months, -principal)
        repaid = npf.ppmt(rate, periods, months, -principal)
    if rate == 0:
        interest = np.zeros(months)
        repaid = np.full(months, principal / months)
    return interest, repaid


def test_the_random_loans_cover_the_ranges() -> None:
    assert any(rate == 0 for _, rate, _ in TERMS)
    assert min(p for p, _, _ in TERMS) < 1_000_000
    assert max(p for p, _, _ in TERMS) > 40_000_000
    assert min(m for _, _, m in TERMS) == 1
    assert max(m for _, _, m in TERMS) == 360


@pytest.mark.parametrize(("principal_minor", "annual_rate", "months"), TERMS)
def test_annuity_agrees_with_numpy_financial_to_the_cent(
    principal_minor: int, annual_rate: Decimal, months: int
) -> None:
    schedule = generate_schedule(
        principal_minor=principal_minor,
        annual_rate=annual_rate,
        term_months=months,
        first_due_on=FIRST_DUE,
    )
    interest, repaid = reference(principal_minor, annual_rate, months)

    assert len(schedule) == months
    assert sum(i.principal_minor for i in schedule) == principal_minor
    # A cent, plus a hair for the reference's floating point.
    tolerance = 1 + 1e-6
    for item, expected_interest, expected_principal in zip(schedule, interest, repaid, strict=True):
        assert abs(item.interest_minor - expected_interest * 100) <= tolerance, item
        assert abs(item.principal_minor - expected_principal * 100) <= tolerance, item
    if annual_rate > 0:
        level = float(npf.pmt(float(annual_rate) / 12, months, -principal_minor / 100)) * 100
        assert all(abs(i.total_minor - level) <= 2 * tolerance for i in schedule)


@pytest.mark.parametrize(("principal_minor", "annual_rate", "months"), TERMS[::4])
def test_equal_principal_repays_evenly_with_interest_on_the_outstanding(
    principal_minor: int, annual_rate: Decimal, months: int
) -> None:
    schedule = generate_schedule(
        principal_minor=principal_minor,
        annual_rate=annual_rate,
        term_months=months,
        first_due_on=FIRST_DUE,
        amortization=Amortization.EQUAL_PRINCIPAL,
    )

    parts = [i.principal_minor for i in schedule]
    assert sum(parts) == principal_minor
    assert max(parts) - min(parts) <= 1
    outstanding = principal_minor
    for item in schedule:
        exact = Decimal(outstanding) * annual_rate / 12
        assert item.interest_minor == int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
        outstanding -= item.principal_minor
    assert outstanding == 0


def test_due_dates_keep_the_day_clamped_to_short_months() -> None:
    schedule = generate_schedule(
        principal_minor=120_000,
        annual_rate=Decimal("0.12"),
        term_months=4,
        first_due_on=date(2025, 1, 31),
    )

    assert [i.due_on for i in schedule] == [
        date(2025, 1, 31),
        date(2025, 2, 28),
        date(2025, 3, 31),
        date(2025, 4, 30),
    ]


def test_due_dates_in_a_leap_year() -> None:
    schedule = generate_schedule(
        principal_minor=120_000,
        annual_rate=Decimal("0.12"),
        term_months=3,
        first_due_on=date(2024, 1, 31),
    )

    assert [i.due_on for i in schedule] == [date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 31)]


def test_a_booked_loan_is_first_due_a_month_after_disbursement(session: Session) -> None:
    loan = make_loan(session, disbursed_on=date(2024, 12, 31), term_months=3)

    assert [i.due_on for i in loan.installments] == [
        date(2025, 1, 31),
        date(2025, 2, 28),
        date(2025, 3, 31),
    ]


@pytest.mark.parametrize(
    ("principal_minor", "annual_rate", "months", "field_name"),
    [
        (100_000, Decimal("1.01"), 12, "annual_rate"),
        (100_000, Decimal("-0.01"), 12, "annual_rate"),
        (100_000, Decimal("NaN"), 12, "annual_rate"),
        (100_000, Decimal("0.1"), 0, "term_months"),
        (100_000, Decimal("0.1"), 601, "term_months"),
        (0, Decimal("0.1"), 12, "principal"),
        (-1, Decimal("0.1"), 12, "principal"),
    ],
)
def test_impossible_terms_are_refused(
    principal_minor: int, annual_rate: Decimal, months: int, field_name: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        generate_schedule(
            principal_minor=principal_minor,
            annual_rate=annual_rate,
            term_months=months,
            first_due_on=FIRST_DUE,
        )
    assert raised.value.field == field_name


@pytest.mark.parametrize(
    ("overrides", "field_name"),
    [
        ({"annual_rate": Decimal("1.5")}, "annual_rate"),
        ({"annual_rate": Decimal("-0.05")}, "annual_rate"),
        ({"term_months": 0}, "term_months"),
        ({"principal": Decimal("0")}, "principal"),
        ({"annual_rate": Decimal("0.1234567")}, "annual_rate"),
        ({"principal": Decimal("10000000000000.01")}, "principal"),
    ],
)
def test_booking_a_loan_with_impossible_terms_is_refused(
    session: Session, overrides: dict[str, object], field_name: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        make_loan(session, **overrides)
    assert raised.value.field == field_name


@pytest.mark.parametrize(
    ("first_due_on", "days"),
    [(date(2025, 3, 15), 59), (date(2025, 2, 4), 20), (date(2025, 2, 15), None)],
)
def test_an_odd_first_period_is_charged_for_its_days(
    session: Session, first_due_on: date, days: int | None
) -> None:
    """A first period other than one month: annual rate x days / 365 on the principal."""
    loan = make_loan(session, first_due_on=first_due_on)  # 1,200.00 at 12% from 2025-01-15
    standard = make_loan(session)

    first = loan.installments[0]
    if days is None:
        assert first.interest_minor == 1200  # a month: 12% / 12 (numpy-financial's case)
    else:
        assert first.interest_minor == half_up(Decimal(120000) * Decimal("0.12") * days / 365)
    # Only the first period's interest changes; principal parts and later interest do not.
    assert [i.principal_minor for i in loan.installments] == [
        i.principal_minor for i in standard.installments
    ]
    assert [i.interest_minor for i in loan.installments[1:]] == [
        i.interest_minor for i in standard.installments[1:]
    ]
    # Interest accrues over the whole first period, from the disbursement day.
    halfway = date(2025, 1, 15) + (first.due_on - date(2025, 1, 15)) / 2
    accrued = loan_balance(session=session, loan_id=loan.id, as_of=halfway).accrued_interest_minor
    elapsed = (halfway - date(2025, 1, 15)).days
    period = (first.due_on - date(2025, 1, 15)).days
    assert accrued == half_up(Decimal(first.interest_minor * elapsed) / period)


def half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))
