"""screen_inbound: opt-out and START/HELP words, holds, wrong person, cues, abuse; en, zh, mixed."""

from __future__ import annotations

import pytest

from compliance.screening import Cue, InboundFlag, screen_inbound
from models import HoldKind

F = InboundFlag

TWILIO_STOP_WORDS = [
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
    "OPT OUT",
    "CANCEL",
]


@pytest.mark.parametrize(
    "word",
    [*TWILIO_STOP_WORDS, "stop.", " Stop ", "退订", "退订短信", "取消订阅", "TD", "不要再联系我"],
)
def test_opt_out_words(word: str) -> None:
    assert F.OPT_OUT in screen_inbound(word, "en").flags


@pytest.mark.parametrize(
    "text",
    [
        "I can't stop worrying about this",
        "When does the loan end?",
        "Can I cancel my direct debit and pay by card?",
    ],
)
def test_stop_words_inside_a_sentence_are_not_opt_outs(text: str) -> None:
    # Twilio's keywords count only as the whole message; in a sentence they are ordinary words.
    assert F.OPT_OUT not in screen_inbound(text, "en").flags


@pytest.mark.parametrize(
    ("text", "flag"),
    [("START", F.START), ("unstop", F.START), ("HELP", F.HELP), ("info", F.HELP), ("帮助", F.HELP)],
)
def test_start_and_help(text: str, flag: InboundFlag) -> None:
    screen = screen_inbound(text, "en")
    assert flag in screen.flags
    assert F.OPT_OUT not in screen.flags


@pytest.mark.parametrize(
    ("text", "lang", "flags", "holds"),
    [
        ("Stop calling me.", "en", {F.CEASE}, {HoldKind.CEASE}),
        ("Don't contact me again", "en", {F.CEASE}, {HoldKind.CEASE}),
        ("I refuse to pay this", "en", {F.CEASE}, {HoldKind.CEASE}),
        ("I'm not going to pay you", "en", {F.CEASE}, {HoldKind.CEASE}),
        ("Please cease all communication", "en", {F.CEASE}, {HoldKind.CEASE}),
        ("不要再给我打电话了", "zh", {F.CEASE}, {HoldKind.CEASE}),
        ("我拒绝还款", "zh", {F.CEASE}, {HoldKind.CEASE}),
        ("不要再联系我", "zh", {F.CEASE, F.OPT_OUT}, {HoldKind.CEASE}),
        ("My lawyer is handling this, talk to her", "en", {F.ATTORNEY}, {HoldKind.ATTORNEY}),
        ("I've hired an attorney", "en", {F.ATTORNEY}, {HoldKind.ATTORNEY}),
        ("我已经请了律师，请联系我的律师", "zh", {F.ATTORNEY}, {HoldKind.ATTORNEY}),
        ("I filed for bankruptcy last week", "en", {F.BANKRUPTCY}, {HoldKind.BANKRUPTCY}),
        ("We're in Chapter 13", "en", {F.BANKRUPTCY}, {HoldKind.BANKRUPTCY}),
        ("我已经申请个人破产了", "zh", {F.BANKRUPTCY}, {HoldKind.BANKRUPTCY}),
        ("This isn't my debt", "en", {F.DISPUTE}, {HoldKind.DISPUTE}),
        ("I don't owe you anything", "en", {F.DISPUTE}, {HoldKind.DISPUTE}),
        ("I never took out this loan", "en", {F.DISPUTE}, {HoldKind.DISPUTE}),
        ("这不是我的欠款", "zh", {F.DISPUTE}, {HoldKind.DISPUTE}),
        ("我从来没借过钱", "zh", {F.DISPUTE}, {HoldKind.DISPUTE}),
        ("金额不对，我有异议", "zh", {F.DISPUTE}, {HoldKind.DISPUTE}),
        ("Wrong number, no one by that name here", "en", {F.WRONG_PERSON}, set()),
        ("你打错了", "zh", {F.WRONG_PERSON}, set()),
        # Mixed-language lines: each language's patterns are read whatever `language` says.
        (
            "stop calling me 我的律师会处理",
            "en",
            {F.CEASE, F.ATTORNEY},
            {HoldKind.CEASE, HoldKind.ATTORNEY},
        ),
        (
            "this isn't my debt, 不要再打电话",
            "zh",
            {F.DISPUTE, F.CEASE},
            {HoldKind.DISPUTE, HoldKind.CEASE},
        ),
    ],
)
def test_holds_and_flags(
    text: str, lang: str, flags: set[InboundFlag], holds: set[HoldKind]
) -> None:
    screen = screen_inbound(text, lang)
    assert flags <= screen.flags
    assert set(screen.holds) == holds
    assert screen.needs_human is bool(holds)


@pytest.mark.parametrize(
    ("text", "cues", "urgent"),
    [
        ("I'm thinking about killing myself", {Cue.SELF_HARM}, True),
        ("I want to kill myself", {Cue.SELF_HARM}, True),
        ("Honestly I'd be better off dead", {Cue.SELF_HARM}, True),
        ("我真的不想活了", {Cue.SELF_HARM}, True),
        ("I was in hospital for two weeks after surgery", {Cue.ILLNESS}, False),
        ("我刚做完手术还在住院", {Cue.ILLNESS}, False),
        ("My husband passed away in March", {Cue.BEREAVEMENT}, False),
        ("我爸刚去世", {Cue.BEREAVEMENT}, False),
        ("I was laid off last month", {Cue.JOB_LOSS}, False),
        ("我失业了，没有收入", {Cue.JOB_LOSS}, False),
        ("I can't cope with this anymore", {Cue.DISTRESS}, False),
        ("我快崩溃了", {Cue.DISTRESS}, False),
        ("lost my job and 不想活了", {Cue.JOB_LOSS, Cue.SELF_HARM}, True),
    ],
)
def test_vulnerability_cues(text: str, cues: set[Cue], urgent: bool) -> None:
    screen = screen_inbound(text, "en")
    assert cues <= set(screen.cues)
    assert screen.urgent is urgent
    assert F.VULNERABILITY in screen.flags
    assert (F.SELF_HARM in screen.flags) is urgent
    assert screen.needs_human


@pytest.mark.parametrize(
    "text",
    [
        "Can I get an extension until Friday?",
        "I will pay $50 next week",
        "What is my balance?",
        "This is ridiculous, you keep charging me fees",
        "我下周还五百块",
        "能不能延期到下周五？",
        "Thanks, that helps",
    ],
)
def test_ordinary_messages_raise_nothing(text: str) -> None:
    screen = screen_inbound(text, "en")
    assert screen.flags == frozenset()
    assert screen.holds == ()
    assert not screen.needs_human


@pytest.mark.parametrize(
    "text",
    [
        "Fuck off",
        "f*ck you",
        "you stupid b1tch",
        "傻逼",
        "去你妈的",
        "sb客服",
        "I know where you live",
        "我知道你住哪",
    ],
)
def test_abuse_without_encoder(text: str) -> None:
    screen = screen_inbound(text, "en")
    assert F.ABUSE in screen.flags
    assert screen.abusive
    assert screen.abuse.score == 1.0


def test_threat_hands_to_a_human() -> None:
    assert screen_inbound("I'll kill you if you call again", "en").needs_human
    assert not screen_inbound("fuck this", "en").needs_human
