"""Recording what borrowers said about contact, and contact attempts, each with its audit event."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.audit import verify_stream
from compliance.preferences import (
    PreferenceConflict,
    PreferenceError,
    PreferenceNotFound,
    confirm_opt_out,
    give_consent,
    lift_opt_out,
    mark_workplace,
    record_attempt,
    record_opt_out,
    renew_consent,
    revoke_consent,
    state_inconvenient_time,
    withdraw_inconvenient_time,
)
from models import (
    AttemptOutcome,
    AuditEvent,
    BorrowerPhone,
    Channel,
    Consent,
    ConsentKind,
    Initiator,
    session_cipher,
)
from tests.servicing.factories import make_borrower, make_loan

AT = datetime(2026, 3, 8, 9, 30, tzinfo=UTC)


def events(session: Session, stream: str) -> list[tuple[str, dict[str, Any]]]:
    rows = session.scalars(
        select(AuditEvent).where(AuditEvent.stream == stream).order_by(AuditEvent.seq)
    )
    return [(row.kind, json.loads(row.payload)) for row in rows]


def test_opt_out_confirm_once_and_lift(session: Session) -> None:
    borrower = make_borrower(session)
    row = record_opt_out(session=session, borrower_id=borrower.id, channel=Channel.SMS, at=AT,
                         source="STOP")  # fmt: skip
    assert (row.channel, row.at, row.confirmed_at, row.lifted_at) == (
        Channel.SMS, AT, None, None,
    )  # fmt: skip
    confirm_opt_out(session=session, opt_out_id=row.id, at=AT)
    with pytest.raises(PreferenceConflict, match="already confirmed"):
        confirm_opt_out(session=session, opt_out_id=row.id, at=AT)
    lift_opt_out(session=session, opt_out_id=row.id, at=AT, source="START")
    with pytest.raises(PreferenceConflict, match="already lifted"):
        lift_opt_out(session=session, opt_out_id=row.id, at=AT, source="START")
    stream = f"borrower:{borrower.id}"
    assert [kind for kind, _ in events(session, stream)] == ["opt_out", "opt_out", "opt_out_lifted"]
    assert events(session, stream)[0][1] == {
        "opt_out_id": row.id, "channel": "sms", "source": "STOP",
    }  # fmt: skip
    assert verify_stream(session=session, stream=stream).ok


def test_opt_out_of_every_channel_and_errors(session: Session) -> None:
    borrower = make_borrower(session)
    row = record_opt_out(session=session, borrower_id=borrower.id, channel=None, at=AT,
                         source="stop everything")  # fmt: skip
    assert row.channel is None
    with pytest.raises(PreferenceNotFound):
        record_opt_out(session=session, borrower_id=borrower.id + 10_000, channel=None, at=AT,
                       source="x")  # fmt: skip
    with pytest.raises(PreferenceError, match="aware"):
        record_opt_out(session=session, borrower_id=borrower.id, channel=None,
                       at=AT.replace(tzinfo=None), source="x")  # fmt: skip
    with pytest.raises(PreferenceError, match="source"):
        record_opt_out(session=session, borrower_id=borrower.id, channel=None, at=AT, source=" ")
    with pytest.raises(PreferenceError, match="before"):
        lift_opt_out(session=session, opt_out_id=row.id, at=datetime(2026, 1, 1, tzinfo=UTC),
                     source="START")  # fmt: skip


def test_consents_given_renewed_and_revoked(session: Session) -> None:
    borrower = make_borrower(session)
    number = session_cipher(session).blind_index("+14155552671")
    first = give_consent(session=session, borrower_id=borrower.id, kind=ConsentKind.SMS,
                         address_index=number, at=AT, source="form")  # fmt: skip
    second = renew_consent(
        session=session, borrower_id=borrower.id, kind=ConsentKind.SMS, address_index=number,
        at=AT.replace(month=4), source="renewed",
    )  # fmt: skip
    assert first.id != second.id  # a renewal keeps the earlier date on record
    revoked = revoke_consent(
        session=session, borrower_id=borrower.id, kind=ConsentKind.SMS, address_index=number,
        at=AT.replace(month=5), source="STOP",
    )  # fmt: skip
    assert {r.id for r in revoked} == {first.id, second.id}
    assert all(r.revoked_at == AT.replace(month=5) for r in revoked)
    kinds = events(session, f"borrower:{borrower.id}")
    assert [k for k, _ in kinds] == ["consent_given", "consent_given", "consent_revoked"]
    assert [p.get("renewed") for _, p in kinds[:2]] == [False, True]


def test_revoking_the_consent_implied_by_a_number_on_file_leaves_a_record(session: Session) -> None:
    borrower = make_borrower(session)
    number = session_cipher(session).blind_index("+14155552671")
    rows = revoke_consent(session=session, borrower_id=borrower.id, kind=ConsentKind.AUTODIAL,
                          address_index=number, at=AT, source="said stop calling")  # fmt: skip
    stored = session.scalars(select(Consent).where(Consent.borrower_id == borrower.id)).all()
    assert [(c.id, c.source, c.given_at, c.revoked_at) for c in stored] == [
        (rows[0].id, "implied", AT, AT),
    ]  # fmt: skip


def test_inconvenient_times(session: Session) -> None:
    borrower = make_borrower(session)
    row = state_inconvenient_time(session=session, borrower_id=borrower.id, starts=time(22),
                                  ends=time(7), weekdays="54321", at=AT)  # fmt: skip
    assert (row.weekdays, row.starts, row.ends, row.active, row.channel) == (
        "12345", time(22), time(7), True, None,
    )  # fmt: skip
    withdraw_inconvenient_time(session=session, inconvenient_time_id=row.id, at=AT)
    assert row.active is False
    with pytest.raises(PreferenceConflict):
        withdraw_inconvenient_time(session=session, inconvenient_time_id=row.id, at=AT)
    for weekdays in ("", "18", "112"):
        with pytest.raises(PreferenceError, match="weekdays"):
            state_inconvenient_time(session=session, borrower_id=borrower.id, starts=time(1),
                                    ends=time(2), weekdays=weekdays, at=AT)  # fmt: skip
    stated = events(session, f"borrower:{borrower.id}")
    assert stated[0] == ("inconvenient_time", {
        "inconvenient_time_id": row.id, "channel": None, "weekdays": "12345",
        "starts": "22:00:00", "ends": "07:00:00", "active": True,
    })  # fmt: skip
    assert stated[1][1] == {"inconvenient_time_id": row.id, "active": False}


def test_mark_workplace(session: Session) -> None:
    borrower = make_borrower(session)
    number = session_cipher(session).blind_index("+14155552671")
    phone = mark_workplace(session=session, borrower_id=borrower.id, address_index=number,
                           no_contact=True, at=AT, source="borrower")  # fmt: skip
    stored = session.scalars(select(BorrowerPhone).where(BorrowerPhone.id == phone.id)).one()
    assert (stored.kind, stored.no_contact) == ("work", True)
    with pytest.raises(PreferenceNotFound):
        mark_workplace(session=session, borrower_id=borrower.id, address_index="nope",
                       no_contact=True, at=AT, source="borrower")  # fmt: skip


def test_record_attempt_goes_to_the_loan_stream(session: Session) -> None:
    loan = make_loan(session)
    row = record_attempt(session=session, borrower_id=loan.borrower_id, loan_id=loan.id,
                         channel=Channel.VOICE, initiated_by=Initiator.SETTLE,
                         address_index="idx", at=AT, outcome=AttemptOutcome.NO_ANSWER)  # fmt: skip
    assert events(session, f"loan:{loan.id}") == [("contact_attempt", {
        "attempt_id": row.id, "borrower_id": loan.borrower_id, "loan_id": loan.id,
        "channel": "voice", "initiated_by": "settle", "address_index": "idx",
        "outcome": "no_answer",
    })]  # fmt: skip
    inbound = record_attempt(
        session=session, borrower_id=loan.borrower_id, loan_id=None, channel=Channel.WEB,
        initiated_by=Initiator.BORROWER, address_index=None, at=AT,
        outcome=AttemptOutcome.RECEIVED,
    )  # fmt: skip
    assert [k for k, _ in events(session, f"borrower:{loan.borrower_id}")] == ["contact_attempt"]
    assert inbound.loan_id is None
    stranger = make_borrower(session)
    with pytest.raises(PreferenceNotFound, match="has no loan"):
        record_attempt(session=session, borrower_id=stranger.id, loan_id=loan.id,
                       channel=Channel.WEB, initiated_by=Initiator.SETTLE, address_index=None,
                       at=AT, outcome=AttemptOutcome.SENT)  # fmt: skip
