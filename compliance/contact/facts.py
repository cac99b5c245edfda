"""Set-based loading: every fact a batch of requests needs, in a handful of queries.

`_load` reads borrowers, loans, phones (zones by blind index, never the number when cached),
holds, opt-outs, consents, inconvenient times, attempt tallies grouped in SQL by the
borrower's local day and, for US-VALIDATION, each loan's first outbound attempt and first
validation notice; `_facts` then assembles one request's `ContactFacts` from them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import cache, lru_cache
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from compliance.audit import stream_for
from compliance.contact.records import (
    PHONE_CHANNELS,
    VALIDATION_NOTICE_KIND,
    AttemptTally,
    ConsentFact,
    ContactError,
    ContactFacts,
    ContactRequest,
    OptOutFact,
    Purpose,
)
from compliance.contact.sql import (
    _IN_CHUNK,
    _day_expression,
    _instant,
    _maybe_instant,
    _raw,
    _rows,
)
from compliance.local_time import Blocked, phone_zones
from compliance.profiles import Profile
from models import (
    AccountHold,
    AttemptOutcome,
    AuditEvent,
    Borrower,
    BorrowerPhone,
    Channel,
    Consent,
    ContactAttempt,
    HoldKind,
    InconvenientTime,
    Initiator,
    Loan,
    LoanStatus,
    OptOut,
    session_cipher,
)

# Zones of phone numbers by blind index: a number's zones never change, so a repeat batch skips
# decrypting it. Only zones are kept (never a number); bounded by clearing when full.
_ZONES_BY_INDEX: dict[str, tuple[str, ...]] = {}
_ZONES_BY_INDEX_MAX = 500_000
_NUMBER_CONTEXT: str = cast(Any, BorrowerPhone.__table__).c.number.type.context


def _phone_zones(session: Session, index: str, token: str) -> tuple[str, ...]:
    zones = _ZONES_BY_INDEX.get(index)
    if zones is None:
        number = session_cipher(session).decrypt(token, context=_NUMBER_CONTEXT)
        zones = phone_zones(number)
        if len(_ZONES_BY_INDEX) >= _ZONES_BY_INDEX_MAX:
            _ZONES_BY_INDEX.clear()
        _ZONES_BY_INDEX[index] = zones
    return zones


@dataclass(frozen=True, slots=True)
class _Phone:
    id: int
    index: str
    kind: str
    no_contact: bool
    zones: tuple[str, ...]


@dataclass
class _Loaded:
    """Per-borrower rows read for a batch."""

    zones: dict[int, str] = field(default_factory=dict)
    loans: dict[int, tuple[int, LoanStatus]] = field(default_factory=dict)
    phones: dict[int, list[_Phone]] = field(default_factory=lambda: defaultdict(list))
    holds: dict[int, list[tuple[int | None, HoldKind]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    opt_outs: dict[int, list[tuple[Channel | None, OptOutFact]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    consents: dict[tuple[int, str], list[ConsentFact]] = field(
        default_factory=lambda: defaultdict(list)
    )
    blocked: dict[int, list[tuple[Channel | None, Blocked]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    tallies: dict[int, list[AttemptTally]] = field(default_factory=lambda: defaultdict(list))
    last_seen: dict[tuple[int, Channel, bool], datetime] = field(default_factory=dict)
    texts: dict[tuple[int, str], datetime] = field(default_factory=dict)
    first_outbound: dict[int, datetime] = field(default_factory=dict)  # by loan id
    validation_notices: dict[int, datetime] = field(default_factory=dict)  # by loan id


def _load(
    session: Session, requests: Sequence[ContactRequest], at: datetime, profile: Profile
) -> _Loaded:
    session.flush()
    loaded = _Loaded()
    borrower_ids = {r.borrower_id for r in requests}
    loan_ids = {r.loan_id for r in requests if r.loan_id is not None}

    query: Any = select(Borrower.id, Borrower.time_zone)
    loaded.zones = dict(_rows(session, query, Borrower.id, borrower_ids))
    missing = borrower_ids - loaded.zones.keys()
    if missing:
        raise ContactError(f"no borrower with id {', '.join(map(str, sorted(missing)[:10]))}")
    query = select(Loan.id, Loan.borrower_id, Loan.status)
    for loan_id, borrower_id, status in _rows(session, query, Loan.id, loan_ids):
        loaded.loans[loan_id] = (borrower_id, status)
    for r in requests:
        if r.loan_id is not None and loaded.loans.get(r.loan_id, (None,))[0] != r.borrower_id:
            raise ContactError(f"borrower {r.borrower_id} has no loan {r.loan_id}")

    # The number is read as stored ciphertext and decrypted only for an index not seen before.
    query = select(
        BorrowerPhone.borrower_id, BorrowerPhone.id, BorrowerPhone.number_index,
        BorrowerPhone.kind, BorrowerPhone.no_contact, _raw(BorrowerPhone.number),
    )  # fmt: skip
    phones = loaded.phones
    for borrower_id, phone_id, index, kind, no_contact, token in _rows(
        session, query, BorrowerPhone.borrower_id, borrower_ids
    ):
        zones = _phone_zones(session, index, token)
        phones[borrower_id].append(_Phone(phone_id, index, kind, bool(no_contact), zones))
    for numbers in phones.values():
        if len(numbers) > 1:
            numbers.sort(key=lambda p: p.id)  # the first phone given is the default number

    query = select(AccountHold.borrower_id, AccountHold.loan_id, AccountHold.kind).where(
        AccountHold.active.is_(True)
    )
    for borrower_id, loan_id, kind in _rows(session, query, AccountHold.borrower_id, borrower_ids):
        loaded.holds[borrower_id].append((loan_id, kind))

    query = select(
        OptOut.borrower_id, OptOut.channel, _raw(OptOut.at), _raw(OptOut.confirmed_at)
    ).where(OptOut.lifted_at.is_(None))
    for borrower_id, channel, opted_at, confirmed in _rows(
        session, query, OptOut.borrower_id, borrower_ids
    ):
        fact = OptOutFact(_instant(opted_at), _maybe_instant(confirmed))
        loaded.opt_outs[borrower_id].append((channel, fact))

    query = select(
        Consent.borrower_id, Consent.address_index, Consent.kind, _raw(Consent.given_at),
        _raw(Consent.revoked_at),
    )  # fmt: skip
    for borrower_id, index, kind, given, revoked in _rows(
        session, query, Consent.borrower_id, borrower_ids
    ):
        consent = ConsentFact(kind, _instant(given), _maybe_instant(revoked))
        loaded.consents[(borrower_id, index)].append(consent)

    query = select(
        InconvenientTime.borrower_id, InconvenientTime.channel, InconvenientTime.weekdays,
        InconvenientTime.starts, InconvenientTime.ends,
    ).where(InconvenientTime.active.is_(True))  # fmt: skip
    for borrower_id, channel, weekdays, starts, ends in _rows(
        session, query, InconvenientTime.borrower_id, borrower_ids
    ):
        blocked = Blocked(frozenset(int(d) for d in weekdays), starts, ends)
        loaded.blocked[borrower_id].append((channel, blocked))

    _load_tallies(session, loaded, borrower_ids, at)
    _load_history(session, loaded, requests, at, profile)
    _load_validation(session, loaded, requests, at, profile)
    return loaded


def _load_validation(
    session: Session,
    loaded: _Loaded,
    requests: Sequence[ContactRequest],
    at: datetime,
    profile: Profile,
) -> None:
    """US-VALIDATION: each loan's first outbound attempt, then (only for loans past the period)
    its first validation notice; one grouped query each."""
    rule = profile.validation_notice
    if not rule.enabled:
        return
    loan_ids = {
        r.loan_id
        for r in requests
        if r.loan_id is not None
        and r.purpose is Purpose.COLLECTION
        and r.initiated_by is not Initiator.BORROWER
    }
    if not loan_ids:
        return
    query: Any = (
        select(ContactAttempt.loan_id, _raw(func.min(ContactAttempt.at)))
        .where(
            ContactAttempt.initiated_by != Initiator.BORROWER,
            ContactAttempt.outcome != AttemptOutcome.RECEIVED,
            ContactAttempt.at <= at,
        )
        .group_by(ContactAttempt.loan_id)
    )
    for loan_id, first in _rows(session, query, ContactAttempt.loan_id, loan_ids):
        loaded.first_outbound[loan_id] = _instant(first)
    # Every contacted loan's notice is looked up, not only overdue ones: a deferral re-asks the
    # rule at a later instant, when the period may have run out.
    overdue = {
        stream_for("loan", loan_id): loan_id
        for loan_id in loaded.first_outbound
        if loan_id in loan_ids
    }
    if not overdue:
        return
    query = (
        select(AuditEvent.stream, _raw(func.min(AuditEvent.occurred_at)))
        .where(AuditEvent.kind == VALIDATION_NOTICE_KIND, AuditEvent.occurred_at <= at)
        .group_by(AuditEvent.stream)
    )
    if len(overdue) <= _IN_CHUNK:
        query = query.where(AuditEvent.stream.in_(sorted(overdue)))
    # Else every notice up to `at` (the kind index), kept for the loans asked about.
    for stream, noticed in session.connection().execute(query):
        loan_id = overdue.get(stream)
        if loan_id is not None:
            loaded.validation_notices[loan_id] = _instant(noticed)


def _load_tallies(session: Session, loaded: _Loaded, borrower_ids: set[int], at: datetime) -> None:
    """Attempts of the last HISTORY_DAYS local days, counted per kind and local day in SQL."""
    day, earliest = _day_expression(sorted(set(loaded.zones.values())), at)
    day = day.label("day")
    query = (
        select(
            ContactAttempt.borrower_id,
            ContactAttempt.loan_id,
            _raw(ContactAttempt.channel),  # enum values as text, mapped below by dict lookup
            ContactAttempt.address_index,
            _raw(ContactAttempt.initiated_by),
            _raw(ContactAttempt.outcome),
            day,
            func.count(),
            _raw(func.max(ContactAttempt.at)),
        )
        .join(Borrower, Borrower.id == ContactAttempt.borrower_id)
        .where(ContactAttempt.at >= earliest, ContactAttempt.at <= at)
        .group_by(
            ContactAttempt.borrower_id,
            ContactAttempt.loan_id,
            ContactAttempt.channel,
            ContactAttempt.address_index,
            ContactAttempt.initiated_by,
            ContactAttempt.outcome,
            day,
        )
    )
    tallies = loaded.tallies
    fromordinal, fromisoformat = date.fromordinal, datetime.fromisoformat
    channels, initiators, outcomes = (
        _members(Channel),
        _members(Initiator),
        _members(AttemptOutcome),
    )
    for borrower_id, loan_id, channel, index, initiator, outcome, ordinal, count, last in _rows(
        session, query, ContactAttempt.borrower_id, borrower_ids
    ):
        if ordinal < 0:
            continue
        # `_instant` inlined: this loop runs once per tally row.
        last_at = fromisoformat(last) if type(last) is str else last
        if last_at.tzinfo is None:
            last_at = last_at.replace(tzinfo=UTC)
        tallies[borrower_id].append(
            AttemptTally(
                loan_id, channels[channel], index, initiators[initiator], outcomes[outcome],
                fromordinal(ordinal), count, last_at,
            )
        )  # fmt: skip


@cache
def _members(enum: type[StrEnum]) -> dict[str, Any]:
    """An enum's members by stored value (a dict lookup is far cheaper than `enum(value)`)."""
    return {member.value: member for member in enum}


def _load_history(
    session: Session,
    loaded: _Loaded,
    requests: Sequence[ContactRequest],
    at: datetime,
    profile: Profile,
) -> None:
    """The last inbound and outbound per channel, and texts from each address, where needed."""
    # Replies allowed once: only borrower-initiated requests under an opt-out or a blocked time.
    answering = {
        r.borrower_id
        for r in requests
        if r.initiated_by is Initiator.BORROWER
        and (loaded.opt_outs.get(r.borrower_id) or loaded.blocked.get(r.borrower_id))
    }
    inbound = ContactAttempt.outcome == AttemptOutcome.RECEIVED
    if answering:
        query = (
            select(
                ContactAttempt.borrower_id,
                ContactAttempt.channel,
                inbound.label("inbound"),
                _raw(func.max(ContactAttempt.at)),
            )
            .where(ContactAttempt.at <= at)
            .group_by(ContactAttempt.borrower_id, ContactAttempt.channel, inbound)
        )
        for borrower_id, channel, is_inbound, last in _rows(
            session, query, ContactAttempt.borrower_id, answering
        ):
            loaded.last_seen[(borrower_id, channel, bool(is_inbound))] = _instant(last)
    rule = profile.sms_number
    texting = {
        r.borrower_id
        for r in requests
        if rule.enabled and r.channel in rule.channels and r.initiated_by is not Initiator.BORROWER
    }
    if texting:
        texts: Any = (
            select(
                ContactAttempt.borrower_id,
                ContactAttempt.address_index,
                _raw(func.max(ContactAttempt.at)),
            )
            .where(
                inbound,
                ContactAttempt.initiated_by == Initiator.BORROWER,
                ContactAttempt.channel.in_(sorted(rule.channels)),
                ContactAttempt.address_index.is_not(None),
                ContactAttempt.at >= at - timedelta(days=rule.consent_days),
                ContactAttempt.at <= at,
            )
            .group_by(ContactAttempt.borrower_id, ContactAttempt.address_index)
        )
        for borrower_id, index, last in _rows(session, texts, ContactAttempt.borrower_id, texting):
            loaded.texts[(borrower_id, index)] = _instant(last)


@lru_cache(maxsize=4096)
def _zones(address_zone: str, phone_zones: tuple[tuple[str, ...], ...]) -> tuple[str, ...]:
    found = dict.fromkeys((address_zone,))
    for zones in phone_zones:
        found.update(dict.fromkeys(zones))
    return tuple(found)


def _facts(request: ContactRequest, loaded: _Loaded) -> ContactFacts:
    borrower_id, channel = request.borrower_id, request.channel
    address_zone = loaded.zones[borrower_id]
    phones = loaded.phones.get(borrower_id, ())
    address = request.address_index
    if address is None and channel in PHONE_CHANNELS and phones:
        address = phones[0].index
    phone = None
    if address is not None:
        phone = next((p for p in phones if p.index == address), None)
    holds = loaded.holds.get(borrower_id)
    opt_outs = loaded.opt_outs.get(borrower_id)
    blocked = loaded.blocked.get(borrower_id)
    loan_id = request.loan_id
    return ContactFacts(
        request=request,
        address_zone=address_zone,
        # Every zone the borrower may be in: the address's and every phone's (stricter than
        # only the number in use: a text or chat reaches the person wherever they are).
        zones=_zones(address_zone, tuple(p.zones for p in phones)),
        loan_status=None if loan_id is None else loaded.loans[loan_id][1],
        holds=frozenset(
            kind
            for hold_loan, kind in holds
            # A borrower-wide hold covers every loan; a contact about no loan meets every hold.
            if hold_loan is None or loan_id is None or hold_loan == loan_id
        )
        if holds
        else _NO_HOLDS,
        address_index=address,
        phone_kind=None if phone is None else phone.kind,
        on_file=phone is not None,
        workplace_no_contact=phone is not None and phone.kind == "work" and phone.no_contact,
        opt_outs=tuple(f for ch, f in opt_outs if ch is None or ch is channel) if opt_outs else (),
        consents=tuple(loaded.consents.get((borrower_id, address), ())) if address else (),
        blocked=tuple(b for ch, b in blocked if ch is None or ch is channel) if blocked else (),
        tallies=tuple(loaded.tallies.get(borrower_id, ())),
        last_inbound=loaded.last_seen.get((borrower_id, channel, True)),
        last_outbound=loaded.last_seen.get((borrower_id, channel, False)),
        last_text_from_address=loaded.texts.get((borrower_id, address)) if address else None,
        first_outbound=None if loan_id is None else loaded.first_outbound.get(loan_id),
        validation_notice_at=None if loan_id is None else loaded.validation_notices.get(loan_id),
    )


_NO_HOLDS: frozenset[HoldKind] = frozenset()
