"""Account answers for a verified borrower: balance, due date, how to pay, payoff quote.

The loan a conversation is about is the borrower's active loan furthest behind (the one a
collector would raise first); it stays the conversation's loan until it closes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from dialogue.responses import day, money
from dialogue.turn import TurnContext
from models import Loan, LoanStatus
from servicing import Balance, from_minor, get_loan, loan_balance


def focus_loan(ctx: TurnContext) -> Loan | None:
    """The loan this conversation is about (and remember it), or None when none is open."""
    if ctx.borrower is None:
        return None
    if ctx.conversation.loan_id is not None:
        loan = get_loan(session=ctx.session, loan_id=ctx.conversation.loan_id)
        if loan.status is LoanStatus.ACTIVE and loan.borrower_id == ctx.borrower.id:
            ctx.loan = loan
            return loan
    active = [loan for loan in ctx.borrower.loans if loan.status is LoanStatus.ACTIVE]
    if not active:
        ctx.loan = None
        ctx.conversation.loan_id = None
        return None
    positions = [
        (loan_balance(session=ctx.session, loan_id=loan.id, as_of=ctx.today), loan)
        for loan in active
        if loan.disbursed_on <= ctx.today
    ]
    if not positions:
        return None
    _balance, loan = max(positions, key=lambda pair: (pair[0].days_past_due, -pair[1].id))
    ctx.loan = loan
    ctx.conversation.loan_id = loan.id
    return loan


def current_balance(ctx: TurnContext) -> Balance | None:
    """The focus loan's balance today; says so and returns None when there is no open loan."""
    loan = focus_loan(ctx)
    if loan is None:
        ctx.say("no_loan")
        return None
    return loan_balance(session=ctx.session, loan_id=loan.id, as_of=ctx.today)


def owing_balance(ctx: TurnContext) -> Balance | None:
    """The focus loan's balance when something is owed on it; else says why not, and None."""
    position = current_balance(ctx)
    if position is None or ctx.loan is None:
        return None
    if position.payoff_minor == 0:
        ctx.say("balance_paid_off", loan=ctx.loan.external_ref)
        return None
    return position


def amount_due(balance: Balance) -> int:
    """What the borrower should pay now: the arrears, else the next installment."""
    return balance.past_due_minor or balance.next_due_minor


def payment_link(ctx: TurnContext, loan: Loan, amount_minor: int) -> str:
    amount: Decimal = from_minor(amount_minor, loan.currency)
    return ctx.settings.payment_link_template.format(loan_ref=loan.external_ref, amount=amount)


def _values(ctx: TurnContext, balance: Balance, loan: Loan) -> dict[str, Any]:
    currency = balance.currency
    return {
        "loan": loan.external_ref,
        "past_due": money(balance.past_due_minor, currency, ctx.language),
        "days_past_due": balance.days_past_due,
        "next_amount": money(balance.next_due_minor, currency, ctx.language),
        "next_due": day(balance.next_due_on, ctx.language) if balance.next_due_on else "-",
        "payoff": money(balance.payoff_minor, currency, ctx.language),
    }


def balance(ctx: TurnContext, params: dict[str, Any]) -> None:
    position = current_balance(ctx)
    if position is None or ctx.loan is None:
        return
    values = _values(ctx, position, ctx.loan)
    if position.payoff_minor == 0:
        ctx.say("balance_paid_off", **values)
    elif position.next_due_on is None:
        # Every installment has fallen due (the term has ended): there is no next payment.
        ctx.say("balance_all_due", **values)
    elif position.past_due_minor > 0:
        ctx.say("balance", **values)
    else:
        ctx.say("balance_current", **values)
    ctx.record(
        "account_disclosed",
        {"loan_id": ctx.loan.id, "what": "balance", "days_past_due": position.days_past_due},
    )


def due_date(ctx: TurnContext, params: dict[str, Any]) -> None:
    position = owing_balance(ctx)
    if position is None or ctx.loan is None:
        return
    values = _values(ctx, position, ctx.loan)
    if position.next_due_on is None:
        ctx.say("balance_all_due", **values)
    else:
        ctx.say("due_date_past_due" if position.past_due_minor > 0 else "due_date", **values)
    ctx.record("account_disclosed", {"loan_id": ctx.loan.id, "what": "due_date"})


def pay_link(ctx: TurnContext, params: dict[str, Any]) -> None:
    position = owing_balance(ctx)
    if position is None or ctx.loan is None:
        return
    due = amount_due(position) or position.payoff_minor
    link = payment_link(ctx, ctx.loan, due)
    ctx.say("pay_link", amount=money(due, position.currency, ctx.language), link=link)
    ctx.record("payment_link_sent", {"loan_id": ctx.loan.id, "amount_minor": due})


def payoff(ctx: TurnContext, params: dict[str, Any]) -> None:
    position = owing_balance(ctx)
    if position is None or ctx.loan is None:
        return
    ctx.say(
        "payoff",
        loan=ctx.loan.external_ref,
        today=day(ctx.today, ctx.language),
        payoff=money(position.payoff_minor, position.currency, ctx.language),
        link=payment_link(ctx, ctx.loan, position.payoff_minor),
    )
    ctx.record("account_disclosed", {"loan_id": ctx.loan.id, "what": "payoff"})
