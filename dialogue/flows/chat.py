"""Small talk, the help menu and HELP/INFO: what needs no account and changes nothing."""

from __future__ import annotations

from typing import Any

import phonenumbers

from dialogue.turn import TurnContext

# The help menu: (title template, payload). Payloads are Rasa-style `/intent`.
MENU = (
    ("button_balance", "/check_balance"),
    ("button_due_date", "/due_date"),
    ("button_pay", "/make_payment"),
    ("button_promise", "/promise_to_pay"),
    ("button_extension", "/request_extension"),
    ("button_restructuring", "/request_restructuring"),
    ("button_human", "/request_human"),
)
# Before identity is verified the menu names nothing about a debt (US-THIRD-PARTY).
MENU_UNVERIFIED = (("button_account", "/check_balance"), ("button_human", "/request_human"))
YES_NO = (("button_yes", "/affirm"), ("button_no", "/deny"))


def menu(ctx: TurnContext) -> tuple[tuple[str, str], ...]:
    return MENU if ctx.verified else MENU_UNVERIFIED


def greet(ctx: TurnContext, params: dict[str, Any]) -> None:
    ctx.say("greet", buttons=menu(ctx))


def goodbye(ctx: TurnContext, params: dict[str, Any]) -> None:
    ctx.state.form = None
    ctx.state.pending = None
    ctx.say("goodbye")


def thanks(ctx: TurnContext, params: dict[str, Any]) -> None:
    ctx.say("thanks")


def help_menu(ctx: TurnContext, params: dict[str, Any]) -> None:
    understood = ctx.parse is not None and ctx.parse.intent != "out_of_scope"
    if not understood:
        ctx.state.fallbacks += 1
        ctx.say("not_understood")
    ctx.say("help_menu", buttons=menu(ctx))


def help_info(ctx: TurnContext, params: dict[str, Any]) -> None:
    """HELP or INFO: who this is, a number to call, how to stop and restart, and the menu."""
    ctx.say(
        "help_info",
        buttons=menu(ctx),
        business=ctx.settings.business_name,
        callback_number=display_number(ctx.settings.callback_number),
    )


def display_number(number: str) -> str:
    """A phone number as people write it ("+1 202-555-0143"); as given if it cannot be read."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def other_media(ctx: TurnContext, params: dict[str, Any]) -> None:
    ctx.say("other_media")


def abuse_calm(ctx: TurnContext, params: dict[str, Any]) -> None:
    ctx.state.abuse += 1
    ctx.say("abuse_calm")


def cancel(ctx: TurnContext, params: dict[str, Any]) -> None:
    ctx.state.form = None
    ctx.state.pending = None
    ctx.state.choices = []
    ctx.say("cancelled")
