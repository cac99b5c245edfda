"""Twilio Voice: reminder calls Settle places, calls borrowers make, and the dialogue spoken aloud.

A call is a request/response channel: Twilio asks a webhook what to do and Settle answers with
TwiML (`twilio.twiml.voice_response.VoiceResponse`). Everything Settle learns on a call (keypad
digits, speech transcripts) enters the same `Dialogue.handle` turn as a chat message, with
channel VOICE and kind DTMF or SPEECH; the replies are spoken back with another `<Gather>`.

An outbound reminder call goes like this:

1. `place_reminder_call` asks `compliance.may_contact` (VOICE, initiated by Settle). Only on
   ALLOW is an outbox row written, keyed "call:<loan>:<borrower's local date>", so one loan gets
   at most one reminder call a day however often it is asked; the outbox's send path places the
   call (`calls.create_async`, answering-machine detection on) and records the CallSid.
2. Twilio fetches the call's TwiML. A machine (AnsweredBy machine_* or fax) gets only the
   limited-content message of `compliance.voicemail_text`, checked with `check_voicemail`, then
   a hang-up. Anyone else (a person, or "unknown") hears the opening, which names the business
   and the callback number (US-TCPA-ID, checked with `check_call_opening`), and the right-party
   question: "This call is for Jane Doe. If you are Jane Doe, press 1 or say yes."
3. Only a yes hears more: the reminder, with the disclosure the outbound screen adds for the
   borrower (US-MINI-MIRANDA), and the menu ("press 1 or say pay to get a payment link by text,
   2 for an extension, 3 to talk to a person"). The reminder itself names no amount, date or
   debt: anything about the account comes from the dialogue, after identity verification.
4. The menu answer is the call's first dialogue turn; the dialogue verifies identity (date of
   birth and last 4 digits, spoken or keyed) before it says anything about the account.

A call the borrower makes runs the same dialogue from its greeting.

Turn ids: the channel message id of a gathered answer is "<CallSid>:<n>", where n is carried in
the Gather's action URL (Twilio signs that URL with the request, so it cannot be altered). A
retried request carries the same n: the dialogue recognises the message, processes nothing and
returns the stored replies, which render to the same TwiML.

Links are never read out: a reply holding one is texted to the caller's number through the
outbox (channel SMS, only if `may_contact` allows a text) and the call says it was sent.
Escalation (the dialogue hands the conversation to a person) becomes a `<Dial>` to the collector
line when one is configured, else the callback request the escalation queued, and a hang-up.

Status callbacks record each placed call's outcome as a contact attempt (answered, busy, no
answer, failed, machine), which the frequency caps and the 7-day wait after a telephone
conversation count, and move the call's outbox row; a repeated callback records nothing twice.
Everything the call said outside the dialogue is in the audit stream "call:<CallSid>".
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp
import anyio
import phonenumbers
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from twilio.base.exceptions import TwilioRestException
from twilio.twiml.voice_response import Gather, VoiceResponse

from bots.outbox import (
    ChannelMessage,
    Outbox,
    RetryPolicy,
    SendFailed,
    record_status,
    reply_key,
    stage_messages,
)
from bots.twilio import VOICE_PATH, TwilioAccount
from compliance import (
    ContactDecision,
    NewEvent,
    Profile,
    append_many,
    check_call_opening,
    check_voicemail,
    events_of,
    load_profile,
    mask_pii,
    may_contact,
    payload_of,
    record_attempt,
    record_attempt_outcome,
    stream_for,
    voicemail_text,
)
from compliance.screening import OutboundContext, screen_outbound
from dialogue import Dialogue, Inbound, InboundKind, Output, Reply, TurnResult, issue_link_token
from models import (
    AttemptOutcome,
    Borrower,
    BorrowerPhone,
    Channel,
    Conversation,
    DeliveryStatus,
    Handler,
    Initiator,
    Loan,
    LoanStatus,
    OutboundMessage,
    session_cipher,
    utcnow,
)
from servicing import InvalidInput, find_borrowers_by_phone, loan_balance, normalize_phone

logger = logging.getLogger(__name__)

GATHER_PATH = f"{VOICE_PATH}/gather"
STATUS_PATH = f"{VOICE_PATH}/status"
ACTOR = "settle"
# Waits for the greeting to end (or the beep) before answering a machine, so the voicemail is
# recorded whole; a person is answered as soon as they are detected. Twilio's "Enable" answers
# at the start of a greeting and the message would be talked over.
MACHINE_DETECTION = "DetectMessageEnd"
STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")
# CallStatus values that end a call, and what each is as a contact attempt and an outbox row.
FINAL_STATUSES: Mapping[str, tuple[AttemptOutcome, DeliveryStatus]] = {
    "completed": (AttemptOutcome.ANSWERED, DeliveryStatus.DELIVERED),
    "busy": (AttemptOutcome.BUSY, DeliveryStatus.UNDELIVERED),
    "no-answer": (AttemptOutcome.NO_ANSWER, DeliveryStatus.UNDELIVERED),
    "failed": (AttemptOutcome.FAILED, DeliveryStatus.FAILED),
    "canceled": (AttemptOutcome.FAILED, DeliveryStatus.FAILED),
}
# A transferred call the collector picked up.
DIAL_CONNECTED = frozenset({"completed", "answered"})
# The menu of the reminder call: keypad digit -> the dialogue's payload.
MENU_PAYLOADS = {"1": "/make_payment", "2": "/request_extension", "3": "/request_human"}
# The words the menu offers for speaking instead of pressing.
MENU_WORDS = {
    "pay": "/make_payment",
    "payment": "/make_payment",
    "extension": "/request_extension",
    "person": "/request_human",
    "付款": "/make_payment",
    "延期": "/request_extension",
    "人工": "/request_human",
}
# How long a Gather waits for input (seconds): one key for a menu, longer for a date of birth.
MENU_TIMEOUT = 6
ANSWER_TIMEOUT = 8
# A transfer rings the collector line this long before giving up.
DIAL_TIMEOUT = 25
# A link token ties the call's conversation to the borrower who was called (shared numbers).
LINK_TTL = timedelta(minutes=30)
# How long placing a call may take before its fate is treated as unknown (never dialled again).
PLACE_TIMEOUT = 20.0
_CALL_SID = re.compile(r"CA[0-9a-fA-F]{32}")
# A URL: the characters RFC 3986 allows (so a Chinese full stop after it is not part of it).
_LINK = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
# A link as written in a sentence: the colon before it and the full stop it ends with.
_SPOKEN_LINK = re.compile(r"[\s:：]*" + _LINK.pattern + r"(?<![.,;:!?)])[.,;:!?)]*[。．]?")
_MACHINE = re.compile(r"machine_.*|fax")


# --- configuration ------------------------------------------------------------------------


@dataclass(frozen=True)
class VoiceStyle:
    """How one language is spoken and heard: the TTS voice and the two language tags."""

    voice: str
    say_language: str
    gather_language: str


# Amazon Polly voices through Twilio. Mandarin is "cmn-CN" for Polly's Zhiyu ("zh-CN" was the
# tag of the retired alice voice); speech recognition takes BCP-47 "cmn-Hans-CN".
DEFAULT_STYLES: Mapping[str, VoiceStyle] = {
    "en": VoiceStyle(voice="Polly.Joanna", say_language="en-US", gather_language="en-US"),
    "zh": VoiceStyle(voice="Polly.Zhiyu", say_language="cmn-CN", gather_language="cmn-Hans-CN"),
}


@dataclass(frozen=True)
class VoiceCaller:
    """Who Settle's calls come from: said at the start of every call and in every voicemail.

    `business_name` must not reveal debt collection (it is left in voicemails); the callback
    number is given in every call's opening (US-TCPA-ID). With `collector_number`, a call the
    dialogue hands to a person is transferred there; without it, a callback is requested.
    Refuses (ValueError) a name or number that would make the opening or voicemail unlawful.
    """

    business_name: str
    callback_number: str
    collector_number: str | None = None
    styles: Mapping[str, VoiceStyle] = field(default_factory=lambda: dict(DEFAULT_STYLES))

    def __post_init__(self) -> None:
        for language in SCRIPT:
            if language not in self.styles:
                raise ValueError(f"no voice configured for language {language!r}")
            number = spoken_number(self.callback_number)
            # Both raise ValueError for a name with collection words or too short a number.
            voicemail = voicemail_text(
                language, business_name=self.business_name, callback_number=number
            )
            opening = opening_text(self, language)
            for check in (
                check_voicemail(
                    voicemail,
                    language,
                    business_name=self.business_name,
                    callback_number=self.callback_number,
                ),
                check_call_opening(
                    opening,
                    language,
                    business_name=self.business_name,
                    callback_number=self.callback_number,
                ),
            ):
                if not check.ok:
                    raise ValueError("; ".join(check.problems))

    def style(self, language: str) -> VoiceStyle:
        return self.styles.get(_language(language), self.styles["en"])


def _language(language: str | None) -> str:
    return "zh" if (language or "").lower().startswith("zh") else "en"


def spoken_number(number: str) -> str:
    """A phone number as it is read out: national form, "(202) 555-0143"."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return " ".join(number.split())
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL))


# What the voice channel says itself (the dialogue's replies come from dialogue/responses).
# Before the right party has answered, nothing here names a debt; the reminder and the menu are
# screened for the borrower, who adds the disclosure (tests screen them as for anyone too).
SCRIPT: Mapping[str, Mapping[str, str]] = {
    "en": {
        "opening": "Hello, this is {business} calling. Our number is {number}.",
        "inbound_opening": "Thank you for calling {business}.",
        "right_party": (
            "This call is for {name}. If you are {name}, press 1 or say yes. "
            "If not, press 2 or say no."
        ),
        "not_party": "Sorry for the trouble. Goodbye.",
        "reminder": "Thank you. This is a reminder about your account with {business}.",
        "menu": (
            "Press 1 or say pay to get a payment link by text. "
            "Press 2 or say extension for more time to pay. "
            "Press 3 or say person to talk to a person."
        ),
        "choice": "Press {number} for {title}.",
        "keypad_hint": "Speak your answer, or key it in and press the pound key.",
        "not_heard": "Sorry, I didn't hear anything.",
        "not_understood": "Sorry, I didn't catch that.",
        "goodbye": "Thank you for calling. Goodbye.",
        "connecting": "Please hold while I try to connect you to a colleague.",
        "nobody_free": (
            "Sorry, no one is free to take your call right now. A colleague will call you back. "
            "Goodbye."
        ),
        "callback": "A colleague will call you back. Goodbye.",
        "link_texted": "I've sent the link to this number by text message.",
        "link_not_texted": (
            "I can't send the link by text message to this number. "
            "Please call us at {number} for help."
        ),
        "hidden_number": (
            "Thank you for calling {business}. We can't take calls from a hidden number. "
            "Please call again with your number shown. Goodbye."
        ),
        "hints": "yes, no, pay, extension, person",
    },
    "zh": {
        "opening": "您好，这里是{business}，我们的电话是{number}。",
        "inbound_opening": "感谢您致电{business}。",
        "right_party": (
            "这通电话是打给{name}的。如果您是{name}本人，请按1或说“是”。如果不是，请按2或说“不是”。"
        ),
        "not_party": "抱歉打扰了。再见。",
        "reminder": "谢谢。这是{business}给您的账户提醒。",
        "menu": (
            "获取短信付款链接，请按1或说“付款”。需要更多时间，请按2或说“延期”。"
            "转人工服务，请按3或说“人工”。"
        ),
        "choice": "{title}，请按{number}。",
        "keypad_hint": "请直接说出您的回答，或用按键输入后按井号键。",
        "not_heard": "抱歉，我没有听到您的声音。",
        "not_understood": "抱歉，我没听清楚。",
        "goodbye": "感谢您的来电。再见。",
        "connecting": "请稍候，我正在为您转接同事。",
        "nobody_free": "抱歉，现在没有同事可以接听。同事会给您回电。再见。",
        "callback": "同事会给您回电。再见。",
        "link_texted": "我已通过短信把链接发送到这个号码。",
        "link_not_texted": "我无法通过短信把链接发送到这个号码。如需帮助，请拨打{number}。",
        "hidden_number": (
            "感谢您致电{business}。我们无法接听隐藏号码的来电。请显示号码后再拨。再见。"
        ),
        "hints": "是, 不是, 付款, 延期, 人工",
    },
}


def script(language: str, key: str, **values: str) -> str:
    return SCRIPT[_language(language)][key].format(**values)


def opening_text(caller: VoiceCaller, language: str) -> str:
    """The first words of a call Settle places: who is calling and the number to call back."""
    return script(
        language,
        "opening",
        business=caller.business_name,
        number=spoken_number(caller.callback_number),
    )


# --- what Twilio posts ----------------------------------------------------------------------


class InvalidCallRequest(ValueError):
    """A signed request that is not a call Settle can handle (no CallSid, a bad step)."""


@dataclass(frozen=True)
class CallForm:
    """The fields of a Twilio voice request Settle reads."""

    call_sid: str
    direction: str  # "inbound", "outbound-api", "outbound-dial"
    from_number: str
    to_number: str
    answered_by: str | None  # human, machine_start, machine_end_beep, ..., fax, unknown
    digits: str
    speech: str
    call_status: str
    dial_status: str | None
    duration: str | None

    @property
    def outbound(self) -> bool:
        return self.direction.startswith("outbound")

    @property
    def party(self) -> str:
        """The borrower's side of the call: whom Settle called, or who called Settle."""
        return self.to_number if self.outbound else self.from_number

    @property
    def machine(self) -> bool:
        return bool(self.answered_by and _MACHINE.fullmatch(self.answered_by))


def read_form(form: Mapping[str, Any]) -> CallForm:
    """The call fields of a posted voice form; `InvalidCallRequest` without a valid CallSid."""

    def text(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    sid = text("CallSid")
    if not _CALL_SID.fullmatch(sid):
        raise InvalidCallRequest("CallSid is missing or not a Twilio call SID")
    return CallForm(
        call_sid=sid,
        direction=text("Direction") or "inbound",
        from_number=text("From"),
        to_number=text("To"),
        answered_by=text("AnsweredBy") or None,
        digits=text("Digits"),
        speech=text("SpeechResult"),
        call_status=text("CallStatus"),
        dial_status=text("DialCallStatus") or None,
        duration=text("CallDuration") or None,
    )


class Step(StrEnum):
    """Where a gathered answer belongs; carried in the Gather's (signed) action URL."""

    CONFIRM = "confirm"  # the right-party question of a reminder call
    MENU = "menu"  # the reminder's menu: the first dialogue turn of the call
    TALK = "talk"  # an answer to the dialogue's last reply
    DIAL = "dial"  # a transfer to the collector line ended


@dataclass(frozen=True)
class CallRef:
    """What Settle's URLs carry about a call it placed: its outbox key, borrower and loan."""

    key: str | None = None
    borrower_id: int | None = None
    loan_id: int | None = None

    def query(self) -> dict[str, str]:
        values = {"call": self.key, "borrower": self.borrower_id, "loan": self.loan_id}
        return {name: str(value) for name, value in values.items() if value is not None}


@dataclass(frozen=True)
class GatherPoint:
    """One Gather's place in the call: its step, the turn number its answer gets, the language
    it was asked in, and whether it repeats a question that got no answer."""

    step: Step
    turn: int
    language: str
    call: CallRef
    repeated: bool = False


def _int(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 12:
        raise InvalidCallRequest(f"{name} must be a whole number")
    return int(value)


def call_ref(query: Mapping[str, str]) -> CallRef:
    """The call reference in a webhook URL's query (absent on calls borrowers make)."""
    key = query.get("call") or None
    if key is not None and (len(key) > 200 or not key.startswith("call:")):
        raise InvalidCallRequest("call must be the key of a call Settle placed")
    return CallRef(
        key=key,
        borrower_id=_int(query.get("borrower"), "borrower"),
        loan_id=_int(query.get("loan"), "loan"),
    )


def gather_point(query: Mapping[str, str]) -> GatherPoint:
    """The Gather an action URL belongs to; `InvalidCallRequest` for one Settle did not write."""
    try:
        step = Step(query.get("step", ""))
    except ValueError:
        raise InvalidCallRequest("step must be one of " + ", ".join(Step)) from None
    turn = _int(query.get("turn"), "turn")
    return GatherPoint(
        step=step,
        turn=turn or 0,
        language=_language(query.get("lang")),
        call=call_ref(query),
        repeated=query.get("again") == "1",
    )


def gather_url(account: TwilioAccount, point: GatherPoint) -> str:
    """The action URL of a Gather (or a Dial) at `point`, in a fixed order of fields."""
    fields = {
        "step": point.step.value,
        "turn": str(point.turn),
        "lang": point.language,
        **point.call.query(),
    }
    if point.repeated:
        fields["again"] = "1"
    return account.public_url(GATHER_PATH, urlencode(fields))


def answer_url(account: TwilioAccount, call: CallRef) -> str:
    return account.public_url(VOICE_PATH, urlencode(call.query()))


def status_url(account: TwilioAccount, call: CallRef) -> str:
    return account.public_url(STATUS_PATH, urlencode(call.query()))


def _words(text: str) -> str:
    """Speech as words: lower case, punctuation gone ("Yes." -> "yes")."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return " ".join("".join(ch if ch.isalnum() or ch.isspace() else " " for ch in folded).split())


# What a person says to "If you are Jane Doe, press 1 or say yes" (as `_words` leaves it). Any
# "no" wins. A yes must be the whole answer: besides the borrower's name and greetings, nothing
# may be left over, since "I am his wife", "请问是哪位" (who is calling?) or "我是他妈妈" (I'm his
# mother) hold a yes word and come from someone else, who must hear nothing about the account.
# Whatever is left over makes the answer unclear, and the question is asked once more.
_NO_WORDS = frozenset({"no", "nope", "nah", "not", "wrong"})
_NO_ZH = ("不是", "不对", "打错", "不在", "没有")
_YES_PHRASES: tuple[tuple[str, ...], ...] = tuple(
    sorted(
        (
            tuple(phrase.split())
            for phrase in (
                "yes",
                "yeah",
                "yep",
                "yup",
                "speaking",
                "correct",
                "sure",
                "that s right",
                "i am",
                "i m",
                "it s me",
                "that s me",
                "this is me",
                "this is she",
                "this is he",
                # Only with the name after it ("this is Jane"), which is taken out first.
                "this is",
                "it s",
            )
        ),
        key=len,
        reverse=True,
    )
)
_FILLER_WORDS = frozenset({"oh", "uh", "um", "hi", "hello", "hey", "ok", "okay", "well"})
_YES_ZH = tuple(
    sorted(
        (
            *("我是本人", "我就是", "就是我", "是本人", "我本人", "没错", "是的", "对的"),
            *("是我", "我是", "本人", "是", "对", "嗯"),
        ),
        key=len,
        reverse=True,
    )
)
_FILLER_ZH = ("喂", "您好", "你好", "啊", "呀", "哦", "噢", "呢")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def right_party_answer(form: CallForm, name: str = "") -> bool | None:
    """Whether the person confirmed they are the borrower `name`: 1 / yes, 2 / no; None if
    unclear (a yes with anything else in it but the name is unclear)."""
    if form.digits:
        return {"1": True, "2": False}.get(form.digits[:1])
    said = _words(form.speech)
    words = set(said.split())
    if words & _NO_WORDS or any(no in said for no in _NO_ZH):
        return False
    named = _words(name).split()
    tokens = said.split()
    latin = [w for w in tokens if not _CJK.search(w) and w not in named and w not in _FILLER_WORDS]
    chinese = "".join(w for w in tokens if _CJK.search(w))
    for part in sorted({*named, "".join(named)}, key=len, reverse=True):
        if _CJK.search(part):
            chinese = chinese.replace(part, "")
    latin_yes = _consume_words(latin)
    chinese_yes = _consume_zh(chinese)
    if latin_yes is None or chinese_yes is None:
        return None
    return True if latin_yes or chinese_yes else None


def _consume_words(words: list[str]) -> bool | None:
    """Whether `words` are yes phrases and nothing else: True; none at all: False; else None."""
    found = False
    at = 0
    while at < len(words):
        for phrase in _YES_PHRASES:
            if tuple(words[at : at + len(phrase)]) == phrase:
                at += len(phrase)
                found = True
                break
        else:
            return None
    return found


def _consume_zh(text: str) -> bool | None:
    """As `_consume_words`, for Chinese (no spaces: the longest phrase first)."""
    found = False
    while text:
        for filler in _FILLER_ZH:
            if text.startswith(filler):
                text = text[len(filler) :]
                break
        else:
            for phrase in _YES_ZH:
                if text.startswith(phrase):
                    text = text[len(phrase) :]
                    found = True
                    break
            else:
                return None
    return found


def parse_answer(form: CallForm, point: GatherPoint, *, received_at: datetime) -> Inbound:
    """The dialogue's `Inbound` for a gathered answer.

    Keypad digits answering the reminder's menu become the menu's payloads; elsewhere digits
    are what the borrower typed (a date of birth, the last 4 digits, a numbered choice), which
    the dialogue reads like a chat message. Speech is the transcript Twilio heard.
    """
    if not form.digits and not form.speech:
        raise InvalidCallRequest("a gathered answer has Digits or SpeechResult")
    kind = InboundKind.DTMF if form.digits else InboundKind.SPEECH
    text = form.digits or form.speech
    if point.step is Step.MENU:
        chosen = MENU_PAYLOADS.get(form.digits) if form.digits else MENU_WORDS.get(_words(text))
        text = chosen or text
    return Inbound(
        channel=Channel.VOICE,
        channel_message_id=f"{form.call_sid}:{point.turn}",
        address=form.party,
        received_at=received_at,
        text=text,
        kind=kind,
        session_id=form.call_sid,
        raw={"CallSid": form.call_sid, "Direction": form.direction, "turn": point.turn},
    )


# --- the call's record ----------------------------------------------------------------------


def call_stream(call_sid: str) -> str:
    """The audit stream of one call: what it said outside the dialogue, and its statuses."""
    return f"call:{call_sid}"


def _record(
    session: Session, call_sid: str, kind: str, payload: dict[str, Any], at: datetime
) -> bool:
    """Append an event to the call's stream unless the same one is there (a retried request).

    True when it was appended.
    """
    stream = call_stream(call_sid)
    for event in events_of(session=session, stream=stream):
        if event.kind == kind and payload_of(event) == payload:
            return False
    append_many(
        session=session,
        events=[NewEvent(stream=stream, kind=kind, occurred_at=at, actor=ACTOR, payload=payload)],
    )
    return True


def _recorded_answered_by(session: Session, call_sid: str) -> str | None:
    for event in events_of(session=session, stream=call_stream(call_sid)):
        if event.kind == "call_answered":
            answered_by = payload_of(event).get("answered_by")
            return answered_by if isinstance(answered_by, str) else None
    return None


# --- TwiML ----------------------------------------------------------------------------------


class Speaker:
    """Writes TwiML in one caller's voices; every verb Settle's calls use goes through here."""

    def __init__(self, caller: VoiceCaller, account: TwilioAccount) -> None:
        self.caller = caller
        self.account = account

    def say(self, target: VoiceResponse | Gather, text: str, language: str) -> None:
        style = self.caller.style(language)
        target.say(text, voice=style.voice, language=style.say_language)

    def gather(
        self, response: VoiceResponse, point: GatherPoint, *, one_key: bool, timeout: int
    ) -> Gather:
        style = self.caller.style(point.language)
        return response.gather(
            input="speech dtmf",
            action=gather_url(self.account, point),
            method="POST",
            language=style.gather_language,
            timeout=timeout,
            speech_timeout="auto",
            action_on_empty_result=True,
            hints=script(point.language, "hints"),
            **({"num_digits": 1} if one_key else {"finish_on_key": "#"}),
        )

    def hang_up(self, response: VoiceResponse, text: str | None, language: str) -> str:
        if text:
            self.say(response, text, language)
        response.hangup()
        return str(response)


@dataclass(frozen=True)
class VoiceAnswer:
    """What a voice webhook answers: TwiML, and outbox rows (texted links) to send afterwards."""

    twiml: str
    texts: tuple[int, ...] = ()


# --- link by text ---------------------------------------------------------------------------


class VoiceOutput(Output):
    """The voice channel's `Output`: replies are spoken from the turn's result; a reply holding
    a link is texted, in the turn's transaction, when compliance allows a text to the caller."""

    def __init__(self, *, profile: str, can_text: bool, clock: Callable[[], datetime]) -> None:
        self.profile = profile
        self.can_text = can_text
        self._clock = clock

    def send_text(self, recipient: str, text: str) -> None:
        """Nothing is sent after the turn: the webhook's TwiML speaks the replies."""

    def send(self, recipient: str, reply: Reply) -> None:
        """As `send_text`."""

    def stage(self, session: Session, inbound: Inbound, result: TurnResult) -> None:
        with_links = [reply for reply in result.replies if _LINK.search(reply.text)]
        if not with_links or not self.can_text:
            return
        conversation = session.get(Conversation, result.conversation_id)
        if conversation is None or conversation.borrower_id is None:
            return
        now = self._clock()
        decision = may_contact(
            session=session,
            borrower_id=conversation.borrower_id,
            loan_id=conversation.loan_id,
            channel=Channel.SMS,
            at=now,
            # The caller asked for the link on the call: the text answers them.
            initiated_by=Initiator.BORROWER,
            address_index=conversation.address_index,
            profile=load_profile(self.profile),
        )
        if not decision.allowed:
            _record(
                session,
                str(inbound.raw.get("CallSid") or inbound.channel_message_id.rsplit(":", 1)[0]),
                "link_not_texted",
                {"turn": inbound.channel_message_id, "reasons": list(decision.reasons)},
                now,
            )
            return
        verified = conversation.verified_until is not None and conversation.verified_until > now
        messages = []
        for reply in with_links:
            verdict = screen_outbound(
                reply.text,
                reply.language,
                OutboundContext(
                    profile=self.profile,
                    channel=Channel.SMS,
                    first_contact=False,
                    party_verified=verified,
                ),
            )
            if verdict.allowed and verdict.text_to_send:
                messages.append(ChannelMessage(text=verdict.text_to_send))
        if not messages:
            return
        key = text_key(inbound)
        stage_messages(
            session,
            channel=Channel.SMS,
            conversation_id=conversation.id,
            recipient=conversation.address,
            key=key,
            messages=messages,
            at=now,
        )
        record_attempt(
            session=session,
            borrower_id=conversation.borrower_id,
            loan_id=conversation.loan_id,
            channel=Channel.SMS,
            initiated_by=Initiator.BORROWER,
            address_index=conversation.address_index,
            at=now,
            outcome=AttemptOutcome.SENT,
        )
        append_many(
            session=session,
            events=[
                NewEvent(
                    stream=stream_for("conversation", conversation.id),
                    kind="reply_by_text",
                    occurred_at=now,
                    actor=ACTOR,
                    payload={
                        "key": key,
                        "channel": Channel.SMS.value,
                        "texts": [mask_pii(m.text).text for m in messages],
                    },
                )
            ],
        )


def text_key(inbound: Inbound) -> str:
    """The outbox key prefix of the texts answering one gathered answer."""
    return f"{reply_key(inbound)}:sms"


def _texted(session: Session, key: str) -> list[int]:
    return list(
        session.scalars(
            select(OutboundMessage.id)
            .where(OutboundMessage.idempotency_key.startswith(f"{key}:"))
            .order_by(OutboundMessage.id)
        )
    )


def spoken_reply(reply: Reply, *, texted: bool, caller: VoiceCaller) -> str:
    """A reply as it is said: a link is never read out; the call says it was texted, or not.

    "You can pay $50 here: <link>. This communication is from a debt collector." is said as
    "You can pay $50 here. This communication is from a debt collector. I've sent the link to
    this number by text message."
    """
    if not _LINK.search(reply.text):
        return reply.text
    chinese = _language(reply.language) == "zh"
    stop = "。" if chinese else "."
    text = _SPOKEN_LINK.sub(stop, reply.text)
    text = re.sub(r"\s+(?=[.。])", "", text)
    text = re.sub(r"[.。]{2,}", stop, text).strip()
    if text and text[-1] not in ".。!！?？":
        text += stop
    line = (
        script(reply.language, "link_texted")
        if texted
        else script(reply.language, "link_not_texted", number=spoken_number(caller.callback_number))
    )
    return ("" if chinese else " ").join(part for part in (text, line) if part)


# --- the flows ------------------------------------------------------------------------------


@dataclass(frozen=True)
class VoiceFlow:
    """What every voice webhook needs: the dialogue (lazily), the database, the account."""

    dialogue: Callable[[], Dialogue]
    sessions: sessionmaker[Session]
    account: TwilioAccount
    caller: VoiceCaller
    clock: Callable[[], datetime]
    # Whether texts can be sent (an SMS transport is configured on the outbox).
    can_text: bool

    @property
    def speaker(self) -> Speaker:
        return Speaker(self.caller, self.account)

    # --- the call is answered -------------------------------------------------------------

    def answer(self, form: CallForm, call: CallRef) -> VoiceAnswer:
        """The first TwiML of a call: Settle's reminder answered, or a borrower calling in."""
        if form.outbound and call.borrower_id is not None:
            return VoiceAnswer(self._answer_reminder(form, call))
        if form.outbound:
            # A call Settle did not place through `place_reminder_call`: say who called, no more.
            response = VoiceResponse()
            return VoiceAnswer(
                self.speaker.hang_up(response, opening_text(self.caller, "en"), "en")
            )
        return self._answer_inbound(form)

    def _answer_reminder(self, form: CallForm, call: CallRef) -> str:
        now = self.clock()
        speaker = self.speaker
        response = VoiceResponse()
        with self.sessions.begin() as session:
            borrower = session.get(Borrower, call.borrower_id)
            language = _language(borrower.preferred_language if borrower else None)
            _record(
                session,
                form.call_sid,
                "call_answered",
                {
                    "direction": form.direction,
                    "answered_by": form.answered_by,
                    "borrower_id": call.borrower_id,
                    "loan_id": call.loan_id,
                    "key": call.key,
                },
                now,
            )
            if form.machine:
                return self._voicemail(session, form, language, response, now)
            opening = opening_text(self.caller, language)
            checked = check_call_opening(
                opening,
                language,
                business_name=self.caller.business_name,
                callback_number=self.caller.callback_number,
            )
            _record(
                session,
                form.call_sid,
                "call_said",
                {"part": "opening", "text": opening, "problems": list(checked.problems)},
                now,
            )
            if not checked.ok or borrower is None:
                return speaker.hang_up(response, None, language)
            speaker.say(response, opening, language)
            self._ask_right_party(response, borrower, language, call, repeated=False)
        return str(response)

    def _voicemail(
        self,
        session: Session,
        form: CallForm,
        language: str,
        response: VoiceResponse,
        now: datetime,
    ) -> str:
        """Only the limited-content message (US-VOICEMAIL), or nothing if it fails its check."""
        text = voicemail_text(
            language,
            business_name=self.caller.business_name,
            callback_number=spoken_number(self.caller.callback_number),
        )
        checked = check_voicemail(
            text,
            language,
            business_name=self.caller.business_name,
            callback_number=self.caller.callback_number,
        )
        _record(
            session,
            form.call_sid,
            "call_said",
            {"part": "voicemail", "text": text, "problems": list(checked.problems)},
            now,
        )
        return self.speaker.hang_up(response, text if checked.ok else None, language)

    def _ask_right_party(
        self,
        response: VoiceResponse,
        borrower: Borrower,
        language: str,
        call: CallRef,
        *,
        repeated: bool,
    ) -> None:
        point = GatherPoint(Step.CONFIRM, 0, language, call, repeated=repeated)
        gather = self.speaker.gather(response, point, one_key=True, timeout=MENU_TIMEOUT)
        name = " ".join(borrower.full_name.split())
        self.speaker.say(gather, script(language, "right_party", name=name), language)
        # Twilio posts an empty result when nothing is pressed; the hang-up is a safety net.
        response.hangup()

    def _answer_inbound(self, form: CallForm) -> VoiceAnswer:
        now = self.clock()
        speaker = self.speaker
        language = "en"
        with self.sessions.begin() as session:
            language = self._caller_language(session, form.from_number)
            _record(
                session,
                form.call_sid,
                "call_answered",
                {"direction": form.direction, "answered_by": form.answered_by},
                now,
            )
        business = self.caller.business_name
        if not _is_phone(form.from_number):
            return VoiceAnswer(
                speaker.hang_up(
                    VoiceResponse(), script(language, "hidden_number", business=business), language
                )
            )
        response = VoiceResponse()
        speaker.say(response, script(language, "inbound_opening", business=business), language)
        inbound = Inbound(
            channel=Channel.VOICE,
            channel_message_id=f"{form.call_sid}:0",
            address=form.from_number,
            received_at=now,
            # A call starts the conversation as a chat's first message does: with a greeting.
            text="/greet",
            session_id=form.call_sid,
            raw={"CallSid": form.call_sid, "Direction": form.direction, "turn": 0},
        )
        point = GatherPoint(Step.TALK, 1, language, CallRef())
        return self._turn(response, inbound, point)

    @staticmethod
    def _caller_language(session: Session, number: str) -> str:
        if not _is_phone(number):
            return "en"
        found = find_borrowers_by_phone(session=session, phone=number)
        return _language(found[0].preferred_language) if len(found) == 1 else "en"

    # --- an answer was gathered -----------------------------------------------------------

    def gathered(self, form: CallForm, point: GatherPoint) -> VoiceAnswer:
        """The TwiML that answers what the borrower pressed or said at `point`."""
        if point.step is Step.DIAL:
            return VoiceAnswer(self._transfer_ended(form, point))
        if point.step is Step.CONFIRM:
            return VoiceAnswer(self._right_party(form, point))
        if not form.digits and not form.speech:
            return VoiceAnswer(self._nothing_heard(point))
        inbound = parse_answer(form, point, received_at=self.clock())
        if point.step is Step.MENU and point.call.borrower_id is not None:
            inbound = self._linked(inbound, point.call.borrower_id)
        next_point = GatherPoint(Step.TALK, point.turn + 1, point.language, point.call)
        return self._turn(VoiceResponse(), inbound, next_point)

    def _right_party(self, form: CallForm, point: GatherPoint) -> str:
        now = self.clock()
        speaker = self.speaker
        language = point.language
        response = VoiceResponse()
        # Read before the transaction: the first call of a process loads the language model.
        profile = self.dialogue().settings.profile if form.digits or form.speech else None
        with self.sessions.begin() as session:
            borrower = (
                session.get(Borrower, point.call.borrower_id) if point.call.borrower_id else None
            )
            answer = right_party_answer(form, borrower.full_name if borrower else "")
            _record(
                session,
                form.call_sid,
                "right_party",
                {
                    "answer": {True: "confirmed", False: "denied", None: "unclear"}[answer],
                    "input": "dtmf" if form.digits else "speech" if form.speech else "none",
                    "repeated": point.repeated,
                },
                now,
            )
            if borrower is None or answer is False:
                return speaker.hang_up(response, script(language, "not_party"), language)
            if answer is None:
                if point.repeated:
                    return speaker.hang_up(response, script(language, "goodbye"), language)
                missed = "not_understood" if form.speech else "not_heard"
                speaker.say(response, script(language, missed), language)
                self._ask_right_party(response, borrower, language, point.call, repeated=True)
                return str(response)
            assert profile is not None
            reminder = self._reminder(session, form, language, profile, now)
        if reminder is None:
            return speaker.hang_up(response, script(language, "goodbye"), language)
        speaker.say(response, reminder, language)
        self._menu(response, GatherPoint(Step.MENU, 1, language, point.call))
        return str(response)

    def _reminder(
        self, session: Session, form: CallForm, language: str, profile: str, now: datetime
    ) -> str | None:
        """The reminder with its disclosure, as the outbound screen passes it for the borrower."""
        text = script(language, "reminder", business=self.caller.business_name)
        verdict = screen_outbound(
            text,
            language,
            OutboundContext(
                profile=profile,
                channel=Channel.VOICE,
                # The full statement every time: it also says what the short one does.
                first_contact=True,
                party_verified=True,
            ),
        )
        _record(
            session,
            form.call_sid,
            "call_said",
            {
                "part": "reminder",
                "text": verdict.text_to_send or text,
                "disclosures": list(verdict.disclosures),
                "blocked": list(verdict.reasons),
            },
            now,
        )
        return verdict.text_to_send if verdict.allowed else None

    def _menu(self, response: VoiceResponse, point: GatherPoint) -> None:
        gather = self.speaker.gather(response, point, one_key=True, timeout=MENU_TIMEOUT)
        self.speaker.say(gather, script(point.language, "menu"), point.language)
        # Twilio posts an empty result when nothing is pressed; the hang-up is a safety net.
        response.hangup()

    def _nothing_heard(self, point: GatherPoint) -> str:
        speaker = self.speaker
        language = point.language
        response = VoiceResponse()
        if point.repeated:
            return speaker.hang_up(response, script(language, "goodbye"), language)
        speaker.say(response, script(language, "not_heard"), language)
        again = GatherPoint(point.step, point.turn, language, point.call, repeated=True)
        if point.step is Step.MENU:
            self._menu(response, again)
            return str(response)
        gather = speaker.gather(response, again, one_key=False, timeout=ANSWER_TIMEOUT)
        speaker.say(gather, script(language, "keypad_hint"), language)
        response.hangup()
        return str(response)

    def _linked(self, inbound: Inbound, borrower_id: int) -> Inbound:
        """The first answer of a reminder call, with a token that ties the call's conversation
        to the borrower who was called (a number two borrowers share links neither)."""
        with self.sessions.begin() as session:
            token = issue_link_token(
                session=session,
                borrower_id=borrower_id,
                at=self.clock(),
                channel=Channel.VOICE,
                ttl=LINK_TTL,
            )
        return replace(inbound, link_token=token)

    def _transfer_ended(self, form: CallForm, point: GatherPoint) -> str:
        now = self.clock()
        with self.sessions.begin() as session:
            _record(
                session, form.call_sid, "transfer_ended", {"dial_status": form.dial_status}, now
            )
        response = VoiceResponse()
        if form.dial_status in DIAL_CONNECTED:
            return self.speaker.hang_up(response, None, point.language)
        return self.speaker.hang_up(response, script(point.language, "nobody_free"), point.language)

    # --- one dialogue turn, spoken ----------------------------------------------------------

    def _turn(self, response: VoiceResponse, inbound: Inbound, point: GatherPoint) -> VoiceAnswer:
        dialogue = self.dialogue()
        output = VoiceOutput(
            profile=dialogue.settings.profile, can_text=self.can_text, clock=self.clock
        )
        result = dialogue.handle(inbound, output)
        with self.sessions() as session:
            conversation = session.get(Conversation, result.conversation_id)
            held = conversation is not None and conversation.handler is Handler.HUMAN
            texts = _texted(session, text_key(inbound))
        twiml = self._render(response, inbound, result, point, held=held, texted=bool(texts))
        return VoiceAnswer(twiml, tuple(texts))

    def _render(
        self,
        response: VoiceResponse,
        inbound: Inbound,
        result: TurnResult,
        point: GatherPoint,
        *,
        held: bool,
        texted: bool,
    ) -> str:
        speaker = self.speaker
        language = _language(result.replies[-1].language) if result.replies else point.language
        for reply in result.replies:
            spoken = spoken_reply(reply, texted=texted, caller=self.caller)
            speaker.say(response, spoken, reply.language)
        if held:
            return self._to_a_person(response, inbound, language, point)
        if result.silent:
            return speaker.hang_up(response, script(language, "goodbye"), language)
        buttons = result.replies[-1].buttons if result.replies else ()
        here = GatherPoint(Step.TALK, point.turn, language, point.call)
        one_key = 0 < len(buttons) <= 9
        gather = speaker.gather(
            response, here, one_key=one_key, timeout=MENU_TIMEOUT if one_key else ANSWER_TIMEOUT
        )
        if one_key:
            for number, button in enumerate(buttons, start=1):
                line = script(language, "choice", number=str(number), title=button.title)
                speaker.say(gather, line, language)
        else:
            speaker.say(gather, script(language, "keypad_hint"), language)
        response.hangup()
        return str(response)

    def _to_a_person(
        self, response: VoiceResponse, inbound: Inbound, language: str, point: GatherPoint
    ) -> str:
        """A person holds the conversation: the collector line, or the callback it queued."""
        speaker = self.speaker
        collector = self.caller.collector_number
        if collector is None:
            return speaker.hang_up(response, script(language, "callback"), language)
        speaker.say(response, script(language, "connecting"), language)
        after = GatherPoint(Step.DIAL, point.turn, language, point.call)
        response.dial(
            collector,
            caller_id=self.account.from_number,
            action=gather_url(self.account, after),
            method="POST",
            timeout=DIAL_TIMEOUT,
        )
        return str(response)

    # --- status callbacks -------------------------------------------------------------------

    def status(self, form: CallForm, call: CallRef) -> None:
        """Record a call status; a final one of a call Settle placed is its contact attempt."""
        record_call_status(self.sessions, form, call, at=self.clock())


# What Twilio puts in `From` when the caller's number is withheld: the words ANONYMOUS,
# UNAVAILABLE, RESTRICTED, BLOCKED and UNKNOWN on a keypad. Some read as possible numbers, and
# every such caller would share one conversation (and its verification) if taken for a phone.
WITHHELD_NUMBERS = frozenset({"+266696687", "+86282452253", "+7378742833", "+2562533", "+8656696"})


def _is_phone(number: str) -> bool:
    """A caller id the conversation can be keyed on: what servicing accepts as a number."""
    if number.strip() in WITHHELD_NUMBERS:
        return False
    try:
        normalize_phone(number, field="From")
    except InvalidInput:
        return False
    return True


def record_call_status(
    sessions: sessionmaker[Session], form: CallForm, call: CallRef, *, at: datetime
) -> bool:
    """Record one status callback; True when it was new (a repeat records nothing).

    For a call Settle placed, a final status (completed, busy, no-answer, failed, canceled) is
    recorded as the call's contact attempt, with the outcome the caps read: a call a person
    answered is a telephone conversation (ANSWERED), a machine's is MACHINE. The call's outbox
    row is locked first, so two deliveries of one callback never both count.
    """
    with sessions.begin() as session:
        row = None
        if call.key is not None:
            row = session.scalars(
                select(OutboundMessage)
                .where(OutboundMessage.idempotency_key == call.key)
                .with_for_update()
            ).first()
        answered_by = form.answered_by or _recorded_answered_by(session, form.call_sid)
        new = _record(
            session,
            form.call_sid,
            "call_status",
            {"status": form.call_status, "answered_by": answered_by, "duration": form.duration},
            at,
        )
        final = FINAL_STATUSES.get(form.call_status)
        if not new or final is None or row is None or call.borrower_id is None:
            return new
        if row.channel is not Channel.VOICE:
            raise InvalidCallRequest("call names a message that is not a call")
        outcome, delivery = final
        if outcome is AttemptOutcome.ANSWERED and answered_by and _MACHINE.fullmatch(answered_by):
            outcome = AttemptOutcome.MACHINE
        if row.provider_message_id is None:
            # The callback came before the send was recorded: the signed URL names the row.
            row.provider_message_id = form.call_sid
        record_attempt_outcome(
            session=session,
            borrower_id=call.borrower_id,
            loan_id=call.loan_id,
            channel=Channel.VOICE,
            initiated_by=Initiator.SETTLE,
            address_index=session_cipher(session).blind_index(row.recipient),
            started_at=row.created_at,
            outcome=outcome,
            at=at,
        )
        record_status(
            session,
            channel=Channel.VOICE,
            provider_message_id=row.provider_message_id,
            status=delivery,
            at=at,
            error=None if delivery is DeliveryStatus.DELIVERED else form.call_status,
        )
        return True


# --- placing a reminder call ----------------------------------------------------------------


@dataclass(frozen=True)
class CallPlacement:
    """What `place_reminder_call` did: the contact decision, and the call if one was placed.

    `decision` is None when today's call for the loan already existed (nothing asked, nothing
    dialled). `status` is the call's outbox row: SENT with `call_sid` when Twilio took it.
    """

    borrower_id: int
    loan_id: int | None
    decision: ContactDecision | None
    key: str | None = None
    status: DeliveryStatus | None = None
    call_sid: str | None = None
    error: str | None = None

    @property
    def placed(self) -> bool:
        return self.status is DeliveryStatus.SENT and self.call_sid is not None


class CallError(LookupError):
    """A call that cannot even be asked about: no such borrower, loan, or phone number."""


class CallTransport:
    """The outbox transport of one reminder call: `send` places it through Twilio's REST API."""

    channel = Channel.VOICE

    def __init__(self, account: TwilioAccount, call: CallRef, *, timeout: float) -> None:
        self.account = account
        self.call = call
        self.timeout = timeout

    def render(self, reply: Reply) -> list[ChannelMessage]:  # pragma: no cover - never called
        raise AssertionError("a call's script is served by the voice webhook, not rendered")

    async def send(self, recipient: str, message: ChannelMessage, *, key: str) -> str:
        ref = CallRef(key=key, borrower_id=self.call.borrower_id, loan_id=self.call.loan_id)
        client = self.account.client()
        try:
            with anyio.fail_after(self.timeout):
                created = await client.calls.create_async(
                    to=recipient,
                    from_=self.account.from_number,
                    url=answer_url(self.account, ref),
                    method="POST",
                    status_callback=status_url(self.account, ref),
                    status_callback_method="POST",
                    status_callback_event=list(STATUS_EVENTS),
                    machine_detection=MACHINE_DETECTION,
                )
        except TwilioRestException as exc:
            # Only a rate limit says for sure that no call was made; after a server error the
            # call may exist, and a second one is worse than none.
            raise SendFailed(
                str(exc.msg),
                retryable=exc.status == 429,
                uncertain=exc.status >= 500,
                code=str(exc.code or exc.status),
            ) from None
        except aiohttp.ClientConnectorError as exc:
            raise SendFailed(f"could not connect: {exc}", retryable=True) from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise SendFailed(
                f"no answer from Twilio: {exc!r}", retryable=False, uncertain=True
            ) from None
        return str(created.sid)


def call_key(loan_id: int, borrower: Borrower, at: datetime) -> str:
    """One reminder call per loan per borrower's local day."""
    day = at.astimezone(ZoneInfo(borrower.time_zone)).date()
    return f"call:{loan_id}:{day.isoformat()}"


def _loan_to_remind(
    session: Session, borrower: Borrower, loan_id: int | None, at: datetime
) -> Loan:
    if loan_id is not None:
        loan = session.get(Loan, loan_id)
        if loan is None or loan.borrower_id != borrower.id:
            raise CallError(f"borrower {borrower.id} has no loan {loan_id}")
        return loan
    active = [loan for loan in borrower.loans if loan.status is LoanStatus.ACTIVE]
    if not active:
        raise CallError(f"borrower {borrower.id} has no active loan to call about")
    today = at.astimezone(ZoneInfo(borrower.time_zone)).date()
    behind = {
        loan.id: loan_balance(session=session, loan_id=loan.id, as_of=today).days_past_due
        for loan in active
    }
    # The loan furthest behind, as the dialogue speaks of it.
    return max(active, key=lambda loan: (behind[loan.id], -loan.id))


async def place_reminder_call(
    *,
    sessions: sessionmaker[Session],
    account: TwilioAccount,
    borrower_id: int,
    loan_id: int | None = None,
    profile: Profile | str,
    clock: Callable[[], datetime] = utcnow,
    retry: RetryPolicy | None = None,
    timeout: float = PLACE_TIMEOUT,
) -> CallPlacement:
    """Place a reminder call to a borrower about a loan (by default the one furthest behind),
    if `compliance.may_contact` allows it now; `CallError` if there is no one or nothing to call.

    A refusal (deny or defer) comes back with its decision and nothing is dialled. Asked again
    the same local day for the same loan, the call already made is returned, not made again.
    """
    rules = profile if isinstance(profile, Profile) else load_profile(profile)
    staged = await anyio.to_thread.run_sync(
        _stage_call, sessions, borrower_id, loan_id, rules, clock
    )
    if isinstance(staged, CallPlacement):
        return staged
    row_id, placement = staged
    call = CallRef(key=None, borrower_id=placement.borrower_id, loan_id=placement.loan_id)
    outbox = Outbox(
        sessions=sessions,
        transports={Channel.VOICE: CallTransport(account, call, timeout=timeout)},
        retry=retry or RetryPolicy(delays=(2.0, 10.0)),
        clock=clock,
    )
    (delivery,) = await outbox.send([row_id])
    done = CallPlacement(
        borrower_id=placement.borrower_id,
        loan_id=placement.loan_id,
        decision=placement.decision,
        key=delivery.key,
        status=delivery.status,
        call_sid=delivery.provider_message_id,
        error=delivery.error,
    )
    await anyio.to_thread.run_sync(_record_placed, sessions, done, clock())
    return done


def _stage_call(
    sessions: sessionmaker[Session],
    borrower_id: int,
    loan_id: int | None,
    profile: Profile,
    clock: Callable[[], datetime],
) -> CallPlacement | tuple[int, CallPlacement]:
    """Decide, and on ALLOW write the call's outbox row in the decision's transaction."""
    now = clock()
    with sessions.begin() as session:
        borrower = session.get(Borrower, borrower_id)
        if borrower is None:
            raise CallError(f"no borrower with id {borrower_id}")
        loan = _loan_to_remind(session, borrower, loan_id, now)
        key = call_key(loan.id, borrower, now)
        existing = _existing_call(session, key)
        if existing is not None:
            return _placement_of(existing, borrower.id, loan.id, None)
        phone = session.scalars(
            select(BorrowerPhone)
            .where(BorrowerPhone.borrower_id == borrower.id)
            .order_by(BorrowerPhone.id)
        ).first()
        if phone is None:
            raise CallError(f"borrower {borrower_id} has no phone number to call")
        decision = may_contact(
            session=session,
            borrower_id=borrower.id,
            loan_id=loan.id,
            channel=Channel.VOICE,
            at=now,
            initiated_by=Initiator.SETTLE,
            address_index=phone.number_index,
            profile=profile,
        )
        placement = CallPlacement(borrower_id=borrower.id, loan_id=loan.id, decision=decision)
        if not decision.allowed:
            return placement
        try:
            with session.begin_nested():
                (row_id,) = stage_messages(
                    session,
                    channel=Channel.VOICE,
                    conversation_id=None,
                    recipient=phone.number,
                    # The row itself is "<key>:1"; the body says what was placed, for the record.
                    key=key,
                    messages=[ChannelMessage(text=f"reminder call about loan {loan.external_ref}")],
                    at=now,
                )
                # Counted from the moment it is placed (its outcome follows from the status
                # callback): a callback that never arrives cannot leave a call uncounted.
                record_attempt(
                    session=session,
                    borrower_id=borrower.id,
                    loan_id=loan.id,
                    channel=Channel.VOICE,
                    initiated_by=Initiator.SETTLE,
                    address_index=phone.number_index,
                    at=now,
                    outcome=AttemptOutcome.SENT,
                )
        except IntegrityError:
            # Another process staged today's call for this loan between the check and now.
            existing = _existing_call(session, key)
            assert existing is not None
            return _placement_of(existing, borrower.id, loan.id, decision)
        return row_id, placement


def _existing_call(session: Session, key: str) -> OutboundMessage | None:
    return session.scalars(
        select(OutboundMessage).where(OutboundMessage.idempotency_key.startswith(f"{key}:"))
    ).first()


def _placement_of(
    row: OutboundMessage, borrower_id: int, loan_id: int, decision: ContactDecision | None
) -> CallPlacement:
    return CallPlacement(
        borrower_id=borrower_id,
        loan_id=loan_id,
        decision=decision,
        key=row.idempotency_key,
        status=row.status,
        call_sid=row.provider_message_id,
        error=row.error,
    )


def _record_placed(sessions: sessionmaker[Session], placement: CallPlacement, at: datetime) -> None:
    """The loan's stream names the call (its CallSid leads to the call's own stream)."""
    if placement.loan_id is None:
        return
    payload = {
        "key": placement.key,
        "borrower_id": placement.borrower_id,
        "status": placement.status.value if placement.status else None,
        "call_sid": placement.call_sid,
        "error": placement.error,
    }
    events = [
        NewEvent(
            stream=stream_for("loan", placement.loan_id),
            kind="call_placed" if placement.placed else "call_not_placed",
            occurred_at=at,
            actor=ACTOR,
            payload=payload,
        )
    ]
    if placement.call_sid:
        events.append(
            NewEvent(
                stream=call_stream(placement.call_sid),
                kind="call_placed",
                occurred_at=at,
                actor=ACTOR,
                payload={**payload, "loan_id": placement.loan_id},
            )
        )
    with sessions.begin() as session:
        append_many(session=session, events=events)


__all__ = [
    "DEFAULT_STYLES",
    "GATHER_PATH",
    "MACHINE_DETECTION",
    "MENU_PAYLOADS",
    "STATUS_EVENTS",
    "STATUS_PATH",
    "CallError",
    "CallForm",
    "CallPlacement",
    "CallRef",
    "CallTransport",
    "GatherPoint",
    "InvalidCallRequest",
    "Step",
    "VoiceAnswer",
    "VoiceCaller",
    "VoiceFlow",
    "VoiceOutput",
    "VoiceStyle",
    "call_ref",
    "gather_point",
    "opening_text",
    "parse_answer",
    "place_reminder_call",
    "read_form",
    "record_call_status",
    "right_party_answer",
    "spoken_number",
    "spoken_reply",
]
