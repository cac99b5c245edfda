"""Masking of personal data typed into conversations before a message is stored (ALL-PII).

Three kinds are found, each only when its own check passes, so ordinary numbers (amounts,
reference numbers, dates) are left alone:
- payment card numbers: 13 to 19 digits, unbroken or in the groupings printed on cards (4-4-4-4,
  4-6-5, ...) with spaces or dashes, Luhn-valid; masked as `**** **** **** 1234`;
- US Social Security numbers: `AAA-GG-SSSS`, or nine digits (bare or spaced) right after a word
  like "SSN" or "social security", never area 000, 666 or 900-999, group 00 or serial 0000;
  masked as `***-**-6789`;
- Chinese resident identity numbers: 17 digits and a check character (0-9 or X) valid under
  ISO 7064 MOD 11-2, with a real date of birth inside; masked to the last four.

`Masked` carries the masked text and the kinds found, never the original.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

CARD = "card_number"
US_SSN = "us_ssn"
CN_RESIDENT_ID = "cn_resident_id"


@dataclass(frozen=True)
class Masked:
    """A text with its personal data masked, and the kind of each item masked, in text order."""

    text: str
    found: tuple[str, ...]


@dataclass(frozen=True)
class _Hit:
    start: int
    end: int
    kind: str
    replacement: str


# Letters and digits of any script around an ID would make it part of a longer token; Chinese
# text has no spaces, so 号110105... must still match: only ASCII letters and digits count.
_CN_ID = re.compile(r"(?<![0-9A-Za-z])(\d{17}[0-9Xx])(?![0-9A-Za-z])")
# The same number written in its three parts (region, birth date, sequence and check).
_CN_ID_PARTS = re.compile(
    r"(?<![0-9A-Za-z])(\d{6})[ \-\u00a0]{1,2}(\d{8})[ \-\u00a0]{1,2}(\d{3}[0-9Xx])(?![0-9A-Za-z])"
)
_CN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_CHECK = "10X98765432"

_SSN_DASHED = re.compile(
    r"(?<![\d\-\u2013])(?<!\d\.)(\d{3})([\-.\u2013])(\d{2})\2(\d{4})(?![\d\-\u2013]|\.\d)"
)
_SSN_LOOSE = re.compile(r"(?<![\d-])(\d{3})[ ]?(\d{2})[ ]?(\d{4})(?![\d-])")
_SSN_CONTEXT = re.compile(
    r"(?:\bssn|\bss#|\bss\s*(?:no|num|number)|\bsocial(?:\s+security)?|\bsoc\.?\s*sec"
    r"|社会安全号|社会保障号|社会安全码|社安号)"
    r"[^0-9]{0,24}$",
    re.IGNORECASE,
)

# A run of digits with up to two separators (spaces, no-break spaces, dashes, dots) between
# them; a leading + is a phone number.
_DIGIT_RUN = re.compile(r"(?<![\d+])\d(?:[ \-.\u00a0\u2013]{0,2}\d)*(?!\d)")
_CARD_GROUPINGS = ((4, 6, 5), (4, 6, 4), (6, 13))
_GROUP = re.compile(r"\d+")
_NON_DIGIT = re.compile(r"\D")


def mask_pii(text: str) -> Masked:
    """`text` with card numbers, US SSNs and Chinese resident ID numbers masked."""
    hits = _cn_ids(text) + _ssns(text) + _cards(text)
    # Earlier kinds win an overlap (an 18-digit ID can also pass Luhn).
    chosen: list[_Hit] = []
    for hit in hits:
        if all(hit.end <= other.start or hit.start >= other.end for other in chosen):
            chosen.append(hit)
    chosen.sort(key=lambda hit: hit.start)
    parts: list[str] = []
    position = 0
    for hit in chosen:
        parts.append(text[position : hit.start])
        parts.append(hit.replacement)
        position = hit.end
    parts.append(text[position:])
    return Masked(text="".join(parts), found=tuple(hit.kind for hit in chosen))


# --- Chinese resident identity numbers (GB 11643) -----------------------------------------


def cn_id_valid(number: str) -> bool:
    """Whether an 18-character number has a valid MOD 11-2 check character and birth date."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(digit) * weight for digit, weight in zip(number, _CN_WEIGHTS, strict=False))
    if _CN_CHECK[total % 11] != number[17].upper():
        return False
    if number[0] == "0":  # province codes run from 11 to 82
        return False
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return 1900 <= born.year <= 2099


def _cn_ids(text: str) -> list[_Hit]:
    hits = [
        _Hit(match.start(), match.end(), CN_RESIDENT_ID, "*" * 14 + match.group(1)[-4:])
        for match in _CN_ID.finditer(text)
        if cn_id_valid(match.group(1))
    ]
    hits += [
        _Hit(match.start(), match.end(), CN_RESIDENT_ID, "*" * 14 + match.group(3))
        for match in _CN_ID_PARTS.finditer(text)
        if cn_id_valid("".join(match.groups()))
    ]
    return hits


# --- US Social Security numbers ------------------------------------------------------------


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """Whether the parts could be an issued SSN (SSA: no 000, 666 or 9xx area, 00 group, 0000)."""
    return (
        area not in ("000", "666")
        and not area.startswith("9")
        and group != "00"
        and serial != "0000"
    )


def _ssns(text: str) -> list[_Hit]:
    hits = [
        _Hit(match.start(), match.end(), US_SSN, f"***-**-{match.group(4)}")
        for match in _SSN_DASHED.finditer(text)
        if ssn_valid(match.group(1), match.group(3), match.group(4))
    ]
    taken = {hit.start for hit in hits}
    for match in _SSN_LOOSE.finditer(text):
        if match.start() in taken or not ssn_valid(*match.groups()):
            continue
        # Nine bare digits are an SSN only when the text just before says so.
        if _SSN_CONTEXT.search(text[max(0, match.start() - 48) : match.start()]):
            hits.append(_Hit(match.start(), match.end(), US_SSN, f"***-**-{match.group(3)}"))
    return hits


# --- payment card numbers --------------------------------------------------------------------


def luhn_valid(digits: str) -> bool:
    """Whether a digit string passes the Luhn (mod 10) check."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card_grouping(lengths: tuple[int, ...]) -> bool:
    """Whether groups of these lengths are how card numbers are written."""
    if len(lengths) == 1:
        return True
    if lengths in _CARD_GROUPINGS:
        return True
    return all(length == 4 for length in lengths[:-1]) and 1 <= lengths[-1] <= 4


def _cards(text: str) -> list[_Hit]:
    hits: list[_Hit] = []
    for run in _DIGIT_RUN.finditer(text):
        groups = [
            (g.start() + run.start(), g.end() + run.start()) for g in _GROUP.finditer(run.group())
        ]
        first = 0
        # Left to right, the longest window of whole groups that is a card: a CVV, an expiry or
        # a second card may follow it in the same run.
        while first < len(groups):
            found: int | None = None
            digits = ""
            for last in range(first, len(groups)):
                digits += text[groups[last][0] : groups[last][1]]
                if len(digits) > 19:
                    break
                lengths = tuple(end - start for start, end in groups[first : last + 1])
                if len(digits) >= 13 and _card_grouping(lengths) and luhn_valid(digits):
                    found = last
            if found is None:
                first += 1
                continue
            start, end = groups[first][0], groups[found][1]
            last_four = _NON_DIGIT.sub("", text[start:end])[-4:]
            hits.append(_Hit(start, end, CARD, f"**** **** **** {last_four}"))
            first = found + 1
    return hits
