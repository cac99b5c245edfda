"""What the borrower told us about being contacted, and the contacts that happened.

Opt-outs (per channel or all), consents to texts and automated calls (given, renewed, revoked at
once), stated inconvenient times, workplace numbers where contact is forbidden, contact
attempts and validation notices sent: the facts `compliance.contact` decides from. Each change
writes its audit event in the same transaction (borrower stream; attempts and validation notices
go to the loan's stream when there is a loan).
Holds (dispute, attorney, bankruptcy, cease) are account holds that servicing places; the contact
rules read them from the same table.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.audit import NewEvent, append_many, stream_for
from compliance.contact.records import VALIDATION_NOTICE_KIND
from models import (
    AttemptOutcome,
    Borrower,
    BorrowerPhone,
    Channel,
    Consent,
    ConsentKind,
    ContactAttempt,
    InconvenientTime,
    Initiator,
    Loan,
    OptOut,
)

ACTOR = "settle"
_SOURCE_MAX = 64


class PreferenceError(ValueError):
    """A preference change that cannot be made."""


class PreferenceNotFound(PreferenceError, LookupError):
    """The borrower, loan or record named does not exist."""


class PreferenceConflict(PreferenceError):
    """The change contradicts what is stored (lifted twice, confirmed twice, ...)."""


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise PreferenceError("at must be a timezone-aware instant")
    return at


def _source(source: str) -> str:
    source = source.strip()
    if not source or len(source) > _SOURCE_MAX:
        raise PreferenceError(f"source must be 1 to {_SOURCE_MAX} characters")
    return source


def _borrower(session: Session, borrower_id: int) -> Borrower:
    borrower = session.get(Borrower, borrower_id)
    if borrower is None:
        raise PreferenceNotFound(f"no borrower with id {borrower_id}")
    return borrower


def _record(
    session: Session, *, stream: str, kind: str, at: datetime, payload: Mapping[str, Any]
) -> None:
    append_many(
        session=session,
        events=[NewEvent(stream=stream, kind=kind, occurred_at=at, actor=ACTOR, payload=payload)],
    )


# --- opt-outs -------------------------------------------------------------------------------


def record_opt_out(
    *,
    session: Session,
    borrower_id: int,
    channel: Channel | None,
    at: datetime,
    source: str,
    address_index: str | None = None,
) -> OptOut:
    """The borrower wants nothing more on `channel` (on any channel when None)."""
    _borrower(session, borrower_id)
    row = OptOut(
        borrower_id=borrower_id,
        channel=None if channel is None else Channel(channel),
        address_index=address_index,
        at=_aware(at),
        source=_source(source),
    )
    session.add(row)
    session.flush()
    _record(
        session,
        stream=stream_for("borrower", borrower_id),
        kind="opt_out",
        at=at,
        payload={"opt_out_id": row.id, "channel": row.channel, "source": row.source},
    )
    return row


def confirm_opt_out(*, session: Session, opt_out_id: int, at: datetime) -> OptOut:
    """Mark the one confirmation US-OPTOUT allows as sent; a second one is refused."""
    row = session.get(OptOut, opt_out_id)
    if row is None:
        raise PreferenceNotFound(f"no opt-out with id {opt_out_id}")
    if row.lifted_at is not None:
        raise PreferenceConflict(f"opt-out {opt_out_id} was lifted")
    if row.confirmed_at is not None:
        raise PreferenceConflict(f"opt-out {opt_out_id} was already confirmed")
    row.confirmed_at = _aware(at)
    session.flush()
    _record(
        session,
        stream=stream_for("borrower", row.borrower_id),
        kind="opt_out",
        at=at,
        payload={"opt_out_id": row.id, "channel": row.channel, "confirmed": True},
    )
    return row


def lift_opt_out(*, session: Session, opt_out_id: int, at: datetime, source: str) -> OptOut:
    """The borrower opted back in (START, or asked a collector); the row stays."""
    row = session.get(OptOut, opt_out_id)
    if row is None:
        raise PreferenceNotFound(f"no opt-out with id {opt_out_id}")
    if row.lifted_at is not None:
        raise PreferenceConflict(f"opt-out {opt_out_id} was already lifted")
    if _aware(at) < row.at:
        raise PreferenceError("an opt-out cannot be lifted before it was made")
    row.lifted_at = at
    session.flush()
    _record(
        session,
        stream=stream_for("borrower", row.borrower_id),
        kind="opt_out_lifted",
        at=at,
        payload={"opt_out_id": row.id, "channel": row.channel, "source": _source(source)},
    )
    return row


# --- consents --------------------------------------------------------------------------------


def give_consent(
    *,
    session: Session,
    borrower_id: int,
    kind: ConsentKind,
    address_index: str,
    at: datetime,
    source: str,
) -> Consent:
    """Consent to texts or automated calls at one address; giving it again renews it."""
    _borrower(session, borrower_id)
    if not address_index:
        raise PreferenceError("a consent names the address (blind index) it is for")
    renewed = (
        session.scalar(
            select(Consent.id).where(
                Consent.borrower_id == borrower_id,
                Consent.kind == ConsentKind(kind),
                Consent.address_index == address_index,
                Consent.revoked_at.is_(None),
            )
        )
        is not None
    )
    # A renewal is a new row: the dates of earlier consents stay in the record.
    row = Consent(
        borrower_id=borrower_id,
        kind=ConsentKind(kind),
        address_index=address_index,
        given_at=_aware(at),
        source=_source(source),
    )
    session.add(row)
    session.flush()
    _record(
        session,
        stream=stream_for("borrower", borrower_id),
        kind="consent_given",
        at=at,
        payload={
            "consent_id": row.id,
            "kind": row.kind,
            "address_index": address_index,
            "renewed": renewed,
            "source": row.source,
        },
    )
    return row


renew_consent = give_consent


def revoke_consent(
    *,
    session: Session,
    borrower_id: int,
    kind: ConsentKind,
    address_index: str,
    at: datetime,
    source: str,
) -> list[Consent]:
    """Revoke consent at once (US-TCPA-REVOKE), including the one implied by a number on file.

    Every active consent for the address is revoked; when there is none (consent implied by the
    number given with the loan), a revoked row records the revocation so it outlives the number.
    """
    _borrower(session, borrower_id)
    _aware(at)
    source = _source(source)
    rows = list(
        session.scalars(
            select(Consent).where(
                Consent.borrower_id == borrower_id,
                Consent.kind == ConsentKind(kind),
                Consent.address_index == address_index,
                Consent.revoked_at.is_(None),
            )
        )
    )
    if not rows:
        implied = Consent(
            borrower_id=borrower_id,
            kind=ConsentKind(kind),
            address_index=address_index,
            given_at=at,
            source="implied",
        )
        session.add(implied)
        rows = [implied]
    for row in rows:
        row.revoked_at = at
    session.flush()
    _record(
        session,
        stream=stream_for("borrower", borrower_id),
        kind="consent_revoked",
        at=at,
        payload={
            "consent_ids": [r.id for r in rows],
            "kind": ConsentKind(kind),
            "address_index": address_index,
            "source": source,
        },
    )
    return rows


# --- inconvenient times, workplace ------------------------------------------------------------


def state_inconvenient_time(
    *,
    session: Session,
    borrower_id: int,
    starts: time,
    ends: time,
    at: datetime,
    weekdays: str = "1234567",
    channel: Channel | None = None,
) -> InconvenientTime:
    """A local time the borrower says is inconvenient (past midnight when `ends <= starts`)."""
    _borrower(session, borrower_id)
    if (
        not weekdays
        or any(d not in "1234567" for d in weekdays)
        or len(set(weekdays)) != len(weekdays)
    ):
        raise PreferenceError("weekdays are distinct ISO weekday digits, 1 (Monday) to 7")
    if starts.tzinfo is not None or ends.tzinfo is not None:
        raise PreferenceError("inconvenient times are local wall-clock times, without a zone")
    row = InconvenientTime(
        borrower_id=borrower_id,
        channel=None if channel is None else Channel(channel),
        weekdays="".join(sorted(weekdays)),
        starts=starts,
        ends=ends,
        stated_at=_aware(at),
        active=True,
    )
    session.add(row)
    session.flush()
    _record(
        session,
        stream=stream_for("borrower", borrower_id),
        kind="inconvenient_time",
        at=at,
        payload={
            "inconvenient_time_id": row.id,
            "channel": row.channel,
            "weekdays": row.weekdays,
            "starts": starts,
            "ends": ends,
            "active": True,
        },
    )
    return row


def withdraw_inconvenient_time(
    *, session: Session, inconvenient_time_id: int, at: datetime
) -> InconvenientTime:
    """The borrower no longer minds that time."""
    row = session.get(InconvenientTime, inconvenient_time_id)
    if row is None:
        raise PreferenceNotFound(f"no inconvenient time with id {inconvenient_time_id}")
    if not row.active:
        raise PreferenceConflict(f"inconvenient time {inconvenient_time_id} was withdrawn")
    row.active = False
    session.flush()
    _record(
        session,
        stream=stream_for("borrower", row.borrower_id),
        kind="inconvenient_time",
        at=_aware(at),
        payload={"inconvenient_time_id": row.id, "active": False},
    )
    return row


def mark_workplace(
    *,
    session: Session,
    borrower_id: int,
    address_index: str,
    no_contact: bool,
    at: datetime,
    source: str,
) -> BorrowerPhone:
    """Say a phone is a work number, and whether its employer forbids contact (US-WORKPLACE)."""
    phone = session.scalar(
        select(BorrowerPhone).where(
            BorrowerPhone.borrower_id == borrower_id, BorrowerPhone.number_index == address_index
        )
    )
    if phone is None:
        raise PreferenceNotFound(f"borrower {borrower_id} has no phone with that index")
    phone.kind = "work"
    phone.no_contact = no_contact
    session.flush()
    _record(
        session,
        stream=stream_for("borrower", borrower_id),
        kind="workplace_no_contact",
        at=_aware(at),
        payload={"address_index": address_index, "no_contact": no_contact,
                 "source": _source(source)},
    )  # fmt: skip
    return phone


# --- attempts ---------------------------------------------------------------------------------


def record_attempt(
    *,
    session: Session,
    borrower_id: int,
    loan_id: int | None,
    channel: Channel,
    initiated_by: Initiator,
    address_index: str | None,
    at: datetime,
    outcome: AttemptOutcome,
) -> ContactAttempt:
    """A contact that happened or was tried: what the frequency caps count.

    Record a borrower's inbound message or call (`initiated_by=BORROWER`, `outcome=RECEIVED`)
    before asking whether it may be answered: the one-reply allowances count replies since it.
    """
    _borrower(session, borrower_id)
    if loan_id is not None:
        loan = session.get(Loan, loan_id)
        if loan is None or loan.borrower_id != borrower_id:
            raise PreferenceNotFound(f"borrower {borrower_id} has no loan {loan_id}")
    row = ContactAttempt(
        borrower_id=borrower_id,
        loan_id=loan_id,
        channel=Channel(channel),
        initiated_by=Initiator(initiated_by),
        address_index=address_index,
        at=_aware(at),
        outcome=AttemptOutcome(outcome),
    )
    session.add(row)
    session.flush()
    stream = (
        stream_for("loan", loan_id) if loan_id is not None else stream_for("borrower", borrower_id)
    )
    _record(
        session,
        stream=stream,
        kind="contact_attempt",
        at=at,
        payload={
            "attempt_id": row.id,
            "borrower_id": borrower_id,
            "loan_id": loan_id,
            "channel": row.channel,
            "initiated_by": row.initiated_by,
            "address_index": address_index,
            "outcome": row.outcome,
        },
    )
    return row


def record_attempt_outcome(
    *,
    session: Session,
    borrower_id: int,
    loan_id: int | None,
    channel: Channel,
    initiated_by: Initiator,
    address_index: str | None,
    started_at: datetime,
    outcome: AttemptOutcome,
    at: datetime,
) -> ContactAttempt:
    """How an attempt recorded when it started turned out (a placed call, reported later).

    A call counts against the caps from the moment it is placed, as SENT, so a status callback
    that never arrives cannot leave it uncounted; its result replaces that outcome here. With no
    such attempt on record (placed by an older version), the outcome is recorded as a new one.
    """
    started = session.scalars(
        select(ContactAttempt)
        .where(
            ContactAttempt.borrower_id == borrower_id,
            ContactAttempt.loan_id.is_(None)
            if loan_id is None
            else ContactAttempt.loan_id == loan_id,
            ContactAttempt.channel == channel,
            ContactAttempt.initiated_by == initiated_by,
            ContactAttempt.at == _aware(started_at),
            ContactAttempt.outcome == AttemptOutcome.SENT,
        )
        .with_for_update()
    ).first()
    if started is None:
        return record_attempt(
            session=session,
            borrower_id=borrower_id,
            loan_id=loan_id,
            channel=channel,
            initiated_by=initiated_by,
            address_index=address_index,
            at=at,
            outcome=outcome,
        )
    started.outcome = AttemptOutcome(outcome)
    session.flush()
    stream = (
        stream_for("loan", loan_id) if loan_id is not None else stream_for("borrower", borrower_id)
    )
    _record(
        session,
        stream=stream,
        kind="contact_attempt_outcome",
        at=at,
        payload={"attempt_id": started.id, "outcome": started.outcome},
    )
    return started


# --- validation notices -----------------------------------------------------------------------


def record_validation_notice(
    *, session: Session, loan_id: int, borrower_id: int, at: datetime, channel: Channel
) -> None:
    """The validation notice for a loan went out on `channel` at `at` (US-VALIDATION).

    Written as a `validation_notice` event in the loan's stream; from then on the contact rules
    no longer hold collection contact back for want of it.
    """
    _borrower(session, borrower_id)
    loan = session.get(Loan, loan_id)
    if loan is None or loan.borrower_id != borrower_id:
        raise PreferenceNotFound(f"borrower {borrower_id} has no loan {loan_id}")
    _record(
        session,
        stream=stream_for("loan", loan_id),
        kind=VALIDATION_NOTICE_KIND,
        at=_aware(at),
        payload={"borrower_id": borrower_id, "loan_id": loan_id, "channel": Channel(channel)},
    )
