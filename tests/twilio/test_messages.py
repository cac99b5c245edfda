"""Twilio SMS and WhatsApp contract: signed webhook forms in, REST API requests out.

Requests are posted in the form Twilio posts them (its field names, `whatsapp:` addresses, media
fields) and signed with the account's auth token over the public URL, as Twilio signs them. The
replies go out through the twilio library's REST client to a local server playing Twilio's API
(tests/twilio/conftest.py); the tests read what it was asked to send and what the database and
the audit trail recorded. Every test runs on SQLite and, when configured, on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bots import sms
from bots.outbox import ChannelMessage, Outbox, RetryPolicy, SendFailed
from bots.twilio import MESSAGE_STATUS_PATH, MESSAGES_PATH, TwilioAccount
from compliance import events_of, payload_of, stream_for
from dialogue import Button, Dialogue, Nlu, Reply
from models import Channel, Conversation, DeliveryStatus, OptOut, OutboundMessage
from settle.app import install_error_handlers
from tests.twilio.conftest import (
    ACCOUNT_SID,
    FROM_NUMBER,
    PUBLIC_BASE_URL,
    WHATSAPP_FROM,
    FakeTwilioApi,
    TwilioReply,
    TwilioSigner,
)
from tests.webhooks.conftest import NOW, add_demo_borrower, messages_taken
from webhooks.twilio_messages import build_twilio_messages_router

PHONE = "+14155552671"
# A Chinese-speaking borrower in San Francisco: 11:00 there at NOW, inside the hour window.
ZH_PHONE = "+14155552672"
MESSAGES_API = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


# --- set-up -----------------------------------------------------------------------------------


@pytest.fixture
def dialogue(sessions: sessionmaker[Session], nlu: Nlu) -> Dialogue:
    return Dialogue(sessions=sessions, nlu=nlu, clock=lambda: NOW)


def make_outbox(
    sessions: sessionmaker[Session],
    account: TwilioAccount,
    delays: tuple[float, ...] = (0.0, 0.0, 0.0),
) -> Outbox:
    return Outbox(
        sessions=sessions,
        transports=sms.message_transports(account),
        retry=RetryPolicy(delays=delays),
        clock=lambda: NOW,
    )


def make_client(
    sessions: sessionmaker[Session],
    dialogue: Dialogue,
    account: TwilioAccount | None,
    *,
    outbox: Outbox | None = None,
) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    if outbox is None:
        outbox = (
            make_outbox(sessions, account) if account else Outbox(sessions=sessions, transports={})
        )
    app.include_router(
        build_twilio_messages_router(
            dialogue=lambda: dialogue,
            sessions=sessions,
            outbox=outbox,
            account=account,
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


def message_sid() -> str:
    return "SM" + secrets.token_hex(16)


def sms_form(body: str, *, sid: str | None = None, sender: str = PHONE) -> dict[str, str]:
    """An incoming SMS as Twilio posts it to the messaging webhook."""
    sid = sid or message_sid()
    return {
        "ToCountry": "US",
        "ToState": "DC",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "WASHINGTON",
        "FromZip": "94105",
        "SmsSid": sid,
        "FromState": "CA",
        "SmsStatus": "received",
        "FromCity": "SAN FRANCISCO",
        "Body": body,
        "FromCountry": "US",
        "To": FROM_NUMBER,
        "ToZip": "20001",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "ApiVersion": "2010-04-01",
    }


def whatsapp_form(body: str, *, sid: str | None = None, sender: str = PHONE) -> dict[str, str]:
    """An incoming WhatsApp message as Twilio posts it."""
    sid = sid or message_sid()
    return {
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ProfileName": "Jane",
        "MessageType": "text",
        "SmsSid": sid,
        "WaId": sender.lstrip("+"),
        "SmsStatus": "received",
        "Body": body,
        "To": f"whatsapp:{WHATSAPP_FROM}",
        "NumSegments": "1",
        "ReferralNumMedia": "0",
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": f"whatsapp:{sender}",
        "ApiVersion": "2010-04-01",
    }


def post(
    client: TestClient, signer: TwilioSigner, path: str, form: dict[str, str], **kw: Any
) -> Response:
    return client.post(path, data=form, headers=signer.headers(path, form), **kw)


def text(client: TestClient, signer: TwilioSigner, body: str, **kw: Any) -> Response:
    """The borrower texts `body`; the webhook's answer."""
    response = post(client, signer, MESSAGES_PATH, sms_form(body, **kw))
    assert response.status_code == 200, response.text
    return response


def outbound(sessions: sessionmaker[Session]) -> list[OutboundMessage]:
    with sessions() as session:
        return list(session.scalars(select(OutboundMessage).order_by(OutboundMessage.id)))


def bodies(api: FakeTwilioApi) -> list[str]:
    return [form["Body"] for form in api.messages()]


# --- the webhook ------------------------------------------------------------------------------


def test_a_signed_sms_is_answered_with_empty_twiml_and_the_reply_sent_by_rest(
    client: TestClient,
    twilio_signer: TwilioSigner,
    twilio_api: FakeTwilioApi,
    sessions: sessionmaker[Session],
) -> None:
    response = text(client, twilio_signer, "hi")

    assert response.headers["content-type"] == "application/xml"
    twiml = ET.fromstring(response.content)  # noqa: S314 - our own answer, not untrusted input
    assert twiml.tag == "Response"
    assert list(twiml) == []  # Twilio itself sends nothing: the reply goes through the API
    [request] = twilio_api.requests_to(MESSAGES_API)
    assert request.credentials == (ACCOUNT_SID, twilio_signer.account.auth_token)
    assert request.form["To"] == PHONE
    assert request.form["From"] == FROM_NUMBER
    assert request.form["StatusCallback"] == f"{PUBLIC_BASE_URL}{MESSAGE_STATUS_PATH}"
    assert "virtual assistant" in request.form["Body"]
    assert "Reply STOP to opt out" in request.form["Body"]
    [row] = outbound(sessions)
    assert row.status is DeliveryStatus.SENT
    assert row.channel is Channel.SMS
    assert row.recipient == PHONE
    assert row.provider_message_id is not None
    assert row.provider_message_id.startswith("SM")
    assert messages_taken(sessions) == 1


def tampered(form: dict[str, str]) -> dict[str, str]:
    return {**form, "Body": "what is my balance"}


@pytest.mark.parametrize(
    "attack",
    ["tampered body", "wrong url", "query added", "missing signature", "other account"],
)
def test_a_request_twilio_did_not_sign_for_this_url_is_refused_before_anything_is_stored(
    attack: str,
    client: TestClient,
    twilio_signer: TwilioSigner,
    twilio_api: FakeTwilioApi,
    sessions: sessionmaker[Session],
) -> None:
    form = sms_form("hi")
    headers = twilio_signer.headers(MESSAGES_PATH, form)
    path = MESSAGES_PATH
    if attack == "tampered body":
        form = tampered(form)
    elif attack == "wrong url":
        # Signed for another deployment's address: the URL is part of what Twilio signs.
        other = TwilioAccount(**{**vars(twilio_signer.account), "public_base_url": "https://x.io"})
        headers = TwilioSigner(other).headers(MESSAGES_PATH, form)
    elif attack == "query added":
        path = f"{MESSAGES_PATH}?replay=1"
    elif attack == "missing signature":
        headers = {}
    else:
        other = TwilioAccount(**{**vars(twilio_signer.account), "auth_token": "0" * 32})
        headers = TwilioSigner(other).headers(MESSAGES_PATH, form)

    response = client.post(path, data=form, headers=headers)

    assert response.status_code == 403
    assert messages_taken(sessions) == 0
    assert outbound(sessions) == []
    assert twilio_api.requests == []


def test_the_same_message_sid_twice_is_one_turn_and_one_send(
    client: TestClient,
    twilio_signer: TwilioSigner,
    twilio_api: FakeTwilioApi,
    sessions: sessionmaker[Session],
) -> None:
    sid = message_sid()
    first = text(client, twilio_signer, "hi", sid=sid)
    again = text(client, twilio_signer, "hi", sid=sid)

    assert again.content == first.content
    assert len(twilio_api.messages()) == 1
    assert messages_taken(sessions) == 1
    assert len(outbound(sessions)) == 1


def test_a_retried_webhook_sends_what_was_left_pending_and_nothing_twice(
    sessions: sessionmaker[Session],
    dialogue: Dialogue,
    twilio_account: TwilioAccount,
    twilio_signer: TwilioSigner,
    twilio_api: FakeTwilioApi,
) -> None:
    # Twilio is down for the first delivery's tries; the next retry is too far off to wait for
    # in the request, so the reply waits in the outbox.
    outbox = make_outbox(sessions, twilio_account, delays=(0.0, 60.0))
    twilio_api.script("/Messages.json", *[TwilioReply.error(503, 20503, "Unavailable")] * 2)
    sid = message_sid()
    with make_client(sessions, dialogue, twilio_account, outbox=outbox) as client:
        text(client, twilio_signer, "hi", sid=sid)
        [row] = outbound(sessions)
        assert row.status is DeliveryStatus.PENDING
        assert row.error is not None
        assert "20503" in row.error

        text(client, twilio_signer, "hi", sid=sid)  # Twilio posts the message again
        text(client, twilio_signer, "hi", sid=sid)  # and again

    assert messages_taken(sessions) == 1
    [row] = outbound(sessions)
    assert row.status is DeliveryStatus.SENT
    assert len(twilio_api.messages()) == 3  # two refused, one accepted


def test_whatsapp_round_trip(
    client: TestClient,
    twilio_signer: TwilioSigner,
    twilio_api: FakeTwilioApi,
    sessions: sessionmaker[Session],
) -> None:
    add_demo_borrower(sessions, phone=PHONE)
    response = post(client, twilio_signer, MESSAGES_PATH, whatsapp_form("hello"))

    assert response.status_code == 200
    [sent] = twilio_api.messages()
    assert sent["To"] == f"whatsapp:{PHONE}"
    assert sent["From"] == f"whatsapp:{WHATSAPP_FROM}"
    assert sent["StatusCallback"] == f"{PUBLIC_BASE_URL}{MESSAGE_STATUS_PATH}"
    [row] = outbound(sessions)
    assert row.channel is Channel.WHATSAPP
    assert row.recipient == PHONE
    with sessions() as session:
        [conversation] = session.scalars(select(Conversation)).all()
        assert conversation.channel is Channel.WHATSAPP
        assert conversation.borrower_id is not None  # the WhatsApp number is the borrower's

    # The delivery and the read receipt come back on the status callback.
    for status in ("sent", "delivered", "read"):
        callback = {
            "ChannelPrefix": "whatsapp",
            "ApiVersion": "2010-04-01",
            "MessageStatus": status,
            "SmsSid": row.provider_message_id or "",
            "SmsStatus": status,
            "ChannelInstallSid": "XE" + "0" * 32,
            "To": f"whatsapp:{PHONE}",
            "From": f"whatsapp:{WHATSAPP_FROM}",
            "MessageSid": row.provider_message_id or "",
            "AccountSid": ACCOUNT_SID,
        }
        assert post(client, twilio_signer, MESSAGE_STATUS_PATH, callback).status_code == 204
    [row] = outbound(sessions)
    assert row.status is DeliveryStatus.READ


def test_a_whatsapp_message_while_whatsapp_is_off_is_refused_unprocessed(
    sessions: sessionmaker[Session], dialogue: Dialogue, twilio_account: TwilioAccount
) -> None:
    sms_only = TwilioAccount(**{**vars(twilio_account), "whatsapp_from": None})
    signer = TwilioSigner(sms_only)
    with make_client(sessions, dialogue, sms_only) as client:
        response = post(client, signer, MESSAGES_PATH, whatsapp_form("hello"))

    assert response.status_code == 503
    assert "SETTLE_TWILIO_WHATSAPP_FROM" in response.text
    assert messages_taken(sessions) == 0


def test_media_without_text_is_acknowledged_politely(
    client: TestClient,
    twilio_signer: TwilioSigner,
    twilio_api: FakeTwilioApi,
    sessions: sessionmaker[Session],
) -> None:
    sid = "MM" + secrets.token_hex(16)
    form = {
        **sms_form("", sid=sid),
        "NumMedia": "1",
        "MediaContentType0": "image/jpeg",
        "MediaUrl0": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}"
        f"/Media/ME{secrets.token_hex(16)}",
    }
    assert post(client, twilio_signer, MESSAGES_PATH, form).status_code == 200

    [reply] = bodies(twilio_api)
    assert "only read text" in reply


# --- status callbacks -------------------------------------------------------------------------


def status_form(sid: str, status: str, error_code: str | None = None) -> dict[str, str]:
    """Twilio's status callback for an SMS Settle sent."""
    form = {
        "SmsSid": sid,
        "SmsStatus": status,
        "MessageStatus": status,
        "To": PHONE,
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": FROM_NUMBER,
        "ApiVersion": "2010-04-01",
    }
    if status == "delivered":
        form["RawDlrDoneDate"] = "2506201800"
    if error_code:
        form["ErrorCode"] = error_code
    return form


def delivery_events(sessions: sessionmaker[Session], conversation_id: int) -> list[dict[str, Any]]:
    with sessions() as session:
        return [
            payload_of(event)
            for event in events_of(
                session=session, stream=stream_for("conversation", conversation_id)
            )
            if event.kind == "delivery_status"
        ]


def test_a_status_callback_moves_the_message_to_delivered_and_records_it(
    client: TestClient, twilio_signer: TwilioSigner, sessions: sessionmaker[Session]
) -> None:
    text(client, twilio_signer, "hi")
    [row] = outbound(sessions)
    assert row.provider_message_id is not None
    assert row.conversation_id is not None

    for status in ("queued", "sent", "delivered"):
        response = post(
            client, twilio_signer, MESSAGE_STATUS_PATH, status_form(row.provider_message_id, status)
        )
        assert response.status_code == 204

    [row] = outbound(sessions)
    assert row.status is DeliveryStatus.DELIVERED
    [event] = delivery_events(sessions, row.conversation_id)
    assert event["status"] == "delivered"
    assert event["provider_message_id"] == row.provider_message_id


def test_an_undelivered_message_keeps_twilios_error_code(
    client: TestClient, twilio_signer: TwilioSigner, sessions: sessionmaker[Session]
) -> None:
    text(client, twilio_signer, "hi")
    [row] = outbound(sessions)
    assert row.provider_message_id is not None

    form = status_form(row.provider_message_id, "undelivered", error_code="30003")
    assert post(client, twilio_signer, MESSAGE_STATUS_PATH, form).status_code == 204

    [row] = outbound(sessions)
    assert row.status is DeliveryStatus.UNDELIVERED
    assert row.error is not None
    assert row.error.startswith("30003")


def test_a_status_callback_for_an_unknown_message_changes_nothing(
    client: TestClient, twilio_signer: TwilioSigner, sessions: sessionmaker[Session]
) -> None:
    text(client, twilio_signer, "hi")
    before = [(row.id, row.status, row.updated_at) for row in outbound(sessions)]

    response = post(
        client, twilio_signer, MESSAGE_STATUS_PATH, status_form(message_sid(), "delivered")
    )

    assert response.status_code == 204
    assert [(row.id, row.status, row.updated_at) for row in outbound(sessions)] == before


def test_an_unsigned_status_callback_is_refused(
    client: TestClient, twilio_signer: TwilioSigner, sessions: sessionmaker[Session]
) -> None:
    text(client, twilio_signer, "hi")
    [row] = outbound(sessions)
    form = status_form(row.provider_message_id or "", "failed", error_code="30007")
    headers = twilio_signer.headers(
        MESSAGE_STATUS_PATH, status_form(row.provider_message_id or "", "delivered")
    )

    response = client.post(MESSAGE_STATUS_PATH, data=form, headers=headers)

    assert response.status_code == 403
    assert outbound(sessions)[0].status is DeliveryStatus.SENT


# --- provider errors --------------------------------------------------------------------------


def test_a_rate_limited_send_is_retried_and_sent_once(
    client: TestClient,
    twilio_signer: TwilioSigner,
    twilio_api: FakeTwilioApi,
    sessions: sessionmaker[Session],
) -> None:
    twilio_api.script("/Messages.json", TwilioReply.error(429, 20429, "Too Many Requests"))

    text(client, twilio_signer, "hi")

    first, second = twilio_api.messages()
    assert first == second  # the same message asked for again, not a new one
    [row] = outbound(sessions)
    assert row.status is DeliveryStatus.SENT
    assert row.attempts == 2


def test_a_recipient_who_texted_stop_to_twilio_is_recorded_as_failed_not_retried(
    client: TestClient,
    twilio_signer: TwilioSigner,
    twilio_api: FakeTwilioApi,
    sessions: sessionmaker[Session],
) -> None:
    twilio_api.script(
        "/Messages.json",
        TwilioReply.error(400, 21610, "Attempt to send to unsubscribed recipient"),
    )

    text(client, twilio_signer, "hi")

    assert len(twilio_api.messages()) == 1
    [row] = outbound(sessions)
    assert row.status is DeliveryStatus.FAILED
    assert row.error is not None
    assert row.error.startswith("21610")
    assert row.conversation_id is not None
    with sessions() as session:
        kinds = [
            payload_of(event)["status"]
            for event in events_of(
                session=session, stream=stream_for("conversation", row.conversation_id)
            )
            if event.kind == "delivery"
        ]
    assert kinds == ["failed"]


def test_a_carrier_stop_twilio_reports_is_recorded_as_the_borrowers_opt_out(
    client: TestClient,
    twilio_signer: TwilioSigner,
    twilio_api: FakeTwilioApi,
    sessions: sessionmaker[Session],
) -> None:
    """21610 means the number opted out with Twilio (a STOP Settle never saw, say to another
    number of the service): Settle records the opt-out too, so no other part of it tries."""
    add_demo_borrower(sessions, phone=PHONE)
    twilio_api.script(
        "/Messages.json",
        TwilioReply.error(400, 21610, "Attempt to send to unsubscribed recipient"),
    )

    text(client, twilio_signer, "hi")

    [stop] = opt_outs(sessions)
    assert stop.channel is Channel.SMS
    assert stop.source == "provider:sms"
    assert stop.lifted_at is None


def send_once(account: TwilioAccount, *, timeout: float = 5.0) -> str:
    transport = sms.TwilioMessages(account, timeout=timeout)
    return asyncio.run(transport.send(PHONE, ChannelMessage(text="Hello"), key="sms:test:1"))


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [(429, 20429, True), (500, 20500, True), (503, 20503, True), (400, 21211, False)],
)
def test_twilio_errors_are_retryable_or_final_with_their_code(
    status: int,
    code: int,
    retryable: bool,
    twilio_api: FakeTwilioApi,
    twilio_account: TwilioAccount,
) -> None:
    twilio_api.script("/Messages.json", TwilioReply.error(status, code, "refused"))

    with pytest.raises(SendFailed) as failed:
        send_once(twilio_account)

    assert failed.value.retryable is retryable
    assert failed.value.uncertain is False
    assert failed.value.code == str(code)


def test_bad_credentials_fail_the_send_with_twilios_code(
    twilio_api: FakeTwilioApi, twilio_account: TwilioAccount
) -> None:
    wrong = TwilioAccount(**{**vars(twilio_account), "auth_token": "0" * 32})
    with pytest.raises(SendFailed) as failed:
        send_once(wrong)
    assert (failed.value.code, failed.value.retryable) == ("20003", False)


def test_a_refused_connection_is_retryable(twilio_account: TwilioAccount) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on that port any more.
    unreachable = TwilioAccount(**{**vars(twilio_account), "api_url": f"http://127.0.0.1:{port}"})

    with pytest.raises(SendFailed) as failed:
        send_once(unreachable)

    assert failed.value.retryable is True
    assert failed.value.uncertain is False


def test_no_answer_after_sending_is_uncertain_and_never_repeated(
    twilio_api: FakeTwilioApi, twilio_account: TwilioAccount
) -> None:
    twilio_api.script("/Messages.json", TwilioReply.hanging())

    with pytest.raises(SendFailed) as failed:
        send_once(twilio_account, timeout=0.5)

    assert failed.value.uncertain is True
    assert failed.value.retryable is False
    assert len(twilio_api.messages()) == 1  # the request did reach Twilio


# --- rendering --------------------------------------------------------------------------------


def test_choices_are_numbered_and_answered_by_number(
    client: TestClient,
    twilio_signer: TwilioSigner,
    twilio_api: FakeTwilioApi,
    sessions: sessionmaker[Session],
) -> None:
    add_demo_borrower(sessions, phone=PHONE)
    text(client, twilio_signer, "hi")
    [menu] = bodies(twilio_api)
    options = [line for line in menu.splitlines() if line[:1].isdigit()]
    assert options == ["1. My account", "2. Talk to a person"]

    text(client, twilio_signer, "1")

    [_menu, answer] = bodies(twilio_api)
    assert "date of birth" in answer


@pytest.mark.parametrize(
    ("text_", "expected"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("[" * 80, 1),  # extension characters take two septets
        ("[" * 81, 2),
        ("好" * 70, 1),
        ("好" * 71, 2),
        ("a" * 69 + "’", 1),  # one curly apostrophe makes it UCS-2
        ("a" * 70 + "’", 2),
    ],
)
def test_segments_count_gsm7_and_ucs2_as_carriers_do(text_: str, expected: int) -> None:
    assert sms.segments(text_) == expected


def reply_text(*paragraphs: str, buttons: tuple[Button, ...] = ()) -> Reply:
    return Reply(text="\n\n".join(paragraphs), language="en", buttons=buttons)


def test_a_long_sms_reply_is_split_at_paragraphs_and_never_inside_an_option(
    twilio_account: TwilioAccount,
) -> None:
    transport = sms.TwilioMessages(twilio_account)
    first = "Your plan options are below. " * 9  # 261 characters: one part on its own
    second = "Each option shows the monthly amount and the total you would pay. " * 3
    buttons = tuple(
        Button(f"Plan {n}: $80.00 a month for 24 months", f"/offer:{n}") for n in "1234"
    )

    parts = [
        m.text for m in transport.render(reply_text(first.strip(), second.strip(), buttons=buttons))
    ]

    assert len(parts) > 1
    assert [p[: len(f"({n}/{len(parts)}) ")] for n, p in enumerate(parts, 1)] == [
        f"({n}/{len(parts)}) " for n in range(1, len(parts) + 1)
    ]
    assert all(sms.segments(part) <= sms.SMS_MAX_SEGMENTS for part in parts)
    assert parts[0].endswith(first.strip())  # the first paragraph whole, alone
    lines = [line for part in parts for line in part.split("\n")]
    for n in "1234":
        assert f"{n}. Plan {n}: $80.00 a month for 24 months" in lines
    # Nothing lost, nothing added but the labels.
    unlabelled = " ".join(part.split(") ", 1)[1] for part in parts)
    assert (
        unlabelled.split()
        == " ".join([first, second, *(f"{i}. {b.title}" for i, b in enumerate(buttons, 1))]).split()
    )


def test_a_long_chinese_reply_is_split_at_sentences_within_ucs2_segments(
    twilio_account: TwilioAccount,
) -> None:
    transport = sms.TwilioMessages(twilio_account)
    sentence = "您的还款计划已经更新，请按时还款。"  # 17 characters
    reply = Reply(text=sentence * 15, language="zh")

    parts = [m.text for m in transport.render(reply)]

    assert len(parts) == 2
    for part in parts:
        assert sms.segments(part) <= sms.SMS_MAX_SEGMENTS
        assert part.endswith("。")  # cut between sentences
    assert "".join(part.split(") ", 1)[1] for part in parts) == sentence * 15


def test_short_replies_are_one_message_with_plain_quotes_on_sms(
    twilio_account: TwilioAccount,
) -> None:
    reply = Reply(text="You’re verified — thanks…", language="en")

    [on_sms] = sms.TwilioMessages(twilio_account).render(reply)
    [on_whatsapp] = sms.TwilioMessages(twilio_account, channel=Channel.WHATSAPP).render(reply)

    assert on_sms.text == "You're verified - thanks..."
    assert sms.is_gsm7(on_sms.text)
    assert on_whatsapp.text == reply.text  # WhatsApp has no segments to save


def test_whatsapp_splits_only_over_twilios_limit(twilio_account: TwilioAccount) -> None:
    transport = sms.TwilioMessages(twilio_account, channel=Channel.WHATSAPP)
    paragraph = "A sentence that goes on for a while to fill the paragraph. " * 6

    short = transport.render(reply_text(*[paragraph.strip()] * 4))
    long = transport.render(reply_text(*[paragraph.strip()] * 6))

    assert len(short) == 1  # 1,419 characters: many SMS segments, one WhatsApp message
    assert len(long) == 2
    assert all(len(m.text) <= sms.MAX_BODY_UNITS for m in long)


# --- STOP, START, HELP ------------------------------------------------------------------------


def opt_outs(sessions: sessionmaker[Session]) -> list[OptOut]:
    with sessions() as session:
        return list(session.scalars(select(OptOut).order_by(OptOut.id)))


def test_stop_opts_out_at_once_with_one_confirmation_and_start_opts_back_in(
    client: TestClient,
    twilio_signer: TwilioSigner,
    twilio_api: FakeTwilioApi,
    sessions: sessionmaker[Session],
) -> None:
    add_demo_borrower(sessions, phone=PHONE)

    text(client, twilio_signer, "STOP")

    [stop] = opt_outs(sessions)
    assert (stop.channel, stop.lifted_at, stop.confirmed_at) == (Channel.SMS, None, NOW)
    [confirmation] = bodies(twilio_api)
    assert "won't receive any more messages from us on SMS" in confirmation

    text(client, twilio_signer, "START")

    [lifted] = opt_outs(sessions)
    assert lifted.lifted_at == NOW
    assert "receive messages from us on SMS again" in bodies(twilio_api)[-1]


def test_help_names_the_business_the_number_to_call_and_stop(
    client: TestClient, twilio_signer: TwilioSigner, twilio_api: FakeTwilioApi
) -> None:
    text(client, twilio_signer, "HELP")

    [reply] = bodies(twilio_api)
    assert "Settle Demo Lending" in reply
    assert "+1 202-555-0143" in reply
    assert "Reply STOP to opt out" in reply


def test_chinese_stop_start_and_help(
    client: TestClient,
    twilio_signer: TwilioSigner,
    twilio_api: FakeTwilioApi,
    sessions: sessionmaker[Session],
) -> None:
    add_demo_borrower(sessions, phone=ZH_PHONE, language="zh")

    text(client, twilio_signer, "退订", sender=ZH_PHONE)
    assert [row.channel for row in opt_outs(sessions) if row.lifted_at is None] == [Channel.SMS]
    assert "您将不会再通过短信收到我们的消息" in bodies(twilio_api)[-1]

    text(client, twilio_signer, "订阅", sender=ZH_PHONE)
    assert [row for row in opt_outs(sessions) if row.lifted_at is None] == []
    assert "您将重新通过短信收到我们的消息" in bodies(twilio_api)[-1]

    text(client, twilio_signer, "帮助", sender=ZH_PHONE)
    help_reply = bodies(twilio_api)[-1]
    assert "Settle Demo Lending" in help_reply
    assert "回复退订停止接收" in help_reply


def test_twilio_blocking_the_stop_confirmation_leaves_the_opt_out_recorded(
    client: TestClient,
    twilio_signer: TwilioSigner,
    twilio_api: FakeTwilioApi,
    sessions: sessionmaker[Session],
) -> None:
    """With Twilio's own STOP handling on, Twilio confirms and blocks; Settle's confirmation is
    refused with 21610 and recorded as failed, and the opt-out stands."""
    add_demo_borrower(sessions, phone=PHONE)
    twilio_api.script(
        "/Messages.json",
        TwilioReply.error(400, 21610, "Attempt to send to unsubscribed recipient"),
    )
    form = {**sms_form("STOP"), "OptOutType": "STOP"}

    assert post(client, twilio_signer, MESSAGES_PATH, form).status_code == 200

    [stop] = opt_outs(sessions)
    assert stop.lifted_at is None
    [row] = outbound(sessions)
    assert row.status is DeliveryStatus.FAILED


# --- Twilio off -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [MESSAGES_PATH, MESSAGE_STATUS_PATH])
def test_while_twilio_is_off_its_routes_answer_404_and_process_nothing(
    path: str,
    sessions: sessionmaker[Session],
    dialogue: Dialogue,
    twilio_signer: TwilioSigner,
) -> None:
    form = sms_form("hi")
    with make_client(sessions, dialogue, None) as client:
        response = client.post(path, data=form, headers=twilio_signer.headers(path, form))

    assert response.status_code == 404
    assert "SETTLE_TWILIO_ACCOUNT_SID" in response.text
    assert messages_taken(sessions) == 0
