"""Amortization schedules generated to the minor unit.

Annuity (French) schedules follow the exact annuity: each installment's principal is the change in
the exact cumulative principal, rounded half-up (so the parts sum to the loan amount exactly, and no
installment drifts by more than a cent from the exact schedule, however long the term); interest is
the monthly rate on the principal actually outstanding, rounded half-up. The payment is therefore
level to within one minor unit. Equal-principal schedules repay the same principal each month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext

from models import Amortization
from servicing.calendar import monthly_due_dates
from servicing.errors import InvalidInput
from servicing.money import round_half_up

MONTHS_PER_YEAR = 12
DAYS_PER_YEAR = 365
MAX_TERM_MONTHS = 600
MAX_ANNUAL_RATE = Decimal(1)
_PRECISION = 50


@dataclass(frozen=True)
class ScheduledInstallment:
    """One installment of a generated schedule, in minor units."""

    seq: int
    due_on: date
    principal_minor: int
    interest_minor: int

    @property
    def total_minor(self) -> int:
        return self.principal_minor + self.interest_minor


def monthly_rate(annual_rate: Decimal) -> Decimal:
    """The periodic rate of a nominal annual rate compounded monthly."""
    return annual_rate / MONTHS_PER_YEAR


def period_interest(
    outstanding_minor: int, annual_rate: Decimal, *, days: int | None = None
) -> int:
    """Interest for one period on `outstanding_minor`: a month (annual / 12), or `days` / 365.

    `days` is given for an odd first period only (first due date not one month after
    disbursement), so a 59-day first period is charged 59 days, not a month.
    """
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        # Multiply before dividing: annual_rate / 12 is a repeating decimal, and truncating it
        # first turns exact halves (x.5) into x.4999... that round down.
        if days is None:
            return round_half_up(Decimal(outstanding_minor) * annual_rate / MONTHS_PER_YEAR)
        return round_half_up(Decimal(outstanding_minor) * annual_rate * days / DAYS_PER_YEAR)


def check_terms(*, principal_minor: int, annual_rate: Decimal, term_months: int) -> None:
    """Refuse amounts, rates and terms no schedule can be built for."""
    if principal_minor <= 0:
        raise InvalidInput("principal must be greater than zero", field="principal")
    if not annual_rate.is_finite() or not Decimal(0) <= annual_rate <= MAX_ANNUAL_RATE:
        raise InvalidInput(
            "annual_rate must be a fraction between 0 and 1 (0.1299 for 12.99%)",
            field="annual_rate",
        )
    if not 1 <= term_months <= MAX_TERM_MONTHS:
        raise InvalidInput(
            f"term_months must be between 1 and {MAX_TERM_MONTHS}", field="term_months"
        )


def annuity_payment(principal: Decimal, rate: Decimal, periods: int) -> Decimal:
    """The exact level payment that repays `principal` over `periods` at periodic `rate`."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        if rate == 0:
            return principal / periods
        return principal * rate / (1 - (1 + rate) ** -periods)


def _cumulative_principal(principal: Decimal, rate: Decimal, periods: int) -> list[Decimal]:
    """Exact principal repaid after each of the first `periods - 1` annuity payments."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        if rate == 0:
            return [principal * k / periods for k in range(1, periods)]
        payment = annuity_payment(principal, rate, periods)
        factor, growth, repaid = 1 + rate, Decimal(1), []
        for _ in range(1, periods):
            growth *= factor
            repaid.append(principal - (principal * growth - payment * (growth - 1) / rate))
        return repaid


def _build(
    cumulative: list[int],
    *,
    principal_minor: int,
    annual_rate: Decimal,
    first_due_on: date,
    first_period_days: int | None,
) -> list[ScheduledInstallment]:
    installments: list[ScheduledInstallment] = []
    outstanding = principal_minor
    previous = 0
    for seq, (due_on, repaid) in enumerate(
        zip(monthly_due_dates(first_due_on, len(cumulative)), cumulative, strict=True), start=1
    ):
        principal_part = repaid - previous
        days = first_period_days if seq == 1 else None
        interest = period_interest(outstanding, annual_rate, days=days)
        installments.append(ScheduledInstallment(seq, due_on, principal_part, interest))
        outstanding -= principal_part
        previous = repaid
    return installments


def generate_schedule(
    *,
    principal_minor: int,
    annual_rate: Decimal,
    term_months: int,
    first_due_on: date,
    amortization: Amortization = Amortization.ANNUITY,
    first_period_days: int | None = None,
) -> list[ScheduledInstallment]:
    """The installments that repay `principal_minor` over `term_months` monthly payments.

    `first_period_days` is the length of an odd first period (first due date not one month after
    disbursement): the first installment's interest is then charged for those days (annual rate x
    days / 365); the principal parts do not change.
    """
    check_terms(principal_minor=principal_minor, annual_rate=annual_rate, term_months=term_months)
    rate = monthly_rate(annual_rate)
    principal = Decimal(principal_minor)
    if amortization is Amortization.ANNUITY:
        cumulative = [round_half_up(x) for x in _cumulative_principal(principal, rate, term_months)]
    else:
        cumulative = [round_half_up(principal * k / term_months) for k in range(1, term_months)]
    cumulative.append(principal_minor)  # the last installment repays exactly what is left
    return _build(
        cumulative,
        principal_minor=principal_minor,
        annual_rate=annual_rate,
        first_due_on=first_due_on,
        first_period_days=first_period_days,
    )
