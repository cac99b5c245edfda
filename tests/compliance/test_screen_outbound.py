"""screen_outbound: collector threats and pressure lines are blocked with their codes, acceptable
lines pass, and the required disclosures are added in the message's language."""

from __future__ import annotations

from typing import Any

import pytest

from compliance.screening import (
    AbuseDetector,
    Author,
    Decision,
    OutboundContext,
    screen_outbound,
    screening_rules,
)
from compliance.screening.abuse import TextEncoder
from models import Channel
from tests.compliance.screening_data import outbound_cases

CASES = outbound_cases()
MIRANDA_FIRST_EN = (
    "This is an attempt to collect a debt and any information obtained will be used for that "
    "purpose."
)
MIRANDA_LATER_EN = "This communication is from a debt collector."
OPTOUT_EN = "Reply STOP to opt out."
OPTOUT_ZH = "回复退订停止接收。"
MIRANDA_FIRST_ZH = "这是一次债务催收，所获得的任何信息都将用于此目的。"


def context_for(case: dict[str, Any]) -> OutboundContext:
    return OutboundContext(
        profile=case.get("profile", "us_reg_f"),
        channel=Channel(case.get("channel", "sms")),
        first_contact=case.get("first_contact", False),
        party_verified=case.get("verified", True),
    )


@pytest.fixture(scope="session")
def encoder() -> TextEncoder:
    from dialogue.encoder import load_encoder

    return load_encoder()


@pytest.fixture(params=["lexicon", "encoder"])
def detector(request: pytest.FixtureRequest) -> AbuseDetector:
    if request.param == "lexicon":
        return AbuseDetector()
    return AbuseDetector(encoder=request.getfixturevalue("encoder"))


@pytest.mark.parametrize("case", CASES["block"], ids=lambda c: c["text"])
def test_blocked_lines(case: dict[str, Any], detector: AbuseDetector) -> None:
    screen = screen_outbound(case["text"], case["lang"], context_for(case), detector=detector)
    assert screen.decision is Decision.BLOCK
    assert set(case["reasons"]) <= set(screen.reasons)
    assert screen.text_to_send is None
    assert screen.findings


@pytest.mark.parametrize("case", CASES["allow"], ids=lambda c: c["text"])
def test_acceptable_lines_pass(case: dict[str, Any], detector: AbuseDetector) -> None:
    screen = screen_outbound(case["text"], case["lang"], context_for(case), detector=detector)
    assert screen.decision is Decision.ALLOW, screen.findings
    assert screen.reasons == ()
    assert screen.text_to_send is not None
    assert screen.text_to_send.startswith(case["text"].rstrip("."))


def test_collector_lines_get_the_same_screen() -> None:
    line = "Pay today or we will call your employer."
    for author in Author:
        screen = screen_outbound(line, "en", OutboundContext(party_verified=True, author=author))
        assert screen.reasons == ("US-LANGUAGE",)
        assert screen.author is author


def test_debt_detail_is_allowed_once_verified() -> None:
    line = "Your account is 30 days past due."
    blocked = screen_outbound(line, "en", OutboundContext(party_verified=False))
    allowed = screen_outbound(line, "en", OutboundContext(party_verified=True))
    assert blocked.reasons == ("US-THIRD-PARTY",)
    assert allowed.allowed


def test_pressure_rules_follow_the_profile() -> None:
    line = "You must pay the full balance today."
    verified = {"party_verified": True}
    assert not screen_outbound(line, "en", OutboundContext(profile="uk", **verified)).allowed
    # Reg F has no pay-in-one-go rule; the US profile lets the same line through.
    assert screen_outbound(line, "en", OutboundContext(profile="us_reg_f", **verified)).allowed
    borrow = "去别的平台借钱来还我们。"
    assert screen_outbound(borrow, "zh", OutboundContext(profile="cn", **verified)).reasons == (
        "CN-LANGUAGE",
    )


@pytest.mark.parametrize(
    ("lang", "first_contact", "channel", "expected_tail", "codes"),
    [
        (
            "en",
            True,
            Channel.SMS,
            f"{MIRANDA_FIRST_EN} {OPTOUT_EN}",
            ("US-MINI-MIRANDA", "US-OPTOUT-NOTICE"),
        ),
        (
            "en",
            False,
            Channel.SMS,
            f"{MIRANDA_LATER_EN} {OPTOUT_EN}",
            ("US-MINI-MIRANDA", "US-OPTOUT-NOTICE"),
        ),
        ("en", True, Channel.VOICE, MIRANDA_FIRST_EN, ("US-MINI-MIRANDA",)),
        (
            "zh",
            True,
            Channel.TELEGRAM,
            f"{MIRANDA_FIRST_ZH}{OPTOUT_ZH}",
            ("US-MINI-MIRANDA", "US-OPTOUT-NOTICE"),
        ),
        (
            "zh",
            False,
            Channel.WHATSAPP,
            f"此信息来自债务催收方。{OPTOUT_ZH}",
            ("US-MINI-MIRANDA", "US-OPTOUT-NOTICE"),
        ),
    ],
)
def test_us_disclosures_in_the_message_language(
    lang: str, first_contact: bool, channel: Channel, expected_tail: str, codes: tuple[str, ...]
) -> None:
    text = "Your payment of $120 is due on March 3." if lang == "en" else "您的还款日是3月3日"
    context = OutboundContext(channel=channel, first_contact=first_contact, party_verified=True)
    screen = screen_outbound(text, lang, context)
    assert screen.text_to_send is not None
    assert screen.text_to_send.endswith(expected_tail)
    assert screen.disclosures == codes
    if lang == "zh":
        # The message's own sentence is closed before the disclosure follows it.
        assert screen.text_to_send.startswith("您的还款日是3月3日。")


def test_no_mini_miranda_to_an_unverified_party() -> None:
    # Said to someone who may not be the borrower, the disclosure would itself reveal the debt.
    screen = screen_outbound(
        "Hi, this is Acme Lending. Please call us back.",
        "en",
        OutboundContext(first_contact=True, party_verified=False),
    )
    assert screen.disclosures == ("US-OPTOUT-NOTICE",)
    assert screen.text_to_send == f"Hi, this is Acme Lending. Please call us back. {OPTOUT_EN}"


def test_disclosures_already_present_are_not_repeated() -> None:
    text = f"Your payment is due Friday. {MIRANDA_LATER_EN} Reply stop to opt out"
    screen = screen_outbound(text, "en", OutboundContext(party_verified=True))
    assert screen.disclosures == ()
    assert screen.text_to_send == text


@pytest.mark.parametrize("profile", ["uk", "cn"])
def test_profiles_without_us_disclosures_add_none(profile: str) -> None:
    screen = screen_outbound(
        "We can set up a payment plan.",
        "en",
        OutboundContext(profile=profile, first_contact=True, party_verified=True),
    )
    assert screen.text_to_send == "We can set up a payment plan."
    assert screen_rules_codes(profile) != ()


def screen_rules_codes(profile: str) -> tuple[str, ...]:
    return tuple(screening_rules(profile).codes.values())


def test_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="us_reg_f"):
        screen_outbound("hello", "en", OutboundContext(profile="mars"))


@pytest.mark.parametrize(
    ("text", "tagged", "tail"),
    [
        ("您的还款日是3月3日", "en", "回复退订停止接收"),
        ("Your payment is due on March 3.", "zh", "Reply STOP to opt out."),
    ],
)
def test_disclosures_follow_the_script_the_message_is_written_in(
    text: str, tagged: str, tail: str
) -> None:
    context = OutboundContext(channel=Channel.SMS, party_verified=True)
    screen = screen_outbound(text, tagged, context)
    assert screen.text_to_send is not None
    assert screen.text_to_send.rstrip("。.").endswith(tail.rstrip("。."))
