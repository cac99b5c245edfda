"""Jurisdiction profiles: the shipped ones load with their numbers, broken ones are refused."""

from __future__ import annotations

import copy
from datetime import time
from typing import Any

import pytest
import yaml

from compliance.profiles import (
    PROFILES_DIR,
    ProfileError,
    available_profiles,
    load_profile,
    parse_profile,
)
from models import Channel


def raw(name: str = "us_reg_f") -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((PROFILES_DIR / f"{name}.yaml").read_text("utf-8"))
    return loaded


def test_shipped_profiles() -> None:
    assert available_profiles() == ("cn", "uk", "us_reg_f")
    us, cn, uk = load_profile("us_reg_f"), load_profile("cn"), load_profile("uk")
    assert load_profile() is us  # the default, read once
    for profile in (us, cn, uk):
        assert (profile.hours.start, profile.hours.end) == (time(8), time(21))
        assert profile.hours.borrower_initiated_exempt
        assert profile.hours.channels == frozenset(Channel)
    assert (us.calls_per_debt.max_calls, us.calls_per_debt.days) == (7, 7)
    assert us.call_spacing.min_gap_minutes == 5
    assert us.sms_number.consent_days == 60
    assert (us.hours.code, us.hours.ambiguous_code) == ("US-HOURS", "US-HOURS-AMBIG")
    assert (cn.hours.code, cn.volume.code, cn.volume.per_day) == ("CN-HOURS", "CN-VOLUME", 3)
    assert not cn.autodial_consent.enabled
    assert not cn.calls_per_debt.enabled
    assert uk.hours.code == uk.inconvenient_times.code == "UK-CONTACT-PREFS"
    assert "unreasonable times" in (PROFILES_DIR / "uk.yaml").read_text("utf-8")
    assert (us.validation_notice.enabled, us.validation_notice.days) == (True, 5)
    assert us.validation_notice.code == "US-VALIDATION"
    assert not uk.validation_notice.enabled
    assert not cn.validation_notice.enabled
    assert uk.forbearance.enabled
    assert uk.forbearance.vulnerable_code == "UK-VULNERABLE"
    for profile in (us, cn):
        assert not profile.forbearance.enabled
        assert profile.forbearance.options == ()
        assert profile.forbearance.vulnerable_code == "ALL-ABUSE-INBOUND"
    assert all(p.forbearance.route_vulnerable for p in (us, cn, uk))


def test_unknown_profile_names_the_available_ones() -> None:
    with pytest.raises(ProfileError, match="unknown compliance profile 'eu'; available: cn, uk"):
        load_profile("eu")


def _broken(change: Any) -> dict[str, Any]:
    data = copy.deepcopy(raw())
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["hours"].update(strat="08:00"), r"hours: unknown key\(s\) strat"),
        (lambda d: d["hours"].pop("end"), r"hours: missing key\(s\) end"),
        (lambda d: d.pop("volume"), r"missing section\(s\) volume"),
        (lambda d: d.update(extra={}), r"unknown section\(s\) extra"),
        (lambda d: d["hours"].update(start="8 am"), "hours.start: '8 am' is not a time"),
        (lambda d: d["hours"].update(channels=["sms", "fax"]), "hours.channels: 'fax'"),
        (lambda d: d["volume"].update(per_day=0), "volume.per_day: expected a whole number >= 1"),
        (lambda d: d["calls_per_debt"].update(days=True), "calls_per_debt.days: expected a whole"),
        (lambda d: d["cease"].update(enabled="yes"), "cease.enabled: expected true or false"),
        (lambda d: d["hours"].update(start="22:00"), "hours.start must be before hours.end"),
        (lambda d: d["attorney"].update(code=""), "attorney.code: expected a non-empty string"),
        (lambda d: d.pop("validation_notice"), r"missing section\(s\) validation_notice"),
        (lambda d: d["validation_notice"].update(days=0), "validation_notice.days: expected a"),
        (
            lambda d: d["forbearance"].update(options="more_time"),
            "forbearance.options: expected a list of names",
        ),
        (
            lambda d: d["forbearance"].update(options=["more_time", "more_time"]),
            "forbearance.options: a name is listed twice",
        ),
        (
            lambda d: d["forbearance"].update(options=["holiday"]),
            r"forbearance.options: unknown option\(s\) holiday",
        ),
        (
            lambda d: d["forbearance"].update(enabled=True),
            "forbearance.options: an enabled duty names its options",
        ),
    ],
)
def test_broken_profiles_are_refused(change: Any, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        parse_profile(_broken(change), source="test.yaml")


def test_a_valid_edit_parses() -> None:
    data = _broken(lambda d: d["volume"].update(per_day=5, enabled=False))
    profile = parse_profile(data, source="test.yaml")
    assert (profile.volume.per_day, profile.volume.enabled) == (5, False)
