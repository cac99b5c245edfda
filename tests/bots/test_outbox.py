"""The outbox: staged with the turn, sent once, retried with backoff, every outcome recorded.

The transport here is scripted (a provider that answers what each test tells it to); the
channel contract tests (tests/telegram, tests/twilio) run the real transports against local
HTTP servers that play Telegram's and Twilio's APIs.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session, sessionmaker

from bots.outbox import (
    ChannelMessage,
    Outbox,
    RetryPolicy,
    SendFailed,
    record_status,
    stage_messages,
    take_turn,
)
from compliance import events_of, payload_of, stream_for
from dialogue import Dialogue, Inbound, Nlu, Reply
from models import Channel, Conversation, DeliveryStatus, OutboundMessage, session_factory

NOW = datetime(2025, 6, 20, 18, 0, tzinfo=UTC)


class ScriptedTransport:
    """A provider whose answers are scripted: a provider id, or a `SendFailed` to raise."""

    channel = Channel.SMS

    def __init__(self, *answers: str | SendFailed) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, str, str]] = []

    def render(self, reply: Reply) -> list[ChannelMessage]:
        return [ChannelMessage(text=reply.text, buttons=reply.buttons)]

    async def send(self, recipient: str, message: ChannelMessage, *, key: str) -> str:
        answer = self.answers.pop(0) if self.answers else f"SM{len(self.sent) + 1:032d}"
        if isinstance(answer, SendFailed):
            raise answer
        self.sent.append((recipient, message.text, key))
        return answer


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def waits() -> list[float]:
    return []


def outbox_for(
    sessions: sessionmaker[Session],
    transport: ScriptedTransport,
    clock: Clock,
    waits: list[float],
    delays: tuple[float, ...] = (1.0, 5.0),
) -> Outbox:
    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    return Outbox(
        sessions=sessions,
        transports={Channel.SMS: transport},
        retry=RetryPolicy(delays=delays, lease=timedelta(minutes=5)),
        clock=clock,
        sleep=sleep,
    )


@pytest.fixture
def conversation_id(sessions: sessionmaker[Session]) -> Iterator[int]:
    with sessions.begin() as session:
        conversation = Conversation(
            channel=Channel.SMS,
            address="+14155552671",
            address_index="outbox-test",
            state={},
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(conversation)
        session.flush()
        yield conversation.id


def stage(sessions: sessionmaker[Session], conversation_id: int, *texts: str) -> list[int]:
    with sessions.begin() as session:
        return stage_messages(
            session,
            channel=Channel.SMS,
            conversation_id=conversation_id,
            recipient="+14155552671",
            key="sms:SM-in-1",
            messages=[ChannelMessage(text=t) for t in texts],
            at=NOW,
        )


def row(sessions: sessionmaker[Session], row_id: int) -> OutboundMessage:
    with sessions.begin() as session:
        found = session.get(OutboundMessage, row_id)
        assert found is not None
        return found


def deliveries(sessions: sessionmaker[Session], conversation_id: int) -> list[dict[str, object]]:
    with sessions.begin() as session:
        return [
            payload_of(event)
            for event in events_of(
                session=session, stream=stream_for("conversation", conversation_id)
            )
            if event.kind in ("delivery", "delivery_status")
        ]


def test_sends_each_staged_message_once_in_order_and_records_it(
    sessions: sessionmaker[Session], conversation_id: int, clock: Clock, waits: list[float]
) -> None:
    transport = ScriptedTransport("SM1", "SM2")
    outbox = outbox_for(sessions, transport, clock, waits)
    ids = stage(sessions, conversation_id, "first", "second")

    first = asyncio.run(outbox.send(ids))
    again = asyncio.run(outbox.send(ids))

    assert [text for _to, text, _key in transport.sent] == ["first", "second"]
    assert [d.status for d in first] == [DeliveryStatus.SENT, DeliveryStatus.SENT]
    assert [d.provider_message_id for d in again] == ["SM1", "SM2"]
    assert [key for _to, _text, key in transport.sent] == ["sms:SM-in-1:1", "sms:SM-in-1:2"]
    recorded = deliveries(sessions, conversation_id)
    assert [(e["status"], e["provider_message_id"]) for e in recorded] == [
        ("sent", "SM1"),
        ("sent", "SM2"),
    ]


def test_the_same_row_sent_from_two_senders_at_once_goes_out_once(
    engine: Engine, clock: Clock, waits: list[float]
) -> None:
    # Real connections, one per sender, as two processes would have: the claim is the
    # database's compare-and-set, not anything held in memory.
    sessions = session_factory(engine)
    transport = ScriptedTransport()
    outbox = outbox_for(sessions, transport, clock, waits)
    with sessions.begin() as session:
        ids = stage_messages(
            session,
            channel=Channel.SMS,
            conversation_id=None,
            recipient="+14155552671",
            key=f"sms:race-{uuid.uuid4().hex}",
            messages=[ChannelMessage(text="only once")],
            at=NOW,
        )

    async def both() -> None:
        await asyncio.gather(outbox.send(ids), outbox.send(ids))

    try:
        asyncio.run(both())
        assert len(transport.sent) == 1
        assert row(sessions, ids[0]).status is DeliveryStatus.SENT
    finally:
        with sessions.begin() as session:
            session.execute(delete(OutboundMessage).where(OutboundMessage.id.in_(ids)))


def test_a_retryable_failure_is_retried_with_backoff(
    sessions: sessionmaker[Session], conversation_id: int, clock: Clock, waits: list[float]
) -> None:
    transport = ScriptedTransport(
        SendFailed("Too Many Requests", retryable=True, retry_after=3.0, code="429"),
        "SM9",
    )
    outbox = outbox_for(sessions, transport, clock, waits)
    ids = stage(sessions, conversation_id, "hello")

    [delivery] = asyncio.run(outbox.send(ids))

    assert delivery.status is DeliveryStatus.SENT
    assert delivery.attempts == 2
    # The provider asked for 3 s, more than the first delay of 1 s.
    assert waits == [3.0]
    assert len(transport.sent) == 1


def test_a_permanent_failure_is_recorded_and_not_retried(
    sessions: sessionmaker[Session], conversation_id: int, clock: Clock, waits: list[float]
) -> None:
    transport = ScriptedTransport(
        SendFailed("Attempt to send to unsubscribed recipient", retryable=False, code="21610")
    )
    outbox = outbox_for(sessions, transport, clock, waits)
    ids = stage(sessions, conversation_id, "hello")

    [delivery] = asyncio.run(outbox.send(ids))
    swept = asyncio.run(outbox.send_due())

    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.error == "21610: Attempt to send to unsubscribed recipient"
    assert waits == []
    assert swept == []
    assert transport.sent == []
    assert deliveries(sessions, conversation_id)[-1]["status"] == "failed"


def test_an_uncertain_send_is_never_repeated(
    sessions: sessionmaker[Session], conversation_id: int, clock: Clock, waits: list[float]
) -> None:
    transport = ScriptedTransport(SendFailed("read timeout", retryable=True, uncertain=True))
    outbox = outbox_for(sessions, transport, clock, waits)
    ids = stage(sessions, conversation_id, "hello")

    [delivery] = asyncio.run(outbox.send(ids))
    clock.now += timedelta(hours=1)
    swept = asyncio.run(outbox.send_due())

    assert delivery.status is DeliveryStatus.UNKNOWN
    assert swept == []
    assert transport.sent == []


def test_out_of_inline_retries_the_sweeper_tries_later_then_gives_up(
    sessions: sessionmaker[Session], conversation_id: int, clock: Clock, waits: list[float]
) -> None:
    down = SendFailed("Service Unavailable", retryable=True, code="503")
    transport = ScriptedTransport(down, down, down, down)
    outbox = outbox_for(sessions, transport, clock, waits, delays=(1.0, 60.0))
    ids = stage(sessions, conversation_id, "hello")

    [first] = asyncio.run(outbox.send(ids))
    # 60 s is beyond the inline wait: the row waits for the sweeper.
    assert first.status is DeliveryStatus.PENDING
    assert first.attempts == 2
    assert row(sessions, ids[0]).next_attempt_at == NOW + timedelta(seconds=60)
    assert asyncio.run(outbox.send_due()) == []  # not yet due

    clock.now += timedelta(seconds=61)
    [last] = asyncio.run(outbox.send_due())

    assert last.status is DeliveryStatus.FAILED
    assert last.attempts == 3
    assert transport.sent == []


def test_a_send_interrupted_by_a_crash_is_marked_unknown_not_resent(
    sessions: sessionmaker[Session], conversation_id: int, clock: Clock, waits: list[float]
) -> None:
    transport = ScriptedTransport()
    outbox = outbox_for(sessions, transport, clock, waits)
    ids = stage(sessions, conversation_id, "hello")
    with sessions.begin() as session:
        stuck = session.get(OutboundMessage, ids[0])
        assert stuck is not None
        stuck.status = DeliveryStatus.SENDING  # a sender died after claiming it
        stuck.updated_at = NOW

    assert asyncio.run(outbox.send_due()) == []
    assert row(sessions, ids[0]).status is DeliveryStatus.SENDING  # within the lease
    clock.now += timedelta(minutes=6)
    asyncio.run(outbox.send_due())

    assert row(sessions, ids[0]).status is DeliveryStatus.UNKNOWN
    assert transport.sent == []


def test_a_pending_row_left_by_a_crash_before_sending_is_sent_by_the_sweeper(
    sessions: sessionmaker[Session], conversation_id: int, clock: Clock, waits: list[float]
) -> None:
    transport = ScriptedTransport()
    outbox = outbox_for(sessions, transport, clock, waits)
    ids = stage(sessions, conversation_id, "hello")

    [delivery] = asyncio.run(outbox.send_due())

    assert delivery.id == ids[0]
    assert delivery.status is DeliveryStatus.SENT
    assert len(transport.sent) == 1


def test_status_callbacks_move_forward_only(
    sessions: sessionmaker[Session], conversation_id: int, clock: Clock, waits: list[float]
) -> None:
    outbox = outbox_for(sessions, ScriptedTransport("SM7"), clock, waits)
    ids = stage(sessions, conversation_id, "hello")
    asyncio.run(outbox.send(ids))

    def callback(status: DeliveryStatus) -> DeliveryStatus | None:
        with sessions.begin() as session:
            found = record_status(
                session,
                channel=Channel.SMS,
                provider_message_id="SM7",
                status=status,
                at=NOW + timedelta(seconds=5),
            )
            return found.status if found is not None else None

    assert callback(DeliveryStatus.DELIVERED) is DeliveryStatus.DELIVERED
    # A "sent" callback that arrives late does not undo "delivered".
    assert callback(DeliveryStatus.SENT) is DeliveryStatus.DELIVERED
    assert callback(DeliveryStatus.READ) is DeliveryStatus.READ
    with sessions.begin() as session:
        assert (
            record_status(
                session,
                channel=Channel.SMS,
                provider_message_id="SM-unknown",
                status=DeliveryStatus.DELIVERED,
                at=NOW,
            )
            is None
        )
    kinds = [(e["status"]) for e in deliveries(sessions, conversation_id)]
    assert kinds == ["sent", "delivered", "read"]


def test_replies_are_staged_in_the_turn_and_a_retried_message_stages_nothing(
    sessions: sessionmaker[Session], nlu: Nlu, clock: Clock, waits: list[float]
) -> None:
    dialogue = Dialogue(sessions=sessions, nlu=nlu, clock=clock)
    transport = ScriptedTransport()
    outbox = outbox_for(sessions, transport, clock, waits)
    inbound = Inbound(
        channel=Channel.SMS,
        channel_message_id="SMa1b2c3",
        address="+12025550199",
        received_at=NOW,
        text="hello",
    )

    turn = take_turn(dialogue, inbound, transport, recipient=inbound.address, clock=clock)
    retry = take_turn(dialogue, inbound, transport, recipient=inbound.address, clock=clock)
    asyncio.run(outbox.deliver_turn(turn))
    asyncio.run(outbox.deliver_turn(retry))

    assert turn.result.replies
    assert len(turn.staged) == len(turn.result.replies)
    assert retry.result.duplicate
    assert retry.staged == ()
    assert [text for _to, text, _key in transport.sent] == [r.text for r in turn.result.replies]
    with sessions.begin() as session:
        keys = session.scalars(
            select(OutboundMessage.idempotency_key).order_by(OutboundMessage.id)
        ).all()
    assert keys == [f"sms:SMa1b2c3:{n}" for n in range(1, len(turn.staged) + 1)]


def test_a_retried_webhook_sends_what_a_crash_left_pending(
    sessions: sessionmaker[Session], nlu: Nlu, clock: Clock, waits: list[float]
) -> None:
    dialogue = Dialogue(sessions=sessions, nlu=nlu, clock=clock)
    transport = ScriptedTransport()
    outbox = outbox_for(sessions, transport, clock, waits)
    inbound = Inbound(
        channel=Channel.SMS,
        channel_message_id="SMcrash",
        address="+12025550198",
        received_at=NOW,
        text="hi",
    )

    take_turn(dialogue, inbound, transport, recipient=inbound.address, clock=clock)
    # The process died before sending; the provider retries the webhook.
    retry = take_turn(dialogue, inbound, transport, recipient=inbound.address, clock=clock)
    sent = asyncio.run(outbox.deliver_turn(retry))

    assert retry.result.duplicate
    assert [d.status for d in sent] == [DeliveryStatus.SENT] * len(retry.result.replies)
    assert len(transport.sent) == len(retry.result.replies)
