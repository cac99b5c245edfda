"""Reply templates: the same keys and placeholders in every language, and nothing the outbound
screen would block, verified or not, under every jurisdiction."""

from __future__ import annotations

from datetime import date

import pytest

from compliance.screening import AbuseDetector, OutboundContext, known_profiles, screen_outbound
from dialogue.encoder import shared_encoder
from dialogue.responses import day, languages, money, placeholders, render, templates

# What may be said before the borrower has proven who they are.
BEFORE_VERIFICATION = [
    "greet",
    "goodbye",
    "thanks",
    "help_menu",
    "not_understood",
    "button_account",
    "button_human",
    "button_yes",
    "button_no",
    "ask_phone",
    "ask_dob",
    "ask_last4",
    "phone_bad",
    "dob_bad",
    "last4_bad",
    "identity_retry",
    "identity_locked",
    "identity_locked_reminder",
    "cancelled",
    "confirm_stop",
    "confirm_attorney",
    "confirm_bankruptcy",
    "confirm_dispute",
    "confirm_wrong_person",
    "stop_confirmed",
    "stop_all_confirmed",
    "start_confirmed",
    "start_still_stopped",
    "help_info",
    "wrong_person",
    "human_escalated",
    "abuse_calm",
    "abuse_escalated",
    "distress_escalated",
    "self_harm",
    "other_media",
    "safe_fallback",
    "attorney_recorded",
    "bankruptcy_recorded",
    "reminder_pre_due",
    "reminder_due_today",
    "reminder_past_due",
    "reminder_promise_day",
    "follow_up_broken_promise",
]
SAMPLE_VALUES = {
    "amount": "$150.00",
    "maximum": "$1,252.11",
    "minimum": "$0.01",
    "payoff": "$1,252.11",
    "past_due": "$533.09",
    "next_amount": "$106.61",
    "installment": "$80.00",
    "total": "$1,400.00",
    "balance": "$1,252.11",
    "discount": "$200.00",
    "fee": "$0.00",
    "loan": "L-1001",
    "link": "https://pay.example.com/settle/L-1001?amount=150.00",
    "channel": "SMS",
    "allowed": "1, 2, 3",
    "details": " of $150.00",
    "label": "Longer term",
    "option": "1. Longer term",
}


def filled(key: str, language: str) -> str:
    values = {name: SAMPLE_VALUES.get(name, "3") for name in placeholders(templates("en")[key])}
    for name in ("date", "next_due", "new_due", "first_due", "latest", "today"):
        if name in values:
            values[name] = day(date(2026, 12, 5), language)
    return render(key, language, **values)


def test_every_language_has_the_same_keys_and_placeholders() -> None:
    english = templates("en")
    for language in languages():
        table = templates(language)
        assert list(table) == list(english), language
        differing = [k for k in english if placeholders(english[k]) != placeholders(table[k])]
        assert not differing, (language, differing)


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("profile", known_profiles())
def test_what_is_said_before_verification_reveals_no_debt(language: str, profile: str) -> None:
    context = OutboundContext(profile=profile, party_verified=False, first_contact=True)
    blocked = {
        key: screen_outbound(filled(key, language), language, context).reasons
        for key in BEFORE_VERIFICATION
        if not screen_outbound(filled(key, language), language, context).allowed
    }
    assert not blocked


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("profile", known_profiles())
def test_no_template_breaks_a_content_rule(language: str, profile: str) -> None:
    context = OutboundContext(profile=profile, party_verified=True)
    blocked = {
        key: screen_outbound(filled(key, language), language, context).reasons
        for key in templates(language)
        if not screen_outbound(filled(key, language), language, context).allowed
    }
    assert not blocked


@pytest.mark.parametrize("language", ["en", "zh"])
def test_no_template_is_abusive_to_the_encoder_model(language: str) -> None:
    """The engine screens its template replies without the English encoder model (it reads what
    people write); this is where the model reads every template instead."""
    detector = AbuseDetector(encoder=shared_encoder())
    # Fragments (button titles, channel names, labels) are sent inside a message and screened
    # with it, as the engine does: under the help menu here.
    fragments = ("button_", "channel_", "restructure_label_", "paid_amount", "paid_date")
    texts = {
        key: filled(key, language) for key in templates(language) if not key.startswith(fragments)
    }
    texts["help_menu with every button"] = "\n".join(
        [filled("help_menu", language)]
        + [filled(key, language) for key in templates(language) if key.startswith(fragments)]
    )
    flagged = {
        key: assessment.score
        for (key, _text), assessment in zip(
            texts.items(), detector.assess_many(list(texts.values()), strict=True), strict=True
        )
        if assessment.abusive
    }
    assert not flagged


def test_money_and_dates_follow_the_locale() -> None:
    assert money(150000, "CNY", "zh") == "¥1,500.00"
    assert money(12345, "USD", "en") == "$123.45"
    assert day(date(2026, 12, 5), "zh") == "2026年12月5日"
    assert day(date(2026, 12, 5), "en") == "Dec 5, 2026"
