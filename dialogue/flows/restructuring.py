"""Restructuring and hardship: hear the situation, present the priced offers, accept one.

Offers come from the servicing store (computed from the real balance). An offer that needs a
supervisor's approval is referred to a person instead of accepted.
"""

from __future__ import annotations

from typing import Any

from compliance import mask_pii
from dialogue.flows.account import focus_loan
from dialogue.flows.chat import YES_NO
from dialogue.flows.escalation import escalate
from dialogue.nlu.entities import parse_option
from dialogue.responses import day, money
from dialogue.state import Form, Pending
from dialogue.turn import TurnContext
from models import OfferKind, OfferStatus, RestructuringOffer
from servicing import (
    Conflict,
    NotEligible,
    accept_offer,
    capitalised_balance,
    list_offers,
    loan_balance,
    quote_restructuring,
)

SITUATION_CHARACTERS = 300


def restructuring(ctx: TurnContext, params: dict[str, Any]) -> None:
    if focus_loan(ctx) is None:
        ctx.say("no_loan")
        return
    ctx.state.form = Form(name="restructuring", asked="situation")
    ctx.say("ask_situation")


def _option_text(ctx: TurnContext, number: int, offer: RestructuringOffer, currency: str) -> str:
    if offer.kind is OfferKind.SETTLEMENT:
        return ctx.text(
            "restructure_option_settlement",
            number=number,
            installment=money(offer.installment_minor, currency, ctx.language),
            discount=money(offer.discount_minor, currency, ctx.language),
        )
    return ctx.text(
        "restructure_option",
        number=number,
        label=ctx.text(f"restructure_label_{offer.kind.value}"),
        installment=money(offer.installment_minor, currency, ctx.language),
        payments=offer.number_of_payments,
        total=money(offer.total_cost_minor, currency, ctx.language),
    )


def _present(ctx: TurnContext, form: Form) -> None:
    assert ctx.loan is not None
    try:
        offers = quote_restructuring(session=ctx.session, loan_id=ctx.loan.id, as_of=ctx.today)
    except (Conflict, NotEligible):
        offers = []
    if not offers:
        escalate(ctx, "no_plan")
        ctx.say("restructure_none")
        return
    currency = ctx.loan.currency
    position = loan_balance(session=ctx.session, loan_id=ctx.loan.id, as_of=ctx.today)
    lines = [_option_text(ctx, n, offer, currency) for n, offer in enumerate(offers, start=1)]
    form.asked = "offer"
    form.slots["offers"] = [offer.id for offer in offers]
    form.retries = 0
    ctx.record(
        "offers_presented",
        {"offer_ids": [offer.id for offer in offers], "kinds": [o.kind.value for o in offers]},
        loan_stream=True,
    )
    ctx.say(
        "restructure_offers",
        loan=ctx.loan.external_ref,
        balance=money(capitalised_balance(position), currency, ctx.language),
    )
    ctx.say(
        "restructure_choose",
        buttons=tuple(
            (line, f"/offer:{offer.id}") for line, offer in zip(lines, offers, strict=True)
        ),
    )


def restructuring_step(ctx: TurnContext, params: dict[str, Any]) -> None:
    form = ctx.state.form
    if form is None or focus_loan(ctx) is None or ctx.parse is None:
        ctx.state.form = None
        ctx.say("no_loan")
        return
    if form.asked == "situation":
        # Whatever they say is kept (masked, cut short) for the collector's summary.
        form.slots["situation"] = mask_pii(ctx.parse.text).text[:SITUATION_CHARACTERS]
        _present(ctx, form)
        return
    offers: list[int] = form.slots.get("offers", [])
    chosen = params.get("offer_id")
    if chosen is None:
        number = parse_option(ctx.parse.text, count=len(offers))
        chosen = offers[number - 1] if number is not None else None
    if chosen is None or int(chosen) not in offers:
        if form.bad_answer():
            ctx.state.form = None
            ctx.say("cancelled")
            return
        ctx.say("restructure_choose_bad", count=len(offers))
        return
    offer = _offer(ctx, int(chosen))
    if offer is None or ctx.loan is None:
        return
    number = offers.index(offer.id) + 1
    ctx.state.form = None
    ctx.state.pending = Pending(action="restructuring", params={"offer_id": offer.id})
    ctx.say(
        "restructure_confirm",
        buttons=YES_NO,
        option=_option_text(ctx, number, offer, ctx.loan.currency),
    )


def confirm_restructuring(ctx: TurnContext, params: dict[str, Any]) -> None:
    if focus_loan(ctx) is None or ctx.loan is None:
        ctx.say("no_loan")
        return
    offer = _offer(ctx, int(params["offer_id"]))
    if offer is None:
        ctx.say("restructure_none")
        return
    if offer.status is OfferStatus.PENDING_APPROVAL:
        escalate(ctx, "offer_approval")
        ctx.record("offer_referred", {"offer_id": offer.id}, loan_stream=True)
        ctx.say("restructure_referred")
        return
    try:
        arrangement = accept_offer(
            session=ctx.session, offer_id=offer.id, on=ctx.today, today=ctx.today
        )
    except (NotEligible, Conflict):
        escalate(ctx, "no_plan")
        ctx.say("restructure_none")
        return
    ctx.record(
        "arrangement_started",
        {"arrangement_id": arrangement.id, "offer_id": offer.id, "kind": offer.kind.value},
        loan_stream=True,
    )
    ctx.say(
        "restructure_accepted",
        installment=money(offer.installment_minor, ctx.loan.currency, ctx.language),
        first_due=day(offer.first_due_on, ctx.language),
    )


def _offer(ctx: TurnContext, offer_id: int) -> RestructuringOffer | None:
    if ctx.loan is None:
        return None
    offers = list_offers(session=ctx.session, loan_id=ctx.loan.id)
    return next((offer for offer in offers if offer.id == offer_id), None)
