"""The Rasa bridge: Settle's servicing and compliance as custom actions of a Rasa assistant.

A lender who already runs a Rasa assistant keeps its NLU, stories and channels; where it needs
the account, a rule or story runs one of these actions (`settle rasa-actions` serves them with
rasa-sdk's own action server). Each action is one real dialogue turn (`Dialogue.handle`) on the
conversation of the Rasa `sender_id`: the same actions, the same identity gate (nothing about the
account before verification), the same compliance screens and the same audit record as every
other channel. Nothing here decides anything about the account; it only translates.

- The action picks the request: `action_settle_balance` sends the turn the button payload
  `/check_balance`, as if the borrower had pressed Settle's own button. Amounts, dates and months
  the Rasa assistant found (entities of the latest message, else the slots `amount`, `date`,
  `months`) ride along after the payload, written so Settle's own entity rules read them:
  `/promise_to_pay:pay 200 ; 2025-06-27`. The engine takes the intent from the payload and the
  values from the words, and keeps them across identity verification like typed ones.
- `action_settle_continue` forwards the borrower's own words to whatever Settle asked last (an
  identity question, the promise amount or date, the choice of an offer, a yes or no). The bridge
  never writes a "yes" for the borrower: a change to the account still needs their explicit one.
- Settle's buttons come back as Rasa payloads of one intent, `/settle_choice{"settle_payload":
  "/offer:12"}`, which Rasa parses without training and the continue action unwraps; the
  assistant's rules route that intent to the continue action.
- The response carries Settle's replies (text and buttons) and slot events: `settle_verified`,
  `settle_awaiting` (what Settle waits for, e.g. `identity:dob`, `confirm:extension`; None when
  nothing) and `settle_escalated` (a person holds the conversation and Settle stays silent), so
  the assistant's rules can route the next message. Only slots the assistant's domain declares
  are set, and only when they change.
- Rasa retries an action call it got no answer to. The turn's message id is derived from the
  sender, Rasa's message id and the action, so a retry gets the first answer back and nothing
  runs twice, while two different actions after one message are two turns.

The conversation lives on the web channel at `rasa:<sha256 of the sender id>`: longer than any
web chat sender (bots.webchat.MAX_SENDER_CHARS), so no web visitor can name a Rasa conversation,
whatever sender id they choose.

rasa-sdk is an optional extra (`pip install 'settle[rasa]'`): this module is the only one that
imports it, and only `settle rasa-actions` and its tests import this module.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from rasa_sdk.endpoint import create_app
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import ActionExecutor, CollectingDispatcher
from rasa_sdk.interfaces import ActionExecutionRejection, Tracker
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.orm import Session, sessionmaker

from dialogue import (
    Button,
    ConversationState,
    Dialogue,
    Inbound,
    InboundKind,
    Reply,
    TurnResult,
)
from models import Channel, Conversation, Handler, utcnow

ADDRESS_PREFIX = "rasa:"
MESSAGE_ID_PREFIX = "rasa:"
CONTINUE_ACTION = "action_settle_continue"
EXTENSION_APPLY_ACTION = "action_settle_extension_apply"
# Each request action and the Settle intent its turn asks for (sent as the payload "/<intent>").
REQUEST_ACTIONS: dict[str, str] = {
    "action_settle_balance": "check_balance",
    "action_settle_due_date": "due_date",
    "action_settle_payment_link": "make_payment",
    "action_settle_payoff": "payoff_quote",
    "action_settle_extension_quote": "request_extension",
    # With no quote open, "apply" asks for one: Settle changes nothing without the borrower's yes.
    EXTENSION_APPLY_ACTION: "request_extension",
    "action_settle_restructuring": "request_restructuring",
    "action_settle_promise": "promise_to_pay",
    "action_settle_escalate": "request_human",
}
ACTION_NAMES: tuple[str, ...] = (*REQUEST_ACTIONS, CONTINUE_ACTION)
# The values each request can carry, in the order Settle's form asks for them.
REQUEST_VALUES: dict[str, tuple[str, ...]] = {
    "promise_to_pay": ("amount", "date"),
    "request_extension": ("months",),
}
# Rasa entity names read as Settle's values (duckling's included); slots are read by the value's
# own name ("amount", "date", "months").
ENTITY_VALUES: dict[str, str] = {
    "amount": "amount",
    "amount-of-money": "amount",
    "money": "amount",
    "date": "date",
    "time": "date",
    "months": "months",
}
# Settle's buttons, as Rasa payloads: one intent the assistant routes to the continue action.
CHOICE_INTENT = "settle_choice"
CHOICE_ENTITY = "settle_payload"
SLOT_VERIFIED = "settle_verified"
SLOT_AWAITING = "settle_awaiting"
SLOT_ESCALATED = "settle_escalated"
AWAITING_EXTENSION = "confirm:extension"
# A person typing, not a document; the NLU reads the first 1,000 characters anyway.
MAX_TEXT_CHARS = 2000
MAX_SENDER_CHARS = 256
MAX_VALUE_CHARS = 64
MAX_PAYLOAD_CHARS = 128
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
HEALTH_PATH = "/health"
AUTH_QUERY_KEY = "token"  # what Rasa's endpoints.yml `token:` sends


@dataclass(frozen=True)
class RasaTurn:
    """The inbound message an action call becomes, and the slots whose values it used up."""

    inbound: Inbound
    used_slots: tuple[str, ...] = ()


@dataclass(frozen=True)
class Standing:
    """Where the conversation stands after a turn, as the assistant's slots report it."""

    verified: bool
    awaiting: str | None
    escalated: bool


def conversation_address(sender_id: str) -> str:
    """The web-channel address of a Rasa sender's conversation (see the module docstring)."""
    return ADDRESS_PREFIX + hashlib.sha256(sender_id.encode()).hexdigest()


def message_id(sender_id: str, rasa_message_id: str, action: str) -> str:
    """The turn's message id: the same for a retried call, different for another action."""
    key = "\x1f".join((sender_id, rasa_message_id, action))
    return MESSAGE_ID_PREFIX + hashlib.sha256(key.encode()).hexdigest()


def choice_payload(payload: str) -> str:
    """A Settle button payload ("/offer:12") as a Rasa payload Rasa parses without training."""
    return f"/{CHOICE_INTENT}" + json.dumps({CHOICE_ENTITY: payload}, ensure_ascii=False)


def build_turn(action: str, tracker: Tracker, *, received_at: datetime) -> RasaTurn:
    """The inbound message for one action call; `ActionExecutionRejection` when it has no sender."""
    sender = tracker.sender_id
    if not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_SENDER_CHARS:
        raise ActionExecutionRejection(
            action, f"sender_id must be a string of 1 to {MAX_SENDER_CHARS} characters"
        )
    latest: Mapping[str, Any] = _mapping(tracker.latest_message)
    slots = _mapping(tracker.slots)
    used: tuple[str, ...] = ()
    forwards = action == CONTINUE_ACTION or (
        action == EXTENSION_APPLY_ACTION and slots.get(SLOT_AWAITING) == AWAITING_EXTENSION
    )
    if forwards:
        text = _chosen_payload(latest) or _text(latest.get("text"))
    else:
        intent = REQUEST_ACTIONS[action]
        fragments, used = _values(intent, latest, slots)
        text = f"/{intent}:{' ; '.join(fragments)}" if fragments else f"/{intent}"
    inbound = Inbound(
        channel=Channel.WEB,
        channel_message_id=message_id(sender, _rasa_message_id(tracker, latest), action),
        address=conversation_address(sender),
        received_at=received_at,
        text=text,
        kind=InboundKind.TEXT if text else InboundKind.OTHER,
        raw={"action": action, "intent": _mapping(latest.get("intent")).get("name")},
    )
    return RasaTurn(inbound=inbound, used_slots=used)


def _mapping(value: Any) -> Mapping[str, Any]:
    """A JSON object of the tracker, or an empty one where Rasa sent null (or something odd)."""
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str:
    return value.strip()[:MAX_TEXT_CHARS] if isinstance(value, str) else ""


def _chosen_payload(latest: Mapping[str, Any]) -> str | None:
    """The Settle payload a `settle_choice` button carried, if the message is one."""
    for entity in _entities(latest):
        value = entity.get("value")
        if entity.get("entity") == CHOICE_ENTITY and isinstance(value, str):
            value = value.strip()
            if value.startswith("/") and len(value) <= MAX_PAYLOAD_CHARS:
                return value
    return None


def _entities(latest: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    entities = latest.get("entities")
    if not isinstance(entities, list):
        return []
    return [entity for entity in entities if isinstance(entity, Mapping)]


def _rasa_message_id(tracker: Tracker, latest: Mapping[str, Any]) -> str:
    """Rasa's id of the latest message; else a mark of the tracker a retry sends again."""
    found = latest.get("message_id")
    if isinstance(found, str) and found:
        return found
    events = tracker.events or []
    last = events[-1].get("timestamp") if events and isinstance(events[-1], Mapping) else None
    return f"events:{len(events)}:{last}"


def _values(
    intent: str, latest: Mapping[str, Any], slots: Mapping[str, Any]
) -> tuple[list[str], tuple[str, ...]]:
    """The words carrying this request's values, and the value slots to empty.

    An entity of the latest message wins over a slot: the slot may be left from an earlier
    request. Values are written the way Settle's entity rules read them: "pay 200" (an amount
    in the loan's currency), "2025-06-27", "2 months"; anything else is passed as written
    ("next Friday", "两百元") for those rules to read or to ignore.
    """
    wanted = REQUEST_VALUES.get(intent, ())
    found: dict[str, Any] = {}
    for entity in _entities(latest):
        kind = ENTITY_VALUES.get(str(entity.get("entity")))
        if kind in wanted and kind not in found:
            found[kind] = entity.get("value")
    for kind in wanted:
        if kind not in found and slots.get(kind) is not None:
            found[kind] = slots[kind]
    # Rasa fills a slot from the same entity before the action runs: whichever was read, the
    # request has used its values up.
    used = [kind for kind in wanted if slots.get(kind) is not None]
    fragments = [
        fragment
        for kind in wanted
        if kind in found and (fragment := _fragment(kind, found[kind])) is not None
    ]
    return fragments, tuple(used)


def _fragment(kind: str, value: Any) -> str | None:
    if isinstance(value, Mapping):
        # duckling: {"value": 200, "unit": "USD"}; an interval ({"from", "to"}) is no one date.
        value = value.get("value")
    if value is None or isinstance(value, bool):
        return None
    text = " ".join(str(value).split())
    if not text or len(text) > MAX_VALUE_CHARS:
        return None
    if kind == "amount":
        number = _decimal(value)
        return f"pay {number:f}" if number is not None else text
    if kind == "date":
        return text[:10] if ISO_DATE.match(text) else text
    if kind == "months":
        number = _decimal(value)
        whole = number is not None and number == number.to_integral_value()
        return f"{int(number)} months" if number is not None and whole else text
    return None


def _decimal(value: Any) -> Decimal | None:
    """A number given as a number or as plain digits; money stays Decimal from here on."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        # str() first: a JSON float becomes the decimal it was written as, not its binary value.
        number = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def read_standing(*, session: Session, conversation_id: int, now: datetime) -> Standing:
    """Whether the borrower is verified, what Settle waits for, and whether a person holds it."""
    conversation = session.get_one(Conversation, conversation_id)
    escalated = conversation.handler is Handler.HUMAN
    verified = (
        conversation.borrower_id is not None
        and conversation.verified_until is not None
        and conversation.verified_until > now
    )
    state = ConversationState.from_json(conversation.state)
    awaiting: str | None = None
    if not escalated and not state.wrong_party:
        if state.pending is not None:
            awaiting = f"confirm:{state.pending.action}"
        elif state.form is not None:
            awaiting = (
                f"{state.form.name}:{state.form.asked}" if state.form.asked else state.form.name
            )
    return Standing(verified=verified, awaiting=awaiting, escalated=escalated)


def responses(replies: Iterable[Reply]) -> list[dict[str, Any]]:
    """Settle's replies as the keyword arguments of `dispatcher.utter_message`."""
    return [
        {"text": reply.text, "buttons": [_button(button) for button in reply.buttons]}
        for reply in replies
    ]


def _button(button: Button) -> dict[str, str]:
    return {"title": button.title, "payload": choice_payload(button.payload)}


def slot_events(
    standing: Standing,
    *,
    slots: Mapping[str, Any],
    declared: Iterable[str],
    used: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """SlotSet events for the Settle slots the domain declares, where they change; the value
    slots a request used up are emptied so the next request does not take them again."""
    known = set(declared)
    wanted = {
        SLOT_VERIFIED: standing.verified,
        SLOT_AWAITING: standing.awaiting,
        SLOT_ESCALATED: standing.escalated,
    }
    events = [
        SlotSet(name, value)
        for name, value in wanted.items()
        if name in known and slots.get(name) != value
    ]
    events += [SlotSet(name, None) for name in used if name in known]
    return events


class SettleAction:
    """One custom action: a dialogue turn for the latest message, its replies and slot events."""

    def __init__(
        self,
        action: str,
        *,
        dialogue: Dialogue,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if action not in ACTION_NAMES:
            raise ValueError(f"{action} is not a Settle action; known: {', '.join(ACTION_NAMES)}")
        self._action = action
        self._dialogue = dialogue
        self._sessions = sessions
        self._clock = clock

    def name(self) -> str:
        return self._action

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Mapping[str, Any] | None
    ) -> list[dict[str, Any]]:
        turn = build_turn(self._action, tracker, received_at=self._clock())
        # The turn is plain synchronous database work: a worker thread, not the server's loop.
        result: TurnResult = await asyncio.to_thread(self._dialogue.handle, turn.inbound)
        standing = await asyncio.to_thread(self._standing, result.conversation_id)
        for message in responses(result.replies):
            dispatcher.utter_message(**message)
        slots = _mapping(tracker.slots)
        declared = set(slots) | set(_mapping(_mapping(domain).get("slots")))
        return slot_events(standing, slots=slots, declared=declared, used=turn.used_slots)

    def _standing(self, conversation_id: int) -> Standing:
        with self._sessions() as session:
            return read_standing(
                session=session, conversation_id=conversation_id, now=self._clock()
            )


def build_executor(
    *,
    dialogue: Dialogue,
    sessions: sessionmaker[Session],
    clock: Callable[[], datetime] = utcnow,
) -> Any:
    """A rasa-sdk `ActionExecutor` with every Settle action registered."""
    executor = ActionExecutor()
    for action in ACTION_NAMES:
        settle = SettleAction(action, dialogue=dialogue, sessions=sessions, clock=clock)
        # Registered as functions: rasa-sdk scans `Action` subclasses to build them without
        # arguments, and these need the dialogue.
        executor.register_function(action, settle.run)
    return executor


def build_app(
    *,
    dialogue: Dialogue,
    sessions: sessionmaker[Session],
    token: str | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Sanic[Any, Any]:
    """rasa-sdk's action server app (sanic) serving the Settle actions.

    With a `token`, every route but `/health` answers 401 unless the request carries it, as
    Rasa sends it from `endpoints.yml` (`token:`, the `token` query parameter) or as an
    `Authorization: Bearer` header. Cross-origin requests are refused: only the Rasa server calls
    an action server. Sanic keeps one app of a name per process, so build one at a time.
    """
    executor = build_executor(dialogue=dialogue, sessions=sessions, clock=clock)
    app: Sanic[Any, Any] = create_app(executor, cors_origins="")
    if token is not None:
        _require_token(app, token)
    return app


def _require_token(app: Sanic[Any, Any], token: str) -> None:
    expected = token.encode()

    async def check(request: Request) -> HTTPResponse | None:
        if request.path == HEALTH_PATH:
            return None
        given = request.args.get(AUTH_QUERY_KEY) or _bearer(request.headers.get("authorization"))
        if given is None or not secrets.compare_digest(given.encode(), expected):
            return response.json({"error": "missing or wrong token"}, status=401)
        return None

    app.on_request(check)


def _bearer(header: str | None) -> str | None:
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def serve(app: Sanic[Any, Any], *, host: str, port: int) -> None:
    """Run the action server in this process until interrupted (Ctrl-C, SIGTERM).

    One process: the dialogue and its language model are built once, here, and shared by every
    request; rasa-sdk's own runner would rebuild them in each worker.
    """
    app.run(host=host, port=port, single_process=True, access_log=False, motd=False)
