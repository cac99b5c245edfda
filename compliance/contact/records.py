"""The data of a contact decision: requests, decisions, refusals and the facts the rules read.

Plain frozen values with no database access, shared by the rules (`rules.py`), the combiner
(`decide.py`) and the set-based loading (`facts.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from compliance.local_time import Blocked
from models import AttemptOutcome, Channel, ConsentKind, HoldKind, Initiator, LoanStatus

ACTOR = "settle"
EVENT_KIND = "contact_decision"
# The audit event (loan stream) saying a validation notice went out (US-VALIDATION).
VALIDATION_NOTICE_KIND = "validation_notice"
PHONE_CHANNELS = frozenset({Channel.VOICE, Channel.SMS, Channel.WHATSAPP})
# Settle's own code for a phone contact with no number to use (no COMPLIANCE.md rule: no data).
NO_ADDRESS = "ALL-NO-ADDRESS"
# Local days of attempt history the caps look at: a 7-day window plus the day before it.
HISTORY_DAYS = 8
# Rounds of "ask every rule again at the latest instant named" before giving up with a denial.
MAX_ROUNDS = 32


class Outcome(StrEnum):
    ALLOW = "allow"
    DEFER = "defer"
    DENY = "deny"


class Purpose(StrEnum):
    """Why the contact is made: a few notices may pass rules that stop collection."""

    COLLECTION = "collection"
    OPT_OUT_CONFIRMATION = "opt_out_confirmation"  # the one confirmation US-OPTOUT allows
    CEASE_NOTICE = "cease_notice"  # that efforts end, or of a specified remedy (US-CEASE)
    DISPUTE_VERIFICATION = "dispute_verification"  # the verification a dispute waits for
    VALIDATION_NOTICE = "validation_notice"  # the notice US-VALIDATION waits for


class ContactError(LookupError):
    """A request names a borrower or loan that does not exist, or a loan of someone else."""


@dataclass(frozen=True)
class ContactRequest:
    """One contact someone wants to make or answer."""

    borrower_id: int
    loan_id: int | None
    channel: Channel
    initiated_by: Initiator
    # Blind index of the number or chat id to use; phone channels default to the first phone.
    address_index: str | None = None
    purpose: Purpose = Purpose.COLLECTION


@dataclass(frozen=True)
class ContactDecision:
    """The answer for one request, with the codes of every rule that objected."""

    request: ContactRequest
    outcome: Outcome
    defer_until: datetime | None
    reasons: tuple[str, ...]
    at: datetime
    profile: str

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOW


@dataclass(frozen=True)
class Refusal:
    """A rule's objection: `until` None denies, an instant defers to it."""

    code: str
    until: datetime | None = None


# --- facts ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttemptTally:
    """Attempts of one kind on one local day (the borrower's address zone), counted in SQL."""

    loan_id: int | None
    channel: Channel
    address_index: str | None
    initiated_by: Initiator
    outcome: AttemptOutcome
    day: date
    count: int
    last_at: datetime

    @property
    def started_by_us(self) -> bool:
        """Something Settle or a collector sent or placed (what caps count)."""
        return self.initiated_by is not Initiator.BORROWER and self.outcome is not (
            AttemptOutcome.RECEIVED
        )

    @property
    def placed_call(self) -> bool:
        """A call placed to the borrower, connected or not (ringless voicemail included)."""
        return self.channel is Channel.VOICE and self.started_by_us

    @property
    def conversation(self) -> bool:
        """A telephone conversation: a call picked up by a person, or one the borrower made."""
        return self.channel is Channel.VOICE and (
            self.outcome is AttemptOutcome.ANSWERED
            or (self.initiated_by is Initiator.BORROWER and self.outcome is AttemptOutcome.RECEIVED)
        )


@dataclass(frozen=True, slots=True)
class OptOutFact:
    at: datetime
    confirmed_at: datetime | None


@dataclass(frozen=True, slots=True)
class ConsentFact:
    kind: ConsentKind
    given_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class ContactFacts:
    """Everything the rules know about one request, loaded before any rule runs."""

    request: ContactRequest
    address_zone: str
    zones: tuple[str, ...]  # address zone first, then the phones' zones
    loan_status: LoanStatus | None
    holds: frozenset[HoldKind]
    address_index: str | None  # resolved: the request's, or the first phone for phone channels
    phone_kind: str | None  # of the address, when it is a phone on file
    on_file: bool
    workplace_no_contact: bool
    opt_outs: tuple[OptOutFact, ...] = ()  # not lifted, on this channel or on all channels
    consents: tuple[ConsentFact, ...] = ()  # for the address
    blocked: tuple[Blocked, ...] = ()  # stated inconvenient times for this channel
    tallies: tuple[AttemptTally, ...] = ()
    last_inbound: datetime | None = None  # the borrower's last message or call on this channel
    last_outbound: datetime | None = None  # the last thing sent or placed on this channel
    last_text_from_address: datetime | None = None  # a text the borrower sent from the address
    # US-VALIDATION: the loan's first contact attempt Settle or a collector made, and the first
    # validation notice recorded for it (loaded only where the rule could refuse).
    first_outbound: datetime | None = None
    validation_notice_at: datetime | None = None
