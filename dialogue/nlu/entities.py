"""Entities in a borrower's message: amounts, dates, months, digits, option choices and phones.

Rules, not a model: every value here ends up in a promise, a payment or an identity check, so a
reading must be explainable and deterministic. English and Simplified Chinese forms are both tried
on every message whatever its language, because borrowers mix them ("明天 pay $50"); `language`
is checked and kept in the signatures so a rule that needs it can use it (slash dates are
month/day in both: that is how Chinese writes them too).

Text is first folded with NFKC and lower-cased (full-width "１２３" and "￥" read as "123" and
"¥"), character by character, so every span maps back to the text as the borrower wrote it.

`extract_entities` reads every kind at once; where readings overlap, the longest span wins (so
"the 15th" is a date, never the number 15), ties going to phone, date, amount, months, option,
digits in that order. A span that reads as a kind but holds no valid value ("Feb 30", "$0",
"-$150", "3/3/85") still claims its text, so its pieces are not read as something else, and
yields no entity.

The `parse_*` functions answer a question the bot asked ("how much?", "which date?"), so they
are more willing: `parse_amount` takes a bare number, `parse_months` a bare "3". Dates are
future-looking (a promise or a new due date); `parse_date_of_birth` reads absolute past dates.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

LANGUAGES = ("en", "zh")
MAX_AMOUNT = Decimal("10000000")  # above this a "payment" is a typo or a joke
MAX_MONTHS = 60
CENT = Decimal("0.01")
EARLIEST_BIRTH_YEAR = 1900
# Explicit years outside this range are typos, not dates the dialogue can act on.
YEAR_RANGE = range(1900, 2200)


@dataclass(frozen=True)
class Entity:
    """One value found in a message, with where it was written."""

    kind: str  # "amount" | "date" | "months" | "digits" | "option" | "phone"
    value: Decimal | date | int | str
    text: str  # the matched span as written
    start: int
    end: int


# --- Folding -------------------------------------------------------------------------------

# NFKC leaves these alone, but borrowers (and phone keyboards) use them for a plain hyphen.
_DASHES = dict.fromkeys("‐‑‒–—―−﹣", "-")


class _Folded(NamedTuple):
    text: str  # NFKC, lower case
    origin: tuple[int, ...]  # origin[i]: index in the original text of folded character i


def _fold(text: str) -> _Folded:
    pieces: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        folded = _DASHES.get(char) or unicodedata.normalize("NFKC", char).lower()
        pieces.append(folded)
        origin.extend([index] * len(folded))
    return _Folded("".join(pieces), tuple(origin))


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, not {language!r}")


# --- Numbers ---------------------------------------------------------------------------------

_CN_DIGIT_VALUES = {
    "零": 0, "〇": 0, "幺": 1, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4,
    "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}  # fmt: skip
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_BIG = {"万": 10_000, "亿": 100_000_000}
_CN_D = "零〇一二两三四五六七八九"
_CN_ALL = _CN_D + "十百千万亿"
# A Chinese numeral starts with a digit or 十 ("十五"), never with 万 ("万一" means "in case").
_CN = rf"(?:[{_CN_D}]|十)[{_CN_ALL}]*"
_CN_SMALL = rf"[{_CN_D}十]{{1,3}}"  # day, month, option numbers: 一 .. 三十一
_AR = r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?"
_AR_END = r"(?![0-9]|[.,][0-9])"
# Arabic digits with a Chinese magnitude: "1.5万", "3千5", "3千500".
_MIX = rf"{_AR}{_AR_END}(?:[十百千万亿][{_CN_ALL}0-9]*)?"

_EN_ONES = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}  # fmt: skip
_EN_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
_EN_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10,
}  # fmt: skip


def _alternation(words: Iterable[str]) -> str:
    # Longest first, so "fourteen" is not read as "four" followed by junk.
    return "|".join(sorted(words, key=len, reverse=True))


_EN_WORD = rf"(?:{_alternation([*_EN_ONES, *_EN_TENS, 'hundred', 'thousand'])})"
_EN_NUMBER = rf"(?<![a-z]){_EN_WORD}(?:(?:\s+and\s+|[\s-]+){_EN_WORD})*(?![a-z])"
_EN_ORD = rf"(?:{_alternation(_EN_ORDINALS)})"


def _en_number(phrase: str) -> int | None:
    """ "two hundred and fifty" -> 250; None for word salad such as "one two"."""
    total = 0
    current = 0
    last = ""
    for word in re.findall(r"[a-z]+", phrase):
        if word == "and":
            continue
        if word in _EN_ONES:
            value = _EN_ONES[word]
            if last == "ones" or (last == "tens" and value >= 10):
                return None
            current += value
            last = "ones"
        elif word in _EN_TENS:
            if last in ("ones", "tens"):
                return None
            current += _EN_TENS[word]
            last = "tens"
        elif word == "hundred":
            if last == "hundred" or current >= 100:
                return None
            current = (current or 1) * 100
            last = "hundred"
        elif word == "thousand":
            if total:
                return None
            total = (current or 1) * 1000
            current = 0
            last = "thousand"
        else:
            return None
    return total + current if last else None


_NUMBER_TOKEN = re.compile(r"[0-9]+(?:\.[0-9]+)?|.", re.DOTALL)


def _cn_number(text: str) -> Decimal | None:
    """Chinese, Arabic or mixed numerals: "一千五百" 1500, "三千五" 3500, "1.5万" 15000,
    "一九八五" 1985 (digit by digit when there is no unit), "十五" 15."""
    tokens = [t for t in _NUMBER_TOKEN.findall(text.replace(",", "")) if not t.isspace()]
    if not tokens:
        return None
    if not any(t in _CN_UNITS or t in _CN_BIG for t in tokens):
        if len(tokens) == 1:
            return _digit_value(tokens[0])
        if all(t in _CN_DIGIT_VALUES and t != "两" for t in tokens):
            return Decimal("".join(str(_CN_DIGIT_VALUES[t]) for t in tokens))
        return None
    total = Decimal(0)
    section = Decimal(0)
    number: Decimal | None = None
    last_unit = 0
    after_zero = False
    for token in tokens:
        if token in ("零", "〇"):
            # Inside a numeral with units 零 is a gap ("一千零五" 1005), not a digit.
            if number is not None:
                return None
            after_zero = True
        elif (value := _digit_value(token)) is not None:
            if number is not None:
                return None
            number = value
        elif token in _CN_UNITS:
            section += (number if number is not None else 1) * _CN_UNITS[token]
            number, last_unit, after_zero = None, _CN_UNITS[token], False
        elif token in _CN_BIG:
            if number is not None:
                section += number
            if section == 0:
                return None
            total += section * _CN_BIG[token]
            section, number, last_unit, after_zero = Decimal(0), None, _CN_BIG[token], False
        else:
            return None
    if number is not None:
        if last_unit and not after_zero and number == number.to_integral_value() and number < 10:
            # Spoken shorthand: the trailing digit is of the next lower unit ("三千五" 3500,
            # "一万二" 12000, "十五" 15).
            section += number * last_unit / 10
        else:
            section += number
    return total + section


def _digit_value(token: str) -> Decimal | None:
    if token[0] in "0123456789":
        return Decimal(token)
    if token in _CN_DIGIT_VALUES:
        return Decimal(_CN_DIGIT_VALUES[token])
    return None


def _number(text: str) -> Decimal | None:
    """Any numeral: Arabic ("1,250.75"), Chinese or mixed, English words, "a"/"an", "半"."""
    text = text.strip()
    if text in ("a", "an"):
        return Decimal(1)
    if text in ("半", "half a", "half an"):
        return Decimal("0.5")
    if text and text[0] in "abcdefghijklmnopqrstuvwxyz":
        words = _en_number(text)
        return None if words is None else Decimal(words)
    try:
        return _cn_number(text)
    except InvalidOperation:
        return None


def _whole_int(value: Decimal | None) -> int | None:
    if value is None or value != value.to_integral_value():
        return None
    return int(value)


# Just a number, nothing else ("2", "两", "three", "2."): the answer to "how many?".
_WHOLE_NUMBER = re.compile(rf"\s*(?:[0-9]+|{_CN}|{_EN_NUMBER})\s*[.!。!]?\s*")


def _whole_message_number(folded: str) -> int | None:
    if not _WHOLE_NUMBER.fullmatch(folded):
        return None
    return _whole_int(_number(re.sub(r"[\s.!。!]+", "", folded)))


# --- Candidates and how overlaps are settled -----------------------------------------------


class _Cand(NamedTuple):
    kind: str
    value: Decimal | date | int | str | None  # None: reads as this kind, but no valid value
    start: int
    end: int
    weak: bool = False  # a bare number read as an amount only because an amount was asked for


_RANK = {"phone": 0, "date": 1, "amount": 2, "months": 3, "option": 4, "digits": 5}


def _settle(candidates: Iterable[_Cand], prefer: str | None = None) -> list[_Cand]:
    """Non-overlapping readings: the preferred kind, then the longest span, then by rank."""
    order = sorted(
        candidates,
        key=lambda c: (c.kind != prefer, c.start - c.end, _RANK[c.kind], c.weak, c.start),
    )
    taken: list[_Cand] = []
    for cand in order:
        if all(cand.end <= t.start or cand.start >= t.end for t in taken):
            taken.append(cand)
    return sorted(taken, key=lambda c: c.start)


def _candidates(text: str, today: date, *, bare_amounts: bool = False) -> Iterator[_Cand]:
    yield from _phone_candidates(text)
    yield from _date_candidates(text, today)
    yield from _amount_candidates(text, bare=bare_amounts)
    yield from _months_candidates(text)
    yield from _option_candidates(text)
    yield from _digit_candidates(text)


# --- Amounts -------------------------------------------------------------------------------

_AMOUNT = re.compile(
    r"(?:(?P<pre>us\$|\$|¥|(?<![a-z])(?:usd|rmb|cny))\s*)?"
    rf"(?:(?<![0-9.,])(?P<ar>{_MIX})|(?P<cn>{_CN})|(?P<en>{_EN_NUMBER}))"
    r"(?P<k>\s*(?:k|grand)(?![a-z]))?"
    r"(?P<suf>\s*(?:dollars?|bucks?|usd|rmb|cny|yuan|块钱|块|元|圆|人民币|美元|美金)(?![a-z]))?"
)
# A number right after a payment verb is an amount even with no currency: "pay 200", "还500".
_PAY_VERB_BEFORE = re.compile(
    r"(?:(?<![a-z])(?:pay|paying|send|sending|transfer|wire)(?:\s+(?:you|u|back))?\s+|[还付转交]\s*)$"
)
_NEGATIVE_BEFORE = re.compile(r"(?:-|(?<![a-z])minus|负)\s*$")


def _amount_candidates(text: str, *, bare: bool) -> Iterator[_Cand]:
    for match in _AMOUNT.finditer(text):
        number = match["ar"] or match["cn"] or match["en"]
        marked = bool(
            match["pre"] or match["k"] or match["suf"] or re.search("[万亿]", number)
        ) or bool(_PAY_VERB_BEFORE.search(text, 0, match.start()))
        weak = not marked
        if weak:
            # Bare words and Chinese numerals need a unit ("五百", "two hundred") or the whole
            # message to themselves: "查一下" or "that one" are not amounts.
            whole = text.strip() == number
            has_unit = re.search("[十百千万亿]|hundred|thousand", number)
            if not bare or (not match["ar"] and not whole and not has_unit):
                continue
        value = _number(number)
        if value is not None and match["k"]:
            value *= 1000
        if _NEGATIVE_BEFORE.search(text, 0, match.start()):
            value = None
        touching = re.match(r"[a-z]", text[match.end() :]) or re.search(
            r"[a-z]$", text[: match.start()]
        )
        if match["ar"] and not match["pre"] and touching:
            # Digits running into letters ("1e30", "12abc"): no amount anyone wrote.
            value = None
        yield _Cand("amount", _money(value), match.start(), match.end(), weak)


def _money(value: Decimal | None) -> Decimal | None:
    if value is None or value <= 0 or value > MAX_AMOUNT:
        return None
    cents = value.quantize(CENT)
    # "$150.555" is a typo, and which cent was meant is a guess; refuse it.
    return cents if cents == value else None


# --- Dates ---------------------------------------------------------------------------------

_MONTHS_EN = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
    "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11, "nov": 11,
    "december": 12, "dec": 12,
}  # fmt: skip
_MON = rf"(?:{_alternation(_MONTHS_EN)})"
# "wed", "sat" and "sun" are left out: they are everyday words far more often than weekdays.
_WEEKDAYS_EN = {
    "monday": 0, "mon": 0, "tuesday": 1, "tues": 1, "tue": 1, "wednesday": 2, "weds": 2,
    "thursday": 3, "thurs": 3, "thur": 3, "thu": 3, "friday": 4, "fri": 4, "saturday": 5,
    "sunday": 6,
}  # fmt: skip
_WEEKDAYS_ZH = {
    "一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6,
    "1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6,
}  # fmt: skip
_YEAR4 = r"(?:19|20|21)[0-9]{2}"

_Handler = Callable[[re.Match[str], "date | None"], "tuple[date | None, bool]"]


def _valid_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _make_date(year: int, month: int, day: int) -> date | None:
    """A date with a year the borrower wrote."""
    return _valid_date(year, month, day) if year in YEAR_RANGE else None


def _month_shift(today: date, months: int) -> tuple[int, int]:
    years, month0 = divmod(today.month - 1 + months, 12)
    return today.year + years, month0 + 1


def _add_months(today: date, months: int) -> date:
    year, month = _month_shift(today, months)
    return date(year, month, min(today.day, calendar.monthrange(year, month)[1]))


def _month_end(today: date, months: int) -> date:
    year, month = _month_shift(today, months)
    return date(year, month, calendar.monthrange(year, month)[1])


def _future(day: date | None, today: date) -> date | None:
    return day if day is not None and day >= today else None


def _next_day_of_month(today: date, day: int) -> date | None:
    """The next date with this day of month, today included: this month if not passed, else
    the first later month that has it ("the 31st" in November is 31 December)."""
    if not 1 <= day <= 31:
        return None
    for months in range(13):
        year, month = _month_shift(today, months)
        found = _future(_valid_date(year, month, day), today)
        if found:
            return found
    return None


def _next_month_day(today: date, month: int, day: int) -> date | None:
    """The next occurrence of a day of the year, today included ("Feb 29" waits for a leap
    year); None when no year has it ("Feb 30")."""
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    for year in range(today.year, today.year + 9):
        found = _future(_valid_date(year, month, day), today)
        if found:
            return found
    return None


def _weekday(today: date, weekday: int, mode: str) -> date | None:
    if mode == "past":
        return None
    if mode == "this":
        # "this Friday" / "这周五": the coming one, today included. Said on a Sunday it is the
        # Friday ahead, not the one already gone: nobody promises a payment for a past day.
        return today + timedelta(days=(weekday - today.weekday()) % 7)
    if mode in ("next", "next2"):
        # "next Friday" / "下周五": that day in next calendar week, weeks starting on Monday as
        # they do in China and in ISO 8601. Said on a Wednesday that is nine days ahead, not
        # two; the bot reads the date back, so the borrower can correct it.
        weeks = 1 if mode == "next" else 2
        monday = today - timedelta(days=today.weekday()) + timedelta(weeks=weeks)
        return monday + timedelta(days=weekday)
    # A bare weekday ("friday", "周五") is the next one after today: said on a Friday it means
    # next week's, because someone paying today says "today".
    return today + timedelta(days=(weekday - today.weekday()) % 7 or 7)


def _relative_span(today: date, count: Decimal | None, unit: str) -> date | None:
    if count is None or count < 0 or count > 1000:
        return None
    if unit.startswith(("day", "天", "日")):
        whole = _whole_int(count)
        return None if whole is None else today + timedelta(days=whole)
    if unit.startswith(("week", "周", "星期", "礼拜", "个星期", "个礼拜")):
        whole = _whole_int(count * 7)
        return None if whole is None else today + timedelta(days=whole)
    if count == Decimal("0.5"):  # "半个月后": a fortnight and a day, as people mean it
        return today + timedelta(days=15)
    whole = _whole_int(count)
    return None if whole is None else _add_months(today, whole)


def _month_day(
    year: str | None, month: int, day: int, today: date | None
) -> tuple[date | None, bool]:
    """An absolute date as written (any year), or the next occurrence when the year is left out.
    A two-digit year is refused, not guessed: "3/3/85" could be 1985 or 2085."""
    if year is not None:
        if len(year) != 4:
            return None, True
        return _make_date(int(year), month, day), True
    return (None if today is None else _next_month_day(today, month, day)), False


def _small(text: str) -> int:
    """Day, month or year numbers, Arabic or Chinese ("十二", "一九八五"); 0 when unreadable."""
    return _whole_int(_number(text)) or 0


def _en_mdy(match: re.Match[str], today: date | None) -> tuple[date | None, bool]:
    return _month_day(match["y"], _MONTHS_EN[match["mon"]], int(match["d"]), today)


def _slash_mdy(match: re.Match[str], today: date | None) -> tuple[date | None, bool]:
    # Month first in both languages: US usage, and how Chinese writes "12/5".
    return _month_day(match["c"], int(match["a"]), int(match["b"]), today)


def _ymd(match: re.Match[str], today: date | None) -> tuple[date | None, bool]:
    return _make_date(int(match["y"]), int(match["m"]), int(match["d"])), True


def _zh_ymd(match: re.Match[str], today: date | None) -> tuple[date | None, bool]:
    month, day = _small(match["m"]), _small(match["d"])
    if match["ry"]:
        if today is None:
            return None, False
        year = today.year + (1 if match["ry"] == "明年" else 0)
        return _future(_valid_date(year, month, day), today), False
    written = match["y"]
    return _month_day(None if written is None else str(_small(written)), month, day, today)


def _compact_ymd(match: re.Match[str], today: date | None) -> tuple[date | None, bool]:
    digits = match[0]
    return _make_date(int(digits[:4]), int(digits[4:6]), int(digits[6:])), True


# Absolute dates: the ones a year can be written into, which are also a birth date's forms.
_ABSOLUTE_RULES: list[tuple[re.Pattern[str], _Handler]] = [
    # "2026-12-05", "2026/12/05", "1985.03.03"
    (
        re.compile(
            r"(?<![0-9])(?P<y>[0-9]{4})(?P<sep>[-/.])(?P<m>[0-9]{1,2})(?P=sep)(?P<d>[0-9]{1,2})(?![0-9])"
        ),
        _ymd,
    ),
    # "12/05", "12/05/2026", "3/3/85" (refused)
    (
        re.compile(
            r"(?<![0-9/.,])(?P<a>[0-9]{1,2})/(?P<b>[0-9]{1,2})(?:/(?P<c>[0-9]{2}(?:[0-9]{2})?))?(?![0-9/])"
        ),
        _slash_mdy,
    ),
    # "03-03-1985": dashes only with a year, or "3-15" would also catch ranges and scores.
    (
        re.compile(
            r"(?<![0-9-])(?P<a>[0-9]{1,2})-(?P<b>[0-9]{1,2})-(?P<c>[0-9]{2}(?:[0-9]{2})?)(?![0-9-])"
        ),
        _slash_mdy,
    ),
    # "Dec 5", "December 5th, 2026", "march 3 1985"
    (
        re.compile(
            rf"(?<![a-z])(?P<mon>{_MON})(?![a-z])\.?\s*(?:the\s+)?(?P<d>[0-9]{{1,2}})"
            rf"(?:st|nd|rd|th)?(?![0-9a-z])(?:\s*,?\s*(?P<y>{_YEAR4})(?![0-9]))?"
        ),
        _en_mdy,
    ),
    # "5 Dec", "the 5th of December", "3 March 1985"
    (
        re.compile(
            rf"(?<![0-9a-z.,/])(?:the\s+)?(?P<d>[0-9]{{1,2}})(?:st|nd|rd|th)?\s*(?:of\s+)?"
            rf"(?P<mon>{_MON})(?![a-z])\.?(?:\s*,?\s*(?P<y>{_YEAR4})(?![0-9]))?"
        ),
        _en_mdy,
    ),
    # "12月5日", "十二月五号", "2026年12月5日", "一九八五年三月三日", "明年3月5日"
    (
        re.compile(
            rf"(?:(?P<y>[0-9]{{4}}|[〇零一二三四五六七八九]{{4}})\s*年\s*|(?P<ry>今年|明年))?"
            rf"(?<![0-9{_CN_D}十])(?P<m>[0-9]{{1,2}}|{_CN_SMALL})\s*月\s*"
            rf"(?P<d>[0-9]{{1,2}}|{_CN_SMALL})(?![0-9])\s*(?:日|号)?"
        ),
        _zh_ymd,
    ),
]

# Birth dates are also written as eight bare digits, "19850303"; as a due date that is too
# easily an account number.
_COMPACT_DATE = (re.compile(r"(?<![0-9])(?:19|20)[0-9]{6}(?![0-9])"), _compact_ymd)


def _en_relative_day(match: re.Match[str], today: date) -> date | None:
    groups = match.groupdict()
    if groups["past"]:
        return None
    offset = 0 if groups["d0"] else 2 if groups["d2"] else 3 if groups.get("d3") else 1
    return today + timedelta(days=offset)


def _en_weekday(match: re.Match[str], today: date) -> date | None:
    qualifier = re.sub(r"\s+", " ", match["q"] or "")
    mode = {"next": "next", "this": "this", "last": "past"}.get(qualifier, "after")
    if match["nw"]:
        mode = "next"
    return _weekday(today, _WEEKDAYS_EN[match["wd"]], mode)


def _zh_weekday(match: re.Match[str], today: date) -> date | None:
    qualifier = (match["q"] or "").replace("个", "")
    mode = {"下下": "next2", "下": "next", "这": "this", "本": "this"}.get(qualifier, "after")
    if qualifier.startswith("上"):
        mode = "past"
    return _weekday(today, _WEEKDAYS_ZH[match["wd"]], mode)


def _in_span(match: re.Match[str], today: date) -> date | None:
    return _relative_span(today, _number(match["n"]), match["u"])


def _month_offset(qualifier: str | None) -> int:
    qualifier = (qualifier or "").replace("个", "").strip()
    return {"": 0, "这": 0, "本": 0, "this": 0, "下": 1, "next": 1, "下下": 2}.get(qualifier, 0)


def _end_of_month(match: re.Match[str], today: date) -> date:
    groups = match.groupdict()
    return _month_end(today, _month_offset(groups.get("rel") or groups.get("rel2")))


def _end_of_named_month(match: re.Match[str], today: date) -> date | None:
    """The last day of a named month ("1月底", "一月底", "明年一月底"), the next one to come."""
    month = _small(match["m"])
    if not 1 <= month <= 12:
        return None
    year = today.year + (1 if match["next_year"] else 0)
    end = date(year, month, calendar.monthrange(year, month)[1])
    if end < today and not match["next_year"]:
        end = date(year + 1, month, calendar.monthrange(year + 1, month)[1])
    return end


def _start_of_month(match: re.Match[str], today: date) -> date:
    # "月初" alone on the 1st is today; any other day it is the 1st still to come.
    if match["rel"] is None and today.day == 1:
        return today
    return _month_end(today, max(_month_offset(match["rel"]), 1) - 1) + timedelta(days=1)


def _day_of_month(match: re.Match[str], today: date) -> date | None:
    day = _small(match["d"])
    if match["rel"] is None:
        return _next_day_of_month(today, day)
    year, month = _month_shift(today, _month_offset(match["rel"]))
    return _future(_valid_date(year, month, day), today)


_RELATIVE_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str], date], date | None]]] = [
    (
        re.compile(
            r"(?<![a-z])(?:(?P<d0>today|tonight)|"
            r"(?P<d2>(?:the\s+)?day\s+after\s+(?:tomorrow|tomorow|tmrw|tmr))|"
            r"(?P<d1>tomorrow|tomorow|tmrw|tmr|2morrow|2moro)|"
            r"(?P<past>(?:the\s+day\s+before\s+)?yesterday))(?![a-z])"
        ),
        _en_relative_day,
    ),
    (
        re.compile(
            r"(?P<d3>大后天)|(?P<d2>后天)|(?P<d1>明天|明日|明儿|明早|明晚)|(?P<d0>今天|今日|今晚|今儿)"
            r"|(?P<past>昨天|昨日|前天|昨晚)"
        ),
        _en_relative_day,
    ),
    (
        re.compile(
            r"(?<![a-z])(?:(?P<q>next|this\s+coming|this|coming|last)\s+)?"
            rf"(?P<wd>{_alternation(_WEEKDAYS_EN)})(?![a-z])\.?(?P<nw>\s+next\s+week)?"
        ),
        _en_weekday,
    ),
    (
        re.compile(
            r"(?P<q>下下个?|下个?|这个?|本|上上?个?)?(?:周|星期|礼拜)(?P<wd>[一二三四五六日天1-7])"
        ),
        _zh_weekday,
    ),
    # "in 3 days", "in two weeks", "in a month"
    (
        re.compile(
            rf"(?<![a-z])in\s+(?P<n>[0-9]+|an?|{_EN_NUMBER})\s+(?P<u>days?|weeks?|months?)(?![a-z])"
        ),
        _in_span,
    ),
    # "3 days from now", "a week from today", "two weeks later"
    (
        re.compile(
            rf"(?<![a-z0-9])(?P<n>[0-9]+|an?|{_EN_NUMBER})\s+(?P<u>days?|weeks?|months?)\s+"
            r"(?:from\s+(?:now|today)|later)(?![a-z])"
        ),
        _in_span,
    ),
    # "3天后", "两周以后", "一个月之后", "半个月后"
    (
        re.compile(
            rf"(?<![0-9{_CN_D}十])(?P<n>[0-9]+|[{_CN_D}十]+|半)\s*"
            r"(?P<u>天|日|周|个?星期|个?礼拜|个月)\s*(?:以后|之后|后)"
        ),
        _in_span,
    ),
    # "end of the month", "end of next month", "month-end", "last day of the month"
    (
        re.compile(
            r"(?<![a-z])(?:the\s+)?(?:(?:end|last\s+day)\s+of\s+(?:the\s+)?(?P<rel>this\s+|next\s+)?"
            r"month|(?P<rel2>next\s+)?month[\s-]end)(?![a-z])"
        ),
        _end_of_month,
    ),
    (
        re.compile(
            rf"(?P<next_year>明年)?\s*(?P<m>[0-9]{{1,2}}|{_CN_SMALL})\s*月\s*(?:份)?(?:底|末)"
        ),
        _end_of_named_month,
    ),
    (re.compile(r"(?P<rel>下下个?|下个?|这个?|本)?月\s*(?:底|末)"), _end_of_month),
    (
        re.compile(
            r"(?<![a-z])(?:the\s+)?(?:beginning|start)\s+of\s+(?:the\s+)?(?P<rel>next)\s+month(?![a-z])"
        ),
        _start_of_month,
    ),
    (re.compile(r"(?P<rel>下下个?|下个?)?月初"), _start_of_month),
    # "the 15th", "15th", "the 1st of next month"
    (
        re.compile(
            r"(?<![a-z0-9/.,$])(?:the\s+)?(?P<d>[0-9]{1,2})(?:st|nd|rd|th)(?![a-z0-9])"
            r"(?:\s+of\s+(?:the\s+)?(?P<rel>this|next)\s+month)?"
        ),
        _day_of_month,
    ),
    # "on the 15": without an ordinal suffix only after "the".
    (
        re.compile(
            r"(?<![a-z])the\s+(?P<d>[0-9]{1,2})(?![0-9a-z.,/:%])"
            r"(?:\s+of\s+(?:the\s+)?(?P<rel>this|next)\s+month)?"
        ),
        _day_of_month,
    ),
    # "15号", "十五日", "下个月15号", "这个月的15号"
    (
        re.compile(
            rf"(?:(?P<rel>下下个?|下个?|这个?|本)月的?\s*|(?<![0-9{_CN_D}十月]))"
            rf"(?P<d>[0-9]{{1,2}}|{_CN_SMALL})\s*(?:号|日)(?!\s*(?:以后|之后|后))"
        ),
        _day_of_month,
    ),
]


def _date_candidates(text: str, today: date) -> Iterator[_Cand]:
    for pattern, handler in _ABSOLUTE_RULES:
        for match in pattern.finditer(text):
            yield _Cand("date", handler(match, today)[0], match.start(), match.end())
    for relative, relative_handler in _RELATIVE_RULES:
        for match in relative.finditer(text):
            yield _Cand("date", relative_handler(match, today), match.start(), match.end())


# --- Months --------------------------------------------------------------------------------

_MONTHS_RULES = [
    # "2 months", "two months", "a month", "3 mo", "6-month", "1.5 years", "half a year"
    re.compile(
        rf"(?<![a-z0-9.,])(?P<n>[0-9]+(?:\.[0-9]+)?|half\s+an?|an?|{_EN_NUMBER})\s*-?\s*"
        r"(?P<u>months?|mos?|mths?|mnths?|years?|yrs?)(?![a-z])"
    ),
    # "两个月", "3个月", "十二个月"
    re.compile(rf"(?<![0-9{_CN_D}十百])(?P<n>[0-9]+|[{_CN_D}十]+)\s*个\s*(?P<u>月)"),
    # "半年", "一年", "一年半", "两年"
    re.compile(
        rf"(?<![0-9{_CN_D}十百])(?:(?P<n>[0-9]{{1,2}}|[{_CN_D}十]{{1,3}})\s*个?\s*(?P<u>年)"
        r"(?P<half>半)?|(?P<only>半)\s*(?P<u2>年))"
    ),
]


def _months_value(match: re.Match[str]) -> int | None:
    groups = match.groupdict()
    if groups.get("only"):
        count: Decimal | None = Decimal("0.5")
    else:
        count = _number(match["n"])
    if count is None:
        return None
    unit = groups.get("u") or groups.get("u2") or ""
    if unit.startswith(("y", "年")):
        count *= 12
    if groups.get("half"):
        count += 6
    months = _whole_int(count)
    return months if months is not None and 1 <= months <= MAX_MONTHS else None


def _months_candidates(text: str) -> Iterator[_Cand]:
    for pattern in _MONTHS_RULES:
        for match in pattern.finditer(text):
            yield _Cand("months", _months_value(match), match.start(), match.end())


# --- Options ---------------------------------------------------------------------------------

_OPTION_RULES = [
    # "option 2", "choice two", "number 3", "no. 2", "option #2"
    re.compile(
        rf"(?<![a-z])(?:option|choice|number|no\.)\s*(?:#\s*)?(?P<n>[0-9]{{1,2}}|{_EN_NUMBER})"
        r"(?![0-9a-z])"
    ),
    re.compile(r"#\s*(?P<n>[0-9]{1,2})(?![0-9])"),
    # "the second one", "the 2nd option"
    re.compile(
        rf"(?<![a-z])the\s+(?P<n>{_EN_ORD}|[0-9]{{1,2}}(?:st|nd|rd|th))\s+(?:one|option|choice)"
        r"(?![a-z])"
    ),
    # "第二个", "第2项"
    re.compile(rf"第\s*(?P<n>[0-9]{{1,2}}|{_CN_SMALL})\s*(?:个|项|种|条|套|款)?"),
    # "选2", "选第二个", "选项3"
    re.compile(rf"选(?:项|择)?\s*(?:第\s*)?(?P<n>[0-9]{{1,2}}|{_CN_SMALL})\s*(?:个|项|种|条|号)?"),
]


def _option_number(text: str) -> int | None:
    text = text.strip()
    if text in _EN_ORDINALS:
        return _EN_ORDINALS[text]
    ordinal = re.fullmatch(r"([0-9]{1,2})(?:st|nd|rd|th)", text)
    return int(ordinal[1]) if ordinal else _whole_int(_number(text))


def _option_candidates(text: str) -> Iterator[_Cand]:
    for pattern in _OPTION_RULES:
        for match in pattern.finditer(text):
            yield _Cand("option", _option_number(match["n"]), match.start(), match.end())


# --- Phones and digits -------------------------------------------------------------------------

_PHONE_RULES = [
    re.compile(r"\+\s?[0-9][0-9\s\-.()]{5,}[0-9]"),  # "+1 415 555 0100", "+86 138 0013 8000"
    # "(415) 555-0100", "415-555-0100", "1-800-555-0100"
    re.compile(
        r"(?<![0-9+])(?:1[\s\-.])?(?:\([0-9]{3}\)\s?|[0-9]{3}[\s\-.])[0-9]{3}[\s\-.][0-9]{4}(?![0-9])"
    ),
    re.compile(r"(?<![0-9+])1[3-9][0-9](?:[\s\-]?[0-9]{4}){2}(?![0-9])"),  # Chinese mobiles
]


def _phone_candidates(text: str) -> Iterator[_Cand]:
    for pattern in _PHONE_RULES:
        for match in pattern.finditer(text):
            digits = re.sub("[^0-9]", "", match[0])
            if not 8 <= len(digits) <= 15:
                continue
            value = "+" + digits if match[0].startswith("+") else digits
            yield _Cand("phone", value, match.start(), match.end())


_DIGIT_CHARS = "0-9〇零一二三四五六七八九幺"
_DIGIT_RUN = re.compile(
    rf"(?<![0-9.,])[{_DIGIT_CHARS}](?:[ -]?[{_DIGIT_CHARS}])*(?![0-9]|[.,][0-9])"
)
_TO_ASCII = str.maketrans("〇零一二三四五六七八九幺", "001234567891")


def _digit_runs(text: str) -> Iterator[tuple[str, re.Match[str]]]:
    for match in _DIGIT_RUN.finditer(text):
        digits = re.sub("[ -]", "", match[0]).translate(_TO_ASCII)
        # A lone Chinese digit is a word far more often than a number: "查一下", "后四位".
        if len(digits) == 1 and not match[0].isascii():
            continue
        yield digits, match


def _digit_candidates(text: str) -> Iterator[_Cand]:
    for digits, match in _digit_runs(text):
        yield _Cand("digits", digits, match.start(), match.end())


# --- Public API --------------------------------------------------------------------------------


def _entities(text: str, folded: _Folded, readings: list[_Cand]) -> tuple[Entity, ...]:
    entities = []
    for cand in readings:
        if cand.value is None:
            continue
        start, end = folded.origin[cand.start], folded.origin[cand.end - 1] + 1
        entities.append(Entity(cand.kind, cand.value, text[start:end], start, end))
    return tuple(entities)


def extract_entities(text: str, *, language: str, today: date) -> tuple[Entity, ...]:
    """Every entity in the message, in the order written.

    A number is an amount only with a marker ($, ¥, dollars, bucks, k, 元, 块, 万, or right after
    "pay"/"还"); otherwise it is digits. A relative or yearless date is resolved forward from
    `today`; a date written with its year is reported as written, even in the past
    ("1985-03-03"), so that it is one date rather than three numbers. Options are reported
    only in an explicit form ("option 2", "第二个"): a bare "2" is digits.
    """
    _check_language(language)
    folded = _fold(text)
    return _entities(text, folded, _settle(_candidates(folded.text, today)))


def parse_amount(text: str, *, language: str) -> Decimal | None:
    """The amount of money in an answer to "how much?", to the cent; None when there is none,
    or it is zero, negative, over 10,000,000 or has fractions of a cent.

    A bare number counts ("150.50", "两千"), but never a date or a count of months ("the 15th",
    "3/15", "15号", "2 months"); a marked amount wins over a bare number in the same message.
    """
    _check_language(language)
    folded = _fold(text).text
    # Yearless and relative dates only claim their span here, so any `today` will do.
    readings = _settle(_candidates(folded, date(2000, 1, 1), bare_amounts=True))
    amounts = [c for c in readings if c.kind == "amount"]
    amounts.sort(key=lambda c: c.weak)  # stable: marked amounts first, each in written order
    for cand in amounts:
        if isinstance(cand.value, Decimal):
            return cand.value
    return None


def parse_date(text: str, *, language: str, today: date) -> date | None:
    """The first date in the message that is today or later; None when there is none or it is
    impossible ("Feb 30", "the 32nd") or past ("yesterday", "2020-01-01")."""
    _check_language(language)
    for cand in _settle(_candidates(_fold(text).text, today)):
        if cand.kind == "date" and isinstance(cand.value, date) and cand.value >= today:
            return cand.value
    return None


def parse_date_of_birth(text: str, *, language: str, today: date | None = None) -> date | None:
    """A birth date written in full: "March 3 1985", "03/03/1985" (month first), "1985-03-03",
    "1985年3月3日", "一九八五年三月三日", "19850303"; or keyed in on a phone as eight digits,
    month first ("03031985"), also read out digit by digit ("0 3 0 3 1 9 8 5").

    A two-digit year is refused rather than guessed; so is a year before 1900 and, when `today`
    is given, any date after it.
    """
    _check_language(language)
    folded = _fold(text).text
    found: list[tuple[int, date]] = []
    for pattern, handler in [*_ABSOLUTE_RULES, _COMPACT_DATE]:
        for match in pattern.finditer(folded):
            born, explicit_year = handler(match, None)
            if born is not None and explicit_year:
                found.append((match.start(), born))
    if not found:
        found.extend(_keypad_dates(folded))
    for _, born in sorted(found, key=lambda pair: pair[0]):
        if born.year >= EARLIEST_BIRTH_YEAR and (today is None or born <= today):
            return born
    return None


def _keypad_dates(folded: str) -> Iterator[tuple[int, date]]:
    """Eight digits and nothing else numeric, as a phone keypad sends a date: year first when
    they start with one ("19850303", spaced or not), else month, day, year ("03031985")."""
    runs = list(_digit_runs(folded))
    if len(runs) != 1 or len(runs[0][0]) != 8:
        return
    digits, match = runs[0]
    year_first = _make_date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    born = year_first or _make_date(int(digits[4:]), int(digits[:2]), int(digits[2:4]))
    if born is not None:
        yield match.start(), born


def parse_months(text: str, *, language: str) -> int | None:
    """A number of months, 1 to 60: "2 months", "two months", "a month", "3 mo", "两个月", "半年"
    (6); a bare number ("3", "两") when it is the whole message."""
    _check_language(language)
    folded = _fold(text).text
    for cand in _settle(_candidates(folded, date(2000, 1, 1)), prefer="months"):
        if cand.kind == "months":
            return cand.value if isinstance(cand.value, int) else None
    months = _whole_message_number(folded)
    return months if months is not None and 1 <= months <= MAX_MONTHS else None


def parse_digits(text: str, *, length: int | None = None) -> str | None:
    """The digits the borrower typed ("1234", "12 34", "一二三四"), as ASCII digits.

    With `length`, only a run of exactly that many digits counts, the last one if several do
    ("last 4 are 5678" gives "5678"). Without it, the longest run, the last among equals.
    """
    runs = [digits for digits, _ in _digit_runs(_fold(text).text)]
    if length is not None:
        runs = [run for run in runs if len(run) == length]
        return runs[-1] if runs else None
    if not runs:
        return None
    return max(reversed(runs), key=len)


_OPTION_LAST = re.compile(r"(?<![a-z])(?:the\s+)?last(?:\s+one)?(?![a-z])|最后一?个?")
_OPTION_ORDINAL = re.compile(rf"(?<![a-z])(?P<n>{_EN_ORD}|[0-9]{{1,2}}(?:st|nd|rd|th))(?![a-z0-9])")
_OPTION_HAO = re.compile(rf"(?<![0-9{_CN_D}十])(?P<n>[0-9]{{1,2}}|{_CN_SMALL})\s*号")
_LONE_NUMBER = re.compile(r"(?<![0-9.,])[0-9]{1,2}(?![0-9]|[.,][0-9])")


def parse_option(text: str, *, count: int) -> int | None:
    """Which of `count` listed options the borrower chose, 1-based: "2", "option 2", "#2",
    "the second one", "second", "last", "第二个", "选2", "2号", "二"; None when out of range or
    unclear."""
    folded = _fold(text).text
    choice: int | None = None
    explicit = _settle(_option_candidates(folded))
    if explicit:
        value = explicit[0].value
        choice = value if isinstance(value, int) else None
    elif _OPTION_LAST.search(folded):
        choice = count
    elif ordinal := _OPTION_ORDINAL.search(folded):
        choice = _option_number(ordinal["n"])
    elif hao := _OPTION_HAO.search(folded):
        choice = _option_number(hao["n"])
    elif (whole := _whole_message_number(folded)) is not None:
        choice = whole
    else:
        # One plain number among words ("2 please", "I'll take 3"); two numbers are unclear.
        numbers = _LONE_NUMBER.findall(folded)
        choice = int(numbers[0]) if len(numbers) == 1 else None
    return choice if choice is not None and 1 <= choice <= count else None


_PAST_WEEKDAYS = {
    **{name: n for n, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))},
    **{name: n for n, name in enumerate("一二三四五六日")},
    "天": 6,
}
_PAST_RELATIVE = re.compile(
    r"(?P<word>day before yesterday|yesterday|today|大前天|前天|昨天|今天)"
    r"|(?P<n>[0-9]{1,2})\s*(?:days?\s+ago|天前)"
    r"|(?:last\s+|this\s+|on\s+)?(?P<en_wd>mon|tue|wed|thu|fri|sat|sun)[a-z]*"
    r"|(?P<zh_last>上)?(?:周|星期|礼拜)(?P<zh_wd>[一二三四五六日天])"
    r"|(?:the\s+)?(?P<dom>[0-9]{1,2})(?:st|nd|rd|th)|(?P<zh_dom>[0-9]{1,2})\s*[号日]"
)
_PAST_WORDS = {
    "today": 0, "今天": 0, "yesterday": 1, "昨天": 1,
    "day before yesterday": 2, "前天": 2, "大前天": 3,
}  # fmt: skip


def _past_day(match: re.Match[str], today: date) -> date | None:
    if match["word"]:
        return today - timedelta(days=_PAST_WORDS[match["word"]])
    if match["n"]:
        return today - timedelta(days=int(match["n"]))
    weekday = match["en_wd"] or match["zh_wd"]
    if weekday:
        back = (today.weekday() - _PAST_WEEKDAYS[weekday]) % 7
        if match["zh_last"] and back < 7:
            # 上周五: the Friday of last week, counted from this week's Monday.
            monday = today - timedelta(days=today.weekday())
            return monday - timedelta(days=7 - _PAST_WEEKDAYS[weekday])
        return today - timedelta(days=back or 7)
    day_of_month = int(match["dom"] or match["zh_dom"])
    if not 1 <= day_of_month <= 31:
        return None
    year, month = today.year, today.month
    if day_of_month > today.day:
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    try:
        return date(year, month, day_of_month)
    except ValueError:
        return None


_PAST_MONTH_DAY = re.compile(
    r"(?<![a-z])(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+[0-9]{1,2}"
    r"(?:st|nd|rd|th)?(?![0-9])"
    r"|(?<![0-9/])[0-9]{1,2}/[0-9]{1,2}(?![0-9/])"
    r"|(?<![0-9])[0-9]{1,2}\s*月\s*[0-9]{1,2}\s*[日号]"
)


def _year_before(day: date) -> date | None:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return None


def parse_past_date(text: str, *, language: str, today: date) -> date | None:
    """The first date in the message that is today or earlier ("yesterday", "last Friday",
    "on the 3rd", "3 days ago", "昨天", "上周五", "20号", "2026-11-20"): when something already
    happened, such as a payment. Relative days count back from `today`."""
    _check_language(language)
    absolute = parse_date_of_birth(text, language=language, today=today)
    if absolute is not None:
        return absolute
    folded = _fold(text).text
    for match in _PAST_MONTH_DAY.finditer(folded):
        # "Nov 15", "11/15", "11月15日" without a year: the last such day, this year or last.
        ahead = parse_date(match.group(0), language=language, today=today)
        if ahead is not None:
            return ahead if ahead <= today else _year_before(ahead)
    for match in _PAST_RELATIVE.finditer(folded):
        found = _past_day(match, today)
        if found is not None and found <= today:
            return found
    return None


_YES_EN = frozenset(
    [
        "yes",
        "y",
        "ya",
        "yeah",
        "yea",
        "yep",
        "yup",
        "ok",
        "okay",
        "k",
        "kk",
        "sure",
        "correct",
        "right",
        "confirm",
        "confirmed",
        "agreed",
        "agree",
        "absolutely",
        "definitely",
        "alright",
        "affirmative",
    ]
)
_NO_EN = frozenset(["no", "n", "nope", "nah", "not", "never", "cancel", "don't", "dont", "stop"])
_YES_PHRASES_EN = ("do it", "go ahead", "sounds good", "please do", "of course", "that's right")
_YES_ZH = ("是", "对", "好", "嗯", "可以", "行", "确认", "没问题", "同意", "ok")
_NO_ZH = ("不", "没", "别", "算了", "取消")
_WORD = re.compile(r"[a-z']+|[\u4e00-\u9fff]+")


def parse_yes_no(text: str) -> bool | None:
    """An explicit yes (True) or no (False) to a question, else None.

    Read from the words themselves, not from a classifier: a confirmation that changes an account
    or places a hold needs the borrower to have said yes ("yes", "ok", "sure", "go ahead", "是的",
    "好", "可以"), not "?" or "hmm". A message saying both, or neither, is None.
    """
    folded = _fold(text).text
    words = _WORD.findall(folded)
    if not words:
        return None
    first = words[0]
    chinese = bool(re.match(r"[\u4e00-\u9fff]", first))
    if chinese:
        says_no = first.startswith(_NO_ZH) and not first.startswith("没问题")
        # "是不是", "好吗": a question back, not an answer.
        asks = "不" in first or first.endswith(("吗", "呢"))
        says_yes = not says_no and not asks and first.startswith(_YES_ZH)
    else:
        phrase = " ".join(words)
        says_yes = first in _YES_EN or phrase.startswith(_YES_PHRASES_EN)
        says_no = first in _NO_EN
    if says_yes == says_no:
        return None
    return says_yes
