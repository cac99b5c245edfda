"""Money: exact decimals in code, integer minor units in the database, ISO 4217 currencies.

Minor-unit exponents come from CLDR (through Babel), so JPY has none and USD, GBP, CNY have two.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache

from babel.numbers import get_currency_precision, list_currencies

from servicing.errors import InvalidInput

# The largest amount accepted anywhere (API, CSV, code), in minor units: far above any real loan,
# far below what a 64-bit column holds even after sums over a portfolio.
MAX_MINOR = 10**15


@cache
def _known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def check_currency(code: str, *, field: str = "currency") -> str:
    """The upper-cased ISO code, or `InvalidInput` for an unknown one."""
    normalized = code.strip().upper()
    if len(normalized) != 3 or normalized not in _known_currencies():
        raise InvalidInput(
            f"unknown currency {code!r}; use an ISO 4217 code such as USD", field=field
        )
    return normalized


def exponent(currency: str) -> int:
    """How many decimal places the currency's minor unit has."""
    return int(get_currency_precision(check_currency(currency)))


def round_half_up(value: Decimal) -> int:
    """`value` (in minor units) rounded half-up to a whole minor unit."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def decimal_places(value: Decimal) -> int:
    """How many decimal places a finite decimal really has (trailing zeros do not count).

    Read from the digits, not through `normalize()`, which underflows 1E-999999999 to zero.
    """
    _, digits, exp = value.as_tuple()
    assert isinstance(exp, int)
    trailing = len(digits) - len("".join(str(d) for d in digits).rstrip("0"))
    return max(-(exp + trailing), 0)


def to_minor(amount: Decimal | str | int, currency: str, *, field: str = "amount") -> int:
    """Exact minor units of `amount`; extra decimal places are an error, never rounded away."""
    try:
        value = Decimal(str(amount))
    except InvalidOperation as exc:
        raise InvalidInput(f"{amount!r} is not a number", field=field) from exc
    if not value.is_finite():
        raise InvalidInput(f"{amount!r} is not a finite amount", field=field)
    places = exponent(currency)
    limit = from_minor(MAX_MINOR, currency)
    # Checked on the decimal's own digits and exponent before scaling, so 1E+999999999 never
    # becomes a billion-digit integer and 1E-999999999 never underflows to zero.
    if not value.is_zero() and value.adjusted() > len(str(MAX_MINOR)):
        raise InvalidInput(f"{field} must be at most {limit} {currency.upper()}", field=field)
    if not value.is_zero() and decimal_places(value) > places:
        raise InvalidInput(
            f"{amount} has more decimal places than {currency.upper()} allows", field=field
        )
    scaled = value.scaleb(places)
    if abs(scaled) > MAX_MINOR:
        raise InvalidInput(f"{field} must be at most {limit} {currency.upper()}", field=field)
    return int(scaled)


def from_minor(minor: int, currency: str) -> Decimal:
    """The decimal amount of `minor` units, with the currency's number of places."""
    places = exponent(currency)
    return Decimal(minor).scaleb(-places).quantize(Decimal(1).scaleb(-places))


def positive_minor(amount: Decimal | str | int, currency: str, *, field: str = "amount") -> int:
    """Minor units of an amount that must be greater than zero."""
    minor = to_minor(amount, currency, field=field)
    if minor <= 0:
        raise InvalidInput(f"{field} must be greater than zero", field=field)
    return minor
