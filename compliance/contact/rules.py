"""Each contact rule as a pure function `(facts, profile, at) -> Refusal | None`, and `RULES`.

A rule reads only its `ContactFacts`, its section of the jurisdiction profile (on/off, numbers,
reason code) and the instant asked about; it never touches the database. `RULES` lists them in
the order the combiner asks them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from functools import cache

from compliance.contact.records import (
    NO_ADDRESS,
    PHONE_CHANNELS,
    AttemptTally,
    ContactFacts,
    Purpose,
    Refusal,
)
from compliance.local_time import Window, allowed_in_all, day_start, local_date, next_allowed
from compliance.profiles import HoldRule, Profile
from models import AttemptOutcome, Channel, ConsentKind, HoldKind, Initiator, LoanStatus

RuleFn = Callable[[ContactFacts, Profile, datetime], Refusal | None]


def _by_borrower(facts: ContactFacts) -> bool:
    return facts.request.initiated_by is Initiator.BORROWER


def _reply_pending(facts: ContactFacts, since: datetime | None) -> bool:
    """Whether the borrower's latest message (after `since`) has not been answered yet."""
    anchors = [a for a in (since, facts.last_inbound) if a is not None]
    if not anchors or facts.last_outbound is None:
        return True
    return facts.last_outbound < max(anchors)


def _today(facts: ContactFacts, at: datetime) -> date:
    return local_date(at, facts.address_zone)


def _cap_until(per_day: dict[date, int], limit: int, days: int, zone: str) -> datetime | None:
    """When enough of the oldest counted days have rolled out of a `days`-day window."""
    total = sum(per_day.values())
    if total < limit:
        return None
    to_drop, dropped = total - limit + 1, 0
    for day in sorted(per_day):
        dropped += per_day[day]
        if dropped >= to_drop:
            return day_start(day + timedelta(days=days), zone)
    raise AssertionError("unreachable: the counts add up to the total")  # pragma: no cover


def _same_debt(tally: AttemptTally, loan_id: int | None) -> bool:
    # A contact about no particular loan counts for every loan of the borrower, and the other
    # way round (stricter reading).
    return loan_id is None or tally.loan_id is None or tally.loan_id == loan_id


def rule_written_off(facts: ContactFacts, profile: Profile, at: datetime) -> Refusal | None:
    """ALL-WRITTEN-OFF: no collection contact about a written-off or settled loan."""
    if facts.loan_status not in _CLOSED:
        return None
    rule = profile.written_off
    if not rule.enabled or facts.request.purpose is not Purpose.COLLECTION:
        return None
    if _by_borrower(facts) and rule.borrower_initiated_exempt:
        return None
    return Refusal(rule.code)


_CLOSED = frozenset({LoanStatus.WRITTEN_OFF, LoanStatus.SETTLED})


def _hold_rule(
    kind: HoldKind, section: Callable[[Profile], HoldRule], passes: frozenset[Purpose]
) -> RuleFn:
    def rule(facts: ContactFacts, profile: Profile, at: datetime) -> Refusal | None:
        if kind not in facts.holds:
            return None
        settings = section(profile)
        if not settings.enabled or facts.request.purpose in passes:
            return None
        return Refusal(settings.code)

    rule.__name__ = f"rule_{kind.value}_hold"
    rule.__doc__ = f"A {kind.value} hold on the loan or the borrower stops contact."
    return rule


# US-CEASE: only a notice that efforts end (or of a specified remedy) may follow.
rule_cease = _hold_rule(HoldKind.CEASE, lambda p: p.cease, frozenset({Purpose.CEASE_NOTICE}))
# US-ATTORNEY: a represented borrower is not contacted at all.
rule_attorney = _hold_rule(HoldKind.ATTORNEY, lambda p: p.attorney, frozenset())
# Bankruptcy: the automatic stay stops collection.
rule_bankruptcy = _hold_rule(HoldKind.BANKRUPTCY, lambda p: p.bankruptcy, frozenset())
# US-VALIDATION: a dispute pauses collection until the verification is sent.
rule_dispute = _hold_rule(
    HoldKind.DISPUTE, lambda p: p.dispute, frozenset({Purpose.DISPUTE_VERIFICATION})
)


def rule_validation_notice(facts: ContactFacts, profile: Profile, at: datetime) -> Refusal | None:
    """US-VALIDATION: no further collection contact once `days` have passed since the first
    contact about the loan without a validation notice recorded for it.
    """
    rule = profile.validation_notice
    first = facts.first_outbound
    if not rule.enabled or first is None or first > at:
        return None
    request = facts.request
    if request.loan_id is None or request.purpose is not Purpose.COLLECTION or _by_borrower(facts):
        return None
    if at - first <= timedelta(days=rule.days):
        return None
    notice = facts.validation_notice_at
    if notice is not None and notice <= at:
        return None
    return Refusal(rule.code)


def rule_opt_out(facts: ContactFacts, profile: Profile, at: datetime) -> Refusal | None:
    """US-OPTOUT: after an opt-out, one confirmation or one reply to a borrower's message."""
    if not facts.opt_outs:
        return None
    rule = profile.opt_out
    opt_outs = [o for o in facts.opt_outs if o.at <= at]
    if not rule.enabled or not opt_outs:
        return None
    if facts.request.purpose is Purpose.OPT_OUT_CONFIRMATION:
        return None if any(o.confirmed_at is None for o in opt_outs) else Refusal(rule.code)
    latest = max(o.at for o in opt_outs)
    if _by_borrower(facts) and rule.reply_to_borrower_once and _reply_pending(facts, latest):
        return None
    return Refusal(rule.code)


def rule_no_address(facts: ContactFacts, profile: Profile, at: datetime) -> Refusal | None:
    """A call or text needs a number: the request's, or a phone on file."""
    if facts.request.channel in PHONE_CHANNELS and facts.address_index is None:
        return Refusal(NO_ADDRESS)
    return None


def rule_workplace(facts: ContactFacts, profile: Profile, at: datetime) -> Refusal | None:
    """US-WORKPLACE: no contact on a work number whose employer forbids it."""
    rule = profile.workplace
    if not rule.enabled or not facts.workplace_no_contact or _by_borrower(facts):
        return None
    return Refusal(rule.code) if facts.request.channel in PHONE_CHANNELS else None


def rule_autodial_consent(facts: ContactFacts, profile: Profile, at: datetime) -> Refusal | None:
    """US-TCPA-CONSENT / US-TCPA-REVOKE: Settle's (automated) calls to a mobile need consent."""
    rule = profile.autodial_consent
    request = facts.request
    if not rule.enabled or request.channel is not Channel.VOICE:
        return None
    # Settle's calls are synthetic voice; a collector dials by hand.
    if request.initiated_by is not Initiator.SETTLE or facts.phone_kind == "landline":
        return None
    consents = [c for c in facts.consents if c.kind is ConsentKind.AUTODIAL and c.given_at <= at]
    if any(c.revoked_at is None or c.revoked_at > at for c in consents):
        return None
    if consents:  # every consent there was has been revoked
        return Refusal(rule.revoke_code)
    if rule.number_on_file_counts and facts.on_file:
        return None
    return Refusal(rule.code)


def rule_sms_number(facts: ContactFacts, profile: Profile, at: datetime) -> Refusal | None:
    """US-SMS-NUMBER: texts only to a number the borrower texted from or consented to lately."""
    rule = profile.sms_number
    if not rule.enabled or facts.request.channel not in rule.channels or _by_borrower(facts):
        return None
    since = at - timedelta(days=rule.consent_days)
    consents = [c for c in facts.consents if c.kind is ConsentKind.SMS and c.given_at <= at]
    revoked = [c.revoked_at for c in consents if c.revoked_at is not None and c.revoked_at <= at]
    last_revoked = max(revoked, default=None)
    if any(c.given_at >= since and (c.revoked_at is None or c.revoked_at > at) for c in consents):
        return None
    text = facts.last_text_from_address
    if text is not None and since <= text <= at and (last_revoked is None or text > last_revoked):
        return None
    return Refusal(rule.code)


@cache
def _window(start: time, end: time) -> Window:
    return Window(start, end)


def rule_hours(facts: ContactFacts, profile: Profile, at: datetime) -> Refusal | None:
    """US-HOURS / US-HOURS-AMBIG / CN-HOURS: inside the window in every candidate zone."""
    rule = profile.hours
    if not rule.enabled or facts.request.channel not in rule.channels:
        return None
    if _by_borrower(facts) and rule.borrower_initiated_exempt:
        return None
    window = _window(rule.start, rule.end)
    if allowed_in_all(at, facts.zones, window):
        return None
    in_address_zone = allowed_in_all(at, facts.zones[:1], window)
    code = rule.ambiguous_code if in_address_zone else rule.code
    return Refusal(code, next_allowed(at, facts.zones, window))


def rule_inconvenient(facts: ContactFacts, profile: Profile, at: datetime) -> Refusal | None:
    """US-INCONVENIENT: stated inconvenient times are blocked; a borrower is answered once."""
    rule = profile.inconvenient_times
    if not rule.enabled or not facts.blocked:
        return None
    free_at = next_allowed(at, facts.zones, None, facts.blocked)
    if free_at == at:
        return None
    if _by_borrower(facts) and rule.answer_borrower_once and _reply_pending(facts, None):
        return None
    return Refusal(rule.code, free_at)


def rule_calls_per_debt(facts: ContactFacts, profile: Profile, at: datetime) -> Refusal | None:
    """US-7IN7: at most N placed calls about one debt in any D consecutive local days."""
    rule = profile.calls_per_debt
    if not facts.tallies or facts.request.channel is not Channel.VOICE or not rule.enabled:
        return None
    if _by_borrower(facts):
        return None
    today = _today(facts, at)
    first = today - timedelta(days=rule.days - 1)
    per_day: dict[date, int] = defaultdict(int)
    for tally in facts.tallies:
        if (
            tally.placed_call
            and first <= tally.day <= today
            and _same_debt(tally, facts.request.loan_id)
        ):
            per_day[tally.day] += tally.count
    until = _cap_until(per_day, rule.max_calls, rule.days, facts.address_zone)
    return None if until is None else Refusal(rule.code, until)


def rule_after_conversation(facts: ContactFacts, profile: Profile, at: datetime) -> Refusal | None:
    """US-7DAY-AFTER-CONVO: no call for D local days after a conversation (its day is day 1)."""
    rule = profile.after_conversation
    if not facts.tallies or facts.request.channel is not Channel.VOICE or not rule.enabled:
        return None
    if _by_borrower(facts):
        return None
    today = _today(facts, at)
    first = today - timedelta(days=rule.days - 1)
    days = [
        t.day
        for t in facts.tallies
        if t.conversation and first <= t.day <= today and _same_debt(t, facts.request.loan_id)
    ]
    if not days:
        return None
    return Refusal(rule.code, day_start(max(days) + timedelta(days=rule.days), facts.address_zone))


def rule_call_spacing(facts: ContactFacts, profile: Profile, at: datetime) -> Refusal | None:
    """US-CALL-SPACING: a gap after an unanswered call to one number; a daily call cap."""
    rule = profile.call_spacing
    if not facts.tallies or facts.request.channel is not Channel.VOICE or not rule.enabled:
        return None
    if _by_borrower(facts):
        return None
    today = _today(facts, at)
    untils: list[datetime] = []
    unanswered = [
        t.last_at
        for t in facts.tallies
        if t.placed_call
        and t.outcome is not AttemptOutcome.ANSWERED
        # An attempt logged without its number counts against every number (stricter).
        and t.address_index in (facts.address_index, None)
        and t.last_at <= at
    ]
    if unanswered and max(unanswered) + rule.min_gap > at:
        untils.append(max(unanswered) + rule.min_gap)
    calls_today = sum(t.count for t in facts.tallies if t.placed_call and t.day == today)
    if calls_today >= rule.max_calls_per_day:
        untils.append(day_start(today + timedelta(days=1), facts.address_zone))
    return Refusal(rule.code, max(untils)) if untils else None


def rule_volume(facts: ContactFacts, profile: Profile, at: datetime) -> Refusal | None:
    """US-VOLUME / CN-VOLUME: contacts per borrower per local day and per 7 local days."""
    rule = profile.volume
    if not facts.tallies or not rule.enabled or facts.request.purpose is not Purpose.COLLECTION:
        return None
    if _by_borrower(facts) and rule.borrower_initiated_exempt:
        return None
    today = _today(facts, at)
    first = today - timedelta(days=6)
    per_day: dict[date, int] = defaultdict(int)
    for tally in facts.tallies:
        if tally.started_by_us and first <= tally.day <= today:
            per_day[tally.day] += tally.count
    untils = [
        until
        for until in (
            _cap_until({today: per_day.get(today, 0)}, rule.per_day, 1, facts.address_zone),
            _cap_until(per_day, rule.per_week, 7, facts.address_zone),
        )
        if until is not None
    ]
    return Refusal(rule.code, max(untils)) if untils else None


# Denials first (cheap, and a denial ends the decision), then the rules that defer.
RULES: tuple[RuleFn, ...] = (
    rule_written_off,
    rule_cease,
    rule_attorney,
    rule_bankruptcy,
    rule_dispute,
    rule_validation_notice,
    rule_opt_out,
    rule_no_address,
    rule_workplace,
    rule_autodial_consent,
    rule_sms_number,
    rule_hours,
    rule_inconvenient,
    rule_calls_per_debt,
    rule_after_conversation,
    rule_call_spacing,
    rule_volume,
)
