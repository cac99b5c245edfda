"""Twilio SMS and WhatsApp: the messaging webhook's form in, replies out through the REST API.

Inbound: `parse(form, received_at=)` turns the form Twilio posts to the messaging webhook
(`MessageSid`, `From`, `To`, `Body`, `NumMedia`, ...) into one `dialogue.Inbound`. A `From` of
"whatsapp:+14155552671" is the WhatsApp channel at address "+14155552671"; a plain number is
SMS. Media, a location or a contact card without text is `InboundKind.OTHER`. `MessageSid` is
the message's id, so a webhook Twilio sends again is recognised and answered once.

Outbound: `TwilioMessages` is the outbox `Transport` of each channel. Replies are sent with
`messages.create_async` and a `StatusCallback`, never as TwiML `<Message>`: the webhook answers
an empty `<Response/>` once the turn has committed, and the outbox sends. Why:
- every message gets its own SID, status callback and delivery state in the record, sent or
  failed with Twilio's error code (21610: the recipient texted STOP to Twilio);
- a refused or throttled send (429, 5xx, no connection) is retried with backoff and never sent
  twice; a TwiML answer lost on the way (Twilio waits 15 s, then gives up and does not resend)
  would lose the reply, with no record of whether it left;
- Twilio's webhook deadline no longer bounds the turn (the first turn loads the language model);
- one sending path for replies, outreach and the console's collector replies, as on Telegram.
The cost is one API request per message, made after the webhook has been answered.

Rendering (what reads well on a phone): choices become numbered lines ("1. Pay now"), which the
dialogue understands when the borrower answers "1". A reply stays one message as long as it
fits; an SMS longer than `SMS_MAX_SEGMENTS` segments (459 GSM-7 characters, 201 UCS-2: the
fewest segments that hold Twilio's recommended 320 characters, so a question stays in one text
with its numbered choices) or any message over Twilio's 1,600-character limit is split at
paragraph, then line, then sentence, then word boundaries, never inside a numbered option, and
the parts are labelled "(1/2)", "(2/2)" because separate texts can arrive out of order. SMS
text that is GSM-7 but for typographic quotes, dashes or ellipses is sent with their plain
forms, so one curly apostrophe does not switch the message to UCS-2 (70 instead of 160
characters a segment). WhatsApp has no segments: only the 1,600-character limit splits there.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.rest import Client

from bots.outbox import ChannelMessage, SendFailed, Transport
from bots.twilio import MESSAGE_STATUS_PATH, WHATSAPP_PREFIX, TwilioAccount
from dialogue import Inbound, InboundKind, Reply, numbered_text
from models import Channel, DeliveryStatus

# Twilio's limit on a message body (error 21617), counted in UTF-16 code units.
MAX_BODY_UNITS = 1600
# An SMS longer than this many segments is split (see the module docstring).
SMS_MAX_SEGMENTS = 3
# A Twilio API request that has not answered in this time may still have been taken.
SEND_TIMEOUT = 10.0
MAX_SID_CHARS = 64
# Twilio's error code for a recipient who texted STOP (Twilio refuses to send to them).
UNSUBSCRIBED = 21610

# GSM 03.38: the basic character set (one septet each) and its extension (two septets each).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
# Typographic characters with a plain GSM-7 form that reads the same.
_PLAIN_FORMS = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2033": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u2026": "...",
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\u2022": "-",
    }
)
# Where a text may be split, coarsest first; each boundary stays with the text before it.
_BOUNDARIES = (
    re.compile(r"\n[ \t]*\n\s*"),  # paragraphs
    re.compile(r"\n"),  # lines
    re.compile(r"(?<=[.!?])\s+|(?<=[。！？；])\s*"),  # sentences
    re.compile(r"\s+|(?<=[\u3000-\u9fff\uff00-\uffef])"),  # words; each Chinese character
)
_LINES = 1
NUMBERED_OPTION = re.compile(r"^\s*\d{1,3}[.)]\s")

# Twilio's message statuses and what each means for the record; `receiving`/`received` are
# inbound states and `partially_delivered` has no counterpart: they change nothing.
TWILIO_STATUS = {
    "accepted": DeliveryStatus.SENT,
    "scheduled": DeliveryStatus.SENT,
    "queued": DeliveryStatus.SENT,
    "sending": DeliveryStatus.SENT,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "undelivered": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
}
# What Twilio's commonest delivery error codes mean, for whoever reads the record.
ERROR_CODES = {
    "21610": "the recipient texted STOP; Twilio will not send to them until they text START",
    "21614": "not a mobile number",
    "30003": "the handset is unreachable",
    "30004": "blocked by the recipient or their carrier",
    "30005": "unknown or inactive number",
    "30006": "a landline or a carrier that cannot take texts",
    "30007": "filtered by the carrier as spam",
    "30008": "unknown delivery error",
    "63016": "outside WhatsApp's 24-hour reply window; only a template may be sent",
}


class InvalidMessage(ValueError):
    """A messaging webhook form that cannot be a turn (no MessageSid, no sender)."""


# --- inbound ----------------------------------------------------------------------------------


def parse(form: Mapping[str, Any], *, received_at: datetime) -> Inbound:
    """The `Inbound` for one message Twilio posted to the messaging webhook."""
    sid = _field(form, "MessageSid")
    if not sid or len(sid) > MAX_SID_CHARS:
        raise InvalidMessage("MessageSid is missing or too long")
    channel, address = sender(_field(form, "From"))
    body = _field(form, "Body")
    try:
        media = int(_field(form, "NumMedia") or 0)
    except ValueError:
        raise InvalidMessage("NumMedia is not a number") from None
    # A photo, voice note, location or contact card without words: nothing to read.
    kind = InboundKind.TEXT if body.strip() else InboundKind.OTHER
    return Inbound(
        channel=channel,
        channel_message_id=sid,
        address=address,
        received_at=received_at,
        text=body,
        kind=kind,
        raw={
            **{key: str(value) for key, value in form.items() if key != "Body"},
            "NumMedia": media,
        },
    )


def sender(value: str) -> tuple[Channel, str]:
    """The channel and address of a Twilio `From` (or `To`): "whatsapp:+1..." is WhatsApp."""
    value = value.strip()
    if not value:
        raise InvalidMessage("From is missing")
    if value.startswith(WHATSAPP_PREFIX):
        return Channel.WHATSAPP, value.removeprefix(WHATSAPP_PREFIX)
    if ":" in value:
        raise InvalidMessage(f"messages from {value.split(':', 1)[0]} are not handled")
    return Channel.SMS, value


def status_channel(form: Mapping[str, Any]) -> Channel:
    """The channel a status callback is about: WhatsApp when either party is a WhatsApp one."""
    for name in ("To", "From"):
        if _field(form, name).startswith(WHATSAPP_PREFIX):
            return Channel.WHATSAPP
    return Channel.SMS


def delivery_error(code: str) -> str | None:
    """The record's error text for a status callback's `ErrorCode` (None when there is none)."""
    code = code.strip()
    if not code or code == "0":
        return None
    meaning = ERROR_CODES.get(code)
    return (
        f"{code}: {meaning}"
        if meaning
        else f"{code}: see https://www.twilio.com/docs/errors/{code}"
    )


def _field(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


# --- rendering --------------------------------------------------------------------------------


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)


def segments(text: str) -> int:
    """How many SMS segments `text` takes: GSM-7 160 (153 when concatenated), else UCS-2 70 (67).

    An approximation only in the rare case where a concatenation boundary would fall inside an
    escaped GSM-7 character or a UTF-16 surrogate pair.
    """
    if is_gsm7(text):
        length = sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
        single, multi = 160, 153
    else:
        length = _units(text)
        single, multi = 70, 67
    if length <= single:
        return 1
    return math.ceil(length / multi)


def sms_text(text: str) -> str:
    """The text with typographic characters in their plain forms, if that makes it all GSM-7."""
    plain = text.translate(_PLAIN_FORMS)
    return plain if is_gsm7(plain) and not is_gsm7(text) else text


def split_text(text: str, *, fits: Callable[[str], bool]) -> list[str]:
    """`text` in parts that each `fits`, cut at the coarsest boundary that works.

    Paragraphs, then lines, then sentences, then words (or Chinese characters); a numbered
    option line is kept whole as long as Twilio can send it. Whatever does not fit even as one
    word is cut where it must.
    """
    text = text.strip()
    if not text:
        return []
    parts = [part.strip() for part in _split(text, fits, 0)]
    return [part for part in parts if part]


def _split(text: str, fits: Callable[[str], bool], level: int) -> list[str]:
    if fits(text.strip()):
        return [text]
    if level == len(_BOUNDARIES):
        return _cut(text, fits)
    pieces = _pieces(text, _BOUNDARIES[level])
    if len(pieces) == 1:
        return _split(text, fits, level + 1)
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if current and fits((current + piece).strip()):
            current += piece
            continue
        if current:
            chunks.append(current)
        if fits(piece.strip()) or (level == _LINES and _whole_option(piece)):
            current = piece
        else:
            *done, current = _split(piece, fits, level + 1)
            chunks.extend(done)
    chunks.append(current)
    return chunks


def _pieces(text: str, boundary: re.Pattern[str]) -> list[str]:
    """`text` cut after each boundary; the boundary stays with the piece before it."""
    pieces: list[str] = []
    start = 0
    for found in boundary.finditer(text):
        if found.end() <= start or found.end() >= len(text):
            continue
        pieces.append(text[start : found.end()])
        start = found.end()
    pieces.append(text[start:])
    return [piece for piece in pieces if piece]


def _whole_option(line: str) -> bool:
    return bool(NUMBERED_OPTION.match(line)) and _units(line.strip()) <= MAX_BODY_UNITS


def _cut(text: str, fits: Callable[[str], bool]) -> list[str]:
    """The last resort: as many characters as fit, then the rest."""
    chunks: list[str] = []
    current = ""
    for ch in text:
        if current and not fits(current + ch):
            chunks.append(current)
            current = ""
        current += ch
    chunks.append(current)
    return chunks


def _units(text: str) -> int:
    """Length in UTF-16 code units, as Twilio counts a body (an emoji is two)."""
    return len(text.encode("utf-16-le")) // 2


def _label(number: int, total: int) -> str:
    return f"({number}/{total}) "


def _labelled(parts: list[str]) -> list[str]:
    if len(parts) < 2:
        return parts
    return [f"{_label(n, len(parts))}{part}" for n, part in enumerate(parts, start=1)]


def render_text(text: str, *, channel: Channel) -> list[str]:
    """One reply's text as the messages the channel sends (see the module docstring)."""
    if channel is Channel.SMS:
        text = sms_text(text)
        # Room for the "(n/N) " label a split reply's parts carry.
        label = _label(99, 99)

        def fits(part: str) -> bool:
            labelled = label + part
            return segments(labelled) <= SMS_MAX_SEGMENTS and _units(labelled) <= MAX_BODY_UNITS

        if segments(text) <= SMS_MAX_SEGMENTS and _units(text) <= MAX_BODY_UNITS:
            return [text]
        return _labelled(split_text(text, fits=fits))
    label = _label(99, 99)
    if _units(text) <= MAX_BODY_UNITS:
        return [text]
    return _labelled(split_text(text, fits=lambda part: _units(label + part) <= MAX_BODY_UNITS))


# --- sending ----------------------------------------------------------------------------------


class TwilioMessages:
    """The outbox transport of Twilio SMS or WhatsApp: render a reply, send it by REST."""

    channel: Channel

    def __init__(
        self,
        account: TwilioAccount,
        *,
        channel: Channel = Channel.SMS,
        timeout: float = SEND_TIMEOUT,
        client: Client | None = None,
    ) -> None:
        if channel is Channel.SMS:
            sender_address = account.from_number
        elif channel is Channel.WHATSAPP:
            whatsapp = account.whatsapp_sender()
            if whatsapp is None:
                raise ValueError("WhatsApp is not configured: set SETTLE_TWILIO_WHATSAPP_FROM")
            sender_address = whatsapp
        else:
            raise ValueError(f"Twilio messages carry SMS and WhatsApp, not {channel}")
        self.channel = channel
        self.sender = sender_address
        self.status_callback = account.public_url(MESSAGE_STATUS_PATH)
        self._client = client or account.client()
        self._timeout = timeout

    def render(self, reply: Reply) -> list[ChannelMessage]:
        """Choices as numbered lines under the text, split where it is too long to send."""
        text = numbered_text(reply.text, reply.buttons) if reply.buttons else reply.text
        return [ChannelMessage(text=part) for part in render_text(text, channel=self.channel)]

    def address(self, recipient: str) -> str:
        """Twilio's `To` for a recipient's E.164 number on this channel."""
        if self.channel is Channel.WHATSAPP:
            return f"{WHATSAPP_PREFIX}{recipient.removeprefix(WHATSAPP_PREFIX)}"
        return recipient

    async def send(self, recipient: str, message: ChannelMessage, *, key: str) -> str:
        """Create the message at Twilio; its SID, or `SendFailed` saying whether to try again."""
        try:
            created = await asyncio.wait_for(
                self._client.messages.create_async(
                    to=self.address(recipient),
                    from_=self.sender,
                    body=message.text,
                    status_callback=self.status_callback,
                ),
                timeout=self._timeout,
            )
        except TimeoutError:
            raise SendFailed(
                f"Twilio did not answer within {self._timeout:g} s; the message may have been"
                " created, so it is not sent again",
                retryable=False,
                uncertain=True,
            ) from None
        except (TwilioRestException, TwilioServiceException) as exc:
            raise refusal(exc) from None
        except aiohttp.ClientConnectorError as exc:
            # The connection never opened: nothing reached Twilio.
            raise SendFailed(f"cannot reach Twilio: {exc}", retryable=True) from None
        except aiohttp.ClientError as exc:
            # The request may have been written before the connection broke.
            raise SendFailed(
                f"the connection to Twilio broke: {exc!r}", retryable=False, uncertain=True
            ) from None
        sid = getattr(created, "sid", None)
        if not sid:
            raise SendFailed(
                "Twilio's answer carried no message SID", retryable=False, uncertain=True
            )
        return str(sid)


def refusal(exc: TwilioRestException | TwilioServiceException) -> SendFailed:
    """A Twilio API error as the outbox reads it: 429 and 5xx retried, other 4xx final."""
    status = int(exc.status)
    code = str(exc.code) if exc.code is not None else str(status)
    text = (exc.detail or exc.title) if isinstance(exc, TwilioServiceException) else exc.msg
    meaning = ERROR_CODES.get(code)
    if meaning:
        text = f"{meaning} ({text})" if text else meaning
    retryable = status == 429 or status >= 500
    return SendFailed(
        f"HTTP {status}: {text}".strip(),
        retryable=retryable,
        code=code,
        recipient_opted_out=code == str(UNSUBSCRIBED),
    )


def message_transports(account: TwilioAccount) -> dict[Channel, Transport]:
    """SMS always; WhatsApp when the account has a WhatsApp sender."""
    transports: dict[Channel, Transport] = {Channel.SMS: TwilioMessages(account)}
    if account.whatsapp_sender() is not None:
        transports[Channel.WHATSAPP] = TwilioMessages(account, channel=Channel.WHATSAPP)
    return transports


# Twilio's Advanced Opt-Out names the keyword it matched (`OptOutType`); the dialogue action
# that honours each, so a keyword Twilio acted on and Settle did not can be logged.
OPT_OUT_ACTIONS = {
    "STOP": frozenset({"stop_channel", "stop_all"}),
    "START": frozenset({"start_contact"}),
    "HELP": frozenset({"help_info"}),
}


def missed_keyword(form: Mapping[str, Any], action: str | None) -> str | None:
    """The Twilio keyword (STOP, START, HELP) this message was, if the dialogue did not act on it.

    Twilio blocks or unblocks the number on its side whatever Settle does; a keyword configured
    in Twilio's Advanced Opt-Out and missing from Settle's lexicon shows up here.
    """
    kind = _field(form, "OptOutType").strip().upper()
    wanted = OPT_OUT_ACTIONS.get(kind)
    if wanted is None or action in wanted:
        return None
    return kind
