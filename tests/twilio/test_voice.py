"""Twilio Voice contract: reminder calls placed, TwiML answered, statuses recorded.

Calls are placed through the twilio library's REST client against a local server playing
Twilio's API (tests/twilio/conftest.py). Webhook requests carry the fields Twilio posts and are
signed with the account's auth token over the public URL; each test follows the TwiML the way
Twilio does, posting to the URLs it names (the call's Url, a Gather's action, the
StatusCallback). TwiML is parsed with xml.etree and read verb by verb. Every test runs on SQLite
and, when configured, on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bots import sms
from bots.outbox import Outbox, RetryPolicy
from bots.twilio import VOICE_PATH, TwilioAccount
from bots.voice import (
    GATHER_PATH,
    MACHINE_DETECTION,
    SCRIPT,
    STATUS_PATH,
    CallPlacement,
    VoiceCaller,
    opening_text,
    place_reminder_call,
    spoken_reply,
)
from compliance import (
    check_call_opening,
    check_voicemail,
    events_of,
    give_consent,
    payload_of,
    record_attempt,
    record_opt_out,
    revoke_consent,
    state_inconvenient_time,
)
from compliance.screening import OutboundContext, screen_outbound
from dialogue import Dialogue, Nlu, Reply
from models import (
    AttemptOutcome,
    Borrower,
    Channel,
    ConsentKind,
    ContactAttempt,
    DeliveryStatus,
    Escalation,
    Initiator,
    Loan,
    OutboundMessage,
    session_cipher,
)
from settle.app import install_error_handlers
from tests.twilio.conftest import ACCOUNT_SID, FROM_NUMBER, FakeTwilioApi, TwilioReply, TwilioSigner
from tests.webhooks.conftest import NOW, add_demo_borrower, messages_taken
from webhooks.twilio_voice import build_twilio_voice_router

PHONE = "+14155552671"
ZH_PHONE = "+14155552672"
CALLBACK = "+12025550143"
COLLECTOR = "+12025550199"
BUSINESS = "Settle Demo Lending"
CALLER = VoiceCaller(business_name=BUSINESS, callback_number=CALLBACK)
CALLS_API = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
MINI_MIRANDA = "This is an attempt to collect a debt"


# --- set-up -----------------------------------------------------------------------------------


@pytest.fixture
def dialogue(sessions: sessionmaker[Session], nlu: Nlu) -> Dialogue:
    return Dialogue(sessions=sessions, nlu=nlu, clock=lambda: NOW)


def make_outbox(sessions: sessionmaker[Session], account: TwilioAccount) -> Outbox:
    return Outbox(
        sessions=sessions,
        transports=sms.message_transports(account),
        retry=RetryPolicy(delays=(0.0, 0.0, 0.0)),
        clock=lambda: NOW,
    )


def make_client(
    sessions: sessionmaker[Session],
    dialogue: Dialogue,
    account: TwilioAccount | None,
    caller: VoiceCaller = CALLER,
) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    outbox = make_outbox(sessions, account) if account else Outbox(sessions=sessions, transports={})
    app.include_router(
        build_twilio_voice_router(
            dialogue=lambda: dialogue,
            sessions=sessions,
            outbox=outbox,
            account=account,
            caller=caller,
            clock=lambda: NOW,
        )
    )
    return TestClient(app)


@pytest.fixture
def client(
    sessions: sessionmaker[Session], dialogue: Dialogue, twilio_account: TwilioAccount
) -> Iterator[TestClient]:
    with make_client(sessions, dialogue, twilio_account) as client:
        yield client


def call_sid() -> str:
    return "CA" + secrets.token_hex(16)


def place(
    sessions: sessionmaker[Session],
    account: TwilioAccount,
    borrower_id: int,
    *,
    at: datetime = NOW,
    loan_id: int | None = None,
) -> CallPlacement:
    return asyncio.run(
        place_reminder_call(
            sessions=sessions,
            account=account,
            borrower_id=borrower_id,
            loan_id=loan_id,
            profile="us_reg_f",
            clock=lambda: at,
            retry=RetryPolicy(delays=(0.0, 0.0)),
        )
    )


@dataclass(frozen=True)
class Call:
    """A call as Twilio knows it: its SID, both numbers, and the URLs Settle gave for it."""

    sid: str
    to: str
    url: str
    status_callback: str

    def form(self, **fields: str) -> dict[str, str]:
        """What Twilio posts about this outbound call (plus `fields`)."""
        return {
            "AccountSid": ACCOUNT_SID,
            "ApiVersion": "2010-04-01",
            "CallSid": self.sid,
            "CallStatus": "in-progress",
            "Called": self.to,
            "Caller": FROM_NUMBER,
            "Direction": "outbound-api",
            "From": FROM_NUMBER,
            "To": self.to,
            **fields,
        }


def placed_call(api: FakeTwilioApi, placement: CallPlacement) -> Call:
    """The call the fake API was asked to place, with the SID it answered."""
    (request,) = api.requests_to("/Calls.json")
    assert placement.call_sid is not None
    return Call(
        sid=placement.call_sid,
        to=request.form["To"],
        url=request.form["Url"],
        status_callback=request.form["StatusCallback"],
    )


def inbound_form(sid: str, caller: str = PHONE, **fields: str) -> dict[str, str]:
    """What Twilio posts when someone calls Settle's number."""
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": sid,
        "CallStatus": "ringing",
        "Called": FROM_NUMBER,
        "Caller": caller,
        "CallerCountry": "US",
        "Direction": "inbound",
        "From": caller,
        "FromCountry": "US",
        "To": FROM_NUMBER,
        **fields,
    }


def post(client: TestClient, signer: TwilioSigner, url: str, form: dict[str, str]) -> Response:
    """POST a form to one of Settle's public URLs, signed as Twilio signs it."""
    parts = urlsplit(url)
    target = f"{parts.path}?{parts.query}" if parts.query else parts.path
    return client.post(target, data=form, headers=signer.headers(parts.path, form, parts.query))


def twiml(response: Response) -> ET.Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.text)  # noqa: S314 - our own answer, not untrusted input
    assert root.tag == "Response"
    return root


def says(root: ET.Element) -> list[str]:
    return [say.text or "" for say in root.iter("Say")]


def spoken(root: ET.Element) -> str:
    return " ".join(says(root))


def gather(root: ET.Element) -> ET.Element:
    (found,) = root.findall("Gather")
    return found


def action(root: ET.Element) -> str:
    return gather(root).attrib["action"]


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def keyed(digits: str, call: str, to: str, *, direction: str = "outbound-api") -> dict[str, str]:
    """A Gather's answer keyed on the phone."""
    return {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call,
        "CallStatus": "in-progress",
        "Direction": direction,
        "Digits": digits,
        "FinishedOnKey": "",
        "From": FROM_NUMBER if direction != "inbound" else to,
        "To": to if direction != "inbound" else FROM_NUMBER,
    }


def said_aloud(text: str, call: str, to: str, *, direction: str = "outbound-api") -> dict[str, str]:
    """A Gather's answer spoken, as Twilio transcribed it."""
    form = keyed("", call, to, direction=direction)
    del form["Digits"], form["FinishedOnKey"]
    return {**form, "SpeechResult": text, "Confidence": "0.92"}


def attempts(sessions: sessionmaker[Session], borrower_id: int) -> list[ContactAttempt]:
    with sessions() as session:
        return list(
            session.scalars(
                select(ContactAttempt)
                .where(
                    ContactAttempt.borrower_id == borrower_id,
                    ContactAttempt.channel == Channel.VOICE,
                    ContactAttempt.initiated_by == Initiator.SETTLE,
                )
                .order_by(ContactAttempt.id)
            )
        )


def loan_of(sessions: sessionmaker[Session], borrower: Borrower) -> Loan:
    with sessions() as session:
        return session.scalars(select(Loan).where(Loan.borrower_id == borrower.id)).one()


def answer_as_person(
    client: TestClient, signer: TwilioSigner, call: Call, answered_by: str = "human"
) -> ET.Element:
    return twiml(post(client, signer, call.url, call.form(AnsweredBy=answered_by)))


def confirmed(client: TestClient, signer: TwilioSigner, call: Call) -> ET.Element:
    """The call answered by a person who presses 1 for "I am Jane Doe": the reminder's menu."""
    root = answer_as_person(client, signer, call)
    return twiml(post(client, signer, action(root), keyed("1", call.sid, call.to)))


# --- placing a reminder call ------------------------------------------------------------------


def test_a_reminder_call_is_placed_through_the_rest_api(
    sessions: sessionmaker[Session], twilio_api: FakeTwilioApi, twilio_account: TwilioAccount
) -> None:
    borrower = add_demo_borrower(sessions, phone=PHONE)
    loan = loan_of(sessions, borrower)

    placement = place(sessions, twilio_account, borrower.id)

    assert placement.placed
    assert placement.decision is not None
    assert placement.decision.allowed
    (request,) = twilio_api.requests_to("/Calls.json")
    assert request.path == CALLS_API
    assert request.credentials == (ACCOUNT_SID, twilio_account.auth_token)
    form = request.form
    assert form["To"] == PHONE
    assert form["From"] == FROM_NUMBER
    assert form["MachineDetection"] == MACHINE_DETECTION
    assert form["Method"] == "POST"
    url, callback = urlsplit(form["Url"]), urlsplit(form["StatusCallback"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == twilio_account.public_url(VOICE_PATH)
    assert f"{callback.scheme}://{callback.netloc}{callback.path}" == (
        twilio_account.public_url(STATUS_PATH)
    )
    key = f"call:{loan.id}:2025-06-20:1"
    assert query_of(form["Url"]) == {
        "call": key,
        "borrower": str(borrower.id),
        "loan": str(loan.id),
    }
    assert query_of(form["StatusCallback"]) == query_of(form["Url"])
    assert request.multi["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    with sessions() as session:
        row = session.scalars(
            select(OutboundMessage).where(OutboundMessage.idempotency_key == key)
        ).one()
        assert (row.channel, row.status, row.recipient) == (
            Channel.VOICE,
            DeliveryStatus.SENT,
            PHONE,
        )
        assert row.provider_message_id == placement.call_sid
        trail = events_of(session=session, stream=f"loan:{loan.id}")
        (decision,) = [payload_of(e) for e in trail if e.kind == "contact_decision"]
        assert (decision["channel"], decision["outcome"]) == ("voice", "allow")
        (placed,) = [payload_of(e) for e in trail if e.kind == "call_placed"]
        assert placed["call_sid"] == placement.call_sid


def test_a_loan_gets_one_reminder_call_a_day(
    sessions: sessionmaker[Session], twilio_api: FakeTwilioApi, twilio_account: TwilioAccount
) -> None:
    borrower = add_demo_borrower(sessions, phone=PHONE)
    first = place(sessions, twilio_account, borrower.id)
    again = place(sessions, twilio_account, borrower.id)

    assert again.call_sid == first.call_sid
    assert again.decision is None
    assert len(twilio_api.requests_to("/Calls.json")) == 1


def test_a_call_twilio_refuses_is_recorded_failed_and_not_retried(
    sessions: sessionmaker[Session], twilio_api: FakeTwilioApi, twilio_account: TwilioAccount
) -> None:
    borrower = add_demo_borrower(sessions, phone=PHONE)
    twilio_api.script("/Calls.json", TwilioReply.error(400, 21215, "Geo permission"))

    placement = place(sessions, twilio_account, borrower.id)

    assert not placement.placed
    assert placement.status is DeliveryStatus.FAILED
    assert placement.error is not None
    assert "21215" in placement.error
    assert len(twilio_api.requests_to("/Calls.json")) == 1


def test_a_server_error_is_never_dialled_twice(
    sessions: sessionmaker[Session], twilio_api: FakeTwilioApi, twilio_account: TwilioAccount
) -> None:
    """After a 5xx the call may exist: a second call is worse than none."""
    borrower = add_demo_borrower(sessions, phone=PHONE)
    twilio_api.script("/Calls.json", TwilioReply.error(500, 20500, "Internal Server Error"))

    placement = place(sessions, twilio_account, borrower.id)

    assert placement.status is DeliveryStatus.UNKNOWN
    assert len(twilio_api.requests_to("/Calls.json")) == 1


def _late_evening(session: Session, borrower: Borrower) -> datetime:
    return datetime(2025, 6, 21, 5, 0, tzinfo=UTC)  # 22:00 in Los Angeles


def _opted_out(session: Session, borrower: Borrower) -> datetime:
    record_opt_out(
        session=session, borrower_id=borrower.id, channel=Channel.VOICE, at=NOW, source="test"
    )
    return NOW


def _consent_revoked(session: Session, borrower: Borrower) -> datetime:
    index = session_cipher(session).blind_index(PHONE)
    give_consent(
        session=session,
        borrower_id=borrower.id,
        kind=ConsentKind.AUTODIAL,
        address_index=index,
        at=datetime(2025, 1, 15, tzinfo=UTC),
        source="loan application",
    )
    revoke_consent(
        session=session,
        borrower_id=borrower.id,
        kind=ConsentKind.AUTODIAL,
        address_index=index,
        at=datetime(2025, 6, 1, tzinfo=UTC),
        source="borrower's letter",
    )
    return NOW


def _inconvenient(session: Session, borrower: Borrower) -> datetime:
    state_inconvenient_time(
        session=session,
        borrower_id=borrower.id,
        starts=time(9, 0),
        ends=time(17, 0),
        at=datetime(2025, 6, 1, tzinfo=UTC),
    )
    return NOW


@pytest.mark.parametrize(
    ("situation", "reason"),
    [
        (_late_evening, "US-HOURS"),
        (_opted_out, "US-OPTOUT"),
        (_consent_revoked, "US-TCPA-REVOKE"),
        (_inconvenient, "US-INCONVENIENT"),
    ],
)
def test_a_call_compliance_refuses_dials_nothing(
    sessions: sessionmaker[Session],
    twilio_api: FakeTwilioApi,
    twilio_account: TwilioAccount,
    situation: Callable[[Session, Borrower], datetime],
    reason: str,
) -> None:
    borrower = add_demo_borrower(sessions, phone=PHONE)
    with sessions.begin() as session:
        at = situation(session, session.get_one(Borrower, borrower.id))

    placement = place(sessions, twilio_account, borrower.id, at=at)

    assert placement.decision is not None
    assert not placement.decision.allowed
    assert reason in placement.decision.reasons
    assert not placement.placed
    assert placement.key is None
    assert twilio_api.requests_to("/Calls.json") == []
    with sessions() as session:
        calls = session.scalar(
            select(func.count())
            .select_from(OutboundMessage)
            .where(OutboundMessage.channel == Channel.VOICE)
        )
        assert calls == 0


# --- the call is answered ---------------------------------------------------------------------


@pytest.mark.parametrize("answered_by", ["machine_start", "machine_end_beep", "fax"])
def test_a_machine_gets_the_limited_content_message_only(
    sessions: sessionmaker[Session],
    client: TestClient,
    twilio_api: FakeTwilioApi,
    twilio_account: TwilioAccount,
    twilio_signer: TwilioSigner,
    answered_by: str,
) -> None:
    borrower = add_demo_borrower(sessions, phone=PHONE)
    call = placed_call(twilio_api, place(sessions, twilio_account, borrower.id))

    root = twiml(post(client, twilio_signer, call.url, call.form(AnsweredBy=answered_by)))

    assert [child.tag for child in root] == ["Say", "Hangup"]
    (message,) = says(root)
    assert check_voicemail(message, "en", business_name=BUSINESS, callback_number=CALLBACK).ok
    assert "Jane" not in message  # not even whom the call is for
    assert root.find("Say").attrib["language"] == "en-US"  # type: ignore[union-attr]


@pytest.mark.parametrize("answered_by", ["human", "unknown"])
def test_a_person_hears_who_calls_then_the_right_party_question(
    sessions: sessionmaker[Session],
    client: TestClient,
    twilio_api: FakeTwilioApi,
    twilio_account: TwilioAccount,
    twilio_signer: TwilioSigner,
    answered_by: str,
) -> None:
    borrower = add_demo_borrower(sessions, phone=PHONE)
    call = placed_call(twilio_api, place(sessions, twilio_account, borrower.id))

    root = answer_as_person(client, twilio_signer, call, answered_by)

    assert [child.tag for child in root] == ["Say", "Gather", "Hangup"]
    opening = says(root)[0]
    assert check_call_opening(opening, "en", business_name=BUSINESS, callback_number=CALLBACK).ok
    asked = gather(root)
    assert asked.attrib["input"] == "speech dtmf"
    assert asked.attrib["language"] == "en-US"
    assert asked.attrib["numDigits"] == "1"
    assert asked.attrib["timeout"] == "6"
    assert query_of(asked.attrib["action"])["step"] == "confirm"
    assert urlsplit(asked.attrib["action"]).path == GATHER_PATH
    assert says(asked) == [
        "This call is for Jane Doe. If you are Jane Doe, press 1 or say yes. "
        "If not, press 2 or say no."
    ]
    # Nothing said so far names a debt, to whoever picked up.
    for text in says(root):
        assert screen_outbound(text, "en", OutboundContext(channel=Channel.VOICE)).allowed


@pytest.mark.parametrize(
    "answer",
    [
        {"Digits": "1"},
        {"SpeechResult": "Yes.", "Confidence": "0.9"},
        {"SpeechResult": "Speaking", "Confidence": "0.8"},
    ],
)
def test_the_right_party_hears_the_disclosure_the_reminder_and_the_menu(
    sessions: sessionmaker[Session],
    client: TestClient,
    twilio_api: FakeTwilioApi,
    twilio_account: TwilioAccount,
    twilio_signer: TwilioSigner,
    answer: dict[str, str],
) -> None:
    borrower = add_demo_borrower(sessions, phone=PHONE)
    call = placed_call(twilio_api, place(sessions, twilio_account, borrower.id))
    root = answer_as_person(client, twilio_signer, call)
    form = {**keyed("", call.sid, call.to), **answer}
    if "Digits" not in answer:
        del form["Digits"]

    menu = twiml(post(client, twilio_signer, action(root), form))

    reminder = says(menu)[0]
    assert reminder.startswith(f"Thank you. This is a reminder about your account with {BUSINESS}.")
    assert MINI_MIRANDA in reminder
    asked = gather(menu)
    assert asked.attrib["input"] == "speech dtmf"
    assert asked.attrib["numDigits"] == "1"
    assert query_of(asked.attrib["action"])["step"] == "menu"
    assert query_of(asked.attrib["action"])["turn"] == "1"
    assert says(asked) == [SCRIPT["en"]["menu"]]
    assert "press 1 or say pay to get a payment link by text" in says(asked)[0].lower()


@pytest.mark.parametrize(
    "answer", [{"Digits": "2"}, {"SpeechResult": "No, wrong number.", "Confidence": "0.9"}]
)
def test_someone_else_hears_nothing_about_the_account(
    sessions: sessionmaker[Session],
    client: TestClient,
    twilio_api: FakeTwilioApi,
    twilio_account: TwilioAccount,
    twilio_signer: TwilioSigner,
    answer: dict[str, str],
) -> None:
    borrower = add_demo_borrower(sessions, phone=PHONE)
    call = placed_call(twilio_api, place(sessions, twilio_account, borrower.id))
    root = answer_as_person(client, twilio_signer, call)
    form = {**keyed("", call.sid, call.to), **answer}
    if "Digits" not in answer:
        del form["Digits"]

    reply = twiml(post(client, twilio_signer, action(root), form))

    assert [child.tag for child in reply] == ["Say", "Hangup"]
    assert says(reply) == ["Sorry for the trouble. Goodbye."]
    assert messages_taken(sessions) == 0


@pytest.mark.parametrize(
    ("answer", "asked_again"),
    [
        ({}, "Sorry, I didn't hear anything."),
        ({"SpeechResult": "Who is this?", "Confidence": "0.7"}, "Sorry, I didn't catch that."),
    ],
)
def test_no_clear_answer_to_the_right_party_question_asks_once_more_then_ends(
    sessions: sessionmaker[Session],
    client: TestClient,
    twilio_api: FakeTwilioApi,
    twilio_account: TwilioAccount,
    twilio_signer: TwilioSigner,
    answer: dict[str, str],
    asked_again: str,
) -> None:
    borrower = add_demo_borrower(sessions, phone=PHONE)
    call = placed_call(twilio_api, place(sessions, twilio_account, borrower.id))
    root = answer_as_person(client, twilio_signer, call)
    form = keyed("", call.sid, call.to)
    del form["Digits"]
    form.update(answer)

    again = twiml(post(client, twilio_signer, action(root), form))
    assert says(again)[0] == asked_again
    assert "This call is for Jane Doe." in says(gather(again))[0]
    assert query_of(action(again))["again"] == "1"
    last = twiml(post(client, twilio_signer, action(again), form))

    assert [child.tag for child in last] == ["Say", "Hangup"]
    assert "Goodbye" in says(last)[0]
    assert MINI_MIRANDA not in spoken(again) + spoken(last)


def test_a_chinese_speaking_borrower_is_called_in_chinese(
    sessions: sessionmaker[Session],
    client: TestClient,
    twilio_api: FakeTwilioApi,
    twilio_account: TwilioAccount,
    twilio_signer: TwilioSigner,
) -> None:
    borrower = add_demo_borrower(sessions, name="王芳", phone=ZH_PHONE, language="zh")
    call = placed_call(twilio_api, place(sessions, twilio_account, borrower.id))

    root = answer_as_person(client, twilio_signer, call)

    opening = root.find("Say")
    assert opening is not None
    assert opening.attrib["language"] == "cmn-CN"
    assert opening.attrib["voice"] == "Polly.Zhiyu"
    assert check_call_opening(
        opening.text or "", "zh", business_name=BUSINESS, callback_number=CALLBACK
    ).ok
    assert gather(root).attrib["language"] == "cmn-Hans-CN"
    assert "王芳" in says(gather(root))[0]

    menu = twiml(post(client, twilio_signer, action(root), keyed("1", call.sid, call.to)))
    assert "这是一次债务催收" in says(menu)[0]
    assert all(say.attrib["language"] == "cmn-CN" for say in menu.iter("Say"))


def test_what_the_call_says_before_verification_names_no_debt() -> None:
    """The reminder and the menu are screened for the borrower (who gets the disclosure); they
    pass the screen for anyone too: amounts and dates wait for identity verification."""
    for language in ("en", "zh"):
        texts = [
            opening_text(CALLER, language),
            SCRIPT[language]["right_party"].format(name="Jane Doe"),
            SCRIPT[language]["reminder"].format(business=BUSINESS),
            SCRIPT[language]["menu"],
        ]
        for text in texts:
            verdict = screen_outbound(text, language, OutboundContext(channel=Channel.VOICE))
            assert verdict.allowed, (text, verdict.reasons)


def test_a_business_name_that_reveals_collection_is_refused() -> None:
    with pytest.raises(ValueError, match="collection"):
        VoiceCaller(business_name="Acme Debt Collections", callback_number=CALLBACK)


# --- the menu and the dialogue ----------------------------------------------------------------


def test_pay_verifies_identity_then_texts_the_link_instead_of_reading_it(
    sessions: sessionmaker[Session],
    client: TestClient,
    twilio_api: FakeTwilioApi,
    twilio_account: TwilioAccount,
    twilio_signer: TwilioSigner,
) -> None:
    borrower = add_demo_borrower(sessions, phone=PHONE)
    call = placed_call(twilio_api, place(sessions, twilio_account, borrower.id))
    menu = confirmed(client, twilio_signer, call)

    asked_dob = twiml(post(client, twilio_signer, action(menu), keyed("1", call.sid, call.to)))
    assert "date of birth" in spoken(asked_dob)
    assert query_of(action(asked_dob))["turn"] == "2"
    assert "numDigits" not in gather(asked_dob).attrib
    assert gather(asked_dob).attrib["finishOnKey"] == "#"
    asked_last4 = twiml(
        post(client, twilio_signer, action(asked_dob), keyed("03031985", call.sid, call.to))
    )
    assert "last 4 digits" in spoken(asked_last4)
    paid = twiml(post(client, twilio_signer, action(asked_last4), keyed("6789", call.sid, call.to)))

    text = spoken(paid)
    assert "http" not in text
    assert "I've sent the link to this number by text message." in text
    assert MINI_MIRANDA in text or "from a debt collector" in text
    (sent,) = twilio_api.messages()
    assert sent["To"] == PHONE
    assert "https://pay.example.com/" in sent["Body"]
    assert "Reply STOP to opt out." in sent["Body"]
    with sessions() as session:
        row = session.scalars(
            select(OutboundMessage).where(OutboundMessage.channel == Channel.SMS)
        ).one()
        assert row.idempotency_key == f"voice:{call.sid}:3:sms:1"
        assert row.status is DeliveryStatus.SENT


def test_the_menu_understands_speech(
    sessions: sessionmaker[Session],
    client: TestClient,
    twilio_api: FakeTwilioApi,
    twilio_account: TwilioAccount,
    twilio_signer: TwilioSigner,
) -> None:
    borrower = add_demo_borrower(sessions, phone=PHONE)
    call = placed_call(twilio_api, place(sessions, twilio_account, borrower.id))
    menu = confirmed(client, twilio_signer, call)

    asked_dob = twiml(
        post(client, twilio_signer, action(menu), said_aloud("Pay.", call.sid, call.to))
    )
    assert "date of birth" in spoken(asked_dob)
    asked_last4 = twiml(
        post(
            client,
            twilio_signer,
            action(asked_dob),
            said_aloud("March 3rd 1985.", call.sid, call.to),
        )
    )
    assert "last 4 digits" in spoken(asked_last4)


def test_a_retried_gather_gets_the_same_twiml_and_is_processed_once(
    sessions: sessionmaker[Session],
    client: TestClient,
    twilio_api: FakeTwilioApi,
    twilio_account: TwilioAccount,
    twilio_signer: TwilioSigner,
) -> None:
    borrower = add_demo_borrower(sessions, phone=PHONE)
    call = placed_call(twilio_api, place(sessions, twilio_account, borrower.id))
    menu = confirmed(client, twilio_signer, call)
    form = keyed("1", call.sid, call.to)

    first = post(client, twilio_signer, action(menu), form)
    taken = messages_taken(sessions)
    again = post(client, twilio_signer, action(menu), form)

    assert again.text == first.text
    assert messages_taken(sessions) == taken == 1


@pytest.mark.parametrize(
    ("change", "status"),
    [
        (lambda url, form: (url, {**form, "Digits": "3"}), 403),  # the body altered
        (lambda url, form: (url.replace("turn=1", "turn=9"), form), 403),  # the URL altered
    ],
)
def test_a_tampered_gather_is_refused(
    sessions: sessionmaker[Session],
    client: TestClient,
    twilio_api: FakeTwilioApi,
    twilio_account: TwilioAccount,
    twilio_signer: TwilioSigner,
    change: Callable[[str, dict[str, str]], tuple[str, dict[str, str]]],
    status: int,
) -> None:
    borrower = add_demo_borrower(sessions, phone=PHONE)
    call = placed_call(twilio_api, place(sessions, twilio_account, borrower.id))
    menu = confirmed(client, twilio_signer, call)
    url, form = action(menu), keyed("1", call.sid, call.to)
    headers = twilio_signer.headers(urlsplit(url).path, form, urlsplit(url).query)
    url, form = change(url, form)
    parts = urlsplit(url)

    response = client.post(f"{parts.path}?{parts.query}", data=form, headers=headers)

    assert response.status_code == status
    assert messages_taken(sessions) == 0


def test_unsigned_requests_are_refused(client: TestClient) -> None:
    sid = call_sid()
    for path in (VOICE_PATH, f"{GATHER_PATH}?step=talk&turn=1&lang=en", STATUS_PATH):
        assert client.post(path, data=inbound_form(sid)).status_code == 403


def test_with_twilio_off_the_voice_routes_do_not_exist(
    sessions: sessionmaker[Session], dialogue: Dialogue
) -> None:
    with make_client(sessions, dialogue, None) as client:
        for path in (VOICE_PATH, GATHER_PATH, STATUS_PATH):
            response = client.post(path, data=inbound_form(call_sid()))
            assert response.status_code == 404
            assert "Twilio is not configured" in response.text


def test_a_request_without_a_call_sid_is_refused(
    client: TestClient, twilio_signer: TwilioSigner
) -> None:
    form = inbound_form("not-a-call")
    response = client.post(VOICE_PATH, data=form, headers=twilio_signer.headers(VOICE_PATH, form))
    assert response.status_code == 400


# --- a borrower calls in ----------------------------------------------------------------------


def test_an_inbound_call_verifies_identity_by_keypad_then_hears_the_balance(
    sessions: sessionmaker[Session],
    client: TestClient,
    twilio_account: TwilioAccount,
    twilio_signer: TwilioSigner,
) -> None:
    add_demo_borrower(sessions, phone=PHONE)
    sid = call_sid()

    greeted = twiml(
        post(client, twilio_signer, twilio_account.public_url(VOICE_PATH), inbound_form(sid))
    )
    assert says(greeted)[0] == f"Thank you for calling {BUSINESS}."
    assert "virtual assistant" in says(greeted)[1]
    choices = gather(greeted)
    assert choices.attrib["numDigits"] == "1"
    assert says(choices) == ["Press 1 for My account.", "Press 2 for Talk to a person."]
    assert "past due" not in spoken(greeted)
    assert "$" not in spoken(greeted)

    def answer(root: ET.Element, digits: str) -> ET.Element:
        form = keyed(digits, sid, PHONE, direction="inbound")
        return twiml(post(client, twilio_signer, action(root), form))

    asked_dob = answer(greeted, "1")
    assert "date of birth" in spoken(asked_dob)
    asked_last4 = answer(asked_dob, "03031985")
    assert "last 4 digits" in spoken(asked_last4)
    balance = answer(asked_last4, "6789")

    text = spoken(balance)
    assert "past due" in text
    assert "$" in text
    assert MINI_MIRANDA in text
    assert gather(balance).attrib["input"] == "speech dtmf"
    assert query_of(action(balance))["turn"] == "4"


def test_a_hidden_number_is_told_to_call_with_its_number_shown(
    client: TestClient, twilio_account: TwilioAccount, twilio_signer: TwilioSigner
) -> None:
    form = inbound_form(call_sid(), caller="+266696687")  # Twilio's "Anonymous"
    root = twiml(post(client, twilio_signer, twilio_account.public_url(VOICE_PATH), form))
    assert [child.tag for child in root] == ["Say", "Hangup"]
    assert "hidden number" in says(root)[0]


def test_asking_for_a_person_dials_the_collector_line(
    sessions: sessionmaker[Session],
    dialogue: Dialogue,
    twilio_api: FakeTwilioApi,
    twilio_account: TwilioAccount,
    twilio_signer: TwilioSigner,
) -> None:
    add_demo_borrower(sessions, phone=PHONE)
    caller = VoiceCaller(
        business_name=BUSINESS, callback_number=CALLBACK, collector_number=COLLECTOR
    )
    sid = call_sid()
    with make_client(sessions, dialogue, twilio_account, caller) as client:
        greeted = twiml(
            post(client, twilio_signer, twilio_account.public_url(VOICE_PATH), inbound_form(sid))
        )
        transfer = twiml(
            post(
                client, twilio_signer, action(greeted), keyed("2", sid, PHONE, direction="inbound")
            )
        )

        dial = transfer.find("Dial")
        assert dial is not None
        assert (dial.text or "").strip() == COLLECTOR
        assert dial.attrib["callerId"] == FROM_NUMBER
        assert query_of(dial.attrib["action"])["step"] == "dial"
        assert "connect you to a colleague" in spoken(transfer)
        with sessions() as session:
            assert session.scalar(select(func.count()).select_from(Escalation)) == 1

        nobody = keyed("", sid, PHONE, direction="inbound")
        del nobody["Digits"]
        ended = twiml(
            post(
                client,
                twilio_signer,
                dial.attrib["action"],
                {**nobody, "DialCallStatus": "no-answer"},
            )
        )
        assert [child.tag for child in ended] == ["Say", "Hangup"]
        assert "call you back" in says(ended)[0]
        talked = twiml(
            post(
                client,
                twilio_signer,
                dial.attrib["action"],
                {**nobody, "DialCallStatus": "completed"},
            )
        )
        assert [child.tag for child in talked] == ["Hangup"]


def test_without_a_collector_line_a_callback_is_requested(
    sessions: sessionmaker[Session],
    client: TestClient,
    twilio_api: FakeTwilioApi,
    twilio_account: TwilioAccount,
    twilio_signer: TwilioSigner,
) -> None:
    borrower = add_demo_borrower(sessions, phone=PHONE)
    call = placed_call(twilio_api, place(sessions, twilio_account, borrower.id))
    menu = confirmed(client, twilio_signer, call)

    root = twiml(post(client, twilio_signer, action(menu), keyed("3", call.sid, call.to)))

    assert root.find("Dial") is None
    assert [child.tag for child in root][-1] == "Hangup"
    assert "A colleague will call you back. Goodbye." in says(root)
    with sessions() as session:
        (escalation,) = session.scalars(select(Escalation)).all()
        assert escalation.reason == "requested"


# --- status callbacks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "answered_by", "outcome", "delivery"),
    [
        ("completed", "human", AttemptOutcome.ANSWERED, DeliveryStatus.DELIVERED),
        ("completed", "unknown", AttemptOutcome.ANSWERED, DeliveryStatus.DELIVERED),
        ("completed", "machine_end_beep", AttemptOutcome.MACHINE, DeliveryStatus.DELIVERED),
        ("completed", "fax", AttemptOutcome.MACHINE, DeliveryStatus.DELIVERED),
        ("busy", None, AttemptOutcome.BUSY, DeliveryStatus.UNDELIVERED),
        ("no-answer", None, AttemptOutcome.NO_ANSWER, DeliveryStatus.UNDELIVERED),
        ("failed", None, AttemptOutcome.FAILED, DeliveryStatus.FAILED),
        ("canceled", None, AttemptOutcome.FAILED, DeliveryStatus.FAILED),
    ],
)
def test_a_status_callback_records_the_call_as_a_contact_attempt_once(
    sessions: sessionmaker[Session],
    client: TestClient,
    twilio_api: FakeTwilioApi,
    twilio_account: TwilioAccount,
    twilio_signer: TwilioSigner,
    status: str,
    answered_by: str | None,
    outcome: AttemptOutcome,
    delivery: DeliveryStatus,
) -> None:
    borrower = add_demo_borrower(sessions, phone=PHONE)
    loan = loan_of(sessions, borrower)
    call = placed_call(twilio_api, place(sessions, twilio_account, borrower.id))
    ringing = call.form(CallStatus="ringing", SequenceNumber="1")
    final = call.form(CallStatus=status, CallDuration="0", SequenceNumber="2")
    if answered_by:
        final["AnsweredBy"] = answered_by

    for form in (ringing, ringing, final, final):
        response = post(client, twilio_signer, call.status_callback, form)
        assert response.status_code == 200
        assert twiml(response).tag == "Response"

    (attempt,) = attempts(sessions, borrower.id)
    assert attempt.outcome is outcome
    assert attempt.loan_id == loan.id
    with sessions() as session:
        assert attempt.address_index == session_cipher(session).blind_index(PHONE)
        row = session.scalars(
            select(OutboundMessage).where(OutboundMessage.provider_message_id == call.sid)
        ).one()
        assert row.status is delivery
        statuses = [
            payload_of(e)["status"]
            for e in events_of(session=session, stream=f"call:{call.sid}")
            if e.kind == "call_status"
        ]
        assert statuses == ["ringing", status]


def test_a_placed_call_counts_against_the_caps_before_any_callback_arrives(
    sessions: sessionmaker[Session],
    client: TestClient,
    twilio_api: FakeTwilioApi,
    twilio_account: TwilioAccount,
    twilio_signer: TwilioSigner,
) -> None:
    """A status callback that never reaches Settle (a wrong public URL, an outage) must not
    leave a placed call uncounted by the call caps; the callback then settles its outcome."""
    borrower = add_demo_borrower(sessions, phone=PHONE)
    call = placed_call(twilio_api, place(sessions, twilio_account, borrower.id))

    (placed,) = attempts(sessions, borrower.id)
    assert placed.outcome is AttemptOutcome.SENT

    final = call.form(CallStatus="busy", CallDuration="0", SequenceNumber="1")
    assert post(client, twilio_signer, call.status_callback, final).status_code == 200

    (settled,) = attempts(sessions, borrower.id)
    assert settled.id == placed.id
    assert settled.outcome is AttemptOutcome.BUSY


def test_the_machine_seen_on_answer_counts_when_the_callback_omits_it(
    sessions: sessionmaker[Session],
    client: TestClient,
    twilio_api: FakeTwilioApi,
    twilio_account: TwilioAccount,
    twilio_signer: TwilioSigner,
) -> None:
    borrower = add_demo_borrower(sessions, phone=PHONE)
    call = placed_call(twilio_api, place(sessions, twilio_account, borrower.id))
    post(client, twilio_signer, call.url, call.form(AnsweredBy="machine_end_silence"))

    post(client, twilio_signer, call.status_callback, call.form(CallStatus="completed"))

    (attempt,) = attempts(sessions, borrower.id)
    assert attempt.outcome is AttemptOutcome.MACHINE


def test_a_telephone_conversation_starts_the_seven_day_wait(
    sessions: sessionmaker[Session],
    client: TestClient,
    twilio_api: FakeTwilioApi,
    twilio_account: TwilioAccount,
    twilio_signer: TwilioSigner,
) -> None:
    borrower = add_demo_borrower(sessions, phone=PHONE)
    call = placed_call(twilio_api, place(sessions, twilio_account, borrower.id))
    completed = call.form(CallStatus="completed", AnsweredBy="human", CallDuration="95")
    post(client, twilio_signer, call.status_callback, completed)

    # Two days later, 11:00 in Los Angeles: inside the hours, within the 7 days.
    later = place(
        sessions, twilio_account, borrower.id, at=datetime(2025, 6, 22, 18, 0, tzinfo=UTC)
    )

    assert later.decision is not None
    assert not later.decision.allowed
    assert "US-7DAY-AFTER-CONVO" in later.decision.reasons
    assert len(twilio_api.requests_to("/Calls.json")) == 1


def test_an_unanswered_call_does_not_start_the_seven_day_wait(
    sessions: sessionmaker[Session],
    client: TestClient,
    twilio_api: FakeTwilioApi,
    twilio_account: TwilioAccount,
    twilio_signer: TwilioSigner,
) -> None:
    borrower = add_demo_borrower(sessions, phone=PHONE)
    call = placed_call(twilio_api, place(sessions, twilio_account, borrower.id))
    post(client, twilio_signer, call.status_callback, call.form(CallStatus="no-answer"))

    later = place(
        sessions, twilio_account, borrower.id, at=datetime(2025, 6, 22, 18, 0, tzinfo=UTC)
    )

    assert later.placed
    assert len(twilio_api.requests_to("/Calls.json")) == 2


def test_no_link_is_texted_to_a_number_that_opted_out_of_texts(
    sessions: sessionmaker[Session],
    client: TestClient,
    twilio_api: FakeTwilioApi,
    twilio_account: TwilioAccount,
    twilio_signer: TwilioSigner,
) -> None:
    borrower = add_demo_borrower(sessions, phone=PHONE)
    with sessions.begin() as session:
        index = session_cipher(session).blind_index(PHONE)
        stopped = datetime(2025, 6, 10, 18, 0, tzinfo=UTC)
        record_opt_out(
            session=session,
            borrower_id=borrower.id,
            channel=Channel.SMS,
            at=stopped,
            source="STOP",
            address_index=index,
        )
        # The one confirmation US-OPTOUT allows was sent.
        record_attempt(
            session=session,
            borrower_id=borrower.id,
            loan_id=None,
            channel=Channel.SMS,
            initiated_by=Initiator.SETTLE,
            address_index=index,
            at=stopped,
            outcome=AttemptOutcome.SENT,
        )
    call = placed_call(twilio_api, place(sessions, twilio_account, borrower.id))
    menu = confirmed(client, twilio_signer, call)
    root = menu
    for digits in ("1", "03031985", "6789"):
        root = twiml(post(client, twilio_signer, action(root), keyed(digits, call.sid, call.to)))

    text = spoken(root)
    assert "http" not in text
    assert "I can't send the link by text message to this number." in text
    assert twilio_api.messages() == []
    with sessions() as session:
        texts = session.scalar(
            select(func.count())
            .select_from(OutboundMessage)
            .where(OutboundMessage.channel == Channel.SMS)
        )
        assert texts == 0
        reasons = [
            payload_of(e)["reasons"]
            for e in events_of(session=session, stream=f"call:{call.sid}")
            if e.kind == "link_not_texted"
        ]
        assert reasons == [["US-OPTOUT"]]


@pytest.mark.parametrize(
    ("text", "language", "said"),
    [
        (
            "You can pay $50.00 securely here: https://pay.example.com/s/L-1?amount=50.00. "
            "This communication is from a debt collector.",
            "en",
            "You can pay $50.00 securely here. This communication is from a debt collector. "
            "I've sent the link to this number by text message.",
        ),
        (
            "您可以通过以下安全链接支付¥50.00：https://pay.example.com/s/L-1?amount=50.00。"
            "此信息来自债务催收方。",
            "zh",
            "您可以通过以下安全链接支付¥50.00。此信息来自债务催收方。我已通过短信把链接发送到这个号码。",
        ),
        (
            "Your next payment is due on Jul 15, 2025.",
            "en",
            "Your next payment is due on Jul 15, 2025.",
        ),
    ],
)
def test_a_link_is_never_read_out(text: str, language: str, said: str) -> None:
    assert spoken_reply(Reply(text=text, language=language), texted=True, caller=CALLER) == said


def test_identity_proven_on_one_call_is_asked_again_on_the_next(
    sessions: sessionmaker[Session],
    client: TestClient,
    twilio_account: TwilioAccount,
    twilio_signer: TwilioSigner,
) -> None:
    """Caller ID is easily spoofed: a second call from the borrower's number within the
    verification window must prove identity again before hearing the balance."""
    add_demo_borrower(sessions, phone=PHONE)

    def call(sid: str) -> tuple[ET.Element, Callable[[ET.Element, str], ET.Element]]:
        greeted = twiml(
            post(client, twilio_signer, twilio_account.public_url(VOICE_PATH), inbound_form(sid))
        )

        def answer(root: ET.Element, digits: str) -> ET.Element:
            form = keyed(digits, sid, PHONE, direction="inbound")
            return twiml(post(client, twilio_signer, action(root), form))

        return greeted, answer

    first, answer_first = call(call_sid())
    verified = answer_first(answer_first(answer_first(first, "1"), "03031985"), "6789")
    assert "$" in spoken(verified)

    second, answer_second = call(call_sid())
    asked = answer_second(second, "1")

    assert "$" not in spoken(asked)
    assert "date of birth" in spoken(asked)
