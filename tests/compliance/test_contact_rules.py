"""Each contact rule as a pure function, table-driven, with a frozen clock: for every rule code an
allowed case and a refused case, across time zones and the 2026 daylight-saving changes.

`RULE_TESTS` maps each rule code of shared/COMPLIANCE.md that decides whether a contact may happen
to the tests that pin it (the rule table in docs is made from it); a test below checks that
every test it names exists.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from compliance.contact import (
    RULES,
    AttemptTally,
    ConsentFact,
    ContactFacts,
    ContactRequest,
    OptOutFact,
    Outcome,
    Purpose,
    Refusal,
    RuleFn,
    decide,
    rule_after_conversation,
    rule_attorney,
    rule_autodial_consent,
    rule_bankruptcy,
    rule_call_spacing,
    rule_calls_per_debt,
    rule_cease,
    rule_dispute,
    rule_hours,
    rule_inconvenient,
    rule_no_address,
    rule_opt_out,
    rule_sms_number,
    rule_validation_notice,
    rule_volume,
    rule_workplace,
    rule_written_off,
)
from compliance.local_time import Blocked
from compliance.profiles import Profile, load_profile
from models import AttemptOutcome, Channel, ConsentKind, HoldKind, Initiator, LoanStatus

NY, LA, LONDON, SHANGHAI = (
    "America/New_York",
    "America/Los_Angeles",
    "Europe/London",
    "Asia/Shanghai",
)
US, UK, CN = load_profile("us_reg_f"), load_profile("uk"), load_profile("cn")
LOAN = 10
NUMBER = "idx-mobile"

# Rule code -> the tests that pin it ("module::function"). Contact-decision codes only; the
# screening and audit codes are pinned by their own modules.
RULE_TESTS: dict[str, list[str]] = {
    "US-HOURS": [
        "test_contact_rules::test_us_hours",
        "test_contact_db::test_window_deferral_is_recorded_in_the_loan_stream",
    ],
    "US-HOURS-AMBIG": [
        "test_contact_rules::test_us_hours_ambig",
        "test_contact_db::test_ambiguous_zones_from_the_phone_number",
    ],
    "US-INCONVENIENT": [
        "test_contact_rules::test_us_inconvenient",
        "test_contact_db::test_inconvenient_time_defers_and_the_borrower_is_answered_once",
    ],
    "US-7IN7": [
        "test_contact_rules::test_us_7in7",
        "test_contact_db::test_seven_calls_in_seven_local_days",
    ],
    "US-7DAY-AFTER-CONVO": [
        "test_contact_rules::test_us_7day_after_convo",
        "test_contact_db::test_no_call_for_seven_days_after_a_conversation",
    ],
    "US-CALL-SPACING": [
        "test_contact_rules::test_us_call_spacing",
        "test_contact_db::test_call_spacing_on_one_number",
    ],
    "US-VOLUME": [
        "test_contact_rules::test_us_volume",
        "test_contact_db::test_volume_cap_across_channels",
    ],
    "US-OPTOUT": [
        "test_contact_rules::test_us_optout",
        "test_contact_db::test_opt_out_per_channel_with_one_confirmation_and_one_reply",
    ],
    "US-CEASE": ["test_contact_rules::test_us_cease", "test_contact_db::test_holds_deny"],
    "US-ATTORNEY": ["test_contact_rules::test_us_attorney", "test_contact_db::test_holds_deny"],
    "ALL-BANKRUPTCY": [
        "test_contact_rules::test_all_bankruptcy",
        "test_contact_db::test_holds_deny",
    ],
    "US-VALIDATION": [
        "test_contact_rules::test_us_validation",
        "test_contact_rules::test_us_validation_notice",
        "test_contact_db::test_holds_deny",
        "test_contact_db::test_validation_notice_within_five_days_of_the_first_contact",
    ],
    "US-WORKPLACE": [
        "test_contact_rules::test_us_workplace",
        "test_contact_db::test_workplace_number_marked_no_contact",
    ],
    "US-SMS-NUMBER": [
        "test_contact_rules::test_us_sms_number",
        "test_contact_db::test_texts_need_a_recent_consent_or_text_from_the_number",
    ],
    "US-TCPA-CONSENT": [
        "test_contact_rules::test_us_tcpa_consent",
        "test_contact_db::test_automated_calls_need_consent_and_revocation_is_at_once",
    ],
    "US-TCPA-REVOKE": [
        "test_contact_rules::test_us_tcpa_revoke",
        "test_contact_db::test_automated_calls_need_consent_and_revocation_is_at_once",
    ],
    "UK-CONTACT-PREFS": [
        "test_contact_rules::test_uk_contact_prefs",
        "test_contact_db::test_uk_and_cn_profiles",
    ],
    "CN-HOURS": ["test_contact_rules::test_cn_hours", "test_contact_db::test_uk_and_cn_profiles"],
    "CN-VOLUME": ["test_contact_rules::test_cn_volume"],
    "ALL-WRITTEN-OFF": [
        "test_contact_rules::test_all_written_off",
        "test_contact_db::test_written_off_and_settled_loans",
    ],
    "ALL-NO-ADDRESS": ["test_contact_rules::test_all_no_address"],
}


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def wall(zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A local wall-clock reading in `zone` as a UTC instant."""
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def request(**changes: Any) -> ContactRequest:
    base = ContactRequest(
        borrower_id=1, loan_id=LOAN, channel=Channel.SMS, initiated_by=Initiator.SETTLE,
        address_index=NUMBER,
    )  # fmt: skip
    return replace(base, **changes)


def facts(zone: str = NY, **changes: Any) -> ContactFacts:
    """Facts of a borrower with nothing against contact: one mobile on file, SMS consent."""
    base = ContactFacts(
        request=request(),
        address_zone=zone,
        zones=(zone,),
        loan_status=LoanStatus.ACTIVE,
        holds=frozenset(),
        address_index=NUMBER,
        phone_kind="mobile",
        on_file=True,
        workplace_no_contact=False,
        consents=(ConsentFact(ConsentKind.SMS, utc(2026, 3, 1), None),),
    )
    return replace(base, **changes)


def calls(
    *days: date,
    outcome: AttemptOutcome = AttemptOutcome.NO_ANSWER,
    loan_id: int | None = LOAN,
    channel: Channel = Channel.VOICE,
    initiated_by: Initiator = Initiator.SETTLE,
    address_index: str | None = NUMBER,
    last_at: datetime | None = None,
) -> tuple[AttemptTally, ...]:
    """One tally per day (one attempt each), as the SQL grouping hands them to the rules."""
    return tuple(
        AttemptTally(
            loan_id, channel, address_index, initiated_by, outcome, d, 1,
            last_at or datetime(d.year, d.month, d.day, 12, tzinfo=UTC),
        )
        for d in days
    )  # fmt: skip


def days_back(today: date, count: int) -> list[date]:
    return [today - timedelta(days=n) for n in range(count)]


@dataclass(frozen=True)
class Case:
    name: str
    facts: ContactFacts
    at: datetime
    expected: Refusal | None
    profile: Profile = US


def check(rule: RuleFn, cases: list[Case]) -> None:
    for case in cases:
        got = rule(case.facts, case.profile, case.at)
        assert got == case.expected, case.name


def voice(zone: str = NY, **changes: Any) -> ContactFacts:
    req = changes.pop("req", {})
    return facts(zone, request=request(channel=Channel.VOICE, **req), **changes)


# --- hours ----------------------------------------------------------------------------------


def test_us_hours() -> None:
    check(
        rule_hours,
        [
            Case("08:00 EDT on the spring-forward day", facts(), wall(NY, 2026, 3, 8, 8), None),
            Case(
                "07:59 EDT is too early, allowed at 08:00 EDT (12:00 UTC)",
                facts(), wall(NY, 2026, 3, 8, 7, 59),
                Refusal("US-HOURS", utc(2026, 3, 8, 12)),
            ),
            Case(
                "03:30 EDT just after the change",
                facts(), utc(2026, 3, 8, 7, 30), Refusal("US-HOURS", utc(2026, 3, 8, 12)),
            ),
            Case(
                "21:00 is outside (end exclusive)",
                facts(), wall(NY, 2026, 3, 9, 21), Refusal("US-HOURS", utc(2026, 3, 10, 12)),
            ),
            Case(
                "07:30 EST on the fall-back day -> 08:00 EST (13:00 UTC)",
                facts(), utc(2026, 11, 1, 12, 30), Refusal("US-HOURS", utc(2026, 11, 1, 13)),
            ),
            Case("20:59 PST in Los Angeles", facts(LA), utc(2026, 11, 2, 4, 59), None),
            Case(
                "07:00 PDT in Los Angeles -> 08:00 PDT",
                facts(LA), utc(2026, 3, 8, 14), Refusal("US-HOURS", utc(2026, 3, 8, 15)),
            ),
            Case(
                "borrower-initiated at 23:00 is answered",
                facts(request=request(initiated_by=Initiator.BORROWER)),
                wall(NY, 2026, 3, 9, 23), None,
            ),
            Case(
                "a collector's call at 23:00 is refused",
                facts(request=request(initiated_by=Initiator.COLLECTOR, channel=Channel.VOICE)),
                wall(NY, 2026, 3, 9, 23), Refusal("US-HOURS", utc(2026, 3, 10, 12)),
            ),
        ],
    )  # fmt: skip


def test_us_hours_ambig() -> None:
    both = facts(LA, zones=(LA, NY))
    check(
        rule_hours,
        [
            Case("08:00 PDT is 11:00 EDT", both, utc(2026, 3, 8, 15), None),
            Case(
                "18:30 PDT is 21:30 EDT: refused for New York",
                both, utc(2026, 3, 9, 1, 30), Refusal("US-HOURS-AMBIG", utc(2026, 3, 9, 15)),
            ),
            Case(
                "07:00 PDT is refused for the address zone itself",
                both, utc(2026, 3, 8, 14), Refusal("US-HOURS", utc(2026, 3, 8, 15)),
            ),
            Case(
                "fall-back day: 08:00 PST (16:00 UTC) is 11:00 EST",
                both, utc(2026, 11, 1, 16), None,
            ),
        ],
    )  # fmt: skip


def test_uk_contact_prefs() -> None:
    london = facts(LONDON)
    weekday_lunch = Blocked(frozenset({1, 2, 3, 4, 5}), time(12), time(14))
    check(
        rule_hours,
        [
            Case("08:00 BST", london, utc(2026, 3, 29, 7), None, UK),
            Case(
                "07:30 BST on the day clocks go forward",
                london, utc(2026, 3, 29, 6, 30), Refusal("UK-CONTACT-PREFS", utc(2026, 3, 29, 7)),
                UK,
            ),
            Case(
                "07:30 GMT on the day clocks go back",
                london, utc(2026, 10, 25, 7, 30),
                Refusal("UK-CONTACT-PREFS", utc(2026, 10, 25, 8)), UK,
            ),
            Case("20:59 GMT", london, utc(2026, 10, 25, 20, 59), None, UK),
        ],
    )  # fmt: skip
    check(
        rule_inconvenient,
        [
            Case(
                "a stated time is honoured (Monday 12:30 GMT)",
                facts(LONDON, blocked=(weekday_lunch,)), utc(2026, 10, 26, 12, 30),
                Refusal("UK-CONTACT-PREFS", utc(2026, 10, 26, 14)), UK,
            ),
            Case(
                "outside it (Saturday)", facts(LONDON, blocked=(weekday_lunch,)),
                utc(2026, 10, 24, 11, 30), None, UK,
            ),
        ],
    )  # fmt: skip
    check(
        rule_opt_out,
        [
            Case(
                "a channel the borrower refused",
                facts(LONDON, opt_outs=(OptOutFact(utc(2026, 1, 1), None),)),
                utc(2026, 2, 1, 12), Refusal("UK-CONTACT-PREFS"), UK,
            ),
            Case("no refusal", facts(LONDON), utc(2026, 2, 1, 12), None, UK),
        ],
    )  # fmt: skip


def test_cn_hours() -> None:
    shanghai = facts(SHANGHAI)
    check(
        rule_hours,
        [
            Case("20:59 CST", shanghai, wall(SHANGHAI, 2026, 3, 9, 20, 59), None, CN),
            Case(
                "21:00 CST (the stricter of 21:00 and 22:00)",
                shanghai, wall(SHANGHAI, 2026, 3, 9, 21),
                Refusal("CN-HOURS", wall(SHANGHAI, 2026, 3, 10, 8)), CN,
            ),
            Case(
                "07:59 CST", shanghai, wall(SHANGHAI, 2026, 3, 10, 7, 59),
                Refusal("CN-HOURS", wall(SHANGHAI, 2026, 3, 10, 8)), CN,
            ),
        ],
    )  # fmt: skip


# --- stated inconvenient times -------------------------------------------------------------


def test_us_inconvenient() -> None:
    lunch = (Blocked(frozenset({1, 2, 3, 4, 5}), time(12), time(13)),)
    monday_1230 = wall(NY, 2026, 3, 9, 12, 30)
    borrower = request(initiated_by=Initiator.BORROWER)
    check(
        rule_inconvenient,
        [
            Case("13:00 EDT, after the stated time", facts(blocked=lunch),
                 wall(NY, 2026, 3, 9, 13), None),
            Case("Sunday is not blocked", facts(blocked=lunch), wall(NY, 2026, 3, 8, 12, 30),
                 None),
            Case(
                "12:30 EDT Monday is blocked until 13:00 EDT",
                facts(blocked=lunch), monday_1230, Refusal("US-INCONVENIENT", utc(2026, 3, 9, 17)),
            ),
            Case(
                "the borrower wrote at 12:20 and is not answered yet: answered once",
                facts(request=borrower, blocked=lunch, last_inbound=monday_1230 - timedelta(
                    minutes=10), last_outbound=utc(2026, 3, 1, 12)),
                monday_1230, None,
            ),
            Case(
                "already answered: the next reply waits",
                facts(request=borrower, blocked=lunch, last_inbound=monday_1230 - timedelta(
                    minutes=10), last_outbound=monday_1230 - timedelta(minutes=5)),
                monday_1230, Refusal("US-INCONVENIENT", utc(2026, 3, 9, 17)),
            ),
            Case(
                "stated in local time, applied in every candidate zone (LA address, NY phone)",
                facts(LA, zones=(LA, NY), blocked=lunch), wall(LA, 2026, 3, 9, 9, 30),
                Refusal("US-INCONVENIENT", wall(LA, 2026, 3, 9, 10)),
            ),
        ],
    )  # fmt: skip


# --- frequency ------------------------------------------------------------------------------


def test_us_7in7() -> None:
    at = wall(NY, 2026, 3, 8, 11)  # spring-forward Sunday
    week = days_back(date(2026, 3, 8), 7)  # 2026-03-02 .. 2026-03-08
    check(
        rule_calls_per_debt,
        [
            Case("six calls in seven days", voice(tallies=calls(*week[:6])), at, None),
            Case(
                "seven calls: the eighth waits until the oldest (03-02) leaves the window",
                voice(tallies=calls(*week)), at,
                Refusal("US-7IN7", utc(2026, 3, 9, 4)),  # midnight EDT of 03-09
            ),
            Case(
                "voicemails count as placed calls",
                voice(tallies=calls(*week, outcome=AttemptOutcome.MACHINE)), at,
                Refusal("US-7IN7", utc(2026, 3, 9, 4)),
            ),
            Case(
                "a call on 03-01 is outside the 7 days",
                voice(tallies=calls(*week[:6], date(2026, 3, 1))), at, None,
            ),
            Case(
                "calls about another loan do not count",
                voice(tallies=calls(*week, loan_id=LOAN + 1)), at, None,
            ),
            Case("texts do not count", voice(tallies=calls(*week, channel=Channel.SMS)), at, None),
            Case(
                "three calls on 03-02: the window clears when all three have left",
                voice(tallies=calls(*week[:5]) + calls(*[week[6]] * 2)), at,
                Refusal("US-7IN7", utc(2026, 3, 9, 4)),
            ),
            Case(
                "London borrower, fall-back week: midnight GMT of 10-26",
                voice(LONDON, tallies=calls(*days_back(date(2026, 10, 25), 7))),
                utc(2026, 10, 25, 12), Refusal("US-7IN7", utc(2026, 10, 26)),
            ),
            Case(
                "the borrower's own call is not capped",
                voice(tallies=calls(*week), req={"initiated_by": Initiator.BORROWER}), at, None,
            ),
        ],
    )  # fmt: skip


def test_us_7day_after_convo() -> None:
    convo = calls(date(2026, 3, 2), outcome=AttemptOutcome.ANSWERED)
    check(
        rule_after_conversation,
        [
            Case(
                "conversation on 03-02 (day 1): no call through 03-08",
                voice(tallies=convo), wall(NY, 2026, 3, 8, 14),
                Refusal("US-7DAY-AFTER-CONVO", utc(2026, 3, 9, 4)),
            ),
            Case("03-09 is the eighth day", voice(tallies=convo), wall(NY, 2026, 3, 9, 9), None),
            Case(
                "the borrower called: also a conversation",
                voice(tallies=calls(date(2026, 3, 2), outcome=AttemptOutcome.RECEIVED,
                                    initiated_by=Initiator.BORROWER)),
                wall(NY, 2026, 3, 5, 9), Refusal("US-7DAY-AFTER-CONVO", utc(2026, 3, 9, 4)),
            ),
            Case(
                "unanswered calls are no conversation",
                voice(tallies=calls(date(2026, 3, 2))), wall(NY, 2026, 3, 5, 9), None,
            ),
            Case(
                "a conversation about another loan",
                voice(tallies=calls(date(2026, 3, 2), outcome=AttemptOutcome.ANSWERED,
                                    loan_id=LOAN + 1)),
                wall(NY, 2026, 3, 5, 9), None,
            ),
            Case("texts are not restricted", facts(tallies=convo), wall(NY, 2026, 3, 5, 9), None),
        ],
    )  # fmt: skip


def test_us_call_spacing() -> None:
    at = utc(2026, 3, 9, 14, 3)
    last = calls(date(2026, 3, 9), last_at=utc(2026, 3, 9, 14))
    today = date(2026, 3, 9)
    check(
        rule_call_spacing,
        [
            Case(
                "3 minutes after an unanswered call to the number",
                voice(tallies=last), at, Refusal("US-CALL-SPACING", utc(2026, 3, 9, 14, 5)),
            ),
            Case("5 minutes after", voice(tallies=last), utc(2026, 3, 9, 14, 5), None),
            Case(
                "another number", voice(tallies=calls(today, address_index="idx-other",
                                                      last_at=utc(2026, 3, 9, 14))), at, None,
            ),
            Case(
                "the last call was answered",
                voice(tallies=calls(today, outcome=AttemptOutcome.ANSWERED,
                                    last_at=utc(2026, 3, 9, 14))), at, None,
            ),
            Case(
                "six calls today (to any number): the seventh waits for local midnight",
                voice(tallies=tuple(replace(t, count=6, last_at=utc(2026, 3, 9, 12))
                                    for t in calls(today))),
                at, Refusal("US-CALL-SPACING", utc(2026, 3, 10, 4)),
            ),
            Case(
                "five calls today", voice(tallies=tuple(
                    replace(t, count=5, last_at=utc(2026, 3, 9, 12)) for t in calls(today))),
                at, None,
            ),
        ],
    )  # fmt: skip


def _texts(per_day: dict[date, int]) -> tuple[AttemptTally, ...]:
    return tuple(
        replace(t, count=n)
        for d, n in per_day.items()
        for t in calls(d, channel=Channel.SMS, outcome=AttemptOutcome.DELIVERED)
    )


def test_us_volume() -> None:
    today = date(2026, 3, 9)
    at = wall(NY, 2026, 3, 9, 15)
    check(
        rule_volume,
        [
            Case("two messages today", facts(tallies=_texts({today: 2})), at, None),
            Case(
                "three today: the fourth waits for local midnight",
                facts(tallies=_texts({today: 3})), at, Refusal("US-VOLUME", utc(2026, 3, 10, 4)),
            ),
            Case(
                "counted across channels (2 texts + 1 call)",
                facts(tallies=_texts({today: 2}) + calls(today)), at,
                Refusal("US-VOLUME", utc(2026, 3, 10, 4)),
            ),
            Case(
                "ten in 7 days: waits until the oldest day (03-03) leaves",
                facts(tallies=_texts({date(2026, 3, 3): 2, date(2026, 3, 5): 2,
                                      date(2026, 3, 6): 2, date(2026, 3, 7): 2,
                                      date(2026, 3, 8): 2})),
                at, Refusal("US-VOLUME", wall(NY, 2026, 3, 10, 0)),
            ),
            Case(
                "the borrower's messages and our replies to them do not count",
                facts(tallies=_texts({today: 5})[:0] + tuple(
                    replace(t, initiated_by=Initiator.BORROWER) for t in _texts({today: 5}))),
                at, None,
            ),
            Case(
                "a borrower-initiated contact is not capped",
                facts(request=request(initiated_by=Initiator.BORROWER),
                      tallies=_texts({today: 3})), at, None,
            ),
        ],
    )  # fmt: skip


def test_cn_volume() -> None:
    today = date(2026, 3, 9)
    at = wall(SHANGHAI, 2026, 3, 9, 15)
    check(
        rule_volume,
        [
            Case("two today", facts(SHANGHAI, tallies=_texts({today: 2})), at, None, CN),
            Case(
                "three today: until midnight in Shanghai",
                facts(SHANGHAI, tallies=_texts({today: 3})), at,
                Refusal("CN-VOLUME", wall(SHANGHAI, 2026, 3, 10, 0)), CN,
            ),
        ],
    )  # fmt: skip


# --- opt-out, holds, written off ---------------------------------------------------------------


def test_us_optout() -> None:
    opted = (OptOutFact(utc(2026, 3, 1), None),)
    confirmed = (OptOutFact(utc(2026, 3, 1), utc(2026, 3, 1, 0, 1)),)
    at = utc(2026, 3, 9, 15)
    borrower = request(initiated_by=Initiator.BORROWER)
    check(
        rule_opt_out,
        [
            Case("no opt-out", facts(), at, None),
            Case("opted out of this channel", facts(opt_outs=opted), at, Refusal("US-OPTOUT")),
            Case("an opt-out made after `at` does not reach back", facts(opt_outs=opted),
                 utc(2026, 2, 1), None),
            Case(
                "the one confirmation", facts(opt_outs=opted,
                request=request(purpose=Purpose.OPT_OUT_CONFIRMATION)), at, None,
            ),
            Case(
                "a second confirmation", facts(opt_outs=confirmed,
                request=request(purpose=Purpose.OPT_OUT_CONFIRMATION)), at, Refusal("US-OPTOUT"),
            ),
            Case(
                "one reply to the borrower's message after the confirmation",
                facts(opt_outs=confirmed, request=borrower, last_inbound=utc(2026, 3, 9, 14),
                      last_outbound=utc(2026, 3, 1, 0, 1)), at, None,
            ),
            Case(
                "not a second reply to the same message",
                facts(opt_outs=confirmed, request=borrower, last_inbound=utc(2026, 3, 9, 14),
                      last_outbound=utc(2026, 3, 9, 14, 1)), at, Refusal("US-OPTOUT"),
            ),
            Case(
                "Settle may not start a contact on it", facts(opt_outs=confirmed,
                last_inbound=utc(2026, 3, 9, 14), last_outbound=utc(2026, 3, 1)), at,
                Refusal("US-OPTOUT"),
            ),
        ],
    )  # fmt: skip


def test_us_cease() -> None:
    held = frozenset({HoldKind.CEASE})
    at = utc(2026, 3, 9, 15)
    check(
        rule_cease,
        [
            Case("no hold", facts(), at, None),
            Case("cease hold", facts(holds=held), at, Refusal("US-CEASE")),
            Case("even when the borrower writes", facts(holds=held,
                 request=request(initiated_by=Initiator.BORROWER)), at, Refusal("US-CEASE")),
            Case("the notice that efforts end", facts(holds=held,
                 request=request(purpose=Purpose.CEASE_NOTICE)), at, None),
        ],
    )  # fmt: skip


def test_us_attorney() -> None:
    at = utc(2026, 3, 9, 15)
    check(
        rule_attorney,
        [
            Case("no attorney", facts(holds=frozenset({HoldKind.DISPUTE})), at, None),
            Case("represented", facts(holds=frozenset({HoldKind.ATTORNEY})), at,
                 Refusal("US-ATTORNEY")),
            Case("no purpose passes", facts(holds=frozenset({HoldKind.ATTORNEY}),
                 request=request(purpose=Purpose.CEASE_NOTICE)), at, Refusal("US-ATTORNEY")),
        ],
    )  # fmt: skip


def test_all_bankruptcy() -> None:
    at = utc(2026, 3, 9, 15)
    check(
        rule_bankruptcy,
        [
            Case("no bankruptcy", facts(), at, None),
            Case("bankruptcy", facts(holds=frozenset({HoldKind.BANKRUPTCY})), at,
                 Refusal("ALL-BANKRUPTCY")),
            Case("in the UK too", facts(LONDON, holds=frozenset({HoldKind.BANKRUPTCY})), at,
                 Refusal("ALL-BANKRUPTCY"), UK),
        ],
    )  # fmt: skip


def test_us_validation() -> None:
    held = frozenset({HoldKind.DISPUTE})
    at = utc(2026, 3, 9, 15)
    check(
        rule_dispute,
        [
            Case("no dispute", facts(), at, None),
            Case("disputed: collection pauses", facts(holds=held), at, Refusal("US-VALIDATION")),
            Case("the verification itself", facts(holds=held,
                 request=request(purpose=Purpose.DISPUTE_VERIFICATION)), at, None),
            Case("China profile", facts(SHANGHAI, holds=held), at, Refusal("ALL-DISPUTE"), CN),
        ],
    )  # fmt: skip


def test_us_validation_notice() -> None:
    first = utc(2026, 3, 2, 15)
    started = facts(first_outbound=first)
    borrower = request(initiated_by=Initiator.BORROWER)
    check(
        rule_validation_notice,
        [
            Case("no contact yet", facts(), utc(2026, 3, 9, 15), None),
            Case("exactly 5 days after the first contact", started, first + timedelta(days=5),
                 None),
            Case("5 days and a second, no notice", started,
                 first + timedelta(days=5, seconds=1), Refusal("US-VALIDATION")),
            Case("a week later, no notice", started, utc(2026, 3, 9, 15),
                 Refusal("US-VALIDATION")),
            Case("the notice was sent", replace(started, validation_notice_at=first),
                 utc(2026, 3, 9, 15), None),
            Case("a notice recorded after `at` does not reach back",
                 replace(started, validation_notice_at=utc(2026, 3, 10)), utc(2026, 3, 9, 15),
                 Refusal("US-VALIDATION")),
            Case("the notice itself may go out", replace(started, request=request(
                 purpose=Purpose.VALIDATION_NOTICE)), utc(2026, 3, 9, 15), None),
            Case("the borrower's own contact is answered", replace(started, request=borrower),
                 utc(2026, 3, 9, 15), None),
            Case("a collector's call is collection contact", replace(started, request=request(
                 initiated_by=Initiator.COLLECTOR, channel=Channel.VOICE)), utc(2026, 3, 9, 15),
                 Refusal("US-VALIDATION")),
            Case("a contact about no loan", replace(started, request=request(loan_id=None)),
                 utc(2026, 3, 9, 15), None),
            Case("not in the UK profile", facts(LONDON, first_outbound=first),
                 utc(2026, 3, 9, 15), None, UK),
            Case("not in the China profile", facts(SHANGHAI, first_outbound=first),
                 utc(2026, 3, 9, 15), None, CN),
        ],
    )  # fmt: skip


def test_all_written_off() -> None:
    at = utc(2026, 3, 9, 15)
    check(
        rule_written_off,
        [
            Case("active loan", facts(), at, None),
            Case("written off", facts(loan_status=LoanStatus.WRITTEN_OFF), at,
                 Refusal("ALL-WRITTEN-OFF")),
            Case("settled", facts(loan_status=LoanStatus.SETTLED), at,
                 Refusal("ALL-WRITTEN-OFF")),
            Case("the borrower may still be answered", facts(loan_status=LoanStatus.SETTLED,
                 request=request(initiated_by=Initiator.BORROWER)), at, None),
            Case("an opt-out confirmation is no collection", facts(
                 loan_status=LoanStatus.WRITTEN_OFF,
                 request=request(purpose=Purpose.OPT_OUT_CONFIRMATION)), at, None),
            Case("China", facts(SHANGHAI, loan_status=LoanStatus.WRITTEN_OFF), at,
                 Refusal("ALL-WRITTEN-OFF"), CN),
        ],
    )  # fmt: skip


# --- numbers and consent -------------------------------------------------------------------


def test_us_workplace() -> None:
    at = utc(2026, 3, 9, 15)
    work = voice(workplace_no_contact=True, phone_kind="work")
    check(
        rule_workplace,
        [
            Case("a work number the employer allows", voice(phone_kind="work"), at, None),
            Case("a work number marked no-contact", work, at, Refusal("US-WORKPLACE")),
            Case("a text to it", replace(work, request=request()), at, Refusal("US-WORKPLACE")),
            Case("the borrower calls from work", voice(workplace_no_contact=True,
                 req={"initiated_by": Initiator.BORROWER}), at, None),
            Case("web chat is not at the workplace", replace(work,
                 request=request(channel=Channel.WEB)), at, None),
        ],
    )  # fmt: skip


def test_us_sms_number() -> None:
    at = utc(2026, 3, 9, 15)

    def sms(days: int, revoked: datetime | None = None) -> tuple[ConsentFact, ...]:
        return (ConsentFact(ConsentKind.SMS, at - timedelta(days=days), revoked),)

    check(
        rule_sms_number,
        [
            Case("consent 59 days old", facts(consents=sms(59)), at, None),
            Case("consent 61 days old", facts(consents=sms(61)), at, Refusal("US-SMS-NUMBER")),
            Case("revoked", facts(consents=sms(5, at - timedelta(days=1))), at,
                 Refusal("US-SMS-NUMBER")),
            Case("no consent, but the borrower texted from it 10 days ago",
                 facts(consents=(), last_text_from_address=at - timedelta(days=10)), at, None),
            Case("their text was 70 days ago",
                 facts(consents=(), last_text_from_address=at - timedelta(days=70)), at,
                 Refusal("US-SMS-NUMBER")),
            Case("a text before the revocation does not count",
                 facts(consents=sms(30, at - timedelta(days=2)),
                       last_text_from_address=at - timedelta(days=3)), at,
                 Refusal("US-SMS-NUMBER")),
            Case("autodial consent is not text consent", facts(consents=(
                 ConsentFact(ConsentKind.AUTODIAL, at - timedelta(days=1), None),)), at,
                 Refusal("US-SMS-NUMBER")),
            Case("replying to the borrower's text", facts(consents=(),
                 request=request(initiated_by=Initiator.BORROWER)), at, None),
            Case("not in the UK profile", facts(LONDON, consents=()), at, None, UK),
        ],
    )  # fmt: skip


def test_us_tcpa_consent() -> None:
    at = utc(2026, 3, 9, 15)
    check(
        rule_autodial_consent,
        [
            Case("the number given with the loan", voice(consents=()), at, None),
            Case("a number not on file, no consent", voice(consents=(), on_file=False,
                 phone_kind=None), at, Refusal("US-TCPA-CONSENT")),
            Case("a number not on file with consent", voice(on_file=False, phone_kind=None,
                 consents=(ConsentFact(ConsentKind.AUTODIAL, utc(2026, 3, 1), None),)), at, None),
            Case("a landline", voice(consents=(), on_file=False, phone_kind="landline"), at,
                 None),
            Case("a collector dials by hand", voice(consents=(), on_file=False, phone_kind=None,
                 req={"initiated_by": Initiator.COLLECTOR}), at, None),
            Case("texts are US-SMS-NUMBER's", facts(consents=(), on_file=False), at, None),
        ],
    )  # fmt: skip


def test_us_tcpa_revoke() -> None:
    at = utc(2026, 3, 9, 15)
    revoked = ConsentFact(ConsentKind.AUTODIAL, utc(2026, 1, 1), at - timedelta(seconds=1))
    check(
        rule_autodial_consent,
        [
            Case("revoked a second ago, number on file", voice(consents=(revoked,)), at,
                 Refusal("US-TCPA-REVOKE")),
            Case("given again after the revocation", voice(consents=(revoked, ConsentFact(
                 ConsentKind.AUTODIAL, at - timedelta(milliseconds=1), None))), at, None),
            Case("a revocation recorded later does not reach back", voice(consents=(revoked,)),
                 at - timedelta(minutes=1), None),
        ],
    )  # fmt: skip


def test_all_no_address() -> None:
    at = utc(2026, 3, 9, 15)
    check(
        rule_no_address,
        [
            Case("a number to call", voice(), at, None),
            Case("no number at all", voice(address_index=None), at, Refusal("ALL-NO-ADDRESS")),
            Case("web chat needs none", facts(address_index=None,
                 request=request(channel=Channel.WEB, address_index=None)), at, None),
        ],
    )  # fmt: skip


# --- the combiner ----------------------------------------------------------------------------


def test_decide_allows_when_no_rule_objects() -> None:
    decision = decide(facts(), US, wall(NY, 2026, 3, 9, 10))
    assert (decision.outcome, decision.defer_until, decision.reasons) == (Outcome.ALLOW, None, ())


def test_decide_denial_wins_with_every_denial() -> None:
    f = facts(holds=frozenset({HoldKind.ATTORNEY, HoldKind.DISPUTE}))
    decision = decide(f, US, wall(NY, 2026, 3, 9, 23))  # also outside the window
    assert decision.outcome is Outcome.DENY
    assert decision.defer_until is None
    assert decision.reasons == ("US-ATTORNEY", "US-VALIDATION")


def test_decide_defers_to_an_instant_every_rule_allows() -> None:
    # At 20:30 EDT on Monday: three texts today (cap until midnight), then the window (08:00),
    # then the borrower's stated 08:00-09:30 weekday block: 09:30 EDT Tuesday.
    blocked = (Blocked(frozenset({1, 2, 3, 4, 5}), time(8), time(9, 30)),)
    f = facts(tallies=_texts({date(2026, 3, 9): 3}), blocked=blocked)
    decision = decide(f, US, wall(NY, 2026, 3, 9, 20, 30))
    assert decision.outcome is Outcome.DEFER
    assert decision.defer_until == wall(NY, 2026, 3, 10, 9, 30)
    assert set(decision.reasons) == {"US-VOLUME", "US-HOURS", "US-INCONVENIENT"}
    # The deferred instant passes every rule.
    assert all(rule(f, US, decision.defer_until) is None for rule in RULES)


def test_decide_defer_across_the_spring_forward_night() -> None:
    # A call at 20:58 EST Saturday 03-07 to a number last called unanswered at 20:57: spacing
    # says 21:02, where the window says 08:00 EDT Sunday (12:00 UTC), not 08:00 EST.
    f = voice(tallies=calls(date(2026, 3, 7), last_at=wall(NY, 2026, 3, 7, 20, 57)))
    decision = decide(f, US, wall(NY, 2026, 3, 7, 20, 58))
    assert decision.outcome is Outcome.DEFER
    assert decision.defer_until == utc(2026, 3, 8, 12)
    assert decision.reasons == ("US-CALL-SPACING", "US-HOURS")


def test_decide_denies_when_the_deferred_instant_is_refused() -> None:
    # Consent 59.9 days old at 22:00: by 08:00 it is more than 60 days old.
    at = wall(NY, 2026, 3, 9, 22)
    f = facts(consents=(ConsentFact(ConsentKind.SMS, at - timedelta(days=59, hours=22), None),))
    decision = decide(f, US, at)
    assert decision.outcome is Outcome.DENY
    assert decision.reasons == ("US-HOURS", "US-SMS-NUMBER")


def test_decide_denies_when_no_instant_is_ever_free() -> None:
    every_day = (Blocked(frozenset(range(1, 8)), time(0), time(0)),)
    decision = decide(facts(blocked=every_day), US, wall(NY, 2026, 3, 9, 10))
    assert (decision.outcome, decision.reasons) == (Outcome.DENY, ("US-INCONVENIENT",))


def test_every_rule_code_is_pinned_by_tests_that_exist() -> None:
    contact_codes = {
        "US-HOURS", "US-HOURS-AMBIG", "US-INCONVENIENT", "US-7IN7", "US-7DAY-AFTER-CONVO",
        "US-CALL-SPACING", "US-VOLUME", "US-OPTOUT", "US-CEASE", "US-ATTORNEY", "US-WORKPLACE",
        "US-SMS-NUMBER", "US-VALIDATION", "US-TCPA-CONSENT", "US-TCPA-REVOKE",
        "UK-CONTACT-PREFS", "CN-HOURS", "CN-VOLUME", "ALL-WRITTEN-OFF", "ALL-BANKRUPTCY",
    }  # fmt: skip
    assert contact_codes <= RULE_TESTS.keys()
    for code, tests in RULE_TESTS.items():
        assert tests, code
        for name in tests:
            module_name, function = name.split("::")
            module = importlib.import_module(f"tests.compliance.{module_name}")
            assert callable(getattr(module, function, None)), f"{code}: {name} is missing"


def test_every_profile_code_is_in_the_table() -> None:
    # Every code a profile can put on a refusal is pinned (the ALL- codes the profiles reuse
    # for uk and cn included).
    codes = set()
    for profile in (US, UK, CN):
        for section in vars(profile).values():
            for name in ("code", "ambiguous_code", "revoke_code"):
                if getattr(section, "enabled", False) and hasattr(section, name):
                    codes.add(getattr(section, name))
    # UK-FORBEARANCE (the forbearance section) is pinned by test_forbearance.
    pinned = set(RULE_TESTS) | {"ALL-CEASE", "ALL-ATTORNEY", "ALL-DISPUTE", "ALL-OPTOUT",
                                "ALL-INCONVENIENT", "UK-FORBEARANCE"}  # fmt: skip
    assert codes <= pinned, codes - pinned
