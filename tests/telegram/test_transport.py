"""The Telegram transport: how a reply looks on Telegram, and what each Bot API failure means.

`render` is checked on its own; `send` against the local Bot API server, which answers as
Telegram does or with the error a test scripts.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from bots.outbox import ChannelMessage, SendFailed
from bots.telegram import (
    MAX_CALLBACK_DATA,
    MAX_TEXT,
    REQUEST_CONTACT,
    TelegramChannel,
    parse_update,
    split_text,
    text_length,
)
from dialogue import Button, InboundKind, Reply, numbered_text
from dialogue.responses import render
from models import Channel
from tests.telegram.conftest import (
    CHAT_ID,
    BotApiServer,
    callback_update,
    channel_for,
    contact_update,
    sticker_update,
    text_update,
    too_many_requests,
)
from tests.webhooks.conftest import NOW

MENU = (Button("My account", "/check_balance"), Button("Talk to a person", "/request_human"))


# --- render -----------------------------------------------------------------------------------


def test_a_short_reply_is_one_message_with_its_buttons(telegram: TelegramChannel) -> None:
    reply = Reply(text="How can I help?", language="en", buttons=MENU)

    assert telegram.transport.render(reply) == [ChannelMessage("How can I help?", MENU)]


def test_a_long_reply_is_split_at_lines_with_the_buttons_under_the_last_piece(
    telegram: TelegramChannel,
) -> None:
    lines = [
        f"{n}. An option described at some length, to make the reply long." for n in range(150)
    ]
    reply = Reply(text="\n".join(lines), language="en", buttons=MENU)

    messages = telegram.transport.render(reply)

    assert len(messages) == 3
    assert all(text_length(m.text) <= MAX_TEXT for m in messages)
    assert [m.buttons for m in messages] == [(), (), MENU]
    # Nothing lost, and every piece ends where a line ended.
    assert "\n".join(m.text for m in messages) == reply.text
    assert all(m.text.endswith("long.") for m in messages)


def test_text_without_line_breaks_is_cut_at_sentences_then_at_spaces() -> None:
    sentences = "Your plan has twelve payments. " * 300
    chinese = "您的还款计划共有十二期。" * 800
    words = "payment " * 1000

    for text, ending in ((sentences, "payments."), (chinese, "。"), (words, "payment")):
        pieces = split_text(text)
        assert len(pieces) > 1
        assert all(text_length(piece) <= MAX_TEXT for piece in pieces)
        assert all(piece.endswith(ending) for piece in pieces)
        assert "".join(pieces).replace(" ", "") == text.replace(" ", "")


def test_length_is_counted_as_telegram_counts_it() -> None:
    # An emoji is two UTF-16 code units: 3,000 of them are 6,000 units, two messages.
    pieces = split_text("😀" * 3000)

    assert [text_length(p) for p in pieces] == [MAX_TEXT, 6000 - MAX_TEXT]
    assert "".join(pieces) == "😀" * 3000


def test_buttons_whose_payload_telegram_would_refuse_become_numbered_choices(
    telegram: TelegramChannel,
) -> None:
    fits = "/offer:" + "9" * (MAX_CALLBACK_DATA - len("/offer:"))
    too_long = "/选择:" + "长" * 20  # 24 characters, but 68 bytes
    assert len(fits.encode()) == MAX_CALLBACK_DATA
    assert len(too_long.encode()) > MAX_CALLBACK_DATA
    buttons = (Button("Plan A", fits), Button("Plan B", too_long))

    [message] = telegram.transport.render(Reply("Choose one:", "en", buttons))
    [kept] = telegram.transport.render(Reply("Choose one:", "en", buttons[:1]))

    assert message == ChannelMessage(numbered_text("Choose one:", buttons))
    assert message.text.endswith("1. Plan A\n2. Plan B")
    assert kept.buttons == buttons[:1]


@pytest.mark.parametrize(
    ("language", "title"), [("en", "Share my phone number"), ("zh", "分享我的手机号码")]
)
def test_a_question_for_the_mobile_number_offers_telegrams_contact_button(
    telegram: TelegramChannel, language: str, title: str
) -> None:
    asked = Reply(render("ask_phone", language) + " Reply STOP to opt out.", language)

    [message] = telegram.transport.render(asked)
    [other] = telegram.transport.render(Reply(render("ask_dob", language), language))

    assert message.buttons == (Button(title, REQUEST_CONTACT),)
    assert other.buttons == ()


# --- parse ------------------------------------------------------------------------------------


def test_updates_become_inbound_messages_of_the_chat(telegram: TelegramChannel) -> None:
    start = text_update("/start Zx8-kW2_token0123456789abc")
    text = telegram.read_update(start)

    inbound = parse_update(text, received_at=NOW)

    assert inbound is not None
    assert inbound.channel is Channel.TELEGRAM
    assert inbound.channel_message_id == f"{start['message']['chat']['id']}:{start['update_id']}"
    assert inbound.address == str(CHAT_ID)
    assert inbound.received_at == NOW
    assert (inbound.text, inbound.link_token) == ("/greet", "Zx8-kW2_token0123456789abc")
    assert inbound.kind is InboundKind.TEXT


def test_a_contact_is_a_link_only_when_it_is_the_senders_own(telegram: TelegramChannel) -> None:
    own = parse_update(telegram.read_update(contact_update("8613800138000")), received_at=NOW)
    other = parse_update(
        telegram.read_update(contact_update("+14155552671", user_id=CHAT_ID + 1)),
        received_at=NOW,
    )
    unknown = parse_update(
        telegram.read_update(contact_update("+14155552671", user_id=None)), received_at=NOW
    )

    assert own is not None
    assert (own.kind, own.contact_phone) == (InboundKind.CONTACT, "+8613800138000")
    for inbound in (other, unknown):
        assert inbound is not None
        assert (inbound.kind, inbound.contact_phone) == (InboundKind.OTHER, None)


def test_a_button_press_is_its_payload_and_a_sticker_is_other(telegram: TelegramChannel) -> None:
    press = parse_update(telegram.read_update(callback_update("/offer:12")), received_at=NOW)
    sticker = parse_update(telegram.read_update(sticker_update()), received_at=NOW)

    assert press is not None
    assert (press.text, press.kind, press.address) == ("/offer:12", InboundKind.TEXT, str(CHAT_ID))
    assert sticker is not None
    assert (sticker.text, sticker.kind) == ("", InboundKind.OTHER)


# --- send -------------------------------------------------------------------------------------


def send(telegram: TelegramChannel, message: ChannelMessage, recipient: str = str(CHAT_ID)) -> str:
    async def run() -> str:
        try:
            return await telegram.transport.send(recipient, message, key="telegram:1:1")
        finally:
            await telegram.close()

    return asyncio.run(run())


def failure(telegram: TelegramChannel, recipient: str = str(CHAT_ID)) -> SendFailed:
    with pytest.raises(SendFailed) as failed:
        send(telegram, ChannelMessage("Hello"), recipient)
    return failed.value


def test_a_message_is_sent_with_its_inline_keyboard(
    telegram: TelegramChannel, bot_api: BotApiServer
) -> None:
    provider_id = send(telegram, ChannelMessage("How can I help?", MENU))

    [call] = bot_api.calls
    assert call.method == "sendMessage"
    assert call.fields == {
        "chat_id": str(CHAT_ID),
        "text": "How can I help?",
        "reply_markup": {
            "inline_keyboard": [
                [{"text": "My account", "callback_data": "/check_balance"}],
                [{"text": "Talk to a person", "callback_data": "/request_human"}],
            ]
        },
    }
    assert provider_id == f"{CHAT_ID}:101"


@pytest.mark.parametrize(
    ("status", "retryable", "code"),
    [(500, True, "5xx"), (403, False, "403"), (400, False, "400")],
)
def test_bot_api_errors_are_retryable_or_permanent(
    telegram: TelegramChannel,
    bot_api: BotApiServer,
    status: int,
    retryable: bool,
    code: str,
) -> None:
    bot_api.fail_next("sendMessage", status)

    failed = failure(telegram)

    assert (failed.retryable, failed.uncertain, failed.code) == (retryable, False, code)


def test_a_rate_limit_says_how_long_to_wait(
    telegram: TelegramChannel, bot_api: BotApiServer
) -> None:
    bot_api.fail_next("sendMessage", 429, too_many_requests(7))

    failed = failure(telegram)

    assert (failed.retryable, failed.retry_after, failed.code) == (True, 7.0, "429")
    assert failed.describe() == "429: Too Many Requests: retry after 7"  # no chat id kept


def test_a_request_that_timed_out_after_it_was_sent_is_uncertain(
    bot_api: BotApiServer,
) -> None:
    telegram = channel_for(bot_api, request_timeout=0.2)
    bot_api.release.clear()  # the server takes the request and does not answer

    failed = failure(telegram)

    assert (failed.retryable, failed.uncertain) == (False, True)
    assert len(bot_api.of("sendMessage")) == 1  # it did arrive


def test_a_connection_that_never_opened_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    telegram = TelegramChannel(
        token="123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw8", api_url=f"http://127.0.0.1:{port}"
    )

    failed = failure(telegram)

    assert (failed.retryable, failed.uncertain, failed.code) == (True, False, "network")


def test_an_address_that_is_not_a_chat_id_fails_without_a_request(
    telegram: TelegramChannel, bot_api: BotApiServer
) -> None:
    failed = failure(telegram, recipient="+14155552671")

    assert (failed.retryable, failed.uncertain) == (False, False)
    assert bot_api.calls == []
