"""Calendar arithmetic for schedules: monthly due dates that keep their day of the month."""

from __future__ import annotations

import calendar
from datetime import date


def add_months(anchor: date, months: int) -> date:
    """`anchor` moved by whole months, the day clamped to the month's end (Jan 31 -> Feb 28)."""
    index = anchor.year * 12 + (anchor.month - 1) + months
    year, month = divmod(index, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(anchor.day, last_day))


def monthly_due_dates(first_due_on: date, count: int) -> list[date]:
    """`count` due dates a month apart, each computed from the first so short months don't drift."""
    return [add_months(first_due_on, k) for k in range(count)]
