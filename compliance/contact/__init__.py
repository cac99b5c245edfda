"""Whether a contact may happen now: allow, defer until the next allowed instant, or deny.

`may_contact_many` answers for a whole batch at one instant: a handful of set-based queries load
every fact the rules need (borrowers, phones, loans, holds, opt-outs, consents, inconvenient
times, attempt tallies grouped in SQL by the borrower's local day), then each decision is made in
pure Python and all of them are recorded in the audit trail with one `append_many`.
`may_contact` is the same for one request.

Each rule is a small pure function `(facts, profile, at) -> Refusal | None`, switched on and
numbered by the jurisdiction profile. The combiner lets any denial win (with every denial's
code); otherwise it defers to the earliest instant at which *every* rule allows, found by
re-asking the rules at the latest instant any of them named until none objects.

Modules: `records` (requests, decisions, facts), `rules` (the pure rule functions and `RULES`),
`facts` (set-based loading), `sql` (its query helpers), `decide` (combiner and entry points).
Everything importable from `compliance.contact` before the split still is.
"""

from compliance.contact.decide import (
    decide,
    decision_event,
    evaluate_many,
    may_contact,
    may_contact_many,
)
from compliance.contact.records import (
    ACTOR as ACTOR,
)
from compliance.contact.records import (
    EVENT_KIND as EVENT_KIND,
)
from compliance.contact.records import (
    HISTORY_DAYS as HISTORY_DAYS,
)
from compliance.contact.records import (
    MAX_ROUNDS as MAX_ROUNDS,
)
from compliance.contact.records import (
    NO_ADDRESS as NO_ADDRESS,
)
from compliance.contact.records import (
    PHONE_CHANNELS as PHONE_CHANNELS,
)
from compliance.contact.records import (
    VALIDATION_NOTICE_KIND as VALIDATION_NOTICE_KIND,
)
from compliance.contact.records import (
    AttemptTally,
    ConsentFact,
    ContactDecision,
    ContactError,
    ContactFacts,
    ContactRequest,
    OptOutFact,
    Outcome,
    Purpose,
    Refusal,
)
from compliance.contact.rules import (
    RULES,
)
from compliance.contact.rules import (
    RuleFn as RuleFn,
)
from compliance.contact.rules import (
    rule_after_conversation as rule_after_conversation,
)
from compliance.contact.rules import (
    rule_attorney as rule_attorney,
)
from compliance.contact.rules import (
    rule_autodial_consent as rule_autodial_consent,
)
from compliance.contact.rules import (
    rule_bankruptcy as rule_bankruptcy,
)
from compliance.contact.rules import (
    rule_call_spacing as rule_call_spacing,
)
from compliance.contact.rules import (
    rule_calls_per_debt as rule_calls_per_debt,
)
from compliance.contact.rules import (
    rule_cease as rule_cease,
)
from compliance.contact.rules import (
    rule_dispute as rule_dispute,
)
from compliance.contact.rules import (
    rule_hours as rule_hours,
)
from compliance.contact.rules import (
    rule_inconvenient as rule_inconvenient,
)
from compliance.contact.rules import (
    rule_no_address as rule_no_address,
)
from compliance.contact.rules import (
    rule_opt_out as rule_opt_out,
)
from compliance.contact.rules import (
    rule_sms_number as rule_sms_number,
)
from compliance.contact.rules import (
    rule_validation_notice as rule_validation_notice,
)
from compliance.contact.rules import (
    rule_volume as rule_volume,
)
from compliance.contact.rules import (
    rule_workplace as rule_workplace,
)
from compliance.contact.rules import (
    rule_written_off as rule_written_off,
)

__all__ = [
    "RULES",
    "AttemptTally",
    "ConsentFact",
    "ContactDecision",
    "ContactError",
    "ContactFacts",
    "ContactRequest",
    "OptOutFact",
    "Outcome",
    "Purpose",
    "Refusal",
    "decide",
    "decision_event",
    "evaluate_many",
    "may_contact",
    "may_contact_many",
]
