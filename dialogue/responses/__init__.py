"""What Settle says: reply templates per language, with money and dates in the reader's locale.

Templates live in `<language>.yaml` beside this module, one key per thing said, `{name}`
placeholders filled by `render`. Money and dates are formatted by Babel (CLDR) for the
language's locale, so a Chinese reader sees "¥1,500.00" and "2026年12月5日".
"""

from __future__ import annotations

import functools
import string
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from importlib import resources
from typing import Any

import yaml
from babel.dates import format_date
from babel.numbers import format_currency

from servicing import from_minor

LOCALES = {"en": "en_US", "zh": "zh_CN"}
DEFAULT_LANGUAGE = "en"


class MissingTemplate(LookupError):
    """No template of that key in that language: a bug, caught by the template tests."""


@functools.cache
def templates(language: str) -> dict[str, str]:
    """Every template of `language`."""
    text = (resources.files("dialogue.responses") / f"{language}.yaml").read_text("utf-8")
    loaded = yaml.safe_load(text)
    if not isinstance(loaded, dict):
        raise MissingTemplate(f"{language}.yaml is not a mapping of templates")
    return {str(key): str(value).strip() for key, value in loaded.items()}


def languages() -> tuple[str, ...]:
    return tuple(LOCALES)


def placeholders(template: str) -> set[str]:
    """The `{names}` a template needs."""
    return {name for _text, name, _spec, _conv in string.Formatter().parse(template) if name}


def money(minor: int, currency: str, language: str) -> str:
    """An amount in minor units, written for the language's locale."""
    return str(format_currency(from_minor(minor, currency), currency, locale=LOCALES[language]))


def money_decimal(amount: Decimal, currency: str, language: str) -> str:
    return str(format_currency(amount, currency, locale=LOCALES[language]))


def day(value: date, language: str) -> str:
    """A date, written for the language's locale ("Dec 5, 2026", "2026年12月5日")."""
    return str(format_date(value, format="medium", locale=LOCALES[language]))


@dataclass(frozen=True)
class Say:
    """One reply to render: a template key, its values, and the buttons offered with it."""

    key: str
    values: dict[str, Any]
    buttons: tuple[tuple[str, str], ...] = ()  # (template key of the title, payload)


def render(key: str, language: str, **values: Any) -> str:
    """The template `key` in `language` with `values` filled in."""
    table = templates(language if language in LOCALES else DEFAULT_LANGUAGE)
    try:
        template = table[key]
    except KeyError:
        raise MissingTemplate(f"no template {key!r} in {language}.yaml") from None
    return template.format(**values)
