"""The Telegram channel: updates in as `dialogue.Inbound`, replies out through the Bot API.

Three parts, each usable alone:

- `parse_update` (and `parse_message`, `parse_callback`) turn one Telegram update into the
  `Inbound` of a turn, or None for what Settle does not answer. The update's `update_id` is the
  message id the dialogue deduplicates on, and the chat id is the conversation's address.
  Only private chats are conversations: what a bot says in a group is read by everyone in it,
  and a debt may not be discussed before third parties (US-THIRD-PARTY), so group and channel
  messages are ignored without a word.
- `TelegramTransport` is the outbox's transport: a reply becomes one or more messages of at most
  4,096 characters with its choices as an inline keyboard (numbered lines when a button's
  payload does not fit Telegram's 64-byte `callback_data`), sent with aiogram's `Bot`; aiogram's
  errors become `SendFailed` (retry, give up, or "may have been sent").
- `build_dispatcher` makes the aiogram `Dispatcher` whose handlers run the turn in a worker
  thread with its replies staged in the outbox (`bots.outbox.take_turn`) and leave the Bot API
  calls (answering a callback query, sending the replies) in a `Followup`: the webhook runs it
  after its HTTP answer, polling runs it at once.

What each kind of update becomes:

| update                               | Inbound                                              |
|--------------------------------------|------------------------------------------------------|
| text                                 | TEXT                                                 |
| `/start <token>` (a t.me deep link)  | TEXT "/greet" with `link_token` (the dialogue redeems it) |
| `/start`, `/help`, `/stop`           | TEXT "/greet", "help", "stop"                        |
| the sender's own contact             | CONTACT with `contact_phone`                         |
| someone else's contact               | OTHER (it proves nothing about the sender)           |
| sticker, photo, voice note, ...      | OTHER (the dialogue answers that it reads text only) |
| media with a caption                 | TEXT of the caption (read and screened; the file is not) |
| button press (callback query)        | TEXT of the button's payload; the query is answered  |
| edited text                          | TEXT, a new message keyed by its own update id       |
| edited media, live location updates  | nothing                                              |
| group, channel, bot, unknown updates | nothing                                              |

An edited message is read as what the borrower now means: Telegram users fix a typo by editing
rather than retyping, and the dialogue reads the edit in the conversation's current context as it
would a new message (every change to an account is confirmed first, so an edit cannot change one
by itself). Edits without text are dropped: a shared live location sends one every few seconds.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
import anyio
from aiogram import BaseMiddleware, Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    TelegramObject,
    Update,
)

from bots.outbox import ChannelMessage, Delivery, Outbox, PushTurn, SendFailed, take_turn
from dialogue import (
    Button,
    Dialogue,
    Inbound,
    InboundKind,
    Reply,
    languages,
    numbered_text,
    templates,
)
from models import Channel, utcnow

logger = logging.getLogger(__name__)

API_URL = "https://api.telegram.org"
# Telegram's limits: a message's text, and a button's callback_data in bytes.
MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64
# The update types the handlers answer; Telegram sends no others (set_webhook, polling).
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
# A Bot API call that takes longer than this is given up on (and may have been sent).
REQUEST_TIMEOUT = 20.0
START_TEXT = "/greet"
# Telegram's own commands, as plain words the dialogue understands ("stop" is an opt-out).
COMMANDS = {"/help": "help", "/stop": "stop"}
_START = re.compile(r"/start(?:@\w+)?(?:\s+(?P<payload>\S+))?\s*", re.IGNORECASE)
_CHAT_ID = re.compile(r"-?[0-9]{1,20}")
_COMMAND = re.compile(r"(?P<name>/[A-Za-z0-9_]+)(?:@\w+)?(?P<rest>(?:\s.*)?)", re.DOTALL)
# What a borrower sends that is not text: answered politely (InboundKind.OTHER). Service
# messages (a pinned message, a changed auto-delete timer) are not the borrower talking.
MEDIA = frozenset(
    {
        "animation",
        "audio",
        "checklist",
        "dice",
        "document",
        "game",
        "live_photo",
        "location",
        "paid_media",
        "photo",
        "poll",
        "sticker",
        "story",
        "unknown",  # newer than this aiogram: most likely something the borrower sent
        "venue",
        "video",
        "video_note",
        "voice",
    }
)
# A button that asks Telegram for the sender's phone number (a reply keyboard, not inline). Real
# payloads start with "/" and never look like this.
REQUEST_CONTACT = "telegram:request_contact"
SHARE_PHONE = {"en": "Share my phone number", "zh": "分享我的手机号码"}
# The dialogue's questions for the mobile number, which Telegram's contact button answers.
_ASKS_FOR_PHONE = ("ask_phone", "phone_bad")

Clock = Callable[[], datetime]


# --- the account ------------------------------------------------------------------------------


class TelegramChannel:
    """Settle's Telegram bot: its credentials, its Bot API client and the outbox's transport.

    `webhook_secret` is what Telegram sends in `X-Telegram-Bot-Api-Secret-Token` (given to it by
    `set_webhook`); without it the webhook is off and only polling works. `api_url` replaces
    https://api.telegram.org: a self-hosted Bot API server, or the tests' local one.
    """

    def __init__(
        self,
        *,
        token: str,
        webhook_secret: str | None = None,
        api_url: str = API_URL,
        request_timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        self.webhook_secret = webhook_secret
        self.api_url = api_url.rstrip("/")
        session = AiohttpSession(
            api=TelegramAPIServer.from_base(self.api_url), timeout=request_timeout
        )
        self.bot = Bot(token=token, session=session)
        self.transport = TelegramTransport(self.bot)

    def __repr__(self) -> str:
        return f"TelegramChannel(bot_id={self.bot.id}, api_url={self.api_url!r})"

    @property
    def webhook_enabled(self) -> bool:
        return self.webhook_secret is not None

    def accepts(self, secret: str | None) -> bool:
        """Whether `secret` (the request's header) is the webhook secret; constant time."""
        if self.webhook_secret is None or secret is None:
            return False
        return secrets.compare_digest(secret.encode("utf-8"), self.webhook_secret.encode("utf-8"))

    def read_update(self, data: Any) -> Update:
        """An update from its JSON, bound to this bot; pydantic's `ValidationError` if malformed."""
        return Update.model_validate(data, context={"bot": self.bot})

    async def close(self) -> None:
        """Close the Bot API client's HTTP session (at shutdown)."""
        await self.bot.session.close()


# --- updates in -------------------------------------------------------------------------------


def parse_update(update: Update, *, received_at: datetime) -> Inbound | None:
    """The turn one update asks for; None for an update Settle does not answer."""
    if update.message is not None:
        return parse_message(update.message, update_id=update.update_id, received_at=received_at)
    if update.edited_message is not None:
        return parse_message(
            update.edited_message, update_id=update.update_id, received_at=received_at, edited=True
        )
    if update.callback_query is not None:
        return parse_callback(
            update.callback_query, update_id=update.update_id, received_at=received_at
        )
    return None


def parse_message(
    message: Message, *, update_id: int, received_at: datetime, edited: bool = False
) -> Inbound | None:
    """The turn a message (or an edit of one) asks for, in a private chat with a person."""
    sender = message.from_user
    if message.chat.type != "private" or sender is None or sender.is_bot:
        return None
    text = message.text if message.text is not None else message.caption
    if text is not None and text.strip():
        return _text_inbound(message, update_id, received_at, text)
    if edited:
        return None
    contact = message.contact
    if contact is not None and contact.user_id == sender.id:
        return _inbound(
            message.chat.id,
            update_id,
            received_at,
            text=_international(contact.phone_number),
            kind=InboundKind.CONTACT,
            contact_phone=_international(contact.phone_number),
            raw={"content_type": "contact"},
        )
    if contact is not None or message.content_type in MEDIA:
        return _inbound(
            message.chat.id,
            update_id,
            received_at,
            kind=InboundKind.OTHER,
            raw={"content_type": message.content_type},
        )
    return None


def parse_callback(
    query: CallbackQuery, *, update_id: int, received_at: datetime
) -> Inbound | None:
    """A button press: its payload read as the borrower's message (a private chat only)."""
    message = query.message
    if (
        message is None
        or message.chat.type != "private"
        or query.from_user.is_bot
        or not query.data
    ):
        return None
    return _inbound(
        message.chat.id,
        update_id,
        received_at,
        text=query.data,
        raw={"callback_query": query.id, "message_id": message.message_id},
    )


def _text_inbound(message: Message, update_id: int, received_at: datetime, text: str) -> Inbound:
    stripped = text.strip()
    start = _START.fullmatch(stripped)
    if start is not None:
        return _inbound(
            message.chat.id,
            update_id,
            received_at,
            text=START_TEXT,
            link_token=start.group("payload"),
            raw={"content_type": "start"},
        )
    command = _COMMAND.fullmatch(stripped)
    if command is not None and command.group("name").lower() in COMMANDS:
        word = COMMANDS[command.group("name").lower()]
        stripped = f"{word}{command.group('rest')}".strip()
    return _inbound(
        message.chat.id, update_id, received_at, text=stripped, raw={"content_type": "text"}
    )


def _inbound(
    chat_id: int,
    update_id: int,
    received_at: datetime,
    *,
    text: str = "",
    kind: InboundKind = InboundKind.TEXT,
    contact_phone: str | None = None,
    link_token: str | None = None,
    raw: dict[str, Any] | None = None,
) -> Inbound:
    return Inbound(
        channel=Channel.TELEGRAM,
        # Telegram resends an update it got no 200 for with the same update_id. Scoped by chat:
        # Telegram restarts update ids at a random number after a week without updates, and a
        # reused id must not swallow another chat's message as a duplicate.
        channel_message_id=f"{chat_id}:{update_id}",
        address=str(chat_id),
        received_at=received_at,
        text=text,
        kind=kind,
        contact_phone=contact_phone,
        link_token=link_token,
        raw={"update_id": update_id, **(raw or {})},
    )


def _international(phone: str) -> str:
    """Telegram writes a contact's number in international form, often without the "+"."""
    digits = phone.strip()
    return f"+{digits}" if digits.isdigit() else digits


# --- replies out ------------------------------------------------------------------------------


def text_length(text: str) -> int:
    """Telegram counts a message's length in UTF-16 code units (an emoji counts two)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """`text` in pieces of at most `limit` units, cut at a paragraph, a line, a sentence or a
    space, whichever comes latest in the second half of the piece (a hard cut if none does)."""
    pieces: list[str] = []
    rest = text.strip()
    while text_length(rest) > limit:
        cut = _cut(rest, limit)
        piece = rest[:cut].rstrip()
        if piece:
            pieces.append(piece)
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


_BREAKS = (
    re.compile(r"\n\s*\n"),
    re.compile(r"\n"),
    re.compile(r"(?<=[.!?…])\s|(?<=[。！？；])"),
    re.compile(r"\s"),
)


def _cut(text: str, limit: int) -> int:
    """Where to end the next piece of `text`: an index with at most `limit` units before it."""
    units = 0
    fits = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            break
        fits = index + 1
    head = text[:fits]
    for pattern in _BREAKS:
        ends = [match.end() for match in pattern.finditer(head)]
        if ends and ends[-1] > fits // 2:
            return ends[-1]
    return fits


def fits_callback_data(payload: str) -> bool:
    return 1 <= len(payload.encode("utf-8")) <= MAX_CALLBACK_DATA


def asks_for_phone(reply: Reply) -> bool:
    """Whether the dialogue is asking for the borrower's mobile number (Telegram's contact
    button answers it in one tap): the reply starts with one of those questions' templates."""
    table = templates(reply.language if reply.language in languages() else "en")
    for key in _ASKS_FOR_PHONE:
        # The fixed words before any placeholder: a template may gain one ({example}).
        opening = table.get(key, "").split("{", 1)[0].strip()
        if opening and reply.text.startswith(opening):
            return True
    return False


class TelegramTransport:
    """Sends Settle's messages through the Bot API (aiogram's `Bot`) for the outbox."""

    channel = Channel.TELEGRAM

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    def render(self, reply: Reply) -> list[ChannelMessage]:
        """A reply as Telegram messages: split to fit, its buttons under the last piece."""
        buttons = reply.buttons
        text = reply.text
        if buttons and not all(fits_callback_data(b.payload) for b in buttons):
            # Telegram would refuse the keyboard; numbered lines are answered by number.
            text, buttons = numbered_text(text, buttons), ()
        elif not buttons and asks_for_phone(reply):
            title = SHARE_PHONE.get(reply.language, SHARE_PHONE["en"])
            buttons = (Button(title=title, payload=REQUEST_CONTACT),)
        pieces = split_text(text) or [text]
        messages = [ChannelMessage(text=piece) for piece in pieces[:-1]]
        messages.append(ChannelMessage(text=pieces[-1], buttons=buttons))
        return messages

    async def send(self, recipient: str, message: ChannelMessage, *, key: str) -> str:
        """Send one message; "<chat id>:<message id>", or `SendFailed`.

        The Bot API takes no idempotency key: `key` only names the message in the log. A
        request that may have reached Telegram is reported uncertain, never repeated.
        """
        if not _CHAT_ID.fullmatch(recipient):
            raise SendFailed(
                "the recipient is not a Telegram chat id", retryable=False, code="chat_id"
            )
        chat_id = int(recipient)
        try:
            sent = await self.bot.send_message(
                chat_id=chat_id, text=message.text, reply_markup=keyboard(message.buttons)
            )
        except TelegramAPIError as error:
            raise send_failed(error) from error
        logger.debug("sent %s as message %s in chat %s", key, sent.message_id, chat_id)
        return f"{chat_id}:{sent.message_id}"


def keyboard(
    buttons: Sequence[Button],
) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove:
    """The reply markup for a message's buttons: inline choices, the contact button, or none.

    A message without choices removes the contact keyboard, so it does not linger once the
    borrower has answered (in a tap or by typing).
    """
    if any(button.payload == REQUEST_CONTACT for button in buttons):
        contact = next(b for b in buttons if b.payload == REQUEST_CONTACT)
        return ReplyKeyboardMarkup(
            keyboard=[[KeyboardButton(text=contact.title, request_contact=True)]],
            resize_keyboard=True,
            one_time_keyboard=True,
        )
    if buttons:
        # One per row: titles are phrases ("More time to pay"), read on a phone.
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [InlineKeyboardButton(text=b.title, callback_data=b.payload)] for b in buttons
            ]
        )
    return ReplyKeyboardRemove(remove_keyboard=True)


# aiogram's errors with a response from Telegram that says the message was not taken; the code
# is the HTTP status Telegram answered with, for the record.
_REFUSED: tuple[tuple[type[TelegramAPIError], str], ...] = (
    (TelegramForbiddenError, "403"),  # the borrower blocked the bot or deleted their account
    (TelegramBadRequest, "400"),  # chat not found, text too long: asking again cannot work
    (TelegramUnauthorizedError, "401"),  # a revoked token: an operator must fix it
    (TelegramNotFound, "404"),
    (TelegramConflictError, "409"),
    (TelegramEntityTooLarge, "413"),
)


def send_failed(error: TelegramAPIError) -> SendFailed:
    """`SendFailed` for one of aiogram's errors: retryable, permanent, or uncertain."""
    message = error.message.splitlines()[0] if error.message else type(error).__name__
    if isinstance(error, TelegramRetryAfter):
        # aiogram's own message names the chat; the record keeps Telegram's words only.
        return SendFailed(
            f"Too Many Requests: retry after {error.retry_after}",
            retryable=True,
            retry_after=float(error.retry_after),
            code="429",
        )
    if isinstance(error, TelegramServerError):  # RestartingTelegram included
        return SendFailed(message, retryable=True, code="5xx")
    if isinstance(error, TelegramNetworkError):
        if _never_connected(error.__cause__):
            return SendFailed(message, retryable=True, code="network")
        # Timed out or cut off after the request was sent: Telegram may have it.
        return SendFailed(message, retryable=False, uncertain=True, code="network")
    if isinstance(error, ClientDecodeError):
        # Something answered that was not Telegram's JSON (a proxy's error page).
        return SendFailed(message, retryable=False, uncertain=True, code="decode")
    for kind, code in _REFUSED:
        if isinstance(error, kind):
            return SendFailed(message, retryable=False, code=code)
    return SendFailed(message, retryable=False, code=type(error).__name__)


def _never_connected(cause: BaseException | None) -> bool:
    """Whether the request failed before a connection to the Bot API was open."""
    return isinstance(cause, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)


# --- the dispatcher ---------------------------------------------------------------------------


@dataclass
class Followup:
    """The Bot API calls an update leaves for after its turn has committed.

    The webhook runs them after answering Telegram (a slow Bot API call must not hold the
    update, or Telegram sends it again); polling runs them at once.
    """

    turns: list[PushTurn] = field(default_factory=list)
    # Callback queries to answer, so the button stops spinning.
    answers: list[str] = field(default_factory=list)
    # (chat id, message id) of messages whose buttons were used: their keyboard is removed.
    used_keyboards: list[tuple[int, int]] = field(default_factory=list)

    async def run(self, bot: Bot, outbox: Outbox) -> list[Delivery]:
        """Answer the callback queries, take used keyboards away, send the replies."""
        for query_id in self.answers:
            await _quietly(
                bot.answer_callback_query(callback_query_id=query_id), "answer a callback query"
            )
        for chat_id, message_id in self.used_keyboards:
            await _quietly(
                bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id),
                "remove a used keyboard",
            )
        deliveries: list[Delivery] = []
        for turn in self.turns:
            deliveries.extend(await outbox.deliver_turn(turn))
        return deliveries


async def _quietly(call: Awaitable[object], what: str) -> None:
    """A courtesy call (a button's spinner, an old keyboard): its failure changes nothing."""
    try:
        await call
    except TelegramAPIError as error:
        # A query older than Telegram keeps, a message already without buttons: logged only.
        logger.warning("could not %s on Telegram: %s", what, error)


class _InlineFollowup(BaseMiddleware):
    """Polling: each update's follow-up Bot API calls run as soon as its turn is done."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if "followup" in data:
            return await handler(event, data)
        followup = Followup()
        result = await handler(event, {**data, "followup": followup})
        bot = data["bot"]
        assert isinstance(bot, Bot)
        await followup.run(bot, self._outbox)
        return result


def build_dispatcher(
    *,
    dialogue: Callable[[], Dialogue],
    telegram: TelegramChannel,
    clock: Clock | None = None,
    outbox: Outbox | None = None,
) -> Dispatcher:
    """A dispatcher whose handlers run turns; feed it with `followup=Followup()` (the webhook),
    or give it the `outbox` to send each update's replies at once (polling)."""
    now = clock or utcnow
    router = Router(name="settle")

    def run_turn(inbound: Inbound) -> PushTurn:
        # The model loads on the first turn, and the turn is database work: a worker thread.
        return take_turn(
            dialogue(), inbound, telegram.transport, recipient=inbound.address, clock=now
        )

    async def turn(inbound: Inbound | None, followup: Followup) -> PushTurn | None:
        if inbound is None:
            return None
        taken = await anyio.to_thread.run_sync(run_turn, inbound)
        followup.turns.append(taken)
        return taken

    @router.message()
    async def on_message(message: Message, event_update: Update, followup: Followup) -> None:
        await turn(
            parse_message(message, update_id=event_update.update_id, received_at=now()), followup
        )

    @router.edited_message()
    async def on_edit(message: Message, event_update: Update, followup: Followup) -> None:
        inbound = parse_message(
            message, update_id=event_update.update_id, received_at=now(), edited=True
        )
        await turn(inbound, followup)

    @router.callback_query()
    async def on_button(query: CallbackQuery, event_update: Update, followup: Followup) -> None:
        inbound = parse_callback(query, update_id=event_update.update_id, received_at=now())
        taken = await turn(inbound, followup)
        if taken is not None and taken.result.duplicate:
            return  # answered (or expired) the first time: no second call
        followup.answers.append(query.id)
        if taken is not None and query.message is not None:
            followup.used_keyboards.append((query.message.chat.id, query.message.message_id))

    # Settle's own conversation state is the dialogue's tracker, not aiogram's FSM.
    dispatcher = Dispatcher(disable_fsm=True, name="settle")
    dispatcher.include_router(router)
    if outbox is not None:
        dispatcher.update.outer_middleware(_InlineFollowup(outbox))
    return dispatcher


async def feed(dispatcher: Dispatcher, telegram: TelegramChannel, update: Update) -> Followup:
    """Run the turn an update asks for; the follow-up Bot API calls are returned, not made."""
    followup = Followup()
    await dispatcher.feed_update(telegram.bot, update, followup=followup)
    return followup


async def poll(
    dispatcher: Dispatcher, telegram: TelegramChannel, *, handle_signals: bool = True
) -> None:
    """Long-poll Telegram for updates until stopped (Ctrl-C), one update at a time, in order."""
    await dispatcher.start_polling(
        telegram.bot,
        handle_as_tasks=False,
        allowed_updates=list(ALLOWED_UPDATES),
        handle_signals=handle_signals,
        close_bot_session=False,
    )


__all__ = [
    "ALLOWED_UPDATES",
    "Followup",
    "TelegramChannel",
    "TelegramTransport",
    "build_dispatcher",
    "feed",
    "parse_callback",
    "parse_message",
    "parse_update",
    "poll",
    "split_text",
]
