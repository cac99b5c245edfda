"""The combiner and the entry points: `decide`, `evaluate_many`, `may_contact_many`, `may_contact`.

`decide` lets any denial win (with every denial's code); otherwise it defers to the earliest
instant at which *every* rule allows, found by re-asking the rules at the latest instant any of
them named until none objects. The entry points load a batch's facts (`facts.py`), decide each
request and, outside previews, record every decision in the audit trail with one `append_many`.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from compliance.audit import NewEvent, append_many, stream_for
from compliance.contact.facts import _facts, _load, _Loaded
from compliance.contact.records import (
    ACTOR,
    EVENT_KIND,
    MAX_ROUNDS,
    AttemptTally,
    ContactDecision,
    ContactFacts,
    ContactRequest,
    Outcome,
    Purpose,
)
from compliance.contact.rules import RULES
from compliance.local_time import local_date
from compliance.profiles import Profile
from models import AttemptOutcome, Channel, Initiator


def _unique(codes: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(codes))


def decide(facts: ContactFacts, profile: Profile, at: datetime) -> ContactDecision:
    """Combine the rules: any denial wins; else defer to when every rule allows; else allow."""

    def result(
        outcome: Outcome, reasons: Iterable[str], until: datetime | None = None
    ) -> ContactDecision:
        return ContactDecision(facts.request, outcome, until, _unique(reasons), at, profile.name)

    refusals = [r for rule in RULES if (r := rule(facts, profile, at)) is not None]
    if not refusals:
        return result(Outcome.ALLOW, ())
    codes = [r.code for r in refusals]
    denied = [r.code for r in refusals if r.until is None]
    if denied:
        return result(Outcome.DENY, denied)
    when = max(r.until for r in refusals if r.until is not None)
    for _ in range(MAX_ROUNDS):
        later = [r for rule in RULES if (r := rule(facts, profile, when)) is not None]
        if not later:
            return result(Outcome.DEFER, codes, when)
        codes.extend(r.code for r in later)
        denied = [r.code for r in later if r.until is None]
        if denied:  # the contact could not happen at the deferred instant either
            return result(Outcome.DENY, codes)
        when = max(r.until for r in later if r.until is not None)
    return result(Outcome.DENY, codes)


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("at must be a timezone-aware instant")
    return at.astimezone(UTC)


def evaluate_many(
    *, session: Session, requests: Sequence[ContactRequest], at: datetime, profile: Profile
) -> list[ContactDecision]:
    """Decisions for every request at `at`, in order, *without* recording them.

    For previews and planning only: a contact that will happen goes through `may_contact_many`,
    which records every decision (ALL-RECORD).
    """
    at = _utc(at)
    requests = [_normalized(r) for r in requests]
    if not requests:
        return []
    with _collector_paused():
        loaded = _load(session, requests, at, profile)
        decisions = []
        for request in requests:
            facts = _facts(request, loaded)
            decision = decide(facts, profile, at)
            if decision.outcome is Outcome.ALLOW and request.initiated_by is not Initiator.BORROWER:
                _count_as_made(loaded, facts, at)
            decisions.append(decision)
        return decisions


def _count_as_made(loaded: _Loaded, facts: ContactFacts, at: datetime) -> None:
    """Count an allowed contact toward the caps of the requests after it in the same batch.

    Without this, a batch with several requests for one borrower would pass the volume, 7-in-7
    and daily call caps that asking one at a time enforces. A call is counted as unanswered,
    the stricter assumption for call spacing.
    """
    request = facts.request
    voice = request.channel is Channel.VOICE
    loaded.tallies[request.borrower_id].append(
        AttemptTally(
            loan_id=request.loan_id,
            channel=request.channel,
            address_index=facts.address_index,
            initiated_by=request.initiated_by,
            outcome=AttemptOutcome.NO_ANSWER if voice else AttemptOutcome.SENT,
            day=local_date(at, facts.address_zone),
            count=1,
            last_at=at,
        )
    )


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a batch, restoring its state afterwards.

    A batch allocates hundreds of thousands of small acyclic objects (rows, facts, decisions),
    each allocation counting toward a collection: with the collector on, repeated full passes
    over an ever larger heap took a third of the time. Nothing here makes reference cycles, so
    reference counting frees everything; the collector runs again as usual afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _normalized(request: ContactRequest) -> ContactRequest:
    if (
        type(request.channel) is Channel
        and type(request.initiated_by) is Initiator
        and type(request.purpose) is Purpose
    ):
        return request
    return ContactRequest(
        borrower_id=request.borrower_id,
        loan_id=request.loan_id,
        channel=Channel(request.channel),
        initiated_by=Initiator(request.initiated_by),
        address_index=request.address_index,
        purpose=Purpose(request.purpose),
    )


def decision_event(decision: ContactDecision) -> NewEvent:
    """The audit event of a decision: in the loan's stream, or the borrower's without a loan."""
    request = decision.request
    stream = (
        stream_for("loan", request.loan_id)
        if request.loan_id is not None
        else stream_for("borrower", request.borrower_id)
    )
    return NewEvent(
        stream=stream,
        kind=EVENT_KIND,
        occurred_at=decision.at,
        actor=ACTOR,
        payload={
            "borrower_id": request.borrower_id,
            "loan_id": request.loan_id,
            "channel": request.channel.value,
            "initiated_by": request.initiated_by.value,
            "purpose": request.purpose.value,
            "outcome": decision.outcome.value,
            "reasons": list(decision.reasons),
            "defer_until": decision.defer_until,
            "profile": decision.profile,
        },
    )


def may_contact_many(
    *, session: Session, requests: Sequence[ContactRequest], at: datetime, profile: Profile
) -> list[ContactDecision]:
    """Decide every request at `at` and record each decision in the audit trail (one append)."""
    decisions = evaluate_many(session=session, requests=requests, at=at, profile=profile)
    append_many(session=session, events=[decision_event(d) for d in decisions])
    return decisions


def may_contact(
    *,
    session: Session,
    borrower_id: int,
    loan_id: int | None,
    channel: Channel,
    at: datetime,
    initiated_by: Initiator,
    address_index: str | None = None,
    profile: Profile,
    purpose: Purpose = Purpose.COLLECTION,
) -> ContactDecision:
    """Whether this contact may happen at `at`: allow, defer (with the instant) or deny."""
    request = ContactRequest(
        borrower_id=borrower_id,
        loan_id=loan_id,
        channel=channel,
        initiated_by=initiated_by,
        address_index=address_index,
        purpose=purpose,
    )
    return may_contact_many(session=session, requests=[request], at=at, profile=profile)[0]
