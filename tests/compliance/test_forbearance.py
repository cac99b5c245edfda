"""The forbearance owed (compliance.forbearance): UK-FORBEARANCE for a borrower in or near arrears,
UK-VULNERABLE (and, elsewhere, ALL-ABUSE-INBOUND's distress rule) routing to a human.
Table-driven over the three shipped profiles, with the debt-advice pointer in English and Chinese.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from compliance.forbearance import ForbearanceDuty, debt_advice_text, required_forbearance
from compliance.profiles import FORBEARANCE_OPTIONS, ProfileError, load_profile

ALL_OPTIONS = ("more_time", "reduced_interest", "payment_plan", "token_payment", "debt_advice")
NONE = ForbearanceDuty((), False, ())


@dataclass(frozen=True)
class Case:
    name: str
    profile: str
    days_past_due: int
    vulnerable: bool
    expected: ForbearanceDuty
    stated_difficulty: bool = False


def check(cases: list[Case]) -> None:
    for case in cases:
        got = required_forbearance(
            case.profile, days_past_due=case.days_past_due, vulnerable=case.vulnerable,
            stated_difficulty=case.stated_difficulty,
        )  # fmt: skip
        assert got == case.expected, case.name
        assert got.required is (got != NONE), case.name


def test_uk_forbearance() -> None:
    offer = ForbearanceDuty(ALL_OPTIONS, False, ("UK-FORBEARANCE",))
    check([
        Case("up to date, no difficulty: nothing owed", "uk", 0, False, NONE),
        Case("one day in arrears", "uk", 1, False, offer),
        Case("90 days in arrears", "uk", 90, False, offer),
        Case("near arrears: a stated difficulty", "uk", 0, False, offer, stated_difficulty=True),
        Case("Reg F has no forbearance duty", "us_reg_f", 30, False, NONE),
        Case("nor has China's convention", "cn", 30, False, NONE, stated_difficulty=True),
    ])  # fmt: skip
    assert load_profile("uk").forbearance.options == ALL_OPTIONS
    assert set(ALL_OPTIONS) == set(FORBEARANCE_OPTIONS)


def test_uk_vulnerable() -> None:
    check([
        Case("vulnerable, up to date: a human, with the options", "uk", 0, True,
             ForbearanceDuty(ALL_OPTIONS, True, ("UK-VULNERABLE",))),
        Case("vulnerable in arrears", "uk", 10, True,
             ForbearanceDuty(ALL_OPTIONS, True, ("UK-FORBEARANCE", "UK-VULNERABLE"))),
        Case("not vulnerable: no human needed", "uk", 10, False,
             ForbearanceDuty(ALL_OPTIONS, False, ("UK-FORBEARANCE",))),
    ])  # fmt: skip


def test_all_abuse_inbound_distress_goes_to_a_human() -> None:
    human = ForbearanceDuty((), True, ("ALL-ABUSE-INBOUND",))
    check([
        Case("US: distress goes to a human", "us_reg_f", 0, True, human),
        Case("US: in arrears and in distress", "us_reg_f", 45, True, human),
        Case("China: distress goes to a human", "cn", 0, True, human),
        Case("China: no distress", "cn", 0, False, NONE),
    ])  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"profile_name": "eu"}, ProfileError, "unknown compliance profile 'eu'"),
        ({"days_past_due": -1}, ValueError, "days_past_due must be a whole number >= 0"),
        ({"days_past_due": True}, ValueError, "days_past_due"),
    ],
)
def test_bad_input_is_refused(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    args: dict[str, object] = {"profile_name": "uk", "days_past_due": 0, "vulnerable": False}
    args |= kwargs
    with pytest.raises(error, match=message):
        required_forbearance(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("language", "needles"),
    [
        ("en", ("MoneyHelper", "0800 138 7777", "moneyhelper.org.uk", "Free")),
        ("en-GB", ("MoneyHelper", "0800 138 7777")),
        ("zh", ("MoneyHelper", "0800 138 7777", "moneyhelper.org.uk", "免费")),
        ("zh-CN", ("免费", "债务咨询")),
    ],
)
def test_debt_advice_text(language: str, needles: tuple[str, ...]) -> None:
    text = debt_advice_text(language)
    assert all(n in text for n in needles), text


def test_debt_advice_text_refuses_other_languages() -> None:
    with pytest.raises(ValueError, match="language must be one of en, zh"):
        debt_advice_text("fr")
