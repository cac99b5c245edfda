"""Local time for contact rules: candidate zones, hour windows and the next allowed instant.

A borrower's local time is uncertain when the address zone and a phone number's zones disagree;
every rule here then asks that an instant be allowed in *all* candidate zones (US-HOURS-AMBIG).
Daylight-saving transitions are handled with `zoneinfo`: a local boundary that does not exist
(spring forward) is crossed at the transition itself, one that happens twice (fall back) is
crossed twice, and the transition instants are checked too, since the wall clock jumps there.

Everything is a pure function of its arguments, cached where portfolios repeat the same
question (one instant, a handful of zone sets).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as phone_timezone

_SECOND = timedelta(seconds=1)
# How far ahead next_allowed looks: a week of stated inconvenient times plus a day either side.
HORIZON_DAYS = 9


@dataclass(frozen=True)
class Window:
    """Allowed local wall-clock times `[start, end)`; `start` before `end` on one day."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError("a window starts before it ends")

    def contains(self, wall: time) -> bool:
        return self.start <= wall < self.end


@dataclass(frozen=True)
class Blocked:
    """A stated inconvenient local time `[starts, ends)` on some ISO weekdays (1 = Monday).

    `ends <= starts` runs past midnight into the next day (22:00-07:00); the weekday is the one
    it starts on. `starts == ends` blocks the whole of each named day.
    """

    weekdays: frozenset[int]
    starts: time
    ends: time

    def covers(self, local: datetime) -> bool:
        wall, weekday = local.time(), local.isoweekday()
        if self.starts < self.ends:
            return weekday in self.weekdays and self.starts <= wall < self.ends
        if self.starts == self.ends:
            return weekday in self.weekdays
        previous = 7 if weekday == 1 else weekday - 1
        return (weekday in self.weekdays and wall >= self.starts) or (
            previous in self.weekdays and wall < self.ends
        )


@cache
def zone(name: str) -> ZoneInfo:
    """The `ZoneInfo` for an IANA name (one object per name)."""
    return ZoneInfo(name)


@lru_cache(maxsize=200_000)
def phone_zones(e164: str) -> tuple[str, ...]:
    """The IANA zones a number's prefix can be in (none when libphonenumber does not know)."""
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return ()
    # Toll-free and other non-geographic numbers say nothing about where the borrower is:
    # libphonenumber answers with every zone of the country (42 for +1 800), which would leave
    # almost no allowed hour under US-HOURS-AMBIG.
    if phonenumbers.number_type(number) in _NON_GEOGRAPHIC:
        return ()
    zones = phone_timezone.time_zones_for_number(number)
    return tuple(sorted(z for z in zones if z != "Etc/Unknown"))


_NON_GEOGRAPHIC = frozenset(
    {
        phonenumbers.PhoneNumberType.TOLL_FREE,
        phonenumbers.PhoneNumberType.PREMIUM_RATE,
        phonenumbers.PhoneNumberType.SHARED_COST,
        phonenumbers.PhoneNumberType.PERSONAL_NUMBER,
        phonenumbers.PhoneNumberType.UAN,
        phonenumbers.PhoneNumberType.VOIP,
    }
)


def candidate_zones(address_zone: str, phones: Iterable[str] = ()) -> tuple[str, ...]:
    """The address zone first, then every zone the phone numbers can be in, each once."""
    found = dict.fromkeys([address_zone])
    for number in phones:
        found.update(dict.fromkeys(phone_zones(number)))
    return tuple(found)


def local(at: datetime, zone_name: str) -> datetime:
    """`at` on the wall clock of `zone_name`."""
    return at.astimezone(zone(zone_name))


def _ok(at: datetime, zones: tuple[str, ...], window: Window | None,
        blocked: tuple[Blocked, ...]) -> bool:  # fmt: skip
    for name in zones:
        wall = at.astimezone(zone(name))
        if window is not None and not window.contains(wall.time()):
            return False
        if any(b.covers(wall) for b in blocked):
            return False
    return True


@lru_cache(maxsize=4096)
def allowed_in_all(at: datetime, zones: tuple[str, ...], window: Window) -> bool:
    """Whether `at` is inside `window` on the wall clock of every zone in `zones`."""
    return _ok(at, zones, window, ())


def first_instant_at(day: date, wall: time, zone_name: str) -> datetime:
    """The first instant (UTC) the wall clock of `zone_name` reads `wall` on `day`, or later.

    Ambiguous (repeated) times give the first occurrence; times skipped by a spring-forward
    transition give the transition instant.
    """
    tz = zone(zone_name)
    naive = datetime.combine(day, wall)  # wall clock; the zone comes next
    earlier = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    later = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    low, high = min(earlier, later), max(earlier, later)
    if low.astimezone(tz).replace(tzinfo=None) == naive:
        return low
    # Skipped: the wall clock jumps over `wall` at the transition between the two readings.
    return _transition_between(low, high, tz)


def _transition_between(low: datetime, high: datetime, tz: ZoneInfo) -> datetime:
    """The instant in (low, high] where the offset of `tz` changes (to the second)."""
    before = low.astimezone(tz).utcoffset()
    while high - low > _SECOND:
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle <= low:
            middle = low + _SECOND
        if middle.astimezone(tz).utcoffset() == before:
            low = middle
        else:
            high = middle
    return high


def _transitions(start: datetime, end: datetime, tz: ZoneInfo) -> list[datetime]:
    """Offset changes of `tz` between two instants (sampled every 6 hours, then bisected)."""
    found: list[datetime] = []
    step = timedelta(hours=6)
    here = start.replace(microsecond=0)
    offset = here.astimezone(tz).utcoffset()
    while here < end:
        there = here + step
        there_offset = there.astimezone(tz).utcoffset()
        if there_offset != offset:
            found.append(_transition_between(here, there, tz))
        here, offset = there, there_offset
    return found


def next_allowed(
    at: datetime,
    zones: Iterable[str],
    window: Window | None,
    blocked: Iterable[Blocked] = (),
) -> datetime | None:
    """The earliest instant >= `at` inside `window` in every zone and outside every `blocked`.

    None when nothing within the horizon (HORIZON_DAYS) qualifies, e.g. a borrower who called
    every hour of every day inconvenient.
    """
    canonical = tuple(sorted(set(blocked), key=lambda b: (sorted(b.weekdays), b.starts, b.ends)))
    return _next_allowed(at.astimezone(UTC), tuple(dict.fromkeys(zones)), window, canonical)


@lru_cache(maxsize=65_536)
def _next_allowed(
    at: datetime, zones: tuple[str, ...], window: Window | None, blocked: tuple[Blocked, ...]
) -> datetime | None:
    if _ok(at, zones, window, blocked):
        return at
    walls: set[time] = set()
    if window is not None:
        walls.update((window.start, window.end))
    for b in blocked:
        walls.update((b.starts, b.ends, time(0)))  # weekdays change at midnight
    horizon = at + timedelta(days=HORIZON_DAYS)
    candidates: set[datetime] = set()
    for name in zones:
        tz = zone(name)
        first = at.astimezone(tz).date() - timedelta(days=1)
        for offset in range(HORIZON_DAYS + 2):
            day = first + timedelta(days=offset)
            naive_day = [datetime.combine(day, w) for w in walls]
            for naive in naive_day:
                for fold in (0, 1):
                    candidates.add(naive.replace(tzinfo=tz, fold=fold).astimezone(UTC))
            candidates.update(first_instant_at(day, w, name) for w in walls)
        candidates.update(_transitions(at, horizon, tz))
    for candidate in sorted(c for c in candidates if at < c <= horizon):
        if _ok(candidate, zones, window, blocked):
            return candidate
    return None


@lru_cache(maxsize=65_536)
def day_start(day: date, zone_name: str) -> datetime:
    """The first instant (UTC) of local date `day` in `zone_name`."""
    return first_instant_at(day, time(0), zone_name)


def local_date(at: datetime, zone_name: str) -> date:
    """The local calendar date of `at` in `zone_name`."""
    return at.astimezone(zone(zone_name)).date()
