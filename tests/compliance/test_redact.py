"""PII masking (ALL-PII): card numbers, US SSNs and Chinese resident ID numbers, in English and
Chinese text; numbers that fail their check are left alone, and the original never comes back.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import pytest

from compliance.redact import (
    CARD,
    CN_RESIDENT_ID,
    US_SSN,
    Masked,
    cn_id_valid,
    luhn_valid,
    mask_pii,
    ssn_valid,
)


@dataclass(frozen=True)
class Case:
    text: str
    masked: str
    found: tuple[str, ...]


CASES = {
    # cards: Luhn-valid, 13 to 19 digits, as printed or unbroken
    "visa spaced": Case(
        "my card is 4111 1111 1111 1111 exp 12/27",
        "my card is **** **** **** 1111 exp 12/27",
        (CARD,),
    ),
    "mastercard dashed": Case("5555-5555-5555-4444", "**** **** **** 4444", (CARD,)),
    "unbroken": Case("card:6011111111111117.", "card:**** **** **** 1117.", (CARD,)),
    "amex 4-6-5": Case("Amex 3782 822463 10005 ok", "Amex **** **** **** 0005 ok", (CARD,)),
    "13 digits": Case("4222222222222", "**** **** **** 2222", (CARD,)),
    "19 digits": Case("4111111111111111110", "**** **** **** 1110", (CARD,)),
    "cvv after the number": Case("4111 1111 1111 1111 123", "**** **** **** 1111 123", (CARD,)),
    "two cards in one run": Case(
        "4111 1111 1111 1111 5555 5555 5555 4444",
        "**** **** **** 1111 **** **** **** 4444",
        (CARD, CARD),
    ),
    "unionpay in chinese": Case(
        "我的银行卡号是6250941006528599，请扣款",
        "我的银行卡号是**** **** **** 8599，请扣款",
        (CARD,),
    ),
    "not luhn": Case("4111 1111 1111 1112", "4111 1111 1111 1112", ()),
    "not luhn, chinese": Case("卡号6250941006528598", "卡号6250941006528598", ()),
    "too short": Case("ref 411111111111", "ref 411111111111", ()),
    "too long": Case("41111111111111111113", "41111111111111111113", ()),
    "odd grouping": Case("4111 11 111 1111 1111", "4111 11 111 1111 1111", ()),
    "phone number": Case("call +86 138 0013 8000", "call +86 138 0013 8000", ()),
    "amount": Case("I paid $1,200.00 on 2026-03-08", "I paid $1,200.00 on 2026-03-08", ()),
    # US social security numbers
    "ssn dashed": Case("SSN 123-45-6789", "SSN ***-**-6789", (US_SSN,)),
    "ssn dashed, no context": Case("it is 078-05-1120.", "it is ***-**-1120.", (US_SSN,)),
    "ssn bare with context": Case(
        "my social security number is 123456789",
        "my social security number is ***-**-6789",
        (US_SSN,),
    ),
    "ssn spaced with context": Case("SSN: 123 45 6789", "SSN: ***-**-6789", (US_SSN,)),
    "ssn in chinese": Case("我的社会安全号是123-45-6789", "我的社会安全号是***-**-6789", (US_SSN,)),
    "nine digits, no context": Case("order 123456789", "order 123456789", ()),
    "area 000": Case("SSN 000-12-3456", "SSN 000-12-3456", ()),
    "area 666": Case("SSN 666-12-3456", "SSN 666-12-3456", ()),
    "area 9xx": Case("SSN 912-34-5678", "SSN 912-34-5678", ()),
    "group 00": Case("SSN 123-00-4567", "SSN 123-00-4567", ()),
    "serial 0000": Case("SSN 123-45-0000", "SSN 123-45-0000", ()),
    "phone-like dashes": Case("call 555-123-4567", "call 555-123-4567", ()),
    # Chinese resident identity numbers
    "cn id, X check": Case(
        "身份证号11010519491231002X，谢谢", "身份证号**************002X，谢谢", (CN_RESIDENT_ID,)
    ),
    "cn id, lowercase x": Case("ID 11010519491231002x", "ID **************002x", (CN_RESIDENT_ID,)),
    "cn id, digit check": Case(
        "my ID number is 440306199003071232",
        "my ID number is **************1232",
        (CN_RESIDENT_ID,),
    ),
    "cn id, leap day": Case("110105200002291235", "**************1235", (CN_RESIDENT_ID,)),
    "cn id, bad check": Case("身份证11010519491231002Y", "身份证11010519491231002Y", ()),
    "cn id, wrong check digit": Case(
        "身份证号440306199003071233", "身份证号440306199003071233", ()
    ),
    "cn id, no such date": Case("身份证 110105199902291235", "身份证 110105199902291235", ()),
    # together
    "all three": Case(
        "card 4111-1111-1111-1111, SSN 123-45-6789, 身份证 11010519491231002X",
        "card **** **** **** 1111, SSN ***-**-6789, 身份证 **************002X",
        (CARD, US_SSN, CN_RESIDENT_ID),
    ),
    "nothing": Case("I can pay 200 next Friday", "I can pay 200 next Friday", ()),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_mask_pii(case: Case) -> None:
    result = mask_pii(case.text)
    assert result == Masked(text=case.masked, found=case.found)


@pytest.mark.parametrize(
    "case", [c for c in CASES.values() if c.found], ids=[k for k, c in CASES.items() if c.found]
)
def test_the_original_never_comes_back(case: Case) -> None:
    result = mask_pii(case.text)
    originals = [
        w for w in case.text.replace(",", " ").split() if sum(ch.isdigit() for ch in w) > 8
    ]
    for value in (getattr(result, f.name) for f in fields(result)):
        for original in originals:
            assert original not in str(value)
    assert case.text not in repr(result)
    # Masking a masked text finds nothing more.
    assert mask_pii(result.text) == Masked(text=result.text, found=())


def test_the_checks() -> None:
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
    assert cn_id_valid("11010519491231002X")
    assert not cn_id_valid("110105194912310021")  # check character should be X
    assert not cn_id_valid("110105199902291235")  # 1999 has no 29 February
    assert ssn_valid("078", "05", "1120")
    assert not ssn_valid("666", "05", "1120")


@pytest.mark.parametrize(
    ("text", "kind", "masked"),
    [
        ("card 4111.1111.1111.1111 ok", "card_number", "card **** **** **** 1111 ok"),
        ("4111  1111  1111  1111", "card_number", "**** **** **** 1111"),
        ("4111\u00a01111\u00a01111\u00a01111", "card_number", "**** **** **** 1111"),
        ("621234 5678901230005", "card_number", "**** **** **** 0005"),
        ("my social is 123456789", "us_ssn", "my social is ***-**-6789"),
        ("ss number 123456789", "us_ssn", "ss number ***-**-6789"),
        ("SSN 123.45.6789.", "us_ssn", "SSN ***-**-6789."),
        ("SSN 123\u201345\u20136789", "us_ssn", "SSN ***-**-6789"),
        ("身份证 110105 19900101 0002", "cn_resident_id", "身份证 **************0002"),
        ("110105-19900101-0002", "cn_resident_id", "**************0002"),
    ],
)
def test_separators_people_type_are_masked_too(text: str, kind: str, masked: str) -> None:
    result = mask_pii(text)
    assert (result.text, result.found) == (masked, (kind,))


@pytest.mark.parametrize(
    "text", ["pay 1,200.50 on 2026.03.10, call 415.555.0100", "ZIP 94105-1234", "v1.23.4567"]
)
def test_amounts_dates_and_phone_numbers_with_dots_are_left_alone(text: str) -> None:
    assert mask_pii(text).text == text
