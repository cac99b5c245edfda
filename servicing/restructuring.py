"""Restructuring: priced offers computed from a loan's real balance, and accepting one.

A quote capitalises what the borrower owes on the day (principal outstanding, the interest and
fees already due, arrears included, and the interest accrued in the running period) and prices it
three ways, following the product's
`RestructuringRules` (servicing/products.yaml): re-amortized over longer terms at the contract
rate, a hardship plan at a reduced rate, and a lump-sum settlement at a discount. Discounts beyond
the product's threshold wait for a supervisor. Accepting an offer creates an `Arrangement` whose
schedule replaces the unpaid rest of the loan; paid parts of the replaced installments stay as
history.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import (
    Amortization,
    Arrangement,
    ArrangementStatus,
    Loan,
    OfferKind,
    OfferStatus,
    RestructuringOffer,
)
from servicing.balance import Balance, loan_balance
from servicing.calendar import add_months
from servicing.errors import Conflict, InvalidInput, NotEligible, NotFound
from servicing.ledger import last_change, refuse_back_dating, refuse_future
from servicing.loans import get_loan, installment_rows, lock_loan, open_installments, require_active
from servicing.money import round_half_up
from servicing.products import RestructuringRules, catalogue
from servicing.schedule import ScheduledInstallment, generate_schedule

# Offers a borrower may still act on (a pending one once a supervisor approves it).
LIVE_STATUSES = (OfferStatus.OFFERED, OfferStatus.PENDING_APPROVAL)
_RATE_PLACES = Decimal("0.000001")  # the scale of the annual_rate columns
_DECIDER_MAX = 64


class OfferRefusal(StrEnum):
    """Why an offer cannot be accepted (or approved) now; a code the borrower can be told."""

    AWAITING_APPROVAL = "awaiting_approval"
    OFFER_EXPIRED = "offer_expired"


def capitalised_balance(balance: Balance) -> int:
    """What a restructuring re-prices: everything owed on the day, before any credit.

    Principal outstanding, interest and fees already due (arrears), fees of installments not yet
    due, and the interest accrued in the running period: the new schedule's interest runs from the
    quote day, so the interest earned up to that day is carried into it, never lost.
    """
    return (
        balance.principal_outstanding_minor
        + balance.interest_due_minor
        + balance.fees_due_minor
        + balance.future_fees_minor
        + balance.accrued_interest_minor
    )


def offer_schedule(
    offer: RestructuringOffer, *, amortization: Amortization
) -> list[ScheduledInstallment]:
    """The schedule an offer stands for: the balance less any discount, repaid as quoted.

    Accepting rebuilds exactly this, so the borrower gets the figures they were shown.
    """
    return generate_schedule(
        principal_minor=offer.balance_minor - offer.discount_minor,
        annual_rate=offer.annual_rate,
        term_months=offer.number_of_payments,
        first_due_on=offer.first_due_on,
        amortization=amortization,
    )


def needs_approval(offer: RestructuringOffer, rules: RestructuringRules) -> bool:
    """Whether the offer's discount is beyond the share of the balance offered without a supervisor.

    Compared in minor units (the allowed share rounded half-up), so a discount set exactly at the
    threshold never needs approval just because the settlement amount was rounded down.
    """
    allowed = round_half_up(Decimal(offer.balance_minor) * rules.approval_discount_above)
    return offer.discount_minor > allowed


def _priced(
    offer: RestructuringOffer, *, amortization: Amortization, rules: RestructuringRules
) -> RestructuringOffer:
    """Fill in the offer's installment, total cost and status from its schedule."""
    schedule = offer_schedule(offer, amortization=amortization)
    offer.installment_minor = schedule[0].total_minor
    offer.total_cost_minor = sum(item.total_minor for item in schedule)
    offer.status = (
        OfferStatus.PENDING_APPROVAL if needs_approval(offer, rules) else OfferStatus.OFFERED
    )
    return offer


def _installment_offer(
    loan: Loan, kind: OfferKind, *, balance_minor: int, rate: Decimal, term: int, as_of: date
) -> RestructuringOffer:
    rules = catalogue().get(loan.product).restructuring
    offer = RestructuringOffer(
        loan_id=loan.id,
        kind=kind,
        quoted_on=as_of,
        valid_until=as_of + timedelta(days=rules.offer_valid_days),
        balance_minor=balance_minor,
        annual_rate=rate,
        number_of_payments=term,
        discount_minor=0,
        first_due_on=add_months(as_of, 1),
    )
    return _priced(offer, amortization=loan.amortization, rules=rules)


def _settlement_offer(loan: Loan, *, balance_minor: int, as_of: date) -> RestructuringOffer:
    rules = catalogue().get(loan.product).restructuring
    amount = round_half_up(Decimal(balance_minor) * (1 - rules.settlement_discount))
    valid_until = as_of + timedelta(days=rules.settlement_valid_days)
    offer = RestructuringOffer(
        loan_id=loan.id,
        kind=OfferKind.SETTLEMENT,
        quoted_on=as_of,
        valid_until=valid_until,
        balance_minor=balance_minor,
        annual_rate=Decimal(0),
        number_of_payments=1,
        discount_minor=balance_minor - amount,
        # The lump sum is due by the end of the window the offer gives: accepting early does not
        # shorten the time the borrower was told they have to pay.
        first_due_on=valid_until,
    )
    return _priced(offer, amortization=Amortization.ANNUITY, rules=rules)


def _reamortize_terms(remaining: int, rules: RestructuringRules) -> list[int]:
    """Longer terms at the contract rate; a term the cap keeps from growing is not offered."""
    terms = {min(remaining + extra, rules.max_term_months) for extra in rules.extra_months}
    return sorted(t for t in terms if t > remaining)


def _hardship_term(remaining: int, rules: RestructuringRules) -> int:
    # Capped like the other plans, but never shorter than what is left: the relief is the rate.
    return max(remaining, min(remaining + rules.hardship_extra_months, rules.max_term_months))


def _offers(loan: Loan, balance: Balance) -> list[RestructuringOffer]:
    rules = catalogue().get(loan.product).restructuring
    owed = capitalised_balance(balance)
    remaining = sum(1 for p in balance.installments if p.unpaid_minor > 0)
    as_of = balance.as_of
    offers = [
        _installment_offer(
            loan,
            OfferKind.REAMORTIZE,
            balance_minor=owed,
            rate=loan.annual_rate,
            term=term,
            as_of=as_of,
        )
        for term in _reamortize_terms(remaining, rules)
    ]
    hardship_rate = (loan.annual_rate * rules.hardship_rate_factor).quantize(
        _RATE_PLACES, rounding=ROUND_HALF_UP
    )
    offers.append(
        _installment_offer(
            loan,
            OfferKind.HARDSHIP,
            balance_minor=owed,
            rate=hardship_rate,
            term=_hardship_term(remaining, rules),
            as_of=as_of,
        )
    )
    offers.append(_settlement_offer(loan, balance_minor=owed, as_of=as_of))
    return offers


def _withdraw_live_offers(session: Session, loan_id: int, *, keep: int | None = None) -> None:
    statement = (
        update(RestructuringOffer)
        .where(
            RestructuringOffer.loan_id == loan_id,
            RestructuringOffer.status.in_(LIVE_STATUSES),
        )
        .values(status=OfferStatus.WITHDRAWN)
        .execution_options(synchronize_session="fetch")
    )
    if keep is not None:
        statement = statement.where(RestructuringOffer.id != keep)
    session.execute(statement)


def quote_restructuring(*, session: Session, loan_id: int, as_of: date) -> list[RestructuringOffer]:
    """Price and store the loan's restructuring offers on `as_of`; earlier live offers lapse.

    `as_of` may not be before the loan's latest change: the quote would miss it.
    """
    loan = lock_loan(session=session, loan_id=loan_id)
    require_active(loan, action="quote a restructuring")
    refuse_back_dating(session, loan, as_of, field="as_of")
    balance = loan_balance(session=session, loan_id=loan.id, as_of=as_of)
    if capitalised_balance(balance) <= 0:
        raise Conflict(
            f"nothing is owed on loan {loan.id} on {as_of.isoformat()}; there is nothing to"
            " restructure",
            field="loan_id",
        )
    _withdraw_live_offers(session, loan.id)
    offers = _offers(loan, balance)
    session.add_all(offers)
    session.flush()
    return offers


def _locked_offer(session: Session, offer_id: int) -> tuple[RestructuringOffer, Loan]:
    """The offer and its loan, the loan locked first and the offer then re-read under the lock."""
    offer = session.get(RestructuringOffer, offer_id)
    if offer is None:
        raise NotFound(f"no restructuring offer with id {offer_id}", field="offer_id")
    loan = lock_loan(session=session, loan_id=offer.loan_id)
    session.refresh(offer)
    return offer, loan


def _refuse_if_expired(session: Session, offer: RestructuringOffer, on: date) -> None:
    if on > offer.valid_until:
        offer.status = OfferStatus.EXPIRED
        session.flush()
        raise NotEligible(
            f"this offer was valid until {offer.valid_until.isoformat()}; ask for a new quote",
            reason=OfferRefusal.OFFER_EXPIRED.value,
            field="offer_id",
        )


def _require_status(offer: RestructuringOffer, *allowed: OfferStatus) -> None:
    if offer.status not in allowed:
        raise Conflict(f"offer {offer.id} is {offer.status.value}", field="offer_id")


def decide_offer(
    *, session: Session, offer_id: int, approve: bool, by: str, on: date
) -> RestructuringOffer:
    """A supervisor's approval (the offer becomes available) or rejection of a pending offer."""
    decider = by.strip()
    if not decider or len(decider) > _DECIDER_MAX:
        raise InvalidInput(f"by must be 1 to {_DECIDER_MAX} characters", field="by")
    offer, loan = _locked_offer(session, offer_id)
    _require_status(offer, OfferStatus.PENDING_APPROVAL)
    if approve:
        require_active(loan, action="approve a restructuring offer")
        _refuse_if_expired(session, offer, on)
    offer.status = OfferStatus.OFFERED if approve else OfferStatus.REJECTED
    offer.decided_by = decider
    session.flush()
    return offer


def _check_acceptable(
    session: Session, offer: RestructuringOffer, loan: Loan, on: date, today: date | None
) -> None:
    _require_status(offer, *LIVE_STATUSES)
    if on < offer.quoted_on:
        raise InvalidInput("an offer cannot be accepted before it was quoted", field="on")
    refuse_future(on, today=today, field="on")
    require_active(loan, action="accept a restructuring offer")
    refuse_back_dating(session, loan, on, field="on")
    _refuse_if_expired(session, offer, on)
    if offer.status is OfferStatus.PENDING_APPROVAL:
        raise NotEligible(
            "this offer needs a supervisor's approval before it can be accepted",
            reason=OfferRefusal.AWAITING_APPROVAL.value,
            field="offer_id",
        )
    # The loan as it stands on the acceptance day must be the loan that was quoted: nothing may
    # have changed after the quote day (money, due dates, an arrangement), and the quote day's
    # balance, recomputed now, must still be the offer's (a change later on the quote day itself).
    # Time alone changes nothing: the new schedule's interest runs from the quote day.
    latest = last_change(session, loan.id)
    stale = latest is not None and latest[0] > offer.quoted_on
    if (
        stale
        or capitalised_balance(
            loan_balance(session=session, loan_id=loan.id, as_of=offer.quoted_on)
        )
        != offer.balance_minor
    ):
        raise Conflict("the balance changed since the quote; ask for a new quote", field="offer_id")


def _replace_schedule(
    session: Session, loan: Loan, offer: RestructuringOffer, arrangement: Arrangement
) -> None:
    """Supersede every open installment and append the arrangement's schedule after them."""
    for installment in open_installments(loan):
        installment.superseded_by_arrangement_id = arrangement.id
    amortization = Amortization.ANNUITY if offer.kind is OfferKind.SETTLEMENT else loan.amortization
    next_seq = max((i.seq for i in loan.installments), default=0) + 1
    rows = installment_rows(offer_schedule(offer, amortization=amortization), start_seq=next_seq)
    for row in rows:
        row.arrangement_id = arrangement.id
    loan.installments.extend(rows)


def accept_offer(
    *, session: Session, offer_id: int, on: date, today: date | None = None
) -> Arrangement:
    """Accept an offer on `on`: an arrangement whose schedule replaces the loan's unpaid rest.

    `on` may not be before the loan's latest change, nor (with `today`) later than tomorrow.
    """
    offer, loan = _locked_offer(session, offer_id)
    _check_acceptable(session, offer, loan, on, today)
    arrangement = Arrangement(
        loan_id=loan.id,
        offer_id=offer.id,
        kind=offer.kind,
        status=ArrangementStatus.ACTIVE,
        started_on=on,
        # A settlement's discount: final when the arrangement completes, restored if it breaks
        # (servicing/arrangements.py).
        forgiven_minor=offer.discount_minor,
    )
    session.add(arrangement)
    session.flush()
    _replace_schedule(session, loan, offer, arrangement)
    offer.status = OfferStatus.ACCEPTED
    _withdraw_live_offers(session, loan.id, keep=offer.id)
    session.flush()
    return arrangement


def list_offers(*, session: Session, loan_id: int) -> list[RestructuringOffer]:
    """Every restructuring offer made on a loan, oldest first."""
    get_loan(session=session, loan_id=loan_id)
    return list(
        session.scalars(
            select(RestructuringOffer)
            .where(RestructuringOffer.loan_id == loan_id)
            .order_by(RestructuringOffer.id)
        )
    )
