"""Loan products and their servicing rules, read from `products.yaml` (rules are data)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from models import Amortization
from servicing.errors import InvalidInput
from servicing.money import check_currency, to_minor

PRODUCTS_FILE = Path(__file__).with_name("products.yaml")


class Overpayment(StrEnum):
    """What happens to money beyond what is due."""

    REDUCE_PRINCIPAL = "reduce_principal"
    HOLD_CREDIT = "hold_credit"


@dataclass(frozen=True)
class ExtensionRules:
    """When a deferral may be granted automatically, and what it costs."""

    months_allowed: tuple[int, ...]
    max_days_past_due: int
    # Above max_days_past_due and up to this, a human decides; beyond it the answer is no.
    refer_max_days_past_due: int
    max_per_12_months: int
    max_per_loan: int
    fee: dict[str, Decimal]

    def fee_minor(self, currency: str) -> int:
        """The extension fee in the loan's currency (none where the product sets none)."""
        amount = self.fee.get(currency.upper())
        return 0 if amount is None else to_minor(amount, currency, field="fee")


@dataclass(frozen=True)
class RestructuringRules:
    """Which restructuring offers are computed, and which need a supervisor."""

    extra_months: tuple[int, ...]
    max_term_months: int
    hardship_rate_factor: Decimal
    hardship_extra_months: int
    settlement_discount: Decimal
    settlement_valid_days: int
    approval_discount_above: Decimal
    offer_valid_days: int


@dataclass(frozen=True)
class Product:
    """A loan product: how its schedule is built and how it is serviced."""

    code: str
    name: str
    amortization: Amortization
    overpayment: Overpayment
    extension: ExtensionRules
    restructuring: RestructuringRules


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value))


def _product(code: str, raw: dict[str, Any]) -> Product:
    ext, res = raw["extension"], raw["restructuring"]
    return Product(
        code=code,
        name=str(raw["name"]),
        amortization=Amortization(raw["amortization"]),
        overpayment=Overpayment(raw["overpayment"]),
        extension=ExtensionRules(
            months_allowed=tuple(int(m) for m in ext["months_allowed"]),
            max_days_past_due=int(ext["max_days_past_due"]),
            refer_max_days_past_due=int(ext["refer_max_days_past_due"]),
            max_per_12_months=int(ext["max_per_12_months"]),
            max_per_loan=int(ext["max_per_loan"]),
            fee={check_currency(c): _decimal(a) for c, a in (ext.get("fee") or {}).items()},
        ),
        restructuring=RestructuringRules(
            extra_months=tuple(int(m) for m in res["extra_months"]),
            max_term_months=int(res["max_term_months"]),
            hardship_rate_factor=_decimal(res["hardship_rate_factor"]),
            hardship_extra_months=int(res["hardship_extra_months"]),
            settlement_discount=_decimal(res["settlement_discount"]),
            settlement_valid_days=int(res["settlement_valid_days"]),
            approval_discount_above=_decimal(res["approval_discount_above"]),
            offer_valid_days=int(res["offer_valid_days"]),
        ),
    )


@dataclass(frozen=True)
class Catalogue:
    """Every product on offer, and the one used when a loan names none."""

    default: str
    products: dict[str, Product]

    def get(self, code: str | None) -> Product:
        """The product `code` (the default when None), or `InvalidInput` naming the choices."""
        key = self.default if code is None else code
        try:
            return self.products[key]
        except KeyError:
            known = ", ".join(sorted(self.products))
            raise InvalidInput(
                f"unknown product {key!r}; known: {known}", field="product"
            ) from None


def load_catalogue(path: Path = PRODUCTS_FILE) -> Catalogue:
    """The product catalogue in `path`."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    products = {code: _product(code, spec) for code, spec in raw["products"].items()}
    return Catalogue(default=str(raw["default_product"]), products=products)


@cache
def catalogue() -> Catalogue:
    """The shipped product catalogue, read once."""
    return load_catalogue()
