"""What a call may say (compliance.calls): limited-content voicemails (US-VOICEMAIL), saying who
is calling (US-CALLER-ID) and the opening of an automated call (US-TCPA-ID). Table-driven, an
allowed and a refused case for each code, in English and Chinese.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from compliance.calls import (
    CallContentCheck,
    check_call_opening,
    check_voicemail,
    same_number,
    voicemail_text,
)

BUSINESS = "Acme Lending"
BUSINESS_ZH = "安信"
NUMBER = "+14155552671"
NUMBER_CN = "+8613800138000"


@dataclass(frozen=True)
class Case:
    name: str
    text: str
    language: str
    reasons: tuple[str, ...]  # () when allowed
    business: str = BUSINESS
    number: str = NUMBER


def run(check: object, cases: list[Case]) -> None:
    for case in cases:
        got = check(  # type: ignore[operator]
            case.text, case.language, business_name=case.business, callback_number=case.number
        )
        assert isinstance(got, CallContentCheck)
        assert (got.ok, got.reasons) == (not case.reasons, case.reasons), (case.name, got)
        assert got.ok or got.problems, case.name


VOICEMAIL_CASES = [
    Case("limited content", "Hi, this is Maya from Acme Lending. Please call us back at "
         "(415) 555-2671. Thank you.", "en", ()),
    Case("E.164 number, reply times", "Hello, this is Acme Lending. Please return our call at "
         "+1 415 555 2671, weekdays 8 am to 8 pm.", "en", ()),
    Case("dashed national number", "Acme Lending here, please call 415-555-2671.", "en", ()),
    Case("Chinese, limited content", "您好，我是安信的小王。请回电 +86 138 0013 8000。谢谢。", "zh",
         (), BUSINESS_ZH, NUMBER_CN),
    Case("Chinese, national number without spaces", "您好，这里是安信，请回电13800138000。",
         "zh-CN", (), BUSINESS_ZH, NUMBER_CN),
    Case("names the debt", "Hi, this is Acme Lending about your overdue loan. Please call "
         "415 555 2671.", "en", ("US-VOICEMAIL",)),
    Case("an amount", "Hi, this is Acme Lending. Call us back about $120.50 at 415 555 2671.",
         "en", ("US-VOICEMAIL",)),
    Case("the Mini-Miranda reveals the debt", "This is Acme Lending. This is an attempt to "
         "collect a debt. Call 415 555 2671.", "en", ("US-VOICEMAIL",)),
    Case("a payment", "This is Acme Lending about your payment. Call 415 555 2671.", "en",
         ("US-VOICEMAIL",)),
    Case("Chinese: debt words and an amount", "您好，这里是安信。您的贷款已逾期，欠款1200元，请回电"
         "13800138000。", "zh", ("US-VOICEMAIL",), BUSINESS_ZH, NUMBER_CN),
    Case("no callback number", "Hi, this is Acme Lending. Please call us back.", "en",
         ("US-VOICEMAIL", "US-TCPA-ID")),
    Case("another number than the callback", "Hi, this is Acme Lending. Please call us at "
         "212 555 0100.", "en", ("US-VOICEMAIL", "US-TCPA-ID")),
    Case("Chinese: no callback number", "您好，这里是安信，请回电。", "zh",
         ("US-VOICEMAIL", "US-TCPA-ID"), BUSINESS_ZH, NUMBER_CN),
    Case("business name reveals collection", "Hi, this is Acme Collections. Please call "
         "415 555 2671.", "en", ("US-VOICEMAIL",), "Acme Collections"),
    Case("Chinese business name reveals collection", "您好，这里是安信催收，请回电13800138000。",
         "zh", ("US-VOICEMAIL",), "安信催收", NUMBER_CN),
    Case("nobody says who is calling", "Hi, please call us back at 415 555 2671.", "en",
         ("US-VOICEMAIL", "US-CALLER-ID")),
    Case("Chinese: nobody says who is calling", "您好，请回电13800138000。", "zh",
         ("US-VOICEMAIL", "US-CALLER-ID"), BUSINESS_ZH, NUMBER_CN),
    Case("no request to reply", "Hi, this is Acme Lending, 415 555 2671.", "en",
         ("US-VOICEMAIL",)),
]  # fmt: skip


def test_us_voicemail() -> None:
    run(check_voicemail, VOICEMAIL_CASES)


def test_us_caller_id() -> None:
    run(check_voicemail, [c for c in VOICEMAIL_CASES if c.name in {
        "limited content", "nobody says who is calling", "Chinese: nobody says who is calling",
    }])  # fmt: skip
    run(check_call_opening, [
        Case("says who is calling", "Hello, this is Acme Lending calling, you can reach us at "
             "415 555 2671.", "en", ()),
        Case("never says who is calling", "Hello, please call us back at 415 555 2671.", "en",
             ("US-TCPA-ID", "US-CALLER-ID")),
        Case("Chinese: never says who is calling", "您好，请回电13800138000。", "zh",
             ("US-TCPA-ID", "US-CALLER-ID"), BUSINESS_ZH, NUMBER_CN),
    ])  # fmt: skip


def test_us_tcpa_id() -> None:
    late = (
        "Hello. We have something to tell you about your options today and we would love to "
        "talk it through with you whenever suits you best, at any time of the day. This is "
        "Acme Lending, at 415 555 2671."
    )
    run(check_call_opening, [
        Case("name and number in the first sentence", "Hello, this is Acme Lending, please call "
             "us back at +1 (415) 555-2671 when you can.", "en", ()),
        Case("within the first 25 words", "Hello. This is Acme Lending. Our number is "
             "415.555.2671.", "en", ()),
        Case("Chinese opening", "您好，这里是安信，回电号码是 138 0013 8000。", "zh", (),
             BUSINESS_ZH, NUMBER_CN),
        Case("the name only after the opening", late, "en", ("US-TCPA-ID", "US-CALLER-ID")),
        Case("the number only after the opening", "Hello, this is Acme Lending. We have "
             "something to tell you about your options today and we would love to talk it "
             "through with you whenever suits you best. Call 415 555 2671.", "en",
             ("US-TCPA-ID",)),
        Case("no number at all", "Hello, this is Acme Lending.", "en", ("US-TCPA-ID",)),
        Case("Chinese: no number", "您好，这里是安信。", "zh", ("US-TCPA-ID",), BUSINESS_ZH,
             NUMBER_CN),
        Case("Chinese: the number long after the opening", "您好，这里是安信。" + "我们想和您谈一谈"
             * 10 + "。请回电13800138000。", "zh", ("US-TCPA-ID",), BUSINESS_ZH, NUMBER_CN),
    ])  # fmt: skip


@pytest.mark.parametrize("language", ["en", "zh", "en-US", "zh-CN"])
@pytest.mark.parametrize("agent", [None, "Maya", "小王"])
@pytest.mark.parametrize(
    ("business", "number", "written"),
    [
        (BUSINESS, NUMBER, "+1 415-555-2671"),
        (BUSINESS_ZH, NUMBER_CN, "+86 138 0013 8000"),
        ("Bright Finance UK", "+442079460958", "020 7946 0958"),
    ],
)
def test_voicemail_text_passes_its_own_checks(
    language: str, agent: str | None, business: str, number: str, written: str
) -> None:
    text = voicemail_text(language, business_name=business, callback_number=written,
                          agent_name=agent)  # fmt: skip
    assert business in text
    assert written in text
    if agent is not None:
        assert agent in text
    for check in (check_voicemail, check_call_opening):
        got = check(text, language, business_name=business, callback_number=number)
        assert got == CallContentCheck(True, (), ()), (check.__name__, text, got)


def test_voicemail_text_in_each_language() -> None:
    en = voicemail_text("en", business_name=BUSINESS, callback_number=NUMBER, agent_name="Maya")
    assert en == (
        "Hello, this is Maya from Acme Lending. Please call us back at +14155552671. Thank you."
    )
    zh = voicemail_text("zh", business_name=BUSINESS_ZH, callback_number=NUMBER_CN)
    assert zh == "您好，这里是安信。请回电 +8613800138000。谢谢。"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"business_name": "Acme Debt Recovery"}, "reveals debt collection"),
        ({"business_name": "安信催收"}, "reveals debt collection"),
        ({"business_name": "  "}, "names the business"),
        ({"callback_number": "555-01"}, "fewer than 7 digits"),
        ({"agent_name": " "}, "agent_name"),
        ({"language": "fr"}, "language must be one of en, zh"),
    ],
)
def test_voicemail_text_refuses_what_cannot_be_compliant(
    kwargs: dict[str, str], message: str
) -> None:
    args = {"language": "en", "business_name": BUSINESS, "callback_number": NUMBER} | kwargs
    language = args.pop("language")
    with pytest.raises(ValueError, match=message):
        voicemail_text(language, **args)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("+14155552671", "(415) 555-2671", True),
        ("+1 415 555 2671", "1-415-555-2671", True),
        ("+44 20 7946 0958", "020 7946 0958", True),
        ("0044 20 7946 0958", "+442079460958", True),
        ("+86 138 0013 8000", "13800138000", True),
        ("＋１ ４１５ ５５５ ２６７１", "4155552671", True),  # full-width digits
        ("+14155552671", "+12125552671", False),
        ("+14155552671", "555-2671", False),  # no area code: not the number
        ("123", "123", False),
    ],
)
def test_phone_numbers_are_matched_by_digits(a: str, b: str, same: bool) -> None:
    assert same_number(a, b) is same
    assert same_number(b, a) is same
