"""Contact decisions end to end on the database (SQLite and, when configured, PostgreSQL):
facts recorded through `compliance.preferences` and servicing, decided by `may_contact` /
`may_contact_many` at a frozen instant, each decision recorded as an audit event.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from compliance.contact import (
    ContactDecision,
    ContactError,
    ContactRequest,
    Outcome,
    Purpose,
    evaluate_many,
    may_contact,
    may_contact_many,
)
from compliance.preferences import (
    PreferenceNotFound,
    confirm_opt_out,
    give_consent,
    lift_opt_out,
    mark_workplace,
    record_attempt,
    record_opt_out,
    record_validation_notice,
    revoke_consent,
    state_inconvenient_time,
)
from compliance.profiles import Profile, load_profile
from models import (
    AttemptOutcome,
    AuditEvent,
    Borrower,
    Channel,
    ConsentKind,
    HoldKind,
    Initiator,
    Loan,
    session_cipher,
)
from servicing.holds import place_hold, release_hold
from servicing.loans import write_off_loan
from tests.servicing.factories import make_borrower, make_loan

US = load_profile("us_reg_f")
LA, NY = "America/Los_Angeles", "America/New_York"
LA_MOBILE = "+14155552671"  # the factory borrower's phone: a Los Angeles number
NY_NUMBER = "+12125550100"


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def wall(zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A local wall-clock reading in `zone` as a UTC instant."""
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def index(session: Session, number: str) -> str:
    return session_cipher(session).blind_index(number)


def ask(
    session: Session,
    loan: Loan,
    channel: Channel,
    at: datetime,
    initiated_by: Initiator = Initiator.SETTLE,
    profile: Profile = US,
    **kw: Any,
) -> ContactDecision:
    return may_contact(
        session=session, borrower_id=loan.borrower_id, loan_id=loan.id, channel=channel, at=at,
        initiated_by=initiated_by, profile=profile, **kw,
    )  # fmt: skip


def decision_events(session: Session, stream: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.stream == stream, AuditEvent.kind == "contact_decision")
        .order_by(AuditEvent.seq)
    )
    return [json.loads(row.payload) | {"_actor": row.actor} for row in rows]


def attempt(
    session: Session,
    loan: Loan,
    at: datetime,
    channel: Channel = Channel.VOICE,
    outcome: AttemptOutcome = AttemptOutcome.NO_ANSWER,
    initiated_by: Initiator = Initiator.SETTLE,
    address: str | None = None,
) -> None:
    record_attempt(
        session=session, borrower_id=loan.borrower_id, loan_id=loan.id, channel=channel,
        initiated_by=initiated_by, address_index=address, at=at, outcome=outcome,
    )  # fmt: skip


def notice_sent(session: Session, loan: Loan, at: datetime) -> None:
    """The validation notice went out with the first contact (US-VALIDATION is satisfied)."""
    record_validation_notice(session=session, loan_id=loan.id, borrower_id=loan.borrower_id,
                             at=at, channel=Channel.EMAIL)  # fmt: skip


def test_window_deferral_is_recorded_in_the_loan_stream(session: Session) -> None:
    loan = make_loan(session)  # Los Angeles borrower
    give_consent(
        session=session, borrower_id=loan.borrower_id, kind=ConsentKind.SMS,
        address_index=index(session, LA_MOBILE), at=utc(2026, 3, 1), source="loan application",
    )  # fmt: skip
    early = ask(session, loan, Channel.SMS, utc(2026, 3, 8, 14))  # 07:00 PDT
    assert (early.outcome, early.defer_until, early.reasons) == (
        Outcome.DEFER, utc(2026, 3, 8, 15), ("US-HOURS",),
    )  # fmt: skip
    later = ask(session, loan, Channel.SMS, utc(2026, 3, 8, 15))
    assert later.outcome is Outcome.ALLOW
    events = decision_events(session, f"loan:{loan.id}")
    assert events == [
        {
            "borrower_id": loan.borrower_id, "loan_id": loan.id, "channel": "sms",
            "initiated_by": "settle", "purpose": "collection", "outcome": "defer",
            "reasons": ["US-HOURS"], "defer_until": "2026-03-08T15:00:00.000000Z",
            "profile": "us_reg_f", "_actor": "settle",
        },
        {
            "borrower_id": loan.borrower_id, "loan_id": loan.id, "channel": "sms",
            "initiated_by": "settle", "purpose": "collection", "outcome": "allow",
            "reasons": [], "defer_until": None, "profile": "us_reg_f", "_actor": "settle",
        },
    ]  # fmt: skip


def test_ambiguous_zones_from_the_phone_number(session: Session) -> None:
    borrower = make_borrower(session, phones=[NY_NUMBER], time_zone=LA)
    loan = make_loan(session, borrower_id=borrower.id)
    # 18:30 PDT at the address is 21:30 EDT for the New York number.
    decision = ask(session, loan, Channel.WEB, utc(2026, 3, 9, 1, 30))
    assert (decision.outcome, decision.defer_until, decision.reasons) == (
        Outcome.DEFER, utc(2026, 3, 9, 15), ("US-HOURS-AMBIG",),
    )  # fmt: skip
    plain = make_loan(session)  # a Los Angeles number: one zone
    assert ask(session, plain, Channel.WEB, utc(2026, 3, 9, 1, 30)).outcome is Outcome.ALLOW


def test_inconvenient_time_defers_and_the_borrower_is_answered_once(session: Session) -> None:
    loan = make_loan(session)
    state_inconvenient_time(
        session=session, borrower_id=loan.borrower_id, starts=time(12), ends=time(13),
        weekdays="12345", at=utc(2026, 3, 1),
    )  # fmt: skip
    monday_1230 = wall(LA, 2026, 3, 9, 12, 30)
    decision = ask(session, loan, Channel.WEB, monday_1230)
    assert (decision.outcome, decision.defer_until, decision.reasons) == (
        Outcome.DEFER, wall(LA, 2026, 3, 9, 13), ("US-INCONVENIENT",),
    )  # fmt: skip
    attempt(session, loan, monday_1230 - timedelta(minutes=5), Channel.WEB,
            AttemptOutcome.RECEIVED, Initiator.BORROWER)  # fmt: skip
    reply = ask(session, loan, Channel.WEB, monday_1230, Initiator.BORROWER)
    assert reply.outcome is Outcome.ALLOW
    attempt(session, loan, monday_1230, Channel.WEB, AttemptOutcome.SENT, Initiator.BORROWER)
    again = ask(session, loan, Channel.WEB, monday_1230 + timedelta(minutes=1), Initiator.BORROWER)
    assert (again.outcome, again.reasons) == (Outcome.DEFER, ("US-INCONVENIENT",))
    # Another channel is not blocked by a time stated for one channel only.
    state_inconvenient_time(
        session=session, borrower_id=loan.borrower_id, starts=time(18), ends=time(19),
        channel=Channel.VOICE, at=utc(2026, 3, 1),
    )  # fmt: skip
    assert ask(session, loan, Channel.WEB, wall(LA, 2026, 3, 9, 18, 30)).allowed
    assert not ask(session, loan, Channel.VOICE, wall(LA, 2026, 3, 9, 18, 30)).allowed


def test_seven_calls_in_seven_local_days(session: Session) -> None:
    loan = make_loan(session)
    other = make_loan(session, borrower_id=loan.borrower_id)
    # One call per local day 03-02 .. 03-08 in Los Angeles; the first at 23:30 PST on 03-02,
    # which is 03-03 in UTC: grouping by UTC day would clear the window a day late.
    attempt(session, loan, utc(2026, 3, 3, 7, 30))
    notice_sent(session, loan, utc(2026, 3, 3, 7, 30))
    for day in range(3, 9):
        attempt(session, loan, wall(LA, 2026, 3, day, 9))
    at = wall(LA, 2026, 3, 8, 10)
    decision = ask(session, loan, Channel.VOICE, at)
    # Local midnight of 03-09 clears it; the window then says 08:00 PDT.
    assert (decision.outcome, decision.defer_until, decision.reasons) == (
        Outcome.DEFER, wall(LA, 2026, 3, 9, 8), ("US-7IN7", "US-HOURS"),
    )  # fmt: skip
    assert ask(session, other, Channel.VOICE, at).outcome is Outcome.ALLOW


def test_no_call_for_seven_days_after_a_conversation(session: Session) -> None:
    loan = make_loan(session)
    attempt(session, loan, wall(LA, 2026, 3, 2, 9), outcome=AttemptOutcome.ANSWERED)
    notice_sent(session, loan, wall(LA, 2026, 3, 2, 9))
    decision = ask(session, loan, Channel.VOICE, wall(LA, 2026, 3, 8, 10))
    assert (decision.outcome, decision.defer_until) == (Outcome.DEFER, wall(LA, 2026, 3, 9, 8))
    assert decision.reasons == ("US-7DAY-AFTER-CONVO", "US-HOURS")
    assert ask(session, loan, Channel.VOICE, wall(LA, 2026, 3, 9, 8)).allowed
    assert ask(session, loan, Channel.WEB, wall(LA, 2026, 3, 8, 10)).allowed


def test_call_spacing_on_one_number(session: Session) -> None:
    loan = make_loan(session)
    number = index(session, LA_MOBILE)
    attempt(session, loan, utc(2026, 3, 9, 18), address=number)
    decision = ask(session, loan, Channel.VOICE, utc(2026, 3, 9, 18, 3))
    assert (decision.outcome, decision.defer_until, decision.reasons) == (
        Outcome.DEFER, utc(2026, 3, 9, 18, 5), ("US-CALL-SPACING",),
    )  # fmt: skip
    assert ask(session, loan, Channel.VOICE, utc(2026, 3, 9, 18, 5)).allowed


def test_volume_cap_across_channels(session: Session) -> None:
    loan = make_loan(session)
    for minute, channel in ((0, Channel.SMS), (10, Channel.SMS), (20, Channel.VOICE)):
        attempt(session, loan, wall(LA, 2026, 3, 9, 9, minute), channel, AttemptOutcome.SENT)
    decision = ask(session, loan, Channel.WEB, wall(LA, 2026, 3, 9, 12))
    assert (decision.outcome, decision.defer_until, decision.reasons) == (
        Outcome.DEFER, wall(LA, 2026, 3, 10, 8), ("US-VOLUME", "US-HOURS"),
    )  # fmt: skip
    # The borrower's own contact is answered whatever the count.
    assert ask(session, loan, Channel.WEB, wall(LA, 2026, 3, 9, 12), Initiator.BORROWER).allowed


def test_opt_out_per_channel_with_one_confirmation_and_one_reply(session: Session) -> None:
    loan = make_loan(session)
    number = index(session, LA_MOBILE)
    give_consent(session=session, borrower_id=loan.borrower_id, kind=ConsentKind.SMS,
                 address_index=number, at=utc(2026, 3, 1), source="application")  # fmt: skip
    at = wall(LA, 2026, 3, 9, 10)
    opt_out = record_opt_out(
        session=session, borrower_id=loan.borrower_id, channel=Channel.SMS,
        at=at - timedelta(hours=1), source="STOP",
    )  # fmt: skip
    denied = ask(session, loan, Channel.SMS, at)
    assert (denied.outcome, denied.reasons) == (Outcome.DENY, ("US-OPTOUT",))
    assert ask(session, loan, Channel.WEB, at).allowed
    confirm = Purpose.OPT_OUT_CONFIRMATION
    assert ask(session, loan, Channel.SMS, at, Initiator.BORROWER, purpose=confirm).allowed
    confirm_opt_out(session=session, opt_out_id=opt_out.id, at=at)
    attempt(session, loan, at, Channel.SMS, AttemptOutcome.SENT, Initiator.BORROWER, number)
    assert not ask(session, loan, Channel.SMS, at, Initiator.BORROWER, purpose=confirm).allowed
    # The borrower writes again: one reply, then nothing.
    later = at + timedelta(minutes=30)
    attempt(session, loan, later, Channel.SMS, AttemptOutcome.RECEIVED, Initiator.BORROWER, number)
    assert ask(session, loan, Channel.SMS, later, Initiator.BORROWER).allowed
    attempt(session, loan, later, Channel.SMS, AttemptOutcome.SENT, Initiator.BORROWER, number)
    assert not ask(session, loan, Channel.SMS, later + timedelta(minutes=1),
                   Initiator.BORROWER).allowed  # fmt: skip
    lift_opt_out(session=session, opt_out_id=opt_out.id, at=later, source="START")
    assert ask(session, loan, Channel.SMS, later + timedelta(minutes=1)).allowed
    record_opt_out(session=session, borrower_id=loan.borrower_id, channel=None, at=later,
                   source="stop everything")  # fmt: skip
    assert not ask(session, loan, Channel.WEB, later + timedelta(minutes=1)).allowed


@pytest.mark.parametrize(
    ("kind", "code", "passing"),
    [
        (HoldKind.CEASE, "US-CEASE", Purpose.CEASE_NOTICE),
        (HoldKind.ATTORNEY, "US-ATTORNEY", None),
        (HoldKind.BANKRUPTCY, "ALL-BANKRUPTCY", None),
        (HoldKind.DISPUTE, "US-VALIDATION", Purpose.DISPUTE_VERIFICATION),
    ],
)
def test_holds_deny(session: Session, kind: HoldKind, code: str, passing: Purpose | None) -> None:
    loan = make_loan(session)
    other = make_loan(session, borrower_id=loan.borrower_id)
    at = wall(LA, 2026, 3, 9, 10)
    hold = place_hold(session=session, borrower_id=loan.borrower_id, kind=kind, loan_id=loan.id,
                      source="test", at=at - timedelta(days=1))  # fmt: skip
    decision = ask(session, loan, Channel.WEB, at)
    assert (decision.outcome, decision.reasons) == (Outcome.DENY, (code,))
    # Holds apply to the borrower's own contacts too.
    assert not ask(session, loan, Channel.WEB, at, Initiator.BORROWER).allowed
    assert ask(session, other, Channel.WEB, at).allowed  # a hold on one loan only
    if passing is not None:
        assert ask(session, loan, Channel.WEB, at, purpose=passing).allowed
    release_hold(session=session, hold_id=hold.id, at=at)
    assert ask(session, loan, Channel.WEB, at).allowed
    place_hold(session=session, borrower_id=loan.borrower_id, kind=kind, source="test", at=at)
    assert not ask(session, other, Channel.WEB, at).allowed  # borrower-wide


def test_validation_notice_within_five_days_of_the_first_contact(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    loan, other, quiet = make_loan(session), make_loan(session), make_loan(session)
    first = wall(LA, 2026, 3, 2, 10)
    for each in (loan, other):
        attempt(session, each, first, Channel.SMS, AttemptOutcome.DELIVERED)
    # The borrower writing first does not start the clock: only contact we started does.
    attempt(session, quiet, first, Channel.SMS, AttemptOutcome.RECEIVED, Initiator.BORROWER)
    assert ask(session, loan, Channel.WEB, first + timedelta(days=5)).allowed  # 5 days: in time
    later = wall(LA, 2026, 3, 9, 10)
    denied = ask(session, loan, Channel.WEB, later)
    assert (denied.outcome, denied.reasons) == (Outcome.DENY, ("US-VALIDATION",))
    assert ask(session, loan, Channel.WEB, later, Initiator.BORROWER).allowed
    assert ask(session, loan, Channel.EMAIL, later, purpose=Purpose.VALIDATION_NOTICE).allowed
    assert ask(session, quiet, Channel.WEB, later).allowed
    assert ask(session, loan, Channel.WEB, later, profile=load_profile("uk")).allowed  # off
    record_validation_notice(session=session, loan_id=loan.id, borrower_id=loan.borrower_id,
                             at=later - timedelta(hours=1), channel=Channel.EMAIL)  # fmt: skip
    assert ask(session, loan, Channel.WEB, later).allowed
    # A notice recorded later does not reach back.
    assert not ask(session, loan, Channel.WEB, later - timedelta(hours=2)).allowed
    rows = session.scalars(
        select(AuditEvent).where(
            AuditEvent.stream == f"loan:{loan.id}", AuditEvent.kind == "validation_notice"
        )
    )
    assert [json.loads(r.payload) for r in rows] == [
        {"borrower_id": loan.borrower_id, "loan_id": loan.id, "channel": "email"}
    ]  # fmt: skip
    # In bulk, and with more overdue loans than one IN list holds (read by kind instead).
    requests = [ContactRequest(x.borrower_id, x.id, Channel.WEB, Initiator.SETTLE)
                for x in (loan, other, quiet)]  # fmt: skip
    expected = [Outcome.ALLOW, Outcome.DENY, Outcome.ALLOW]
    assert [
        d.outcome for d in evaluate_many(session=session, requests=requests, at=later, profile=US)
    ] == expected
    monkeypatch.setattr("compliance.contact.facts._IN_CHUNK", 1)
    assert [
        d.outcome for d in evaluate_many(session=session, requests=requests, at=later, profile=US)
    ] == expected
    with pytest.raises(PreferenceNotFound, match="has no loan"):
        record_validation_notice(session=session, loan_id=other.id, borrower_id=loan.borrower_id,
                                 at=later, channel=Channel.EMAIL)  # fmt: skip


def test_workplace_number_marked_no_contact(session: Session) -> None:
    borrower = make_borrower(session, phones=[LA_MOBILE, "+14155550123"])
    loan = make_loan(session, borrower_id=borrower.id)
    work = index(session, "+14155550123")
    mark_workplace(session=session, borrower_id=borrower.id, address_index=work,
                   no_contact=True, at=utc(2026, 3, 1), source="borrower said")  # fmt: skip
    at = wall(LA, 2026, 3, 9, 10)
    decision = ask(session, loan, Channel.VOICE, at, address_index=work)
    assert (decision.outcome, decision.reasons) == (Outcome.DENY, ("US-WORKPLACE",))
    assert ask(session, loan, Channel.VOICE, at).allowed  # the first phone, a mobile
    mark_workplace(session=session, borrower_id=borrower.id, address_index=work,
                   no_contact=False, at=utc(2026, 3, 2), source="employer allows")  # fmt: skip
    assert ask(session, loan, Channel.VOICE, at, Initiator.COLLECTOR, address_index=work).allowed


def test_texts_need_a_recent_consent_or_text_from_the_number(session: Session) -> None:
    loan = make_loan(session)
    number = index(session, LA_MOBILE)
    at = wall(LA, 2026, 3, 9, 10)
    denied = ask(session, loan, Channel.SMS, at)
    assert (denied.outcome, denied.reasons) == (Outcome.DENY, ("US-SMS-NUMBER",))
    attempt(session, loan, at - timedelta(days=10), Channel.SMS, AttemptOutcome.RECEIVED,
            Initiator.BORROWER, number)  # fmt: skip
    assert ask(session, loan, Channel.SMS, at).allowed
    assert not ask(session, loan, Channel.SMS, at + timedelta(days=51)).allowed
    give_consent(session=session, borrower_id=loan.borrower_id, kind=ConsentKind.SMS,
                 address_index=number, at=at - timedelta(days=61), source="form")  # fmt: skip
    assert not ask(session, loan, Channel.SMS, at + timedelta(days=51)).allowed
    give_consent(session=session, borrower_id=loan.borrower_id, kind=ConsentKind.SMS,
                 address_index=number, at=at + timedelta(days=50), source="renewed")  # fmt: skip
    assert ask(session, loan, Channel.SMS, at + timedelta(days=51)).allowed


def test_automated_calls_need_consent_and_revocation_is_at_once(session: Session) -> None:
    loan = make_loan(session)
    number = index(session, LA_MOBILE)
    at = wall(LA, 2026, 3, 9, 10)
    assert ask(session, loan, Channel.VOICE, at).allowed  # the number given with the loan
    revoke_consent(session=session, borrower_id=loan.borrower_id, kind=ConsentKind.AUTODIAL,
                   address_index=number, at=at, source="said stop calling")  # fmt: skip
    revoked = ask(session, loan, Channel.VOICE, at)
    assert (revoked.outcome, revoked.reasons) == (Outcome.DENY, ("US-TCPA-REVOKE",))
    assert ask(session, loan, Channel.VOICE, at, Initiator.COLLECTOR).allowed  # dialled by hand
    unknown = ask(session, loan, Channel.VOICE, at, address_index=index(session, NY_NUMBER))
    assert (unknown.outcome, unknown.reasons) == (Outcome.DENY, ("US-TCPA-CONSENT",))
    give_consent(session=session, borrower_id=loan.borrower_id, kind=ConsentKind.AUTODIAL,
                 address_index=number, at=at + timedelta(minutes=1), source="agreed")  # fmt: skip
    assert ask(session, loan, Channel.VOICE, at + timedelta(minutes=6)).allowed


def test_uk_and_cn_profiles(session: Session) -> None:
    london = make_borrower(session, country="GB", phones=["+442079460123"],
                           time_zone="Europe/London")  # fmt: skip
    uk_loan = make_loan(session, borrower_id=london.id, currency="GBP")
    decision = ask(session, uk_loan, Channel.VOICE, utc(2026, 3, 29, 6, 30),
                   profile=load_profile("uk"))  # fmt: skip
    assert (decision.outcome, decision.defer_until, decision.reasons) == (
        Outcome.DEFER, utc(2026, 3, 29, 7), ("UK-CONTACT-PREFS",),
    )  # fmt: skip
    assert ask(session, uk_loan, Channel.VOICE, utc(2026, 10, 25, 8),
               profile=load_profile("uk")).allowed  # fmt: skip
    shanghai = make_borrower(session, country="CN", phones=["+8613812345678"],
                             time_zone="Asia/Shanghai", preferred_language="zh")  # fmt: skip
    cn_loan = make_loan(session, borrower_id=shanghai.id, currency="CNY")
    late = ask(session, cn_loan, Channel.SMS, utc(2026, 3, 9, 13, 30), profile=load_profile("cn"))
    assert (late.outcome, late.defer_until, late.reasons) == (
        Outcome.DEFER, utc(2026, 3, 10, 0), ("CN-HOURS",),
    )  # fmt: skip


def test_written_off_and_settled_loans(session: Session) -> None:
    loan = make_loan(session)
    write_off_loan(session=session, loan_id=loan.id, on=date(2026, 3, 1))
    at = wall(LA, 2026, 3, 9, 10)
    denied = ask(session, loan, Channel.WEB, at)
    assert (denied.outcome, denied.reasons) == (Outcome.DENY, ("ALL-WRITTEN-OFF",))
    assert ask(session, loan, Channel.WEB, at, Initiator.BORROWER).allowed


def test_bulk_decides_like_one_by_one_and_records_every_decision(session: Session) -> None:
    loans = [make_loan(session) for _ in range(3)]
    no_loan = make_borrower(session)
    place_hold(session=session, borrower_id=loans[1].borrower_id, kind=HoldKind.ATTORNEY,
               source="test", at=utc(2026, 3, 1))  # fmt: skip
    requests = [
        ContactRequest(loans[0].borrower_id, loans[0].id, Channel.VOICE, Initiator.SETTLE),
        ContactRequest(loans[1].borrower_id, loans[1].id, Channel.WEB, Initiator.SETTLE),
        ContactRequest(loans[2].borrower_id, loans[2].id, Channel.TELEGRAM, Initiator.COLLECTOR),
        ContactRequest(no_loan.id, None, Channel.WEB, Initiator.SETTLE),
        ContactRequest(loans[0].borrower_id, loans[0].id, Channel.WEB, Initiator.SETTLE),
    ]
    at = utc(2026, 3, 9, 5)  # 22:00 PDT
    before = int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)
    previews = evaluate_many(session=session, requests=requests, at=at, profile=US)
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == before
    decisions = may_contact_many(session=session, requests=requests, at=at, profile=US)
    assert decisions == previews
    assert [d.outcome for d in decisions] == [
        Outcome.DEFER, Outcome.DENY, Outcome.DEFER, Outcome.DEFER, Outcome.DEFER,
    ]  # fmt: skip
    assert decisions[1].reasons == ("US-ATTORNEY",)
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == before + len(requests)
    assert [e["outcome"] for e in decision_events(session, f"borrower:{no_loan.id}")] == ["defer"]
    assert [e["channel"] for e in decision_events(session, f"loan:{loans[0].id}")] == [
        "voice", "web",
    ]  # fmt: skip
    singles = [evaluate_many(session=session, requests=[r], at=at, profile=US)[0] for r in requests]
    assert singles == decisions


def test_bulk_over_ranges_and_scattered_ids(session: Session) -> None:
    borrowers = [make_borrower(session) for _ in range(40)]
    for b in borrowers[::3]:
        record_opt_out(session=session, borrower_id=b.id, channel=None, at=utc(2026, 3, 1),
                       source="STOP")  # fmt: skip
    at = wall(LA, 2026, 3, 9, 10)
    for chosen in (borrowers, borrowers[::2]):  # a run of 40 consecutive ids, then every other
        requests = [ContactRequest(b.id, None, Channel.WEB, Initiator.SETTLE) for b in chosen]
        decisions = evaluate_many(session=session, requests=requests, at=at, profile=US)
        expected = [
            Outcome.DENY if (borrowers.index(b) % 3 == 0) else Outcome.ALLOW for b in chosen
        ]
        assert [d.outcome for d in decisions] == expected


def test_unknown_borrower_or_someone_elses_loan(session: Session) -> None:
    loan = make_loan(session)
    stranger = make_borrower(session)
    at = utc(2026, 3, 9, 18)
    missing = int(session.scalar(select(func.max(Borrower.id))) or 0) + 1
    with pytest.raises(ContactError, match="no borrower"):
        may_contact(session=session, borrower_id=missing, loan_id=None, channel=Channel.WEB,
                    at=at, initiated_by=Initiator.SETTLE, profile=US)  # fmt: skip
    with pytest.raises(ContactError, match="has no loan"):
        may_contact(
            session=session, borrower_id=stranger.id, loan_id=loan.id, channel=Channel.WEB,
            at=at, initiated_by=Initiator.SETTLE, profile=US,
        )  # fmt: skip
    with pytest.raises(ValueError, match="aware"):
        may_contact(
            session=session, borrower_id=stranger.id, loan_id=None, channel=Channel.WEB,
            at=at.replace(tzinfo=None), initiated_by=Initiator.SETTLE, profile=US,
        )  # fmt: skip


def test_a_deferral_past_the_validation_period_still_sees_the_notice(session: Session) -> None:
    # The notice went out with the first contact on Wednesday; by Monday the daily cap defers
    # the request to Tuesday, past the five days: the notice must still be found then.
    loan = make_loan(session)
    first = wall(LA, 2026, 3, 4, 12)
    attempt(session, loan, first, Channel.SMS, AttemptOutcome.SENT)
    notice_sent(session, loan, first)
    for minute in (0, 10, 20):
        attempt(session, loan, wall(LA, 2026, 3, 9, 9, minute), Channel.EMAIL, AttemptOutcome.SENT)
    decision = ask(session, loan, Channel.EMAIL, wall(LA, 2026, 3, 9, 11))
    assert decision.outcome is Outcome.DEFER
    assert "US-VALIDATION" not in decision.reasons
    assert decision.defer_until == wall(LA, 2026, 3, 10, 8)


def test_call_spacing_counts_a_call_logged_without_its_number(session: Session) -> None:
    loan = make_loan(session)
    notice_sent(session, loan, wall(LA, 2026, 3, 10, 9))
    attempt(session, loan, wall(LA, 2026, 3, 10, 10), address=None)
    decision = ask(session, loan, Channel.VOICE, wall(LA, 2026, 3, 10, 10, 1), Initiator.COLLECTOR)
    assert (decision.outcome, decision.reasons) == (Outcome.DEFER, ("US-CALL-SPACING",))
    assert decision.defer_until == wall(LA, 2026, 3, 10, 10, 5)


def test_a_toll_free_number_does_not_widen_the_candidate_zones(session: Session) -> None:
    # +1 800 numbers belong to no place: libphonenumber lists every NANP zone for them.
    borrower = make_borrower(session, phones=[LA_MOBILE, "+1 800 555 0100"])
    loan = make_loan(session, borrower_id=borrower.id)
    notice_sent(session, loan, wall(LA, 2026, 3, 10, 8))
    assert ask(session, loan, Channel.EMAIL, wall(LA, 2026, 3, 10, 9)).allowed


def test_a_batch_counts_its_own_allowed_contacts_toward_the_caps(session: Session) -> None:
    # Asked one at a time, the fourth contact of the day is deferred by the volume cap; asked
    # together in one batch, it must be too.
    loan = make_loan(session)
    notice_sent(session, loan, wall(LA, 2026, 3, 10, 8))
    requests = [
        ContactRequest(borrower_id=loan.borrower_id, loan_id=loan.id, channel=channel,
                       initiated_by=Initiator.SETTLE)
        for channel in (Channel.EMAIL, Channel.WEB, Channel.EMAIL, Channel.WEB)
    ]  # fmt: skip
    decisions = may_contact_many(
        session=session, requests=requests, at=wall(LA, 2026, 3, 10, 12), profile=US
    )
    assert [d.outcome for d in decisions] == [Outcome.ALLOW] * 3 + [Outcome.DEFER]
    assert "US-VOLUME" in decisions[3].reasons
