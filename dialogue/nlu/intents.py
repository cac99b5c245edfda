"""The intents Settle understands, grouped by what they make the bot do.

One vocabulary for the NLU (which measures false actions against it) and the policies (which
decide what needs a verified borrower).
"""

from __future__ import annotations

OUT_OF_SCOPE = "out_of_scope"
# Requests about the account: they need a verified borrower.
ACCOUNT_INTENTS = frozenset(
    {
        "check_balance",
        "due_date",
        "make_payment",
        "promise_to_pay",
        "already_paid",
        "request_extension",
        "request_restructuring",
        "payoff_quote",
    }
)
# What stops or limits collection: a hold, an opt-out, the wrong person.
HOLD_INTENTS = frozenset({"stop_contact", "attorney", "bankruptcy", "dispute_debt", "wrong_person"})
# Intents that make the bot act on the account or the conversation's standing; an unrelated
# sentence classified as one of these is a false action.
ACTION_INTENTS = ACCOUNT_INTENTS | HOLD_INTENTS | {"request_human", "abusive"}
