"""One turn of the dialogue: `Dialogue.handle(inbound, output)`, the one entry point.

A turn runs in one transaction:
1. find or open the conversation for (channel, address) and lock it (a row lock on PostgreSQL,
   the database write lock on SQLite), so turns of one conversation never interleave;
2. a message already handled (same channel message id) gets its stored replies back, nothing
   runs twice;
3. the inbound message is recorded in the audit trail before anything else, then screened;
   holds take effect at once, even while a person holds the conversation;
4. a conversation held by a person queues the message and the bot stays silent;
5. otherwise NLU parses it, the policies pick an action, the action calls `servicing`;
6. every reply passes `compliance.screen_outbound` and is recorded; a blocked one is replaced by a
   safe fallback;
7. commit. Only then are the replies sent through `output`.
A crash before the commit loses nothing: the channel retries and the retry is a new turn.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from compliance import Outcome, load_profile, mask_pii, may_contact, record_attempt
from compliance.screening import (
    AbuseDetector,
    Cue,
    InboundFlag,
    InboundScreen,
    OutboundContext,
    screen_inbound,
    screen_outbound,
)
from dialogue.flows import ACTIONS, RESUME_ACTIONS
from dialogue.flows.escalation import escalate
from dialogue.flows.holds import resubscribes
from dialogue.linking import LinkTokenError, redeem_link_token
from dialogue.messages import PHONE_CHANNELS, Button, Inbound, InboundKind, Reply, TurnResult
from dialogue.nlu.entities import (
    extract_entities,
    parse_date_of_birth,
    parse_digits,
    parse_option,
    parse_yes_no,
)
from dialogue.nlu.intents import OUT_OF_SCOPE
from dialogue.nlu.language import detect_language
from dialogue.nlu.parser import Nlu, ParseResult
from dialogue.output import Output
from dialogue.policies import TurnView, decide
from dialogue.responses import Say, render, templates
from dialogue.state import ConversationState
from dialogue.turn import DialogueSettings, TurnContext, local_today
from models import (
    AttemptOutcome,
    Borrower,
    Channel,
    Conversation,
    Handler,
    InboundMessage,
    InboundStatus,
    Initiator,
    Loan,
    is_postgresql,
    session_cipher,
    utcnow,
)
from servicing import (
    InvalidInput,
    ServicingError,
    find_borrower_by_telegram_chat,
    find_borrowers_by_phone,
    normalize_phone,
    place_hold,
)

MAX_MESSAGE_ID = 128
# Money troubles are what restructuring answers; the other cues (illness, bereavement, distress,
# self-harm) need a person.
HARDSHIP_CUES = frozenset({Cue.JOB_LOSS, Cue.HARDSHIP})
# Intents that leave a free-text question rather than answer it.
LEAVES_FREE_TEXT = frozenset(
    {"request_human", "deny", "goodbye", "stop_contact", "attorney", "bankruptcy"}
    | {"dispute_debt", "wrong_person", "abusive"}
)
SENTENCE_END = frozenset(".!?。！？…:：")
# Actions that continue what is open; anything else closes an open form or question.
CONTINUING = frozenset(
    {"form_step", "identity_step", "confirm", "cancel", "confirm_hold", "start_identity"}
)


class InvalidInbound(ValueError):
    """An inbound message that cannot be a turn (no id, naive time): the channel's bug."""


class Dialogue:
    """The dialogue engine every channel feeds."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        nlu: Nlu,
        settings: DialogueSettings | None = None,
        detector: AbuseDetector | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._nlu = nlu
        self.settings = settings or DialogueSettings()
        self._profile = load_profile(self.settings.profile)
        self._detector = detector
        self._clock = clock

    def handle(self, inbound: Inbound, output: Output | None = None) -> TurnResult:
        """Run one turn; `output` stages its replies in the turn's transaction, then sends them."""
        _check(inbound)
        for attempt in (1, 2):
            try:
                with self._sessions.begin() as session:
                    result = self._turn(session, inbound)
                    if output is not None and not result.duplicate:
                        output.stage(session, inbound, result)
                break
            except IntegrityError:
                # Two first messages of a new conversation raced to create it; the second
                # attempt finds the row the other made.
                if attempt == 2:
                    raise
        if output is not None and not result.duplicate:
            for reply in result.replies:
                output.send(inbound.address, reply)
        return result

    # --- the conversation -----------------------------------------------------------------

    def _address_index(self, session: Session, inbound: Inbound) -> tuple[str, str]:
        """The stored address and its blind index; phone channels use the E.164 number."""
        address = inbound.address.strip()
        if inbound.channel in PHONE_CHANNELS:
            try:
                address = normalize_phone(address, field="address")
            except InvalidInput:
                raise InvalidInbound(f"{inbound.channel} address is not a phone number") from None
            return address, session_cipher(session).blind_index(address)
        return address, session_cipher(session).blind_index(f"{inbound.channel.value}:{address}")

    def _conversation(self, session: Session, inbound: Inbound, now: datetime) -> Conversation:
        address, index = self._address_index(session, inbound)
        query = select(Conversation).where(
            Conversation.channel == inbound.channel, Conversation.address_index == index
        )
        locked = query.with_for_update() if is_postgresql(session) else query
        conversation = session.scalars(locked).first()
        if conversation is not None:
            return conversation
        conversation = Conversation(
            channel=inbound.channel,
            address=address,
            address_index=index,
            state={},
            created_at=now,
            updated_at=now,
        )
        conversation.borrower_id = self._linked_borrower(session, inbound, address)
        session.add(conversation)
        session.flush()
        return conversation

    def _linked_borrower(self, session: Session, inbound: Inbound, address: str) -> int | None:
        """The borrower an address belongs to, when exactly one does (identity still unproven)."""
        if inbound.channel in PHONE_CHANNELS:
            found = find_borrowers_by_phone(session=session, phone=address)
            return found[0].id if len(found) == 1 else None
        if inbound.channel is Channel.TELEGRAM and address.lstrip("-").isdigit():
            chat = find_borrower_by_telegram_chat(session=session, chat_id=int(address))
            return chat.id if chat is not None else None
        return None

    def _link_shared_contact(
        self,
        session: Session,
        conversation: Conversation,
        state: ConversationState,
        inbound: Inbound,
    ) -> None:
        if inbound.kind is not InboundKind.CONTACT or not inbound.contact_phone:
            return
        try:
            found = find_borrowers_by_phone(session=session, phone=inbound.contact_phone)
        except InvalidInput:
            return
        if len(found) == 1 and conversation.borrower_id != found[0].id:
            conversation.borrower_id = found[0].id
            conversation.loan_id = None
            conversation.verified_until = None
        state.linked_borrower = found[0].id if len(found) == 1 else None

    def _link_by_token(
        self,
        session: Session,
        conversation: Conversation,
        state: ConversationState,
        inbound: Inbound,
        now: datetime,
    ) -> str | None:
        """Link the conversation to the borrower a deep-link token names; why not, if it fails."""
        if not inbound.link_token:
            return None
        try:
            borrower_id = redeem_link_token(
                session=session, token=inbound.link_token, channel=inbound.channel, at=now
            )
        except LinkTokenError as refusal:
            return str(refusal)
        if conversation.borrower_id != borrower_id:
            conversation.borrower_id = borrower_id
            conversation.loan_id = None
            conversation.verified_until = None
        state.linked_borrower = borrower_id
        return None

    @staticmethod
    def _back_to_link(conversation: Conversation, state: ConversationState, now: datetime) -> None:
        """Once verification has lapsed, the conversation is the linked borrower's again.

        Whoever verified here last may share the phone with another borrower; the next person
        must prove who they are from the start, and no hold or opt-out may land on the wrong
        account in the meantime.
        """
        lapsed = conversation.verified_until is None or conversation.verified_until <= now
        if lapsed and conversation.borrower_id != state.linked_borrower:
            conversation.borrower_id = state.linked_borrower
            conversation.loan_id = None

    # --- the turn -------------------------------------------------------------------------

    def _turn(self, session: Session, inbound: Inbound) -> TurnResult:
        now = self._clock()
        conversation = self._conversation(session, inbound, now)
        done = session.scalars(
            select(InboundMessage).where(
                InboundMessage.channel == inbound.channel,
                InboundMessage.channel_message_id == inbound.channel_message_id,
            )
        ).first()
        if done is not None:
            return TurnResult(
                conversation_id=conversation.id,
                replies=tuple(Reply.from_dict(r) for r in done.replies),
                duplicate=True,
                silent=done.status is not InboundStatus.HANDLED,
            )
        state = ConversationState.from_json(conversation.state)
        if not conversation.state:
            # A new conversation: linked to whoever its address belongs to (or nobody).
            state.linked_borrower = conversation.borrower_id
        if inbound.session_id and inbound.session_id != state.session_id:
            # A new call: whoever verified on the last one must prove it again on this one.
            state.session_id = inbound.session_id
            conversation.verified_until = None
            state.form = None
            state.pending = None
        self._link_shared_contact(session, conversation, state, inbound)
        link_refused = self._link_by_token(session, conversation, state, inbound, now)
        self._back_to_link(conversation, state, now)
        borrower = (
            session.get(Borrower, conversation.borrower_id) if conversation.borrower_id else None
        )
        text = inbound.text.strip() if inbound.kind is not InboundKind.OTHER else ""
        masked = mask_pii(text)
        # A button payload ("/greet") is no writing: it says nothing of the language.
        written = "" if text.startswith("/") else text
        language = (
            detect_language(written)
            or conversation.language
            or (borrower.preferred_language if borrower else None)
            or "en"
        )
        screen = screen_inbound(text, language, detector=self._detector) if text else None
        ctx = TurnContext(
            session=session,
            conversation=conversation,
            state=state,
            parse=None,
            language=language,
            now=now,
            today=local_today(now, borrower),
            settings=self.settings,
            profile=self._profile,
            borrower=borrower,
            loan=session.get(Loan, conversation.loan_id) if conversation.loan_id else None,
        )
        ctx.record(
            "message_in",
            {
                "channel": inbound.channel.value,
                "channel_message_id": inbound.channel_message_id,
                "kind": inbound.kind.value,
                "text": masked.text,
                "masked": list(masked.found),
                "flags": sorted(screen.flags) if screen else [],
                "cues": list(screen.cues) if screen else [],
                "abuse_score": round(screen.abuse.score, 4) if screen else 0.0,
            },
        )
        if inbound.link_token:
            ctx.record("chat_link", {"linked": link_refused is None, "refused": link_refused})
        conversation.last_inbound_at = now
        conversation.updated_at = now
        if borrower is not None:
            record_attempt(
                session=session,
                borrower_id=borrower.id,
                loan_id=conversation.loan_id,
                channel=inbound.channel,
                initiated_by=Initiator.BORROWER,
                address_index=conversation.address_index,
                at=now,
                outcome=AttemptOutcome.RECEIVED,
            )
        if ctx.verified:
            # Verification lapses after a quiet period, not in the middle of a conversation.
            conversation.verified_until = now + self.settings.verification_ttl

        quiet = self._quiet_reason(ctx, screen)
        if quiet is not None:
            if screen is not None and conversation.handler is Handler.HUMAN:
                stop = _stop_action(screen)
                if stop is not None:
                    # STOP is honoured and confirmed at once, whoever holds the conversation; the
                    # message still reaches the collector.
                    ACTIONS[stop](ctx, {"source": "screen"})
                    replies = self._replies(ctx)
                    result = self._store(ctx, inbound, masked.text, replies, status=quiet)
                    return replace(result, policy="hold_policy", action=stop)
                self._holds_while_held(ctx, screen)
            return self._store(ctx, inbound, masked.text, [], status=quiet)

        parse = self._nlu.parse(text, today=ctx.today) if text else None
        ctx.parse = parse
        conversation.language = language
        view, params = self._view(ctx, inbound, parse, screen)
        prediction = decide(view)
        if prediction.action not in CONTINUING and prediction.policy != "hold_policy":
            if state.form is not None and prediction.policy == "intent_policy":
                ctx.record("form_abandoned", {"form": state.form.name})
            if prediction.policy in ("intent_policy", "care_policy"):
                state.form = None
            state.pending = None
        if view.intent != OUT_OF_SCOPE:
            state.fallbacks = 0
        state.remember(view.intent)
        ctx.record(
            "decision",
            {
                "intent": view.intent,
                "confidence": round(parse.confidence, 4) if parse else None,
                "policy": prediction.policy,
                "action": prediction.action,
                "entities": [e.kind for e in parse.entities] if parse else [],
            },
        )
        if not self._may_answer(ctx, prediction.policy):
            # A hold or an opt-out forbids the bot's answer; a person decides what may be said.
            escalate(ctx, "contact_restricted")
            return self._store(ctx, inbound, masked.text, [], status=InboundStatus.QUEUED)
        self._run(ctx, prediction.action, {**prediction.params, **params})
        if ctx.follow_up and not ctx.closed:
            follow = RESUME_ACTIONS.get(ctx.follow_up)
            ctx.parse = _request_parse(ctx, ctx.follow_up, ctx.state.resume_text)
            ctx.follow_up = None
            ctx.state.resume_text = None
            if follow is not None and not self._may_answer(ctx, "identity_policy"):
                # Verified just now: only now is it known whose account this is, and what
                # compliance allows to be said to them.
                escalate(ctx, "contact_restricted")
            elif follow is not None:
                self._run(ctx, follow, {})
        replies = self._replies(ctx)
        result = self._store(ctx, inbound, masked.text, replies, status=InboundStatus.HANDLED)
        return replace(
            result, intent=view.intent, policy=prediction.policy, action=prediction.action
        )

    def _run(self, ctx: TurnContext, action: str, params: dict[str, Any]) -> None:
        """Run one action in a savepoint: a servicing refusal undoes its writes, not the turn's.

        The message and the decision stay recorded; the borrower is told, in a safe line, that
        nothing was changed, instead of the channel getting an error and retrying for ever.
        """
        says, events = len(ctx.says), len(ctx.events)
        try:
            with ctx.session.begin_nested():
                ACTIONS[action](ctx, params)
        except ServicingError as refusal:
            del ctx.says[says:]
            del ctx.events[events:]
            # The question that led here is dropped with what it would have changed.
            ctx.state.pending = None
            ctx.state.form = None
            ctx.record(
                "action_refused",
                {"action": action, "code": refusal.code, "field": refusal.field},
            )
            ctx.say("cancelled")

    def _quiet_reason(self, ctx: TurnContext, screen: InboundScreen | None) -> InboundStatus | None:
        if ctx.conversation.handler is Handler.HUMAN:
            return InboundStatus.QUEUED
        if ctx.state.wrong_party:
            return InboundStatus.SILENT
        return None

    def _holds_while_held(self, ctx: TurnContext, screen: InboundScreen) -> None:
        """Holds the screen found take effect even while a person holds the conversation."""
        if ctx.borrower is None:
            return
        for kind in screen.holds:
            hold = place_hold(
                session=ctx.session,
                borrower_id=ctx.borrower.id,
                kind=kind,
                source=f"conversation:{ctx.conversation.id}",
                at=ctx.now,
            )
            ctx.record("hold_placed", {"hold_id": hold.id, "kind": kind.value})

    def _may_answer(self, ctx: TurnContext, policy: str) -> bool:
        """Whether compliance lets Settle answer this borrower here now (always for holds)."""
        if ctx.borrower is None or policy == "hold_policy":
            return True
        decision = may_contact(
            session=ctx.session,
            borrower_id=ctx.borrower.id,
            loan_id=ctx.conversation.loan_id,
            channel=ctx.conversation.channel,
            at=ctx.now,
            initiated_by=Initiator.BORROWER,
            address_index=ctx.conversation.address_index,
            profile=ctx.profile,
        )
        return decision.outcome is Outcome.ALLOW

    def _view(
        self,
        ctx: TurnContext,
        inbound: Inbound,
        parse: ParseResult | None,
        screen: InboundScreen | None,
    ) -> tuple[TurnView, dict[str, Any]]:
        state = ctx.state
        params: dict[str, Any] = {}
        intent = parse.intent if parse is not None else OUT_OF_SCOPE
        confident = parse is not None and parse.intent != OUT_OF_SCOPE
        payload = _payload(parse.text if parse else "", state)
        if payload is not None:
            name, _, value = payload.lstrip("/").partition(":")
            if name == "offer" and re.fullmatch(r"[0-9]{1,12}", value):
                intent, params = "inform", {"offer_id": int(value)}
            elif name in self._nlu.model.classes:
                intent = name
            confident = True
        answer = {"/affirm": True, "/deny": False}.get(payload or "") if payload else None
        if payload is None and parse is not None:
            answer = parse_yes_no(parse.text)
        view = TurnView(
            intent=intent,
            confident=confident,
            # A button payload answers no open question (its digits are no last 4, its words
            # no situation); only an offer chosen does.
            has_slot_value=(payload is None and _has_slot_value(ctx, parse))
            or "offer_id" in params,
            flags=frozenset(str(flag) for flag in screen.flags) if screen else frozenset(),
            abusive=_abusive(screen, parse),
            threat=bool(screen and screen.abuse.threat),
            cues=tuple(str(cue) for cue in screen.cues if cue not in HARDSHIP_CUES)
            if screen
            else (),
            urgent=bool(screen and screen.urgent),
            state=state,
            borrower_known=ctx.borrower is not None,
            verified=ctx.verified,
            identity_locked=ctx.conversation.identity_locked,
            media_only=inbound.kind is InboundKind.OTHER,
            said_yes=answer is True,
            said_no=answer is False,
            resubscribe=(
                payload is None
                and state.pending is None
                and parse is not None
                and resubscribes(ctx, parse.text)
            ),
        )
        return view, params

    # --- replies --------------------------------------------------------------------------

    def _replies(self, ctx: TurnContext) -> list[Reply]:
        replies: list[Reply] = []
        offered: list[list[str]] = []
        for say in ctx.says:
            reply = self._screened(ctx, say)
            if reply is None:
                continue
            replies.append(reply)
            offered = [[button.payload, button.title] for button in reply.buttons]
        ctx.state.choices = offered
        if replies and ctx.borrower is not None:
            record_attempt(
                session=ctx.session,
                borrower_id=ctx.borrower.id,
                loan_id=ctx.conversation.loan_id,
                channel=ctx.conversation.channel,
                initiated_by=Initiator.BORROWER,
                address_index=ctx.conversation.address_index,
                at=ctx.now,
                outcome=AttemptOutcome.SENT,
            )
        return replies

    def _screened(self, ctx: TurnContext, say: Say) -> Reply | None:
        language = ctx.language
        text, buttons, shown = _rendered(ctx, say)
        context = OutboundContext(
            profile=self.settings.profile,
            channel=ctx.conversation.channel,
            first_contact=not ctx.state.disclosed,
            party_verified=ctx.verified,
        )
        # The bot's replies are templates (tests screen every one with the encoder model too), so
        # the screen's patterns, lexicons and Chinese model read them here and the English
        # encoder model is kept for what people write: a borrower's messages, a collector's.
        verdict = screen_outbound(shown, language, context)
        if not verdict.allowed:
            ctx.record(
                "message_blocked",
                {
                    "template": say.key,
                    "text": mask_pii(shown).text,
                    "reasons": list(verdict.reasons),
                    "findings": [
                        {"category": f.category, "code": f.code, "matched": f.matched}
                        for f in verdict.findings
                    ],
                },
            )
            if say.key == "safe_fallback":
                return None
            return self._screened(ctx, Say(key="safe_fallback", values={}))
        sent = verdict.text_to_send or shown
        body = _without_buttons(text, shown, sent)
        if verdict.disclosures:
            ctx.state.disclosed = True
        ctx.record(
            "message_out",
            {
                "template": say.key,
                "text": mask_pii(body).text,
                "buttons": [button.title for button in buttons],
                "disclosures": list(verdict.disclosures),
            },
        )
        return Reply(
            text=body, language=language, buttons=buttons if sent.startswith(shown) else ()
        )

    def _store(
        self,
        ctx: TurnContext,
        inbound: Inbound,
        masked_text: str,
        replies: list[Reply],
        *,
        status: InboundStatus,
    ) -> TurnResult:
        ctx.conversation.state = ctx.state.to_json()
        ctx.flush_events()
        ctx.session.add(
            InboundMessage(
                conversation_id=ctx.conversation.id,
                channel=inbound.channel,
                channel_message_id=inbound.channel_message_id,
                received_at=inbound.received_at,
                status=status,
                text=masked_text if status is InboundStatus.QUEUED else None,
                replies=[reply.as_dict() for reply in replies],
                created_at=ctx.now,
            )
        )
        ctx.session.flush()
        return TurnResult(
            conversation_id=ctx.conversation.id,
            replies=tuple(replies),
            silent=status is not InboundStatus.HANDLED,
        )


def _without_buttons(text: str, shown: str, sent: str) -> str:
    """The screened message without its button lines: the text and the disclosures added.

    The screen read the text with the button titles under it, so the disclosures follow the
    last title; they are moved to follow the text instead.
    """
    if not sent.startswith(shown):
        return sent
    added = sent[len(shown) :]
    if text.rstrip()[-1:] in SENTENCE_END:
        # The screen ended the last button title with a full stop; the text has its own.
        added = added.removeprefix(".").removeprefix("。")
    return text + added


def _stop_action(screen: InboundScreen) -> str | None:
    """The opt-out (cease, STOP) or opt-in (START) a message asks for, if any."""
    if InboundFlag.CEASE in screen.flags:
        return "stop_all"
    if InboundFlag.OPT_OUT in screen.flags:
        return "stop_channel"
    if InboundFlag.START in screen.flags:
        return "start_contact"
    return None


def _rendered(ctx: TurnContext, say: Say) -> tuple[str, tuple[Button, ...], str]:
    """A reply's text, its buttons, and what the screen reads: the text with the button titles
    under it (they are sent too)."""
    known = templates(ctx.language)
    text = render(say.key, ctx.language, **say.values)
    buttons = tuple(
        Button(title=render(title, ctx.language) if title in known else title, payload=payload)
        for title, payload in say.buttons
    )
    return text, buttons, "\n".join([text, *(button.title for button in buttons)])


def _abusive(screen: InboundScreen | None, parse: ParseResult | None) -> bool:
    """Abuse the screen found, where a pattern matched or the NLU agrees.

    The screen's general-purpose model alone flags ordinary borrower lines ("last 4 are 6789",
    "my lawyer handles this"); the NLU's abusive class was trained on this domain's messages.
    """
    if screen is None or not screen.abusive:
        return False
    agreed = parse is not None and parse.intent == "abusive"
    return bool(screen.abuse.matches) or screen.abuse.threat or agreed


def _check(inbound: Inbound) -> None:
    if not inbound.channel_message_id or len(inbound.channel_message_id) > MAX_MESSAGE_ID:
        raise InvalidInbound(f"channel_message_id must be 1 to {MAX_MESSAGE_ID} characters")
    if not inbound.address.strip():
        raise InvalidInbound("address is empty")
    if inbound.received_at.tzinfo is None:
        raise InvalidInbound("received_at must be timezone-aware")


def _request_parse(ctx: TurnContext, intent: str, text: str | None) -> ParseResult | None:
    """The request verification interrupted, read again: its amount, date or months count.

    The turn's own message was the last verification answer; acting on its digits would be wrong.
    """
    if not text:
        return None
    language = ctx.language if ctx.language in ("en", "zh") else "en"
    return ParseResult(
        text=text,
        intent=intent,
        confidence=1.0,
        entities=extract_entities(text, language=language, today=ctx.today),
        language=language,
        ranking=(),
    )


def _payload(text: str, state: ConversationState) -> str | None:
    """A button's payload, sent as is (`/check_balance`) or chosen by number from the offer."""
    stripped = text.strip()
    if stripped.startswith("/") and len(stripped) > 1:
        return stripped
    if state.choices:
        number = parse_option(stripped, count=len(state.choices))
        if number is not None and (state.form is None or state.form.asked == "offer"):
            return state.choices[number - 1][0]
    return None


def _has_slot_value(ctx: TurnContext, parse: ParseResult | None) -> bool:
    """Whether the message answers the question the open form asked."""
    form = ctx.state.form
    if form is None or parse is None or not form.asked:
        return False
    kinds = {entity.kind for entity in parse.entities}
    text = parse.text
    checks: dict[str, Callable[[], bool]] = {
        "amount": lambda: "amount" in kinds or _is_number(text),
        "date": lambda: "date" in kinds,
        "months": lambda: "months" in kinds or (text.strip().isdigit() and len(text.strip()) <= 2),
        "phone": lambda: "phone" in kinds or len(parse_digits(text) or "") >= 7,
        "dob": lambda: (
            parse_date_of_birth(text, language=ctx.language, today=ctx.today) is not None
        ),
        "last4": lambda: parse_digits(text, length=4) is not None,
        # Free text answers these, unless it asks for a person, says no, or raises a hold.
        "situation": lambda: parse.intent not in LEAVES_FREE_TEXT,
        "details": lambda: parse.intent not in LEAVES_FREE_TEXT,
        "offer": lambda: parse_option(text, count=len(form.slots.get("offers", []))) is not None,
    }
    check = checks.get(form.asked)
    return bool(check and check())


def _is_number(text: str) -> bool:
    cleaned = text.strip().replace(",", "")
    return cleaned.replace(".", "", 1).isdigit()
