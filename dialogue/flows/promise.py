"""Promise to pay: amount and date, confirmed, then recorded in the servicing store."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from dialogue.flows.account import owing_balance
from dialogue.flows.chat import YES_NO
from dialogue.nlu.entities import parse_amount, parse_date
from dialogue.responses import day, money, money_decimal
from dialogue.state import MAX_BAD_ANSWERS, Form, Pending
from dialogue.turn import TurnContext
from servicing import MAX_PROMISE_DAYS, InvalidInput, from_minor, record_promise, to_minor


def _latest(ctx: TurnContext) -> date:
    return ctx.today + timedelta(days=MAX_PROMISE_DAYS)


def _take_amount(ctx: TurnContext, form: Form, text: str | None, *, asked: bool) -> bool:
    """Fill the amount slot from the message; False (and a re-ask) when the value is bad."""
    if ctx.parse is None or ctx.loan is None:
        return False
    entity = ctx.parse.first("amount")
    amount = entity.value if entity is not None else None
    if amount is None and asked and text is not None:
        amount = parse_amount(text, language=ctx.language)
    if not isinstance(amount, Decimal):
        return False
    maximum = form.slots["maximum_minor"]
    currency = ctx.loan.currency
    try:
        minor = to_minor(amount, currency)
    except InvalidInput:  # more decimals than the currency has: asked again, like zero
        minor = 0
    if not 0 < minor <= maximum:
        form.retries += 1
        ctx.say(
            "promise_amount_bad",
            minimum=money(1, currency, ctx.language),
            maximum=money(maximum, currency, ctx.language),
        )
        form.asked = "amount"
        return False
    form.slots["amount"] = str(from_minor(minor, currency))
    return True


def _take_date(ctx: TurnContext, form: Form, text: str | None, *, asked: bool) -> bool:
    if ctx.parse is None:
        return False
    entity = ctx.parse.first("date")
    when = entity.value if entity is not None else None
    if when is None and asked and text is not None:
        when = parse_date(text, language=ctx.language, today=ctx.today)
    if not isinstance(when, date):
        return False
    if not ctx.today <= when <= _latest(ctx):
        form.retries += 1
        ctx.say("promise_date_bad", latest=day(_latest(ctx), ctx.language))
        form.asked = "date"
        return False
    form.slots["date"] = when.isoformat()
    return True


def _next(ctx: TurnContext, form: Form) -> None:
    assert ctx.loan is not None
    if form.retries >= MAX_BAD_ANSWERS:
        ctx.state.form = None
        ctx.say("cancelled")
        return
    if "amount" not in form.slots:
        if form.asked != "amount" or not ctx.says:
            ctx.say("ask_promise_amount")
        form.asked = "amount"
        return
    amount = money_decimal(Decimal(form.slots["amount"]), ctx.loan.currency, ctx.language)
    if "date" not in form.slots:
        if form.asked != "date" or not ctx.says:
            ctx.say("ask_promise_date", amount=amount, latest=day(_latest(ctx), ctx.language))
        form.asked = "date"
        return
    ctx.state.form = None
    ctx.state.pending = Pending(action="promise", params=dict(form.slots))
    when = date.fromisoformat(form.slots["date"])
    ctx.say("promise_confirm", buttons=YES_NO, amount=amount, date=day(when, ctx.language))


def promise(ctx: TurnContext, params: dict[str, Any]) -> None:
    position = owing_balance(ctx)
    if position is None or ctx.loan is None:
        return
    form = Form(name="promise", slots={"maximum_minor": position.payoff_minor})
    ctx.state.form = form
    _take_amount(ctx, form, None, asked=False)
    _take_date(ctx, form, None, asked=False)
    _next(ctx, form)


def promise_step(ctx: TurnContext, params: dict[str, Any]) -> None:
    form = ctx.state.form
    if form is None or ctx.parse is None or ctx.loan is None:
        return
    text = ctx.parse.text
    asked = form.asked
    # The answer may carry both values ("200 on Friday"); the slot asked is read leniently.
    amount_ok = "amount" in form.slots or _take_amount(ctx, form, text, asked=asked == "amount")
    if amount_ok or asked != "amount":
        _take_date(ctx, form, text, asked=asked == "date")
    if not ctx.says and asked is not None and asked not in form.slots:
        form.retries += 1
        if asked == "amount":
            ctx.say(
                "promise_amount_bad",
                minimum=money(1, ctx.loan.currency, ctx.language),
                maximum=money(form.slots["maximum_minor"], ctx.loan.currency, ctx.language),
            )
        else:
            ctx.say("promise_date_bad", latest=day(_latest(ctx), ctx.language))
    _next(ctx, form)


def confirm_promise(ctx: TurnContext, params: dict[str, Any]) -> None:
    if ctx.loan is None:
        return
    amount = Decimal(params["amount"])
    due_on = date.fromisoformat(params["date"])
    if not ctx.today <= due_on <= _latest(ctx):
        # The borrower's midnight passed between the question and the yes: "today" was
        # yesterday. Ask for the date again rather than record a promise already broken.
        slots: dict[str, Any] = {k: params[k] for k in ("maximum_minor", "amount") if k in params}
        form = Form(name="promise", slots=slots, asked="date")
        ctx.state.form = form
        ctx.say("promise_date_bad", latest=day(_latest(ctx), ctx.language))
        return
    row = record_promise(
        session=ctx.session,
        loan_id=ctx.loan.id,
        amount=amount,
        due_on=due_on,
        channel=ctx.conversation.channel.value,
        promised_on=ctx.today,
        today=ctx.today,
    )
    ctx.record(
        "promise_recorded",
        {"promise_id": row.id, "amount_minor": row.amount_minor, "due_on": due_on.isoformat()},
        loan_stream=True,
    )
    ctx.say(
        "promise_recorded",
        amount=money_decimal(amount, ctx.loan.currency, ctx.language),
        date=day(due_on, ctx.language),
    )
