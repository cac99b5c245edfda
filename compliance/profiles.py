"""Jurisdiction profiles: which contact rules are on, with their numbers and reason codes.

Rules are data: `compliance/profiles/<name>.yaml` holds one section per rule of
shared/COMPLIANCE.md that decides *whether* a contact may happen, plus `forbearance` (what a
borrower in arrears must be offered, read by `compliance.forbearance`). `load_profile(name)` reads,
checks and caches it as frozen dataclasses; a typo in a key or an unknown channel stops loading
with a message naming the file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import time, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from models import Channel

PROFILES_DIR = Path(__file__).with_name("profiles")
DEFAULT_PROFILE = "us_reg_f"


class ProfileError(ValueError):
    """A profile that does not exist or does not parse."""


@dataclass(frozen=True)
class Rule:
    """A rule that is on or off and names the code its refusals carry."""

    enabled: bool
    code: str


@dataclass(frozen=True)
class HoursRule(Rule):
    """Contacts only inside a local-time window, in every candidate zone."""

    ambiguous_code: str
    start: time
    end: time
    channels: frozenset[Channel]
    borrower_initiated_exempt: bool


@dataclass(frozen=True)
class InconvenientRule(Rule):
    """Times the borrower called inconvenient are blocked; their own messages answered once."""

    answer_borrower_once: bool


@dataclass(frozen=True)
class CallsPerDebtRule(Rule):
    """At most `max_calls` placed calls per debt in any `days` consecutive local days."""

    max_calls: int
    days: int


@dataclass(frozen=True)
class AfterConversationRule(Rule):
    """No call about a debt for `days` local days after a phone conversation (its day is day 1)."""

    days: int


@dataclass(frozen=True)
class CallSpacingRule(Rule):
    """A gap between unanswered calls to one number, and a daily call cap per borrower."""

    min_gap_minutes: int
    max_calls_per_day: int

    @property
    def min_gap(self) -> timedelta:
        return timedelta(minutes=self.min_gap_minutes)


@dataclass(frozen=True)
class VolumeRule(Rule):
    """A cap on contacts per borrower per local day and per 7 local days, across channels."""

    per_day: int
    per_week: int
    borrower_initiated_exempt: bool


@dataclass(frozen=True)
class OptOutRule(Rule):
    """Nothing on an opted-out channel but one confirmation or a reply to the borrower."""

    reply_to_borrower_once: bool


@dataclass(frozen=True)
class HoldRule(Rule):
    """An account hold (cease, attorney, bankruptcy, dispute) stops collection contact."""


@dataclass(frozen=True)
class WrittenOffRule(Rule):
    """Written-off or settled loans get no collection contact."""

    borrower_initiated_exempt: bool


@dataclass(frozen=True)
class AutodialConsentRule(Rule):
    """Automated calls to a mobile need consent; a revocation counts at once."""

    revoke_code: str
    number_on_file_counts: bool


@dataclass(frozen=True)
class SmsNumberRule(Rule):
    """Texts only to numbers the borrower texted from or consented to within `consent_days`."""

    consent_days: int
    channels: frozenset[Channel]


@dataclass(frozen=True)
class WorkplaceRule(Rule):
    """No contact at a work number whose employer forbids it."""


@dataclass(frozen=True)
class ValidationNoticeRule(Rule):
    """No further collection contact `days` days after the first one without a validation notice."""

    days: int


# The forbearance a borrower in or near arrears may be offered (UK-FORBEARANCE, CONC 7.3.4R/5G).
FORBEARANCE_OPTIONS = (
    "more_time",  # more time to pay
    "reduced_interest",  # interest and charges reduced or suspended
    "payment_plan",  # a repayment plan
    "token_payment",  # token payments for a period
    "debt_advice",  # a pointer to free debt advice
)


@dataclass(frozen=True)
class ForbearanceRule(Rule):
    """Forbearance offered in or near arrears; a vulnerable borrower routed to a human.

    `enabled` switches the forbearance duty (its `code`); `route_vulnerable` switches routing a
    vulnerable borrower to a human, reported as `vulnerable_code`, whatever `enabled` says.
    """

    options: tuple[str, ...]
    route_vulnerable: bool
    vulnerable_code: str


@dataclass(frozen=True)
class Profile:
    """One jurisdiction's contact rules."""

    name: str
    title: str
    hours: HoursRule
    inconvenient_times: InconvenientRule
    calls_per_debt: CallsPerDebtRule
    after_conversation: AfterConversationRule
    call_spacing: CallSpacingRule
    volume: VolumeRule
    opt_out: OptOutRule
    cease: HoldRule
    attorney: HoldRule
    bankruptcy: HoldRule
    dispute: HoldRule
    written_off: WrittenOffRule
    autodial_consent: AutodialConsentRule
    sms_number: SmsNumberRule
    workplace: WorkplaceRule
    validation_notice: ValidationNoticeRule
    forbearance: ForbearanceRule


# Section name -> its rule class (annotations are strings here: resolve them by name).
_SECTIONS: dict[str, type[Rule]] = {
    f.name: globals()[str(f.type)] for f in fields(Profile) if f.name not in ("name", "title")
}


def available_profiles() -> tuple[str, ...]:
    """Names of the shipped profiles."""
    return tuple(sorted(p.stem for p in PROFILES_DIR.glob("*.yaml")))


def _time(value: Any, where: str) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError as exc:
        raise ProfileError(f"{where}: {value!r} is not a time of day (HH:MM)") from exc


def _channels(value: Any, where: str) -> frozenset[Channel]:
    if not isinstance(value, list):
        raise ProfileError(f"{where}: expected a list of channels")
    try:
        return frozenset(Channel(v) for v in value)
    except ValueError as exc:
        raise ProfileError(f"{where}: {exc}") from exc


def _names(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ProfileError(f"{where}: expected a list of names")
    names = tuple(v.strip() for v in value)
    if len(set(names)) != len(names):
        raise ProfileError(f"{where}: a name is listed twice")
    return names


def _convert(raw: Any, expected: str, where: str) -> Any:
    if expected == "tuple[str, ...]":
        return _names(raw, where)
    if expected == "time":
        return _time(raw, where)
    if expected == "frozenset[Channel]":
        return _channels(raw, where)
    if expected == "bool":
        if not isinstance(raw, bool):
            raise ProfileError(f"{where}: expected true or false, got {raw!r}")
        return raw
    if expected == "int":
        # Every number is a limit, a count of days or minutes: 0 would forbid everything.
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
            raise ProfileError(f"{where}: expected a whole number >= 1, got {raw!r}")
        return raw
    if expected == "str":
        if not isinstance(raw, str) or not raw.strip():
            raise ProfileError(f"{where}: expected a non-empty string, got {raw!r}")
        return raw.strip()
    raise ProfileError(f"{where}: unsupported field type {expected}")  # pragma: no cover


def _section(cls: type[Rule], raw: Any, where: str) -> Rule:
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: expected a mapping")
    wanted = {f.name: str(f.type) for f in fields(cls)}
    unknown = sorted(set(raw) - set(wanted))
    missing = sorted(set(wanted) - set(raw))
    if unknown:
        raise ProfileError(f"{where}: unknown key(s) {', '.join(unknown)}")
    if missing:
        raise ProfileError(f"{where}: missing key(s) {', '.join(missing)}")
    values = {k: _convert(raw[k], t, f"{where}.{k}") for k, t in wanted.items()}
    return cls(**values)


def parse_profile(raw: Any, *, source: str) -> Profile:
    """A `Profile` from the parsed YAML of one profile file (`source` names it in errors)."""
    if not isinstance(raw, dict):
        raise ProfileError(f"{source}: expected a mapping at the top")
    unknown = sorted(set(raw) - set(_SECTIONS) - {"name", "title"})
    if unknown:
        raise ProfileError(f"{source}: unknown section(s) {', '.join(unknown)}")
    missing = sorted(set(_SECTIONS) - set(raw))
    if missing:
        raise ProfileError(f"{source}: missing section(s) {', '.join(missing)}")
    sections = {
        name: _section(cls, raw[name], f"{source}: {name}") for name, cls in _SECTIONS.items()
    }
    profile = Profile(
        name=_convert(raw.get("name"), "str", f"{source}: name"),
        title=_convert(raw.get("title"), "str", f"{source}: title"),
        **sections,  # type: ignore[arg-type]
    )
    if profile.hours.enabled and profile.hours.start >= profile.hours.end:
        raise ProfileError(f"{source}: hours.start must be before hours.end")
    unknown_options = sorted(set(profile.forbearance.options) - set(FORBEARANCE_OPTIONS))
    if unknown_options:
        raise ProfileError(
            f"{source}: forbearance.options: unknown option(s) {', '.join(unknown_options)}; "
            f"known: {', '.join(FORBEARANCE_OPTIONS)}"
        )
    if profile.forbearance.enabled and not profile.forbearance.options:
        raise ProfileError(f"{source}: forbearance.options: an enabled duty names its options")
    return profile


def load_profile(name: str = DEFAULT_PROFILE) -> Profile:
    """The shipped profile `name` (`us_reg_f`, `cn`, `uk`), read once per process."""
    return _load_profile(name)


@cache
def _load_profile(name: str) -> Profile:
    if name not in available_profiles():
        raise ProfileError(
            f"unknown compliance profile {name!r}; available: {', '.join(available_profiles())}"
        )
    path = PROFILES_DIR / f"{name}.yaml"
    profile = parse_profile(yaml.safe_load(path.read_text(encoding="utf-8")), source=path.name)
    if profile.name != name:
        raise ProfileError(f"{path.name}: name is {profile.name!r}, expected {name!r}")
    return profile
