"""Entity extraction in English and Chinese: amounts, dates, birth dates, months, digits,
options and phones, each form the dialogue relies on plus the refusals, against a fixed day.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialogue.nlu.entities import (
    Entity,
    extract_entities,
    parse_amount,
    parse_date,
    parse_date_of_birth,
    parse_digits,
    parse_months,
    parse_option,
)

TODAY = date(2026, 11, 22)  # a Sunday: "this Friday" and "next Friday" are both the 27th


def test_today_is_a_sunday() -> None:
    assert TODAY.weekday() == 6


def lang(text: str) -> str:
    return "zh" if any("\u4e00" <= char <= "\u9fff" for char in text) else "en"


# --- Amounts ---------------------------------------------------------------------------------

AMOUNTS = {
    "$150": "150",
    "150 dollars": "150",
    "150 bucks": "150",
    "150.50": "150.50",
    "$1,250.75": "1250.75",
    "1.5k": "1500",
    "2k": "2000",
    "USD 300": "300",
    "300 usd": "300",
    "two hundred dollars": "200",
    "I can pay $200 on the 15th": "200",
    "150": "150",
    "一千五百元": "1500",
    "1500块": "1500",
    "¥1500": "1500",
    "1500元": "1500",
    "两千": "2000",
    "三千五": "3500",
    "1.5万": "15000",
    "五百块钱": "500",
    "一万二": "12000",
    "1500人民币": "1500",
    "我下周五还500": "500",
    "￥１５００": "1500",  # full-width
    "＄２００": "200",
}


@pytest.mark.parametrize(("text", "expected"), AMOUNTS.items())
def test_parse_amount(text: str, expected: str) -> None:
    assert parse_amount(text, language=lang(text)) == Decimal(expected)


AMOUNT_REFUSALS = [
    "0",
    "$0",
    "-150",
    "-$150",
    "$20,000,000",
    "$150.555",
    "the 15th",
    "3/15",
    "15号",
    "2 months",
    "两个月",
    "查一下余额",
    "no idea",
]


@pytest.mark.parametrize("text", AMOUNT_REFUSALS)
def test_parse_amount_refuses(text: str) -> None:
    assert parse_amount(text, language=lang(text)) is None


def test_parse_amount_prefers_a_marked_amount_to_a_bare_number() -> None:
    assert parse_amount("I have 2 kids, I can do $100", language="en") == Decimal(100)


def test_amount_has_two_decimals() -> None:
    assert str(parse_amount("$150", language="en")) == "150.00"


# --- Dates -----------------------------------------------------------------------------------

DATES = {
    "today": "2026-11-22",
    "tomorrow": "2026-11-23",
    "tmrw": "2026-11-23",
    "day after tomorrow": "2026-11-24",
    "in 3 days": "2026-11-25",
    "in two weeks": "2026-12-06",
    "in a month": "2026-12-22",
    "a week from today": "2026-11-29",
    "next Friday": "2026-11-27",
    "this friday": "2026-11-27",
    "friday": "2026-11-27",
    "I'll pay on Friday": "2026-11-27",
    "sunday": "2026-11-29",  # a bare weekday said on that day is next week's
    "this sunday": "2026-11-22",
    "next sunday": "2026-11-29",
    "on the 15th": "2026-12-15",
    "the 22nd": "2026-11-22",
    "the 31st": "2026-12-31",  # November has no 31st
    "the 1st of next month": "2026-12-01",
    "by the 25": "2026-11-25",
    "Dec 5": "2026-12-05",
    "5 Dec": "2026-12-05",
    "December 5th": "2026-12-05",
    "the 5th of December": "2026-12-05",
    "March 3": "2027-03-03",
    "12/05": "2026-12-05",
    "12/05/2026": "2026-12-05",
    "2026-12-05": "2026-12-05",
    "end of the month": "2026-11-30",
    "end of next month": "2026-12-31",
    "今天": "2026-11-22",
    "明天": "2026-11-23",
    "后天": "2026-11-24",
    "大后天": "2026-11-25",
    "3天后": "2026-11-25",
    "两周后": "2026-12-06",
    "一个月后": "2026-12-22",
    "下周五": "2026-11-27",
    "这周五": "2026-11-27",
    "周五": "2026-11-27",
    "星期五": "2026-11-27",
    "下星期一": "2026-11-23",
    "下下周一": "2026-11-30",
    "星期天": "2026-11-29",
    "15号": "2026-12-15",
    "15日": "2026-12-15",
    "12月5日": "2026-12-05",
    "十二月五号": "2026-12-05",
    "月底": "2026-11-30",
    "下个月底": "2026-12-31",
    "下个月15号": "2026-12-15",
    "2026年12月5日": "2026-12-05",
    "明年3月5日": "2027-03-05",
    "我下周五还500": "2026-11-27",
    "１２/０５": "2026-12-05",  # full-width digits
}


@pytest.mark.parametrize(("text", "expected"), DATES.items())
def test_parse_date(text: str, expected: str) -> None:
    assert parse_date(text, language=lang(text), today=TODAY) == date.fromisoformat(expected)


DATE_REFUSALS = [
    "payday",
    "Feb 30",
    "the 32nd",
    "13/05",
    "yesterday",
    "last friday",
    "2020-01-01",
    "next week",
    "昨天",
    "上周五",
    "这个月15号",  # already past on the 22nd
    "2月30日",
    "32号",
]


@pytest.mark.parametrize("text", DATE_REFUSALS)
def test_parse_date_refuses(text: str) -> None:
    assert parse_date(text, language=lang(text), today=TODAY) is None


def test_next_friday_on_a_wednesday_is_in_next_calendar_week() -> None:
    wednesday = date(2026, 11, 18)
    assert parse_date("this friday", language="en", today=wednesday) == date(2026, 11, 20)
    assert parse_date("next friday", language="en", today=wednesday) == date(2026, 11, 27)
    assert parse_date("下周五", language="zh", today=wednesday) == date(2026, 11, 27)


def test_friday_said_on_a_friday() -> None:
    friday = date(2026, 11, 27)
    assert parse_date("friday", language="en", today=friday) == date(2026, 12, 4)
    assert parse_date("today", language="en", today=friday) == friday


def test_end_of_month_in_a_short_month() -> None:
    assert parse_date("end of next month", language="en", today=date(2027, 1, 31)) == date(
        2027, 2, 28
    )


# --- Dates of birth --------------------------------------------------------------------------

BIRTH_DATES = [
    "March 3 1985",
    "March 3rd, 1985",
    "3 March 1985",
    "03/03/1985",
    "1985-03-03",
    "1985/3/3",
    "1985年3月3日",
    "我生日是1985年3月3日",
    "19850303",
    "一九八五年三月三日",
    "born on 3 mar 1985",
    # Keyed on a phone keypad or read out digit by digit (the voice channel).
    "03031985",
    "0 3 0 3 1 9 8 5",
    "1985 03 03",
    "my birthday is 03031985",
]


@pytest.mark.parametrize("text", BIRTH_DATES)
def test_parse_date_of_birth(text: str) -> None:
    assert parse_date_of_birth(text, language=lang(text), today=TODAY) == date(1985, 3, 3)


def test_date_of_birth_is_month_first() -> None:
    assert parse_date_of_birth("04/05/1990", language="en") == date(1990, 4, 5)


BIRTH_REFUSALS = [
    "3/3/85",  # two-digit year: refused, not guessed
    "March 3 85",
    "85年3月3日",
    "March 3",
    "02/30/1985",
    "1885-03-03",
    "2030-01-01",  # after today
    "hello",
    "13031985",  # no 13th month, and not a year first either
    "03031985 6789",  # two numbers: which one is the date is not guessed
    "0303198",  # seven digits
]


@pytest.mark.parametrize("text", BIRTH_REFUSALS)
def test_parse_date_of_birth_refuses(text: str) -> None:
    assert parse_date_of_birth(text, language=lang(text), today=TODAY) is None


def test_date_of_birth_without_today_accepts_any_full_date() -> None:
    assert parse_date_of_birth("2030-01-01", language="en") == date(2030, 1, 1)


# --- Months ----------------------------------------------------------------------------------

MONTHS = {
    "2 months": 2,
    "two months": 2,
    "a month": 1,
    "one month": 1,
    "3 mo": 3,
    "6-month": 6,
    "push it back 2 months": 2,
    "in 2 months": 2,
    "1.5 years": 18,
    "half a year": 6,
    "3": 3,
    "两个月": 2,
    "三个月": 3,
    "1个月": 1,
    "半年": 6,
    "一年": 12,
    "一年半": 18,
    "推迟一个月还款": 1,
    "两": 2,
}


@pytest.mark.parametrize(("text", "expected"), MONTHS.items())
def test_parse_months(text: str, expected: int) -> None:
    assert parse_months(text, language=lang(text)) == expected


@pytest.mark.parametrize("text", ["0 months", "100 months", "6 years", "2.5 months", "hello", ""])
def test_parse_months_refuses(text: str) -> None:
    assert parse_months(text, language=lang(text)) is None


# --- Digits ----------------------------------------------------------------------------------

DIGITS = [
    ("1234", None, "1234"),
    ("12 34", None, "1234"),
    ("1234-5678", None, "12345678"),
    ("一二三四", None, "1234"),
    ("１２３４", None, "1234"),
    ("last 4 are 5678", None, "5678"),
    ("5678 are the last 4", None, "5678"),
    ("last 4 are 5678", 4, "5678"),
    ("后四位是1234", 4, "1234"),
    ("1234 or maybe 9876", 4, "9876"),
    ("12 34", 4, "1234"),
    ("123", 4, None),
    ("1234-5678", 4, None),
    ("no digits here", None, None),
    ("查一下", None, None),
]


@pytest.mark.parametrize(("text", "length", "expected"), DIGITS)
def test_parse_digits(text: str, length: int | None, expected: str | None) -> None:
    assert parse_digits(text, length=length) == expected


# --- Options ---------------------------------------------------------------------------------

OPTIONS = [
    ("1", 1),
    ("2", 2),
    ("option 2", 2),
    ("#2", 2),
    ("the second one", 2),
    ("second", 2),
    ("2nd", 2),
    ("two", 2),
    ("2 please", 2),
    ("the last one", 3),
    ("第二个", 2),
    ("选2", 2),
    ("选第三个", 3),
    ("2号", 2),
    ("二", 2),
    ("最后一个", 3),
    ("5", None),
    ("option 0", None),
    ("that one", None),
    ("1 or 2", None),
    ("第五个", None),
]


@pytest.mark.parametrize(("text", "expected"), OPTIONS)
def test_parse_option(text: str, expected: int | None) -> None:
    assert parse_option(text, count=3) == expected


# --- extract_entities ------------------------------------------------------------------------

EXTRACTIONS: list[tuple[str, list[tuple[str, object, str]]]] = [
    ("$150", [("amount", Decimal(150), "$150")]),
    ("150", [("digits", "150", "150")]),  # a bare number is not an amount here
    ("两千", []),
    (
        "I will pay $200 on Friday",
        [("amount", Decimal(200), "$200"), ("date", date(2026, 11, 27), "Friday")],
    ),
    (
        "I can pay 150 on the 15th",
        [("amount", Decimal(150), "150"), ("date", date(2026, 12, 15), "the 15th")],
    ),
    ("我下周五还500", [("date", date(2026, 11, 27), "下周五"), ("amount", Decimal(500), "500")]),
    ("我可以还两千块", [("amount", Decimal(2000), "两千块")]),
    ("1500块5号还", [("amount", Decimal(1500), "1500块"), ("date", date(2026, 12, 5), "5号")]),
    ("3/15", [("date", date(2027, 3, 15), "3/15")]),
    ("15号", [("date", date(2026, 12, 15), "15号")]),
    ("1.5万", [("amount", Decimal(15000), "1.5万")]),
    ("pay 2 months", [("months", 2, "2 months")]),
    ("推迟两个月", [("months", 2, "两个月")]),
    ("in 2 months", [("date", date(2027, 1, 22), "in 2 months")]),
    ("option 2 please", [("option", 2, "option 2")]),
    ("这是第二个", [("option", 2, "第二个")]),
    ("后四位是1234", [("digits", "1234", "1234")]),
    ("last 4 are 5678", [("digits", "4", "4"), ("digits", "5678", "5678")]),
    ("+1 415 555 0100", [("phone", "+14155550100", "+1 415 555 0100")]),
    ("(415) 555-0100", [("phone", "4155550100", "(415) 555-0100")]),
    ("+86 138 0013 8000", [("phone", "+8613800138000", "+86 138 0013 8000")]),
    ("我的手机13800138000", [("phone", "13800138000", "13800138000")]),
    ("我生日是1985年3月3日", [("date", date(1985, 3, 3), "1985年3月3日")]),
    ("Feb 30", []),  # impossible: no date, and no stray 30 either
    ("$0", []),
    ("查一下余额", []),
    ("１２３４", [("digits", "1234", "１２３４")]),
    (
        "Pay ＄２００ Tomorrow",
        [("amount", Decimal(200), "＄２００"), ("date", date(2026, 11, 23), "Tomorrow")],
    ),
]


@pytest.mark.parametrize(("text", "expected"), EXTRACTIONS)
def test_extract_entities(text: str, expected: list[tuple[str, object, str]]) -> None:
    found = extract_entities(text, language=lang(text), today=TODAY)
    assert [(e.kind, e.value, e.text) for e in found] == expected
    for entity in found:
        assert text[entity.start : entity.end] == entity.text


def test_entity_is_frozen() -> None:
    entity = Entity("amount", Decimal(1), "$1", 0, 2)
    with pytest.raises(AttributeError):
        entity.kind = "date"  # type: ignore[misc]


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="language"):
        extract_entities("hi", language="fr", today=TODAY)


# --- Properties ------------------------------------------------------------------------------

money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999999.99"), places=2)


@given(money)
def test_dollar_amounts_round_trip(amount: Decimal) -> None:
    assert parse_amount(f"${amount:.2f}", language="en") == amount
    assert parse_amount(f"{amount:,.2f} dollars", language="en") == amount


def chinese_numeral(n: int) -> str:
    """The formal Chinese numeral for 1 <= n < 100,000,000 ("一万零二百")."""
    digits = "零一二三四五六七八九"

    def section(x: int) -> str:
        out, gap = "", False
        for unit, power in (("千", 1000), ("百", 100), ("十", 10), ("", 1)):
            q = x // power % 10
            if q:
                out += ("零" if gap and out else "") + digits[q] + unit
                gap = False
            else:
                gap = True
        return out

    high, low = divmod(n, 10_000)
    text = section(high) + "万" if high else ""
    if low:
        text += ("零" if high and low < 1000 else "") + section(low)
    return text


@given(st.integers(min_value=1, max_value=10_000_000))
def test_chinese_amounts_round_trip(n: int) -> None:
    assert parse_amount(chinese_numeral(n) + "元", language="zh") == Decimal(n)


FORMS = [
    "today", "tomorrow", "friday", "next monday", "this sunday", "the 15th", "the 31st", "Feb 29",
    "12/31", "in 3 weeks", "end of the month", "end of next month", "yesterday", "last friday",
    "明天", "下周五", "这周日", "15号", "月底", "下个月底", "2月29日", "上周三", "3天后",
]  # fmt: skip


@given(st.sampled_from(FORMS), st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)))
def test_dates_are_never_in_the_past(form: str, today: date) -> None:
    found = parse_date(form, language=lang(form), today=today)
    # Feb 29 can be eight years off: 2100 is not a leap year.
    assert found is None or today <= found <= today + timedelta(days=366 * 9)


@given(st.integers(min_value=1, max_value=31), st.dates(max_value=date(2100, 1, 1)))
def test_day_of_month_keeps_its_day(day: int, today: date) -> None:
    found = parse_date(f"{day}号", language="zh", today=today)
    assert found is not None
    assert found.day == day
    assert today <= found < today + timedelta(days=63)


@given(st.text(alphabet="0123456789", min_size=1, max_size=20))
def test_digits_round_trip(digits: str) -> None:
    assert parse_digits(digits) == digits
    assert parse_digits(f"my code is {digits}", length=len(digits)) == digits


@given(st.text(max_size=80))
def test_any_text_gives_spans_of_the_original(text: str) -> None:
    for entity in extract_entities(text, language="en", today=TODAY):
        assert text[entity.start : entity.end] == entity.text
        assert entity.kind in ("amount", "date", "months", "digits", "option", "phone")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我打算明年一月底还500元", date(2027, 1, 31)),
        ("1月底", date(2027, 1, 31)),
        ("十二月底", date(2026, 12, 31)),
        ("11月底", date(2026, 11, 30)),
        ("next month end", date(2026, 12, 31)),
        ("月底", date(2026, 11, 30)),
    ],
)
def test_end_of_a_named_month(text: str, expected: date) -> None:
    assert parse_date(text, language="zh", today=date(2026, 11, 22)) == expected


@pytest.mark.parametrize("text", ["1e30", "pay 1e30 on friday", "I will pay 12abc"])
def test_digits_running_into_letters_are_no_amount(text: str) -> None:
    assert parse_amount(text, language="en") is None
