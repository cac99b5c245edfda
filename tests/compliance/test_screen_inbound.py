"""screen_inbound: opt-out and START/HELP words, holds, wrong person, cues, abuse; en, zh, mixed."""

from __future__ import annotations

import pytest

from compliance.screening import Cue, InboundFlag, screen_inbound
from compliance.screening.inbound import HOLD_FOR_FLAG
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


# Lines a reviewer tried against the screen (round 3): each must raise its flag.
SELF_HARM_LINES = [
    "i wanna die",
    "I want to end it",
    "I'm going to end it",
    "i cant go on",
    "I can't go on anymore",
    "kms",
    "I might as well be dead",
    "I'd rather be dead",
    "Everyone would be better off without me",
    "I'm thinking of ending my life",
    "I'm thinking about ending it all",
    "i wish i was dead",
    "I'm going to overdose",
    "I'll jump off a bridge",
    "I have nothing to live for",
    "kill my self",
    "suicde",
    "I'm going to hang myself",
    "我要去死",
    "我死了你们就满意了",
    "活着没意思",
    "活着太累了",
    "我准备吃安眠药",
    "我打算自我了断",
    "逼死我算了",
    "我去跳河",
    "我要喝农药",
    "大不了一死",
    "我想结束这一切",
]


@pytest.mark.parametrize("text", SELF_HARM_LINES)
def test_self_harm_lines_are_urgent(text: str) -> None:
    screen = screen_inbound(text, "en")
    assert F.SELF_HARM in screen.flags
    assert screen.urgent
    assert screen.needs_human


@pytest.mark.parametrize("text", ["我要去死", "我想去死", "我就去死"])
def test_first_person_go_die_is_not_lexicon_abuse(text: str) -> None:
    # "去死" aimed at the reader is abuse; "我要去死" is the writer's own distress.
    assert not any(m.category == "profanity" for m in screen_inbound(text, "zh").abuse.matches)


REVIEWED_FLAG_LINES = [
    *[
        (text, F.OPT_OUT)
        for text in [
            "Stop please",
            "please stop",
            "ok stop",
            "no more texts please",
            "Do not text this number",
            "please remove this number",
            "Opt me out",
            "I revoke consent",
            "I revoke my consent to be contacted",
            "I withdraw my consent",
            "cancel please",
            "stop msging me",
            "stop txting me",
            "St0p",
            "别再发了",
            "请勿再发",
            "回TD",
        ]
    ],
    *[
        (text, F.CEASE)
        for text in [
            "Stop calling",
            "Stop calling.",
            "quit calling me",
            "Stop harrasing me",
            "Quit harassing me",
            "I'm not paying.",
            "Im not paying",
            "I'm never paying you",
            "You're not getting a dime",
            "I do not wish to be contacted",
            "I don't want to hear from you again",
            "Communicate with me only in writing",
            "老子不还",
            "爱咋咋地，不还",
            "我没钱，不还了",
        ]
    ],
    *[
        (text, F.ATTORNEY)
        for text in [
            "I have legal representation",
            "I have an atty",
            "my lawer will contact you",
            "My attorny will handle this",
            "I've retained counsel",
            "I'm working with a debt attorney",
            "I have a bankruptcy lawyer",
            "请联系我的代理律师",
        ]
    ],
    *[
        (text, F.BANKRUPTCY)
        for text in [
            "I'm filing ch 7",
            "I filed Ch. 13",
            "I filed BK",
            "I declared bankrupcy",
            "chapter 11",
            "I'm in an IVA",
            "I have a DRO",
            "I have a bankruptcy lawyer",
        ]
    ],
    *[
        (text, F.DISPUTE)
        for text in [
            "I already paid this",
            "I paid it already",
            "I paid this off last year",
            "I never borrowed from you",
            "Prove it",
            "Send me proof I owe this",
            "I want validation of this debt",
            "Please validate this debt",
            "I request debt verification",
            "That amount is not correct",
            "this debt is not mine",
            "That's not mine",
            "Someone stole my identity",
            "I don't recognize this",
            "这不是我借的",
            "这笔账不是我的",
            "我已经还清了",
            "我早就还了",
            "我身份证被人冒用了",
            "我没有在你们平台借过钱",
        ]
    ],
]


@pytest.mark.parametrize(("text", "flag"), REVIEWED_FLAG_LINES)
def test_reviewed_lines_raise_their_flag(text: str, flag: InboundFlag) -> None:
    screen = screen_inbound(text, "en")
    assert flag in screen.flags
    if flag in HOLD_FOR_FLAG:
        assert HOLD_FOR_FLAG[flag] in screen.holds


@pytest.mark.parametrize(
    "text",
    [
        "I won't pay late again, promise",
        "I'm not going to pay until I get paid on Friday",
        "I'm not gonna pay twice",
        "I'm not paying this week but next week for sure",
        "I refuse to pay the late fee",
        "I won't pay the late fee but I'll pay the rest",
        "No more calls at work please, text me instead",
        "Don't call me at work, call my cell",
        "Hi, this is Iva, John's wife",
        "my lawyer friend said to set up a plan",
        "I'm dying to get this sorted",
        "I can't wait to be done with this debt",
        "I already paid this month's instalment",
        "我不会不还的",
        "我可以先还一部分吗",
    ],
)
def test_reviewed_lines_place_no_hold(text: str) -> None:
    screen = screen_inbound(text, "en")
    assert screen.holds == ()
    assert not screen.urgent
