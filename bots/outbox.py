"""The outbox: a push-channel message is a database row before it is a request to a provider.

Telegram, SMS and WhatsApp replies are not answers to an HTTP request: Settle sends them through
the provider's API. To send each exactly once in the normal case, at most once always, and never
lose one silently:

1. `OutboxOutput.stage` renders the turn's replies into channel messages and writes one
   `outbound_messages` row each (status PENDING) *inside the turn's transaction*, keyed
   "<channel>:<inbound message id>:<n>". A crash before the commit loses the turn and its
   messages together (the provider retries the webhook); a retried webhook finds the inbound
   message handled and stages nothing new.
2. `Outbox.send` claims a row (PENDING -> SENDING, a compare-and-set that one process wins),
   asks the provider, and records SENT with the provider's id, or the failure. Provider errors
   that are safe to repeat (rate limits, 5xx, a connection that never opened) are retried with
   backoff; the rest fail the row (FAILED) with the provider's code.
3. A row left SENDING by a crash may or may not have reached the provider: `Outbox.send_due`
   marks it UNKNOWN after a lease instead of sending it twice, and sends PENDING rows whose retry
   time has come (a process that died before sending, a retry scheduled for later).

Every outcome is an event in the conversation's audit stream, with the provider's id.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

import anyio
from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from compliance import NewEvent, append_many, record_opt_out, stream_for
from dialogue import Button, Dialogue, Inbound, Output, Reply, TurnResult
from models import Channel, Conversation, DeliveryStatus, OptOut, OutboundMessage, utcnow

logger = logging.getLogger(__name__)

ACTOR = "settle"
MAX_ERROR_CHARS = 300
# Delivery states only move forward: a late "sent" callback never undoes "delivered".
_RANK = {
    DeliveryStatus.PENDING: 0,
    DeliveryStatus.SENDING: 1,
    DeliveryStatus.UNKNOWN: 2,
    DeliveryStatus.SENT: 2,
    DeliveryStatus.DELIVERED: 3,
    DeliveryStatus.UNDELIVERED: 4,
    DeliveryStatus.FAILED: 4,
    DeliveryStatus.READ: 4,
}

_IN_FLIGHT = frozenset({DeliveryStatus.PENDING, DeliveryStatus.SENDING})

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class ChannelMessage:
    """One message as a channel sends it: its text and, where the channel shows them, buttons."""

    text: str
    buttons: tuple[Button, ...] = ()

    def to_json(self) -> str:
        return json.dumps(
            {"text": self.text, "buttons": [[b.title, b.payload] for b in self.buttons]},
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, data: str) -> ChannelMessage:
        raw = json.loads(data)
        return cls(
            text=str(raw["text"]),
            buttons=tuple(Button(title=str(t), payload=str(p)) for t, p in raw.get("buttons", [])),
        )


class SendFailed(Exception):
    """A provider did not take a message.

    `retryable`: nothing was sent and asking again may work (rate limit, server error, no
    connection). `uncertain`: the request may have reached the provider (a timeout after
    sending), so it must not be repeated. `code` is the provider's error code, for the record.
    `recipient_opted_out`: the provider refuses because the recipient opted out with it (a
    carrier STOP to Twilio); Settle records the opt-out too, so nothing else is tried there.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        uncertain: bool = False,
        retry_after: float | None = None,
        code: str | None = None,
        recipient_opted_out: bool = False,
    ) -> None:
        super().__init__(message)
        self.recipient_opted_out = recipient_opted_out
        self.message = message
        self.retryable = retryable and not uncertain
        self.uncertain = uncertain
        self.retry_after = retry_after
        self.code = code

    def describe(self) -> str:
        text = f"{self.code}: {self.message}" if self.code else self.message
        return text[:MAX_ERROR_CHARS]


class Transport(Protocol):
    """A push channel's two halves of sending: how a reply looks there, and the API call."""

    channel: Channel

    def render(self, reply: Reply) -> list[ChannelMessage]:
        """The channel messages one reply becomes (split, buttons kept or numbered)."""
        ...

    async def send(self, recipient: str, message: ChannelMessage, *, key: str) -> str:
        """Send one message; the provider's id for it, or `SendFailed`."""
        ...


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a send is retried, and when a stuck send is given up on."""

    # Waits before the second, third, ... try; the first try is at once.
    delays: tuple[float, ...] = (1.0, 5.0, 30.0)
    # A row SENDING for longer than this was interrupted mid-send (its process died).
    lease: timedelta = timedelta(minutes=5)
    # Longest wait honoured from a provider's Retry-After before the sweeper takes over.
    max_inline_wait: float = 30.0


def reply_key(inbound: Inbound) -> str:
    """The key prefix of the messages that answer `inbound`; unique per provider message."""
    return f"{inbound.channel.value}:{inbound.channel_message_id}"


def stage_messages(
    session: Session,
    *,
    channel: Channel,
    conversation_id: int | None,
    recipient: str,
    key: str,
    messages: Sequence[ChannelMessage],
    at: datetime,
) -> list[int]:
    """Write `messages` to the outbox as PENDING rows keyed "<key>:<n>"; their ids, in order."""
    rows = [
        OutboundMessage(
            idempotency_key=f"{key}:{n}",
            conversation_id=conversation_id,
            channel=channel,
            recipient=recipient,
            body=message.to_json(),
            status=DeliveryStatus.PENDING,
            attempts=0,
            created_at=at,
            updated_at=at,
        )
        for n, message in enumerate(messages, start=1)
    ]
    session.add_all(rows)
    session.flush()
    return [row.id for row in rows]


class OutboxOutput(Output):
    """The `Output` of a push channel: replies become outbox rows in the turn's transaction.

    After the turn, `staged` holds the row ids to hand to `Outbox.send`; nothing is sent from
    inside the transaction.
    """

    def __init__(self, transport: Transport, *, recipient: str, clock: Clock = utcnow) -> None:
        self.transport = transport
        self.recipient = recipient
        self.staged: list[int] = []
        self._clock = clock

    def stage(self, session: Session, inbound: Inbound, result: TurnResult) -> None:
        messages = [m for reply in result.replies for m in self.transport.render(reply)]
        if not messages:
            return
        self.staged = stage_messages(
            session,
            channel=self.transport.channel,
            conversation_id=result.conversation_id,
            recipient=self.recipient,
            key=reply_key(inbound),
            messages=messages,
            at=self._clock(),
        )

    def send(self, recipient: str, reply: Reply) -> None:
        """Nothing to do after the commit: the staged rows are sent by the `Outbox`."""

    def send_text(self, recipient: str, text: str) -> None:  # pragma: no cover - never called
        raise AssertionError("push channels stage their messages; they are never sent directly")


@dataclass(frozen=True)
class PushTurn:
    """A push channel's turn: the dialogue's result and the outbox rows that carry its replies."""

    result: TurnResult
    staged: tuple[int, ...]
    key: str


def take_turn(
    dialogue: Dialogue,
    inbound: Inbound,
    transport: Transport,
    *,
    recipient: str,
    clock: Clock = utcnow,
) -> PushTurn:
    """Run the turn with its replies staged in the outbox (blocking: call it from a thread)."""
    output = OutboxOutput(transport, recipient=recipient, clock=clock)
    result = dialogue.handle(inbound, output)
    return PushTurn(result=result, staged=tuple(output.staged), key=reply_key(inbound))


@dataclass(frozen=True)
class Delivery:
    """What became of one outbox row in a send."""

    id: int
    key: str
    status: DeliveryStatus
    provider_message_id: str | None
    attempts: int
    error: str | None


class Outbox:
    """Sends outbox rows through their channel's transport, once, with retries and a record."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        transports: Mapping[Channel, Transport],
        retry: RetryPolicy | None = None,
        clock: Clock = utcnow,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._sessions = sessions
        self.transports = dict(transports)
        self.retry = retry or RetryPolicy()
        self._clock = clock
        self._sleep = sleep

    async def send(self, ids: Sequence[int]) -> list[Delivery]:
        """Send these rows in order (one conversation's messages keep their order)."""
        return [await self._send_one(row_id) for row_id in ids]

    async def send_keys(self, key_prefix: str) -> list[Delivery]:
        """Send what is still pending under a key prefix (a retried webhook's replies)."""
        ids = await anyio.to_thread.run_sync(self._pending_ids, key_prefix)
        return await self.send(ids)

    async def deliver_turn(self, turn: PushTurn) -> list[Delivery]:
        """Send a turn's replies; for a retried webhook, whatever of them is still pending."""
        if turn.staged:
            return await self.send(turn.staged)
        return await self.send_keys(turn.key)

    async def send_due(self, *, limit: int = 200) -> list[Delivery]:
        """The sweeper: give up on interrupted sends, then send the rows whose time has come."""
        ids = await anyio.to_thread.run_sync(self._sweep, limit)
        return await self.send(ids)

    async def run(self, *, interval: float = 15.0) -> None:
        """Sweep every `interval` seconds until cancelled (the app's lifespan runs this)."""
        while True:
            try:
                await self.send_due()
            except Exception:  # a bad sweep must not end the loop; the next one retries
                logger.exception("outbox sweep failed")
            await self._sleep(interval)

    # --- one row ------------------------------------------------------------------------------

    async def _send_one(self, row_id: int) -> Delivery:
        claimed = await anyio.to_thread.run_sync(self._claim, row_id)
        if isinstance(claimed, Delivery):
            return claimed  # already sent, failed or taken by another sender
        channel, recipient, message, key, attempts = claimed
        transport = self.transports.get(channel)
        if transport is None:
            return await anyio.to_thread.run_sync(
                self._finish, row_id, DeliveryStatus.PENDING, None, f"{channel} is not configured"
            )
        tries = 0
        while True:
            tries += 1
            try:
                provider_id = await transport.send(recipient, message, key=key)
            except SendFailed as failure:
                wait = self._wait_before_retry(failure, attempts + tries)
                if failure.uncertain:
                    status = DeliveryStatus.UNKNOWN
                elif not failure.retryable:
                    status = DeliveryStatus.FAILED
                elif wait is None:
                    # Out of inline retries, or the provider asks for a long pause: the row
                    # goes back to PENDING for the sweeper (FAILED once every delay is used).
                    return await anyio.to_thread.run_sync(self._postpone, row_id, tries, failure)
                else:
                    logger.info("retrying %s in %.1fs: %s", key, wait, failure.describe())
                    await self._sleep(wait)
                    continue
                return await anyio.to_thread.run_sync(
                    functools.partial(
                        self._finish,
                        row_id,
                        status,
                        None,
                        failure.describe(),
                        tries,
                        opted_out=failure.recipient_opted_out,
                    )
                )
            except Exception as exc:
                # A bug or an unexpected library error: the request may have gone out.
                logger.exception("sending %s failed unexpectedly", key)
                return await anyio.to_thread.run_sync(
                    self._finish, row_id, DeliveryStatus.UNKNOWN, None, repr(exc), tries
                )
            return await anyio.to_thread.run_sync(
                self._finish, row_id, DeliveryStatus.SENT, provider_id, None, tries
            )

    def _wait_before_retry(self, failure: SendFailed, attempt: int) -> float | None:
        """Seconds to wait before trying again in this process; None to leave it to the sweeper."""
        if not failure.retryable or attempt > len(self.retry.delays):
            return None
        wait = max(self.retry.delays[attempt - 1], failure.retry_after or 0.0)
        return wait if wait <= self.retry.max_inline_wait else None

    # --- database steps (run in a worker thread) ------------------------------------------------

    def _pending_ids(self, key_prefix: str) -> list[int]:
        with self._sessions.begin() as session:
            return list(
                session.scalars(
                    select(OutboundMessage.id)
                    .where(
                        OutboundMessage.idempotency_key.startswith(f"{key_prefix}:"),
                        OutboundMessage.status == DeliveryStatus.PENDING,
                    )
                    .order_by(OutboundMessage.id)
                )
            )

    def _claim(self, row_id: int) -> Delivery | tuple[Channel, str, ChannelMessage, str, int]:
        now = self._clock()
        with self._sessions.begin() as session:
            claim = session.execute(
                update(OutboundMessage)
                .where(
                    OutboundMessage.id == row_id,
                    OutboundMessage.status == DeliveryStatus.PENDING,
                )
                .values(status=DeliveryStatus.SENDING, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            won = cast(CursorResult[Any], claim).rowcount
            row = session.get(OutboundMessage, row_id)
            if row is None:
                raise LookupError(f"no outbound message {row_id}")
            if not won:
                return _delivery(row)
            return (
                row.channel,
                row.recipient,
                ChannelMessage.from_json(row.body),
                row.idempotency_key,
                row.attempts,
            )

    def _finish(
        self,
        row_id: int,
        status: DeliveryStatus,
        provider_id: str | None,
        error: str | None,
        tries: int = 0,
        *,
        opted_out: bool = False,
    ) -> Delivery:
        now = self._clock()
        with self._sessions.begin() as session:
            row = session.get(OutboundMessage, row_id, with_for_update=True)
            assert row is not None
            if opted_out:
                _record_provider_opt_out(session, row, now)
            # A status callback may have moved the row on while the send was in flight (a call's
            # callback names its row by key, and may beat the API's answer): never back.
            if row.status in _IN_FLIGHT or _RANK[status] >= _RANK[row.status]:
                row.status = status
                row.error = error
            row.attempts += tries
            row.provider_message_id = provider_id or row.provider_message_id
            row.next_attempt_at = None
            row.updated_at = now
            _record(session, row, now)
            return _delivery(row)

    def _postpone(self, row_id: int, tries: int, failure: SendFailed) -> Delivery:
        now = self._clock()
        with self._sessions.begin() as session:
            row = session.get(OutboundMessage, row_id, with_for_update=True)
            assert row is not None
            row.attempts += tries
            row.error = failure.describe()
            row.updated_at = now
            if row.attempts > len(self.retry.delays):
                row.status = DeliveryStatus.FAILED
                row.next_attempt_at = None
            else:
                wait = max(self.retry.delays[row.attempts - 1], failure.retry_after or 0.0)
                row.status = DeliveryStatus.PENDING
                row.next_attempt_at = now + timedelta(seconds=wait)
            _record(session, row, now)
            return _delivery(row)

    def _sweep(self, limit: int) -> list[int]:
        now = self._clock()
        channels = list(self.transports)
        with self._sessions.begin() as session:
            stuck = session.scalars(
                select(OutboundMessage)
                .where(
                    OutboundMessage.status == DeliveryStatus.SENDING,
                    OutboundMessage.updated_at < now - self.retry.lease,
                )
                .limit(limit)
            ).all()
            for row in stuck:
                row.status = DeliveryStatus.UNKNOWN
                row.error = "interrupted while sending; not sent again"
                row.updated_at = now
                _record(session, row, now)
            return list(
                session.scalars(
                    select(OutboundMessage.id)
                    .where(
                        OutboundMessage.status == DeliveryStatus.PENDING,
                        OutboundMessage.channel.in_(channels),
                        or_(
                            OutboundMessage.next_attempt_at.is_(None),
                            OutboundMessage.next_attempt_at <= now,
                        ),
                    )
                    .order_by(OutboundMessage.id)
                    .limit(limit)
                )
            )


def record_status(
    session: Session,
    *,
    channel: Channel,
    provider_message_id: str,
    status: DeliveryStatus,
    at: datetime,
    error: str | None = None,
) -> OutboundMessage | None:
    """A provider's status callback: move the message forward (never back) and record it.

    None when no message has that provider id (a callback for something Settle did not send,
    or one that arrived before the send was recorded: the provider calls again on its next
    status change).
    """
    row = session.scalars(
        select(OutboundMessage)
        .where(
            OutboundMessage.channel == channel,
            OutboundMessage.provider_message_id == provider_message_id,
        )
        .with_for_update()
    ).first()
    if row is None:
        return None
    if _RANK[status] < _RANK[row.status] or row.status == status:
        return row
    row.status = status
    row.error = error[:MAX_ERROR_CHARS] if error else row.error
    row.updated_at = at
    _record(session, row, at, kind="delivery_status")
    return row


def _record_provider_opt_out(session: Session, row: OutboundMessage, at: datetime) -> None:
    """The provider says the recipient opted out with it: record that opt-out here too.

    Only for a conversation linked to a borrower, and only when no opt-out of theirs from this
    address on this channel already stands (a STOP the dialogue also read).
    """
    conversation = session.get(Conversation, row.conversation_id) if row.conversation_id else None
    if conversation is None or conversation.borrower_id is None:
        return
    standing = session.scalar(
        select(OptOut.id).where(
            OptOut.borrower_id == conversation.borrower_id,
            OptOut.lifted_at.is_(None),
            or_(OptOut.channel.is_(None), OptOut.channel == row.channel),
            or_(
                OptOut.address_index.is_(None),
                OptOut.address_index == conversation.address_index,
            ),
        )
    )
    if standing is None:
        record_opt_out(
            session=session,
            borrower_id=conversation.borrower_id,
            channel=row.channel,
            at=at,
            source=f"provider:{row.channel.value}",
            address_index=conversation.address_index,
        )


def _record(session: Session, row: OutboundMessage, at: datetime, kind: str = "delivery") -> None:
    if row.conversation_id is None:
        return
    payload: dict[str, Any] = {
        "key": row.idempotency_key,
        "channel": row.channel.value,
        "status": row.status.value,
        "provider_message_id": row.provider_message_id,
        "attempts": row.attempts,
    }
    if row.error:
        payload["error"] = row.error
    append_many(
        session=session,
        events=[
            NewEvent(
                stream=stream_for("conversation", row.conversation_id),
                kind=kind,
                occurred_at=at,
                actor=ACTOR,
                payload=payload,
            )
        ],
    )


def _delivery(row: OutboundMessage) -> Delivery:
    return Delivery(
        id=row.id,
        key=row.idempotency_key,
        status=row.status,
        provider_message_id=row.provider_message_id,
        attempts=row.attempts,
        error=row.error,
    )
