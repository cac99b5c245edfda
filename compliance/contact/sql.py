"""SQL helpers of the set-based loading: id filters, Core row fetching, local days in SQL.

Rows are read as plain tuples on the session's connection (no ORM objects); instants may be
read raw and parsed here, which is much cheaper than the column type's result processing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, or_, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from compliance.contact.records import HISTORY_DAYS
from compliance.local_time import day_start, local_date
from models import Borrower, ContactAttempt

# Ids per IN list (well under SQLite's bind-parameter limit); runs of consecutive ids go as ranges.
_IN_CHUNK = 5000
_RANGE_MIN = 32
_DENSE = 4


def _id_filters(column: Any, ids: Iterable[int]) -> Iterator[ColumnElement[bool]]:
    """Conditions covering `ids` (and maybe more): one range when the ids fill at least a quarter
    of their span, else long runs of consecutive ids as ranges and the rest as IN lists.

    Callers look rows up by the ids they asked for, so rows of other ids are harmless.
    """
    ordered = sorted(set(ids))
    if not ordered:
        return
    if len(ordered) * _DENSE >= ordered[-1] - ordered[0] + 1:
        yield column.between(ordered[0], ordered[-1])
        return
    runs: list[list[int]] = []
    for i in ordered:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    singles: list[int] = []
    ranges: list[ColumnElement[bool]] = []
    for low, high in runs:
        if high - low + 1 >= _RANGE_MIN:
            ranges.append(column.between(low, high))
        else:
            singles.extend(range(low, high + 1))
    for start in range(0, len(ranges), 200):
        yield or_(*ranges[start : start + 200])
    for start in range(0, len(singles), _IN_CHUNK):
        yield column.in_(singles[start : start + _IN_CHUNK])


def _rows(session: Session, query: Any, column: Any, ids: Iterable[int]) -> Iterator[Any]:
    # Core execution on the session's connection: plain column rows need no ORM loading (the
    # caller flushed first, as the session's autoflush would have).
    connection = session.connection()
    for condition in _id_filters(column, ids):
        yield from connection.execute(query.where(condition)).all()


def _day_expression(zones: Sequence[str], at: datetime) -> tuple[Any, datetime]:
    """SQL giving each attempt's local day (as a date ordinal) in its borrower's address zone.

    The day boundaries are computed here per zone (zoneinfo, DST-correct) and compared in SQL,
    so the database groups by local day without knowing time zones. Returns the expression
    (-1 outside the history window) and the earliest instant any zone's window starts.
    """
    whens: dict[str, Any] = {}
    earliest = at
    for name in zones:
        today = local_date(at, name)
        days = [today - timedelta(days=back) for back in range(HISTORY_DAYS - 1, -1, -1)]
        starts = [day_start(d, name) for d in days]
        earliest = min(earliest, starts[0])
        branches: list[tuple[Any, Any]] = [(ContactAttempt.at < starts[0], -1)]
        branches += [
            (ContactAttempt.at < day_start(d + timedelta(days=1), name), d.toordinal())
            for d in days
        ]
        whens[name] = case(*branches, else_=-1)
    return case(whens, value=Borrower.time_zone, else_=-1), earliest


def _instant(value: Any) -> datetime:
    """A stored instant read raw: SQLite gives text (or naive UTC), PostgreSQL an aware value.

    Reading raw and parsing with `fromisoformat` costs a fraction of the column type's own
    processing, which matters at a hundred thousand rows.
    """
    instant: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def _maybe_instant(value: Any) -> datetime | None:
    return None if value is None else _instant(value)


def _raw(column: Any) -> Any:
    """`column` without its type's result processing (see `_instant`)."""
    return type_coerce(column, NullType())
