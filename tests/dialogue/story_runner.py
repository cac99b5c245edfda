"""Conversation stories: readable YAML scripts of whole conversations, run against the real engine.

A story file (tests/dialogue/stories/*.yml) is a list of stories. Each story sets up a borrower and
a loan in a real database, sends the borrower's messages through `Dialogue.handle` one turn at a
time with a fixed clock, checks each turn (intent, action, reply text, silence), and finally
checks the servicing and compliance state the conversation left behind (`then`).

    - story: promise to pay after verification
      language: en                     # the language every reply must be in
      borrower: {dob: 1985-03-03, national_id: "123-45-6789", phone: "+14155552671"}
      loan: {principal: "1200.00", disbursed_on: 2026-06-15}
      now: 2026-11-22T18:00:00Z
      channel: sms                     # web shares the borrower's phone (a CONTACT) first
      turns:
        - user: how much do I owe
          intent: check_balance        # optional: NLU label, policy, action
          action: start_identity
          reply: date of birth         # substring(s) of the replies, case-insensitive
        - user: I can pay 100 next friday
          wait: 31m                    # the clock moves on before this turn
      then:
        promises: [{amount: "100.00", due_on: 2026-11-27}]

`then` keys (each optional): promises, extensions, arrangements, offers (those chosen),
payment_claims (a count or a list of field subsets, in order); holds (kinds placed in the
conversation); opt_outs (channels, `all` for every channel); escalated (false, true, or the
reasons in order); handler (bot or human); identity_locked; verified (at the last turn's time).
`setup` puts history in place first: holds, payments, extensions (`granted_on`).

Checks made on every turn, whatever the story says: a turn without `no_reply: true` gets at
least one reply and one with it gets none; every reply is in the story's language; and nothing
sent before the borrower is verified names an amount of money (US-THIRD-PARTY). A repeated
`message_id` must come back as a duplicate with the replies of its first delivery.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from compliance.screening import AbuseDetector
from dialogue import CollectingOutput, Dialogue, DialogueSettings, Inbound, InboundKind, Nlu
from dialogue.encoder import SentenceEncoder
from dialogue.messages import Reply, TurnResult
from dialogue.responses import render
from models import (
    AccountHold,
    Arrangement,
    Channel,
    Conversation,
    Escalation,
    Extension,
    OptOut,
    PaymentClaim,
    PromiseToPay,
    RestructuringOffer,
)
from servicing import (
    NewBorrower,
    NewLoan,
    apply_extension,
    create_borrower,
    create_loan,
    place_hold,
    post_payment,
    to_minor,
)
from settle.wiring import REGION_OF_JURISDICTION

STORIES_DIR = Path(__file__).parent / "stories"
LANGUAGES = ("en", "zh")
PHONE_CHANNELS = frozenset({Channel.SMS, Channel.WHATSAPP, Channel.VOICE})

# An amount of money in either language: a currency sign or code next to digits, or digits
# followed by a currency word. Dates ("Dec 5, 2026", "2026年12月5日") and prompts do not match.
MONEY = re.compile(
    r"(?:US\$|CN¥|[$¥￥£€]|\bUSD|\bCNY|\bGBP|\bRMB)\s?\d"
    r"|\d\s?(?:元|美元|块钱|英镑)"
    r"|\d\s?(?:USD|CNY|GBP|dollars?)\b",
    re.IGNORECASE,
)
WAIT = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
WAIT_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}

STORY_KEYS = frozenset(
    {
        "story",
        "language",
        "borrower",
        "loan",
        "loans",
        "setup",
        "now",
        "channel",
        "address",
        "share_contact",
        "profile",
        "turns",
        "then",
    }
)
BORROWER_KEYS = frozenset(
    {"dob", "national_id", "phone", "phones", "language", "time_zone", "country", "name"}
)
LOAN_KEYS = frozenset(
    {"ref", "principal", "currency", "annual_rate", "term_months", "disbursed_on", "product"}
)
SETUP_KEYS = frozenset({"holds", "extensions", "payments"})
TURN_KEYS = frozenset(
    {
        "user",
        "share_contact",
        "media",
        "wait",
        "message_id",
        "intent",
        "policy",
        "action",
        "reply",
        "not_reply",
        "no_reply",
        "buttons",
        "language",
    }
)
THEN_KEYS = frozenset(
    {
        "promises",
        "extensions",
        "arrangements",
        "offers",
        "payment_claims",
        "holds",
        "opt_outs",
        "escalated",
        "handler",
        "identity_locked",
        "verified",
    }
)


class StoryError(ValueError):
    """A story file that does not follow the format (a typo in a key, a bad value)."""


class MemoEncoder:
    """The shared sentence encoder, remembering each text's vector for the rest of the run.

    The stories repeat many texts (the same prompts, "yes", the same last four digits), and the
    encoder dominates a turn's time; a text's vector does not depend on when it is asked for.
    """

    def __init__(self, encoder: SentenceEncoder) -> None:
        self._encoder = encoder
        self.dimension = encoder.dimension
        self._vectors: dict[str, npt.NDArray[np.float32]] = {}

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        missing = list(dict.fromkeys(text for text in texts if text not in self._vectors))
        if missing:
            for text, vector in zip(missing, self._encoder.encode(missing), strict=True):
                self._vectors[text] = vector
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self._vectors[text] for text in texts])


# --- the format ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    """One message from the borrower and what the story expects of the bot's answer."""

    user: str | None = None
    share_contact: str | None = None
    media: bool = False
    wait: timedelta = timedelta()
    message_id: str | None = None
    intent: str | None = None
    policy: str | None = None
    action: str | None = None
    reply: tuple[str, ...] = ()
    not_reply: tuple[str, ...] = ()
    no_reply: bool = False
    buttons: tuple[str, ...] = ()
    language: str | None = None

    def shown(self) -> str:
        if self.share_contact is not None:
            return f"[shares contact {self.share_contact}]"
        if self.media:
            return "[sends a photo]"
        return self.user or ""


@dataclass(frozen=True)
class Story:
    """One conversation, as the YAML file tells it (see the module docstring)."""

    name: str
    source: str
    language: str
    borrower: Mapping[str, Any] | None
    loans: tuple[Mapping[str, Any], ...]
    setup: Mapping[str, Any]
    now: datetime
    channel: Channel
    address: str | None
    share_contact: str | None
    profile: str
    turns: tuple[Turn, ...]
    then: Mapping[str, Any]

    @property
    def id(self) -> str:
        return f"{self.source}::{self.name}"


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(item) for item in value)
    return (str(value),)


def _unknown(where: str, data: Mapping[str, Any], known: frozenset[str]) -> None:
    extra = sorted(set(data) - known)
    if extra:
        raise StoryError(f"{where}: unknown key(s) {extra}; known: {sorted(known)}")


def _instant(value: Any, where: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise StoryError(f"{where}: `now` needs a time zone (end it with Z)")
    return moment.astimezone(UTC)


def _wait(value: Any, where: str) -> timedelta:
    if value is None:
        return timedelta()
    found = WAIT.match(str(value))
    if found is None:
        raise StoryError(f"{where}: wait {value!r} is not like 31m, 2h or 1d")
    return timedelta(**{WAIT_UNITS[found.group(2)]: int(found.group(1))})


def _turn(data: Any, where: str) -> Turn:
    if not isinstance(data, dict):
        raise StoryError(f"{where}: a turn is a mapping with `user:`")
    _unknown(where, data, TURN_KEYS)
    said = [key for key in ("user", "share_contact", "media") if data.get(key) is not None]
    if len(said) != 1:
        raise StoryError(f"{where}: a turn has exactly one of user, share_contact, media")
    if data.get("no_reply") and data.get("reply"):
        raise StoryError(f"{where}: `no_reply` and `reply` contradict each other")
    return Turn(
        user=str(data["user"]) if data.get("user") is not None else None,
        share_contact=str(data["share_contact"]) if data.get("share_contact") else None,
        media=bool(data.get("media", False)),
        wait=_wait(data.get("wait"), where),
        message_id=str(data["message_id"]) if data.get("message_id") is not None else None,
        intent=data.get("intent"),
        policy=data.get("policy"),
        action=data.get("action"),
        reply=_strings(data.get("reply")),
        not_reply=_strings(data.get("not_reply")),
        no_reply=bool(data.get("no_reply", False)),
        buttons=_strings(data.get("buttons")),
        language=data.get("language"),
    )


def parse_story(data: Any, source: str) -> Story:
    """A story from its YAML mapping, refusing unknown keys so a typo cannot pass silently."""
    if not isinstance(data, dict) or "story" not in data:
        raise StoryError(f"{source}: every item needs `story: <name>`")
    where = f"{source}: {data['story']}"
    _unknown(where, data, STORY_KEYS)
    language = str(data.get("language", ""))
    if language not in LANGUAGES:
        raise StoryError(f"{where}: language must be one of {LANGUAGES}")
    borrower = data.get("borrower")
    if borrower is not None:
        _unknown(f"{where}: borrower", borrower, BORROWER_KEYS)
    loans = list(data.get("loans") or ([data["loan"]] if data.get("loan") else []))
    for loan in loans:
        _unknown(f"{where}: loan", loan, LOAN_KEYS)
    setup = data.get("setup") or {}
    _unknown(f"{where}: setup", setup, SETUP_KEYS)
    then = data.get("then") or {}
    _unknown(f"{where}: then", then, THEN_KEYS)
    turns = data.get("turns") or []
    if not turns:
        raise StoryError(f"{where}: no turns")
    share = data.get("share_contact", True)
    channel = Channel(str(data.get("channel", "sms")))
    return Story(
        name=str(data["story"]),
        source=source,
        language=language,
        borrower=borrower,
        loans=tuple(loans),
        setup=setup,
        now=_instant(data.get("now", "2026-11-22T18:00:00Z"), where),
        channel=channel,
        address=str(data["address"]) if data.get("address") else None,
        share_contact=(
            None
            if share is False or channel is not Channel.WEB
            else (str(share) if share is not True else "")
        ),
        profile=str(data.get("profile", "us_reg_f")),
        turns=tuple(_turn(t, f"{where}: turn {n}") for n, t in enumerate(turns, start=1)),
        then=then,
    )


def load_stories(directory: Path = STORIES_DIR) -> list[Story]:
    """Every story of every file in `directory`, in file then story order."""
    stories: list[Story] = []
    for path in sorted(directory.glob("*.yml")):
        items = yaml.safe_load(path.read_text("utf-8")) or []
        if not isinstance(items, list):
            raise StoryError(f"{path.name}: a story file is a list of stories")
        stories.extend(parse_story(item, path.stem) for item in items)
    return stories


# --- running ------------------------------------------------------------------------------------


@dataclass
class World:
    """What a story set up in the database, for the checks afterwards."""

    borrower_id: int | None = None
    phone: str | None = None
    loan_ids: list[int] = field(default_factory=list)
    currencies: dict[int, str] = field(default_factory=dict)
    conversation_ids: set[int] = field(default_factory=set)


class Transcript:
    """The conversation so far, printed with every failure."""

    def __init__(self, story: Story) -> None:
        self.lines = [f"story {story.id!r} ({story.language}, {story.channel.value})"]

    def add(self, turn: Turn, result: TurnResult, replies: Sequence[Reply]) -> None:
        self.lines.append(
            f"> {turn.shown()}   [{result.intent} / {result.policy} / {result.action}]"
            + ("  (duplicate)" if result.duplicate else "")
        )
        if not replies:
            self.lines.append("  (no reply)")
        for reply in replies:
            buttons = f"  {[b.title for b in reply.buttons]}" if reply.buttons else ""
            self.lines.append("  < " + reply.text.replace("\n", " | ") + buttons)

    def fail(self, message: str) -> AssertionError:
        return AssertionError(message + "\n\n" + "\n".join(self.lines))


def _default_phone(story: Story) -> str:
    return "+8613800138000" if story.language == "zh" else "+14155552671"


def _set_up(session: Session, story: Story) -> World:
    world = World()
    data = story.borrower
    if data is None:
        return world
    phones = [str(p) for p in data.get("phones", [])] or [
        str(data.get("phone", _default_phone(story)))
    ]
    country = str(data.get("country", "CN" if phones[0].startswith("+86") else "US"))
    borrower = create_borrower(
        session=session,
        borrower=NewBorrower(
            external_ref="B-STORY",
            full_name=str(data.get("name", "李明" if story.language == "zh" else "Jane Doe")),
            country=country,
            phones=phones,
            preferred_language=str(data.get("language", story.language)),
            time_zone=str(
                data.get("time_zone", "Asia/Shanghai" if country == "CN" else "America/Los_Angeles")
            ),
            date_of_birth=data.get("dob"),
            national_id=str(data["national_id"]) if data.get("national_id") else None,
        ),
    )
    world.borrower_id = borrower.id
    world.phone = phones[0]
    for number, loan_data in enumerate(story.loans, start=1):
        currency = str(loan_data.get("currency", "USD"))
        loan = create_loan(
            session=session,
            loan=NewLoan(
                external_ref=str(loan_data.get("ref", f"LN-{1000 + number}")),
                borrower_id=borrower.id,
                principal=Decimal(str(loan_data.get("principal", "1200.00"))),
                currency=currency,
                annual_rate=Decimal(str(loan_data.get("annual_rate", "0.12"))),
                term_months=int(loan_data.get("term_months", 12)),
                disbursed_on=loan_data.get("disbursed_on", date(2026, 6, 15)),
                product=str(loan_data.get("product", "personal")),
            ),
        )
        world.loan_ids.append(loan.id)
        world.currencies[loan.id] = currency
    _apply_setup(session, story, world)
    return world


def _apply_setup(session: Session, story: Story, world: World) -> None:
    """History before the conversation: holds, payments and extensions already on the loan."""
    assert world.borrower_id is not None
    loan_id = world.loan_ids[0] if world.loan_ids else None
    for kind in story.setup.get("holds", []):
        place_hold(
            session=session,
            borrower_id=world.borrower_id,
            kind=kind,
            loan_id=None,
            source="story-setup",
            at=story.now - timedelta(days=1),
        )
    for payment in story.setup.get("payments", []):
        assert loan_id is not None, "payments need a loan"
        post_payment(
            session=session,
            loan_id=loan_id,
            amount=Decimal(str(payment["amount"])),
            currency=world.currencies[loan_id],
            received_on=payment["on"],
        )
    for extension in story.setup.get("extensions", []):
        assert loan_id is not None, "extensions need a loan"
        apply_extension(
            session=session,
            loan_id=loan_id,
            months=int(extension["months"]),
            on=extension["granted_on"],
        )


def _address(story: Story, world: World) -> str:
    if story.address is not None:
        return story.address
    if story.channel in PHONE_CHANNELS:
        return world.phone or _default_phone(story)
    return f"{story.channel.value}-session-{abs(hash(story.id)) % 10**8}"


def _verified_now(session: Session, world: World, at: datetime) -> bool:
    """Whether the story's conversation counts as verified at `at` (what the engine will see)."""
    for conversation_id in world.conversation_ids:
        conversation = session.get(Conversation, conversation_id)
        if (
            conversation is not None
            and conversation.borrower_id is not None
            and conversation.verified_until is not None
            and conversation.verified_until > at
        ):
            return True
    return False


def _contains(replies: Sequence[Reply], expected: str) -> bool:
    text = "\n".join(
        [reply.text for reply in replies] + [b.title for reply in replies for b in reply.buttons]
    )
    return expected.casefold() in text.casefold()


def _check_turn(
    turn: Turn,
    result: TurnResult,
    replies: Sequence[Reply],
    story: Story,
    *,
    verified_before: bool,
    transcript: Transcript,
) -> None:
    for name in ("intent", "policy", "action"):
        wanted = getattr(turn, name)
        if wanted is not None and getattr(result, name) != wanted:
            raise transcript.fail(
                f"{turn.shown()!r}: {name} {getattr(result, name)!r}, not {wanted!r}"
            )
    if turn.no_reply and replies:
        raise transcript.fail(f"{turn.shown()!r}: the bot should have stayed silent")
    if not turn.no_reply and not replies:
        raise transcript.fail(f"{turn.shown()!r}: no reply (add `no_reply: true` if intended)")
    for expected in turn.reply:
        if not _contains(replies, expected):
            raise transcript.fail(f"{turn.shown()!r}: no reply contains {expected!r}")
    for unwanted in turn.not_reply:
        if _contains(replies, unwanted):
            raise transcript.fail(f"{turn.shown()!r}: a reply contains {unwanted!r}")
    for title in turn.buttons:
        if not any(title.casefold() in b.title.casefold() for r in replies for b in r.buttons):
            raise transcript.fail(f"{turn.shown()!r}: no button titled {title!r}")
    language = turn.language or story.language
    for reply in replies:
        if reply.language != language:
            raise transcript.fail(
                f"{turn.shown()!r}: a reply in {reply.language!r}, not {language!r}"
            )
    if verified_before:
        return
    # US-THIRD-PARTY: until the "you're verified" reply, nothing may name an amount.
    verified_text = render("identity_ok", language).casefold()
    for reply in replies:
        if reply.text.casefold().startswith(verified_text):
            break
        if MONEY.search(reply.text) or any(MONEY.search(b.title) for b in reply.buttons):
            raise transcript.fail(
                f"{turn.shown()!r}: an amount was said before verification: {reply.text!r}"
            )


def run_story(
    story: Story,
    *,
    sessions: sessionmaker[Session],
    nlu: Nlu,
    detector: AbuseDetector | None,
) -> None:
    """Set the story up, play every turn with its checks, then check `then`."""
    with sessions.begin() as session:
        world = _set_up(session, story)
    clock = [story.now]

    def now() -> datetime:
        return clock[0]

    dialogue = Dialogue(
        sessions=sessions,
        nlu=nlu,
        settings=DialogueSettings(
            profile=story.profile, default_region=REGION_OF_JURISDICTION[story.profile]
        ),
        detector=detector,
        clock=now,
    )
    address = _address(story, world)
    transcript = Transcript(story)
    ids = (f"{story.source}-{n}" for n in itertools.count(1))
    delivered: dict[str, tuple[Reply, ...]] = {}
    turns = list(story.turns)
    if story.share_contact is not None:
        phone = story.share_contact or world.phone or _default_phone(story)
        turns.insert(0, Turn(share_contact=phone))
    for turn in turns:
        clock[0] += turn.wait
        message_id = turn.message_id or next(ids)
        inbound = Inbound(
            channel=story.channel,
            channel_message_id=f"{story.name[:60]}:{message_id}",
            address=address,
            received_at=clock[0],
            text=turn.user or "",
            kind=(
                InboundKind.CONTACT
                if turn.share_contact
                else InboundKind.OTHER
                if turn.media
                else InboundKind.TEXT
            ),
            contact_phone=turn.share_contact,
        )
        with sessions() as session:
            verified_before = _verified_now(session, world, clock[0])
        output = CollectingOutput()
        result = dialogue.handle(inbound, output)
        world.conversation_ids.add(result.conversation_id)
        if message_id in delivered:
            transcript.add(turn, result, result.replies)
            if not result.duplicate or result.replies != delivered[message_id] or output.sent:
                raise transcript.fail(
                    f"{turn.shown()!r}: a repeated message id must return its first replies, unsent"
                )
            continue
        replies = [reply for _address_, reply in output.sent]
        transcript.add(turn, result, replies)
        if tuple(replies) != result.replies:
            raise transcript.fail("the replies sent differ from the turn's result")
        delivered[message_id] = result.replies
        if turn is turns[0] and story.share_contact is not None and turn.share_contact:
            # The contact link itself: only the generic checks apply.
            turn = Turn(share_contact=turn.share_contact, no_reply=not replies)
        _check_turn(
            turn, result, replies, story, verified_before=verified_before, transcript=transcript
        )
    with sessions() as session:
        _check_then(session, story, world, clock[0], transcript)


# --- `then` -------------------------------------------------------------------------------------


def _money(value: Any, currency: str) -> int:
    return to_minor(Decimal(str(value)), currency)


def _match_rows(
    name: str,
    rows: Sequence[Any],
    expected: Any,
    fields: Mapping[str, Callable[[Any, Any], bool]],
    transcript: Transcript,
) -> None:
    """`expected` is a count or a list of mappings matched in order, each a subset of fields."""
    if isinstance(expected, int) and not isinstance(expected, bool):
        if len(rows) != expected:
            raise transcript.fail(f"then {name}: {len(rows)} found, {expected} expected")
        return
    wanted = list(expected or [])
    if len(rows) != len(wanted):
        raise transcript.fail(f"then {name}: {len(rows)} found, {len(wanted)} expected")
    for row, item in zip(rows, wanted, strict=True):
        for key, value in dict(item).items():
            if key not in fields:
                raise StoryError(f"then {name}: unknown field {key!r}; known: {sorted(fields)}")
            if not fields[key](row, value):
                raise transcript.fail(f"then {name}: {key} does not match {value!r} ({row!r})")


def _rows(session: Session, model: Any, loan_ids: Sequence[int]) -> list[Any]:
    return list(
        session.scalars(select(model).where(model.loan_id.in_(loan_ids)).order_by(model.id))
    )


def _check_then(
    session: Session, story: Story, world: World, at: datetime, transcript: Transcript
) -> None:
    then = story.then
    loans = world.loan_ids
    currency: Callable[[Any], str] = lambda row: world.currencies[row.loan_id]  # noqa: E731
    if "promises" in then:
        _match_rows(
            "promises",
            _rows(session, PromiseToPay, loans),
            then["promises"],
            {
                "amount": lambda r, v: r.amount_minor == _money(v, currency(r)),
                "due_on": lambda r, v: r.due_on == v,
                "status": lambda r, v: r.status.value == v,
            },
            transcript,
        )
    if "extensions" in then:
        _match_rows(
            "extensions",
            _rows(session, Extension, loans),
            then["extensions"],
            {
                "months": lambda r, v: r.months == v,
                "fee": lambda r, v: r.fee_minor == _money(v, currency(r)),
            },
            transcript,
        )
    if "arrangements" in then:
        _match_rows(
            "arrangements",
            _rows(session, Arrangement, loans),
            then["arrangements"],
            {"kind": lambda r, v: r.kind.value == v, "status": lambda r, v: r.status.value == v},
            transcript,
        )
    if "offers" in then:
        # Only the offers the borrower chose or had decided: quoted-and-left ones are noise.
        chosen = [
            row
            for row in _rows(session, RestructuringOffer, loans)
            if row.status.value not in ("offered", "withdrawn", "expired")
        ]
        _match_rows(
            "offers",
            chosen,
            then["offers"],
            {"kind": lambda r, v: r.kind.value == v, "status": lambda r, v: r.status.value == v},
            transcript,
        )
    if "payment_claims" in then:
        _match_rows(
            "payment_claims",
            _rows(session, PaymentClaim, loans),
            then["payment_claims"],
            {
                "amount": lambda r, v: (
                    r.amount_minor is None
                    if v is None
                    else r.amount_minor == _money(v, currency(r))
                ),
                "paid_on": lambda r, v: r.paid_on == v,
            },
            transcript,
        )
    if "holds" in then:
        holds = session.scalars(
            select(AccountHold).where(
                AccountHold.borrower_id == world.borrower_id,
                AccountHold.active.is_(True),
                AccountHold.source != "story-setup",
            )
        ).all()
        found = sorted(hold.kind.value for hold in holds)
        if found != sorted(_strings(then["holds"])):
            raise transcript.fail(f"then holds: {found}, not {sorted(_strings(then['holds']))}")
    if "opt_outs" in then:
        rows = session.scalars(
            select(OptOut).where(
                OptOut.borrower_id == world.borrower_id, OptOut.lifted_at.is_(None)
            )
        ).all()
        found = sorted(row.channel.value if row.channel else "all" for row in rows)
        if found != sorted(_strings(then["opt_outs"])):
            raise transcript.fail(
                f"then opt_outs: {found}, not {sorted(_strings(then['opt_outs']))}"
            )
    _check_conversation(session, then, world, at, transcript)


def _check_conversation(
    session: Session, then: Mapping[str, Any], world: World, at: datetime, transcript: Transcript
) -> None:
    conversations = [session.get(Conversation, i) for i in sorted(world.conversation_ids)]
    last = conversations[-1]
    assert last is not None
    if "escalated" in then:
        rows = session.scalars(
            select(Escalation)
            .where(Escalation.conversation_id.in_(world.conversation_ids))
            .order_by(Escalation.id)
        ).all()
        reasons = [row.reason for row in rows]
        wanted = then["escalated"]
        if wanted is False and reasons:
            raise transcript.fail(f"then escalated: {reasons}, expected none")
        if wanted is True and not reasons:
            raise transcript.fail("then escalated: none, expected one")
        if not isinstance(wanted, bool) and reasons != list(_strings(wanted)):
            raise transcript.fail(f"then escalated: {reasons}, not {list(_strings(wanted))}")
    if "handler" in then and last.handler.value != then["handler"]:
        raise transcript.fail(f"then handler: {last.handler.value}, not {then['handler']}")
    if "identity_locked" in then and bool(last.identity_locked) != then["identity_locked"]:
        raise transcript.fail(f"then identity_locked: {last.identity_locked}")
    if "verified" in then:
        verified = (
            last.borrower_id is not None
            and last.verified_until is not None
            and last.verified_until > at
        )
        if verified != then["verified"]:
            raise transcript.fail(f"then verified: {verified}, not {then['verified']}")
