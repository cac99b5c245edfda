"""Identity verification before any debt detail (US-THIRD-PARTY).

The borrower proves who they are with their date of birth and the last 4 digits of their
national id or of a phone number on file. When the channel's address is not linked to a
borrower (a Rasa REST client, a web chat), the mobile number on the account comes first.
Answers are checked against every candidate borrower at the end, and a failure never says
which answer was wrong. Three failures lock the account's details out of the conversation and
hand it to a person. Verification lapses after a quiet period (DialogueSettings).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from compliance import mask_pii
from dialogue.flows.escalation import escalate
from dialogue.messages import PHONE_CHANNELS
from dialogue.nlu.entities import parse_date_of_birth, parse_digits
from dialogue.state import Form
from dialogue.turn import TurnContext, local_today
from models import Borrower, IdentityFailure
from servicing import InvalidInput, find_borrowers_by_phone, get_borrower

MAX_FAILURES = 3
# Failures older than this no longer count toward an account's lock.
FAILURE_WINDOW = timedelta(days=1)
REQUEST_CHARACTERS = 300


def _ask(ctx: TurnContext, form: Form) -> None:
    if "candidates" not in form.slots:
        form.asked = "phone"
        ctx.say("ask_phone")
    elif "dob_checked" not in form.slots:
        form.asked = "dob"
        ctx.say("ask_dob")
    else:
        form.asked = "last4"
        ctx.say("ask_last4")


def _fresh_form(ctx: TurnContext) -> Form:
    form = Form(name="identity")
    if ctx.borrower is not None:
        form.slots["candidates"] = [ctx.borrower.id]
        # Whom a failure counts against: every borrower the attempt could have been for.
        form.slots["tried"] = [ctx.borrower.id]
    return form


def account_locked(ctx: TurnContext, borrower_ids: list[int]) -> bool:
    """Whether any of these borrowers has failed identity checks too often, from anywhere.

    Failures count per borrower across conversations, so a new chat or sender buys no more
    guesses; a person clears them after looking at the account.
    """
    if not borrower_ids:
        return False
    failures = ctx.session.scalar(
        select(func.count())
        .select_from(IdentityFailure)
        .where(
            IdentityFailure.borrower_id.in_(borrower_ids),
            IdentityFailure.cleared_at.is_(None),
            IdentityFailure.at > ctx.now - FAILURE_WINDOW,
        )
        .group_by(IdentityFailure.borrower_id)
        .order_by(func.count().desc())
        .limit(1)
    )
    return (failures or 0) >= MAX_FAILURES


def _remember_request(ctx: TurnContext, intent: str | None) -> None:
    """The request verification interrupts, to run once it succeeds with the values it gave."""
    ctx.state.resume_intent = intent
    text = ctx.parse.text if intent and ctx.parse is not None else None
    ctx.state.resume_text = mask_pii(text).text[:REQUEST_CHARACTERS] if text else None


def start_identity(ctx: TurnContext, params: dict[str, Any]) -> None:
    _remember_request(ctx, params.get("resume"))
    ctx.state.form = _fresh_form(ctx)
    ctx.state.pending = None
    _ask(ctx, ctx.state.form)


def _ends_with(value: str | None, digits: str) -> bool:
    return value is not None and "".join(c for c in value if c.isdigit()).endswith(digits)


def _matches_last4(borrower: Borrower, digits: str, known: set[str]) -> bool:
    """The last 4 of the national id, or of a phone on file that the person talking did not
    already show: not the number they are texting from, not the one they typed when asked.

    Digits anyone holding the phone can read prove nothing.
    """
    if _ends_with(borrower.national_id, digits):
        return True
    return digits not in known and any(
        _ends_with(phone.number, digits) for phone in borrower.phones
    )


def _known_digits(ctx: TurnContext, form: Form) -> set[str]:
    """Last 4 digits the person talking has already shown: their address, the phone typed."""
    known = {str(d) for d in form.slots.get("typed_last4", [])}
    address = "".join(c for c in ctx.conversation.address if c.isdigit())
    if ctx.conversation.channel in PHONE_CHANNELS and len(address) >= 4:
        known.add(address[-4:])
    return known


def _phone_from(ctx: TurnContext) -> str | None:
    if ctx.parse is None:
        return None
    entity = ctx.parse.first("phone")
    if entity is not None:
        return str(entity.value)
    digits = parse_digits(ctx.parse.text)
    return digits if digits is not None and len(digits) >= 7 else None


def _borrowers_with_phone(ctx: TurnContext, phone: str) -> list[Borrower] | None:
    """Borrowers with this number; None when it is no number in any country tried.

    A number typed without its country code is read in the jurisdiction's country, then, for a
    Chinese writer, in China ("13800138000" under a US profile).
    """
    regions = [ctx.borrower.country if ctx.borrower else ctx.settings.default_region]
    if ctx.language == "zh":
        regions.append("CN")
    for region in dict.fromkeys(regions):
        try:
            return find_borrowers_by_phone(session=ctx.session, phone=phone, country=region)
        except InvalidInput:
            continue
    return None


def _bad_answer(ctx: TurnContext, form: Form, template: str) -> None:
    if form.bad_answer():
        _failed(ctx)
        return
    ctx.say(template)


def identity_step(ctx: TurnContext, params: dict[str, Any]) -> None:
    form = ctx.state.form
    if form is None or form.name != "identity":
        start_identity(ctx, params)
        return
    if params.get("resume"):
        _remember_request(ctx, params["resume"])
        _ask(ctx, form)
        return
    text = ctx.parse.text if ctx.parse is not None else ""
    if form.asked == "phone":
        phone = _phone_from(ctx)
        if phone is None:
            _bad_answer(ctx, form, "phone_bad")
            return
        found = _borrowers_with_phone(ctx, phone)
        if found is None:
            _bad_answer(ctx, form, "phone_bad")
            return
        # An unknown number goes on to the next questions all the same: whether a number is on
        # file is itself account information.
        form.slots["candidates"] = [borrower.id for borrower in found]
        form.slots["tried"] = [borrower.id for borrower in found]
        typed = "".join(c for c in phone if c.isdigit())
        form.slots["typed_last4"] = [typed[-4:]]
    elif form.asked == "dob":
        born = parse_date_of_birth(text, language=ctx.language, today=ctx.today)
        if born is None:
            _bad_answer(ctx, form, "dob_bad")
            return
        candidates = [
            get_borrower(session=ctx.session, borrower_id=i) for i in form.slots["candidates"]
        ]
        # Only the surviving ids are kept: the date itself is never stored in the state.
        form.slots["candidates"] = [b.id for b in candidates if b.date_of_birth == born]
        form.slots["dob_checked"] = True
    elif form.asked == "last4":
        digits = parse_digits(text, length=4)
        if digits is None:
            _bad_answer(ctx, form, "last4_bad")
            return
        matching = [
            borrower
            for borrower in (
                get_borrower(session=ctx.session, borrower_id=i) for i in form.slots["candidates"]
            )
            if _matches_last4(borrower, digits, _known_digits(ctx, form))
        ]
        if len(matching) == 1 and not account_locked(ctx, [matching[0].id]):
            _verified(ctx, matching[0])
        else:
            _failed(ctx)
        return
    form.retries = 0
    _ask(ctx, form)


def _verified(ctx: TurnContext, borrower: Borrower) -> None:
    conversation = ctx.conversation
    if conversation.borrower_id != borrower.id:
        conversation.loan_id = None
    conversation.borrower_id = borrower.id
    conversation.verified_until = ctx.now + ctx.settings.verification_ttl
    conversation.failed_verifications = 0
    ctx.borrower = borrower
    # Now that it is known whose conversation this is, "today" is their date.
    ctx.today = local_today(ctx.now, borrower)
    ctx.state.form = None
    ctx.record("identity_verified", {"borrower_id": borrower.id})
    ctx.say("identity_ok")
    if ctx.state.resume_intent:
        ctx.follow_up = ctx.state.resume_intent
    ctx.state.resume_intent = None


def _failed(ctx: TurnContext) -> None:
    conversation = ctx.conversation
    conversation.failed_verifications += 1
    form = ctx.state.form
    tried = [int(i) for i in form.slots.get("tried", [])] if form is not None else []
    for borrower_id in tried:
        ctx.session.add(
            IdentityFailure(borrower_id=borrower_id, conversation_id=conversation.id, at=ctx.now)
        )
    ctx.session.flush()
    ctx.record(
        "identity_failed", {"failures": conversation.failed_verifications, "borrowers": tried}
    )
    if conversation.failed_verifications >= MAX_FAILURES or account_locked(ctx, tried):
        conversation.identity_locked = True
        ctx.record("identity_locked", {"failures": conversation.failed_verifications})
        escalate(ctx, "identity_failed")
        ctx.say("identity_locked")
        return
    ctx.say("identity_retry")
    ctx.state.form = _fresh_form(ctx)
    _ask(ctx, ctx.state.form)


def identity_locked(ctx: TurnContext, params: dict[str, Any]) -> None:
    ctx.say("identity_locked_reminder")
