"""Extension: how many months, the servicing store's decision, confirmation, and the new dates."""

from __future__ import annotations

from typing import Any

from dialogue.flows.account import focus_loan
from dialogue.flows.chat import YES_NO
from dialogue.flows.escalation import escalate
from dialogue.nlu.entities import parse_months
from dialogue.responses import day, money
from dialogue.state import Form, Pending
from dialogue.turn import TurnContext
from servicing import ExtensionDecision, NotEligible, apply_extension, catalogue, quote_extension


def _allowed(ctx: TurnContext) -> tuple[int, ...]:
    assert ctx.loan is not None
    return catalogue().get(ctx.loan.product).extension.months_allowed


def _allowed_text(ctx: TurnContext) -> str:
    separator = "、" if ctx.language == "zh" else ", "
    return separator.join(str(months) for months in _allowed(ctx))


def _months_from(ctx: TurnContext, *, lenient: bool) -> int | None:
    if ctx.parse is None:
        return None
    entity = ctx.parse.first("months")
    if entity is not None and isinstance(entity.value, int):
        return entity.value
    if lenient:
        return parse_months(ctx.parse.text, language=ctx.language) or _bare_number(ctx)
    return None


def _bare_number(ctx: TurnContext) -> int | None:
    # Asked "how many months?", a plain "2" is the answer.
    text = ctx.parse.text.strip() if ctx.parse is not None else ""
    return int(text) if text.isdigit() and len(text) <= 2 else None


def _quote(ctx: TurnContext, months: int) -> None:
    assert ctx.loan is not None
    quote = quote_extension(
        session=ctx.session, loan_id=ctx.loan.id, months=months, as_of=ctx.today
    )
    ctx.state.form = None
    ctx.record(
        "extension_quoted",
        {"months": months, "decision": quote.decision.value, "reason": quote.reason},
    )
    if quote.decision is ExtensionDecision.APPROVED:
        first = quote.moves[0] if quote.moves else None
        ctx.state.pending = Pending(action="extension", params={"months": months})
        ctx.say(
            "extension_offer",
            buttons=YES_NO,
            count=len(quote.moves),
            months=months,
            new_due=day(first.new_due_on, ctx.language) if first else "-",
            fee=money(quote.fee_minor, quote.currency, ctx.language),
        )
    elif quote.decision is ExtensionDecision.REFERRED:
        escalate(ctx, "extension_referred")
        ctx.say("extension_referred")
    else:
        reason = quote.reason.value if quote.reason is not None else "loan_not_active"
        ctx.say(f"extension_declined_{reason}", allowed=_allowed_text(ctx))


def extension(ctx: TurnContext, params: dict[str, Any]) -> None:
    if focus_loan(ctx) is None:
        ctx.say("no_loan")
        return
    months = _months_from(ctx, lenient=False)
    if months is None:
        ctx.state.form = Form(name="extension", asked="months")
        ctx.say("ask_months", allowed=_allowed_text(ctx))
        return
    _checked_quote(ctx, months)


def _checked_quote(ctx: TurnContext, months: int) -> None:
    if months not in _allowed(ctx):
        form = ctx.state.form or Form(name="extension", asked="months")
        ctx.state.form = None if form.bad_answer() else form
        ctx.say("months_bad", allowed=_allowed_text(ctx))
        return
    _quote(ctx, months)


def extension_step(ctx: TurnContext, params: dict[str, Any]) -> None:
    if focus_loan(ctx) is None:
        ctx.state.form = None
        ctx.say("no_loan")
        return
    months = _months_from(ctx, lenient=True)
    if months is None:
        form = ctx.state.form
        if form is not None and form.bad_answer():
            ctx.state.form = None
            ctx.say("cancelled")
            return
        ctx.say("months_bad", allowed=_allowed_text(ctx))
        return
    _checked_quote(ctx, months)


def confirm_extension(ctx: TurnContext, params: dict[str, Any]) -> None:
    if focus_loan(ctx) is None or ctx.loan is None:
        ctx.say("no_loan")
        return
    months = int(params["months"])
    try:
        granted = apply_extension(
            session=ctx.session, loan_id=ctx.loan.id, months=months, on=ctx.today, today=ctx.today
        )
    except NotEligible as refusal:
        # The loan changed between the quote and the yes (a payment, another channel).
        ctx.say(f"extension_declined_{refusal.reason}", allowed=_allowed_text(ctx))
        return
    moved = sorted(
        (i for i in ctx.loan.installments if i.seq >= granted.first_moved_seq),
        key=lambda i: i.due_on,
    )
    ctx.record(
        "extension_applied",
        {"extension_id": granted.id, "months": months, "fee_minor": granted.fee_minor},
        loan_stream=True,
    )
    ctx.say(
        "extension_applied",
        months=months,
        new_due=day(moved[0].due_on, ctx.language) if moved else "-",
    )
