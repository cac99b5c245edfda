"""Already paid: the borrower's claim is recorded for reconciliation, never argued with."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from dialogue.flows.account import focus_loan
from dialogue.nlu.entities import parse_amount, parse_past_date
from dialogue.responses import day, money_decimal
from dialogue.state import Form
from dialogue.turn import TurnContext
from servicing import InvalidInput, record_payment_claim, to_minor


def _found(ctx: TurnContext, *, lenient: bool) -> tuple[Decimal | None, date | None]:
    if ctx.parse is None:
        return None, None
    text = ctx.parse.text
    entity = ctx.parse.first("amount")
    amount = entity.value if entity is not None and isinstance(entity.value, Decimal) else None
    if amount is None and lenient:
        amount = parse_amount(text, language=ctx.language)
    paid_on = parse_past_date(text, language=ctx.language, today=ctx.today)
    return amount, paid_on


def _holds(amount: Decimal, currency: str) -> bool:
    try:
        return to_minor(amount, currency) > 0
    except InvalidInput:
        return False


def _record(ctx: TurnContext, amount: Decimal | None, paid_on: date | None) -> None:
    assert ctx.loan is not None
    if paid_on is not None and paid_on < ctx.loan.disbursed_on:
        # Paid before the loan existed: a mistyped date, kept out of the claim.
        paid_on = None
    if amount is not None and not _holds(amount, ctx.loan.currency):
        # An amount the loan's currency cannot hold ("150.555", "0"): the claim is kept
        # without it, for the payments team to ask.
        amount = None
    claim = record_payment_claim(
        session=ctx.session,
        loan_id=ctx.loan.id,
        claimed_on=ctx.today,
        channel=ctx.conversation.channel.value,
        amount=amount,
        paid_on=paid_on,
    )
    ctx.state.form = None
    ctx.record(
        "payment_claimed",
        {
            "claim_id": claim.id,
            "amount_minor": claim.amount_minor,
            "paid_on": paid_on.isoformat() if paid_on else None,
        },
        loan_stream=True,
    )
    parts = []
    if amount is not None:
        parts.append(
            ctx.text("paid_amount", amount=money_decimal(amount, ctx.loan.currency, ctx.language))
        )
    if paid_on is not None:
        parts.append(ctx.text("paid_date", date=day(paid_on, ctx.language)))
    # English reads "payment of $150 made on Dec 5"; Chinese runs the parts together.
    separator = "" if ctx.language == "zh" else " "
    details = separator + separator.join(parts) if parts else ""
    ctx.say("paid_recorded", details=details)


def paid(ctx: TurnContext, params: dict[str, Any]) -> None:
    if focus_loan(ctx) is None:
        ctx.say("no_loan")
        return
    # "I paid 150 on Monday": a bare number beside "paid" is the amount.
    amount, paid_on = _found(ctx, lenient=True)
    if amount is None and paid_on is None:
        ctx.state.form = Form(name="paid", asked="details")
        ctx.say("ask_paid_details")
        return
    _record(ctx, amount, paid_on)


def paid_step(ctx: TurnContext, params: dict[str, Any]) -> None:
    if focus_loan(ctx) is None:
        ctx.state.form = None
        ctx.say("no_loan")
        return
    # Both details are optional: what the borrower can tell is recorded, nothing is re-asked.
    amount, paid_on = _found(ctx, lenient=True)
    _record(ctx, amount, paid_on)
