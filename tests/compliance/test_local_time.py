"""Local time for the contact rules: windows in every candidate zone, across the 2026 DST changes.

US clocks spring forward on 2026-03-08 (02:00 -> 03:00) and fall back on 2026-11-01
(02:00 -> 01:00); UK clocks on 2026-03-29 (01:00 -> 02:00) and 2026-10-25 (02:00 -> 01:00).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from compliance.local_time import (
    Blocked,
    Window,
    allowed_in_all,
    candidate_zones,
    day_start,
    first_instant_at,
    local_date,
    next_allowed,
    phone_zones,
)

NY, LA, LONDON, SHANGHAI = (
    "America/New_York",
    "America/Los_Angeles",
    "Europe/London",
    "Asia/Shanghai",
)
WINDOW = Window(time(8), time(21))


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def wall(
    zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0, fold: int = 0
) -> datetime:
    """A local wall-clock reading in `zone`, as an aware instant."""
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone), fold=fold)


@pytest.mark.parametrize(
    ("zones", "at", "expected"),
    [
        # Spring forward, New York: 07:59 EDT is 11:59 UTC (it would be 12:59 in winter).
        ((NY,), utc(2026, 3, 8, 11, 59), False),
        ((NY,), utc(2026, 3, 8, 12, 0), True),
        ((NY,), utc(2026, 3, 8, 1, 59), True),  # 20:59 EST on the 7th
        ((NY,), utc(2026, 3, 8, 2, 0), False),  # 21:00 EST: the end is exclusive
        # Fall back, New York: 08:00 EST is 13:00 UTC.
        ((NY,), utc(2026, 11, 1, 12, 30), False),
        ((NY,), utc(2026, 11, 1, 13, 0), True),
        # Los Angeles on both change days.
        ((LA,), utc(2026, 3, 8, 14, 59), False),
        ((LA,), utc(2026, 3, 8, 15, 0), True),
        ((LA,), utc(2026, 11, 1, 15, 59), False),
        ((LA,), utc(2026, 11, 2, 4, 59), True),  # 20:59 PST
        # London: 08:00 BST is 07:00 UTC on 2026-03-29, 08:00 GMT is 08:00 UTC on 2026-10-25.
        ((LONDON,), utc(2026, 3, 29, 6, 59), False),
        ((LONDON,), utc(2026, 3, 29, 7, 0), True),
        ((LONDON,), utc(2026, 10, 25, 7, 59), False),
        ((LONDON,), utc(2026, 10, 25, 8, 0), True),
        # Los Angeles address, New York phone: 08:00 PDT is 11:00 EDT, 18:30 PDT is 21:30 EDT.
        ((LA, NY), utc(2026, 3, 8, 15, 0), True),
        ((LA, NY), utc(2026, 3, 9, 1, 30), False),
        ((LA,), utc(2026, 3, 9, 1, 30), True),
    ],
)
def test_allowed_in_all(zones: tuple[str, ...], at: datetime, expected: bool) -> None:
    assert allowed_in_all(at, zones, WINDOW) is expected


@pytest.mark.parametrize(
    ("zones", "at", "expected"),
    [
        # 01:30 EST on the spring-forward night: next is 08:00 EDT, not 08:00 EST.
        ((NY,), utc(2026, 3, 8, 6, 30), wall(NY, 2026, 3, 8, 8)),
        ((NY,), utc(2026, 3, 8, 6, 30), utc(2026, 3, 8, 12)),
        # 21:30 EDT on the night before falling back: next is 08:00 EST.
        ((NY,), utc(2026, 11, 1, 1, 30), utc(2026, 11, 1, 13)),
        ((LA,), utc(2026, 3, 8, 9), utc(2026, 3, 8, 15)),
        ((LA,), utc(2026, 11, 1, 9), utc(2026, 11, 1, 16)),
        ((LONDON,), utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 7)),
        ((LONDON,), utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 8)),
        # Inside the window: the instant itself.
        ((LONDON,), utc(2026, 10, 25, 12, 34, 56), utc(2026, 10, 25, 12, 34, 56)),
        # Ambiguous: 18:30 PDT / 21:30 EDT -> 08:00 PDT (11:00 EDT) the next day.
        ((LA, NY), utc(2026, 3, 9, 1, 30), utc(2026, 3, 9, 15)),
        # Ambiguous on the US fall-back day: 08:00 PST is 16:00 UTC.
        ((LA, NY), utc(2026, 11, 1, 14), utc(2026, 11, 1, 16)),
        # New York and Shanghai overlap 20:00-21:00 EDT (08:00-09:00 CST) in the evening.
        ((NY, SHANGHAI), utc(2026, 3, 9, 13, 30), utc(2026, 3, 10, 0)),
    ],
)
def test_next_allowed(zones: tuple[str, ...], at: datetime, expected: datetime) -> None:
    assert next_allowed(at, zones, WINDOW) == expected


def test_next_allowed_is_inside_every_zone_and_earliest() -> None:
    """Brute force over a DST week, minute by minute, agrees with the boundary sweep."""
    zones = (LA, NY)
    start = utc(2026, 10, 31, 20)
    minute = timedelta(minutes=1)
    for offset in range(0, 36 * 60, 47):
        at = start + offset * minute
        found = next_allowed(at, zones, WINDOW)
        assert found is not None
        assert allowed_in_all(found, zones, WINDOW)
        probe = at
        while probe < found:
            assert not allowed_in_all(probe, zones, WINDOW)
            probe += minute


def test_blocked_time_inside_the_skipped_hour_ends_at_the_transition() -> None:
    # Sunday 2026-03-08, New York: blocked 01:00-02:30; 02:30 never happens, 03:00 EDT comes.
    blocked = Blocked(frozenset({7}), time(1), time(2, 30))
    assert next_allowed(utc(2026, 3, 8, 6, 10), (NY,), None, [blocked]) == utc(2026, 3, 8, 7)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        # Sunday 2026-11-01, New York: 01:00-01:30 happens twice (EDT, then EST).
        (wall(NY, 2026, 11, 1, 1, 10, fold=0), wall(NY, 2026, 11, 1, 1, 30, fold=0)),
        (wall(NY, 2026, 11, 1, 1, 40, fold=0), wall(NY, 2026, 11, 1, 1, 40, fold=0)),
        (wall(NY, 2026, 11, 1, 1, 10, fold=1), wall(NY, 2026, 11, 1, 1, 30, fold=1)),
    ],
)
def test_blocked_time_in_the_repeated_hour_is_blocked_both_times(
    at: datetime, expected: datetime
) -> None:
    blocked = Blocked(frozenset({7}), time(1), time(1, 30))
    found = next_allowed(at, (NY,), None, [blocked])
    assert found == expected.astimezone(UTC)


def test_blocked_time_past_midnight_and_weekdays() -> None:
    # Friday 22:00 to Saturday 07:00 (starts on Friday = 5) in London, in winter.
    blocked = Blocked(frozenset({5}), time(22), time(7))
    friday_late = utc(2026, 1, 9, 23)
    assert next_allowed(friday_late, (LONDON,), None, [blocked]) == utc(2026, 1, 10, 7)
    thursday_late = utc(2026, 1, 8, 23)
    assert next_allowed(thursday_late, (LONDON,), None, [blocked]) == thursday_late


def test_window_and_blocked_together() -> None:
    # Blocked Monday to Friday 08:00-12:00 in New York: Monday 07:00 EST -> Monday 12:00 EST.
    blocked = Blocked(frozenset({1, 2, 3, 4, 5}), time(8), time(12))
    assert next_allowed(utc(2026, 1, 12, 12), (NY,), WINDOW, [blocked]) == utc(2026, 1, 12, 17)


def test_nothing_allowed_gives_none() -> None:
    every_day = Blocked(frozenset(range(1, 8)), time(0), time(0))
    assert next_allowed(utc(2026, 1, 12, 12), (NY,), WINDOW, [every_day]) is None


def test_first_instant_at_for_skipped_and_repeated_times() -> None:
    assert first_instant_at(date(2026, 3, 8), time(2, 30), NY) == utc(2026, 3, 8, 7)
    assert first_instant_at(date(2026, 11, 1), time(1, 30), NY) == utc(2026, 11, 1, 5, 30)
    assert first_instant_at(date(2026, 3, 29), time(1, 30), LONDON) == utc(2026, 3, 29, 1)
    assert first_instant_at(date(2026, 10, 25), time(1, 30), LONDON) == utc(2026, 10, 25, 0, 30)
    assert first_instant_at(date(2026, 3, 9), time(9), NY) == utc(2026, 3, 9, 13)


def test_day_start_and_local_date() -> None:
    assert day_start(date(2026, 3, 8), NY) == utc(2026, 3, 8, 5)
    assert day_start(date(2026, 3, 9), NY) == utc(2026, 3, 9, 4)
    assert day_start(date(2026, 10, 25), LONDON) == utc(2026, 10, 24, 23)
    assert day_start(date(2026, 10, 26), LONDON) == utc(2026, 10, 26, 0)
    assert local_date(utc(2026, 3, 8, 3, 30), LA) == date(2026, 3, 7)


def test_window_must_start_before_it_ends() -> None:
    with pytest.raises(ValueError, match="starts before"):
        Window(time(21), time(8))


def test_candidate_zones_from_address_and_phones() -> None:
    assert phone_zones("+12125550100") == (NY,)
    assert phone_zones("+14155552671") == (LA,)
    assert phone_zones("+8613812345678") == (SHANGHAI,)
    assert phone_zones("not a number") == ()
    assert candidate_zones(LA, ["+12125550100"]) == (LA, NY)
    assert candidate_zones(LA, ["+14155552671"]) == (LA,)
    assert candidate_zones(NY, []) == (NY,)
