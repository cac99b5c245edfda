"""Restructuring: offers priced from the real balance, approval, acceptance and its new schedule."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import numpy_financial as npf
import pytest
from sqlalchemy.orm import Session

from models import (
    AllocationComponent,
    Amortization,
    Loan,
    OfferKind,
    OfferStatus,
    PaymentAllocation,
    RestructuringOffer,
)
from servicing import restructuring
from servicing.balance import loan_balance
from servicing.errors import Conflict, InvalidInput, NotEligible
from servicing.loans import write_off_loan
from servicing.payments import post_payment
from servicing.products import Catalogue, catalogue
from servicing.restructuring import (
    accept_offer,
    capitalised_balance,
    decide_offer,
    list_offers,
    quote_restructuring,
)
from servicing.schedule import generate_schedule
from tests.servicing.factories import make_loan

# 12,000.00 USD at 12% over 24 months from 2025-01-15 (personal product): installments fall due on
# the 15th from 2025-02-15. On AS_OF the February, March and April installments are unpaid.
AS_OF = date(2025, 4, 20)
NEXT_DUE = date(2025, 5, 15)  # nothing falls due between AS_OF and the offers' end (May 4)


def behind_loan(session: Session, **overrides: object) -> Loan:
    fields: dict[str, object] = {"principal": Decimal("12000.00"), "term_months": 24}
    fields.update(overrides)
    return make_loan(session, **fields)


def by_kind(offers: list[RestructuringOffer], kind: OfferKind) -> list[RestructuringOffer]:
    return [o for o in offers if o.kind is kind]


def mark_all_paid(session: Session, loan: Loan, on: date) -> None:
    """Every installment paid with its allocation rows, the loan still open.

    `post_payment` closes a loan the moment nothing is owed, so this state is written by hand to
    reach the guard that stands behind it.
    """
    for installment in loan.installments:
        for component, amount in (
            (AllocationComponent.INTEREST, installment.interest_minor),
            (AllocationComponent.PRINCIPAL, installment.principal_minor),
        ):
            session.add(
                PaymentAllocation(
                    loan_id=loan.id,
                    installment_id=installment.id,
                    component=component,
                    amount_minor=amount,
                    applied_on=on,
                )
            )
        installment.interest_paid_minor = installment.interest_minor
        installment.principal_paid_minor = installment.principal_minor
        installment.paid_on = on
    session.flush()


def owed(session: Session, loan: Loan, on: date) -> int:
    return capitalised_balance(loan_balance(session=session, loan_id=loan.id, as_of=on))


def test_balance_capitalises_principal_arrears_and_accrued_interest(session: Session) -> None:
    loan = behind_loan(session)
    due_interest = sum(i.interest_minor for i in loan.installments[:3])
    # The running period is 04-15 to 05-15 (30 days); 5 of them have passed on AS_OF.
    accrued = round(loan.installments[3].interest_minor * 5 / 30)

    offers = quote_restructuring(session=session, loan_id=loan.id, as_of=AS_OF)

    assert {o.balance_minor for o in offers} == {1_200_000 + due_interest + accrued}
    assert [o.kind for o in offers] == [
        OfferKind.REAMORTIZE,
        OfferKind.REAMORTIZE,
        OfferKind.REAMORTIZE,
        OfferKind.HARDSHIP,
        OfferKind.SETTLEMENT,
    ]
    assert {o.quoted_on for o in offers} == {AS_OF}
    assert list_offers(session=session, loan_id=loan.id) == offers


def test_reamortized_offers_match_numpy_financial(session: Session) -> None:
    loan = behind_loan(session)

    offers = by_kind(
        quote_restructuring(session=session, loan_id=loan.id, as_of=AS_OF), OfferKind.REAMORTIZE
    )

    # 24 installments are unpaid; the product adds 6, 12 or 24 months at the contract rate.
    assert [o.number_of_payments for o in offers] == [30, 36, 48]
    for offer in offers:
        balance = offer.balance_minor / 100
        payment = npf.pmt(0.01, offer.number_of_payments, -balance)
        assert offer.annual_rate == Decimal("0.12")
        assert abs(offer.installment_minor / 100 - payment) <= 0.01
        # Each installment is within a cent of the exact payment, so the total within a cent each.
        assert abs(offer.total_cost_minor / 100 - payment * offer.number_of_payments) <= (
            0.01 * offer.number_of_payments
        )
        assert offer.first_due_on == date(2025, 5, 20)
        assert offer.valid_until == AS_OF + timedelta(days=14)
        assert (offer.status, offer.discount_minor) == (OfferStatus.OFFERED, 0)


def test_hardship_costs_less_a_month_than_the_same_term_at_the_contract_rate(
    session: Session,
) -> None:
    loan = behind_loan(session)

    [hardship] = by_kind(
        quote_restructuring(session=session, loan_id=loan.id, as_of=AS_OF), OfferKind.HARDSHIP
    )

    assert hardship.annual_rate == Decimal("0.06")  # half the contract rate
    assert hardship.number_of_payments == 24 + 12
    contract = generate_schedule(
        principal_minor=hardship.balance_minor,
        annual_rate=Decimal("0.12"),
        term_months=hardship.number_of_payments,
        first_due_on=hardship.first_due_on,
    )
    assert hardship.installment_minor < contract[0].total_minor
    payment = npf.pmt(0.005, 36, -hardship.balance_minor / 100)
    assert abs(hardship.installment_minor / 100 - payment) <= 0.01
    assert hardship.status is OfferStatus.OFFERED


def test_settlement_is_the_discounted_balance_in_one_payment_awaiting_approval(
    session: Session,
) -> None:
    loan = behind_loan(session)

    [settlement] = by_kind(
        quote_restructuring(session=session, loan_id=loan.id, as_of=AS_OF), OfferKind.SETTLEMENT
    )

    balance = settlement.balance_minor
    amount = int((Decimal(balance) * Decimal("0.70")).quantize(Decimal(1), ROUND_HALF_UP))
    assert settlement.installment_minor == settlement.total_cost_minor == amount
    assert settlement.discount_minor == balance - amount
    assert settlement.number_of_payments == 1
    assert settlement.annual_rate == 0
    assert settlement.valid_until == settlement.first_due_on == AS_OF + timedelta(days=14)
    # 30% off is beyond the 20% the personal product offers without a supervisor.
    assert settlement.status is OfferStatus.PENDING_APPROVAL


def _with_settlement_discount(discount: str) -> Catalogue:
    shipped = catalogue()
    personal = shipped.products["personal"]
    rules = replace(personal.restructuring, settlement_discount=Decimal(discount))
    products = {**shipped.products, "personal": replace(personal, restructuring=rules)}
    return replace(shipped, products=products)


@pytest.mark.parametrize(
    ("discount", "discount_minor", "status"),
    [("0.20", 24_692, OfferStatus.OFFERED), ("0.21", 25_926, OfferStatus.PENDING_APPROVAL)],
)
def test_approval_is_needed_only_beyond_the_threshold(
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
    discount: str,
    discount_minor: int,
    status: OfferStatus,
) -> None:
    # 1,234.58 owed: 80% of it is 987.664, rounded down to 987.66, so the discount is 246.92,
    # above 20% as a ratio (20% is 246.916) but not above it to the cent.
    loan = behind_loan(session, principal=Decimal("1234.58"))
    patched = _with_settlement_discount(discount)
    monkeypatch.setattr(restructuring, "catalogue", lambda: patched)

    [settlement] = by_kind(
        # Quoted on the disbursement day: nothing has accrued, the balance is the principal.
        quote_restructuring(session=session, loan_id=loan.id, as_of=date(2025, 1, 15)),
        OfferKind.SETTLEMENT,
    )

    assert settlement.balance_minor == 123_458
    assert settlement.discount_minor == discount_minor
    assert settlement.status is status


def test_terms_are_capped_by_the_product(session: Session) -> None:
    loan = behind_loan(session, term_months=110)

    offers = quote_restructuring(session=session, loan_id=loan.id, as_of=date(2025, 2, 1))

    # 110 + 6, then 110 + 12 and 110 + 24 both capped at 120 (offered once).
    assert [o.number_of_payments for o in by_kind(offers, OfferKind.REAMORTIZE)] == [116, 120]
    assert [o.number_of_payments for o in by_kind(offers, OfferKind.HARDSHIP)] == [120]

    # Past the cap already (an older contract): nothing longer at the contract rate, and the
    # hardship plan keeps the term rather than shortening it.
    past_cap = behind_loan(session, term_months=130)
    offers = quote_restructuring(session=session, loan_id=past_cap.id, as_of=date(2025, 2, 1))
    assert [(o.kind, o.number_of_payments) for o in offers] == [
        (OfferKind.HARDSHIP, 130),
        (OfferKind.SETTLEMENT, 1),
    ]


def test_equal_principal_product_at_zero_hardship_rate_costs_the_balance(
    session: Session,
) -> None:
    loan = behind_loan(session, product="consumer")
    assert loan.amortization is Amortization.EQUAL_PRINCIPAL

    [hardship] = by_kind(
        quote_restructuring(session=session, loan_id=loan.id, as_of=AS_OF), OfferKind.HARDSHIP
    )

    assert hardship.annual_rate == 0
    assert hardship.total_cost_minor == hardship.balance_minor
    # The consumer product's 15% settlement discount is beyond its 10% threshold.
    [settlement] = by_kind(list_offers(session=session, loan_id=loan.id), OfferKind.SETTLEMENT)
    assert settlement.status is OfferStatus.PENDING_APPROVAL


def test_a_new_quote_withdraws_the_earlier_live_offers(session: Session) -> None:
    loan = behind_loan(session)
    first = quote_restructuring(session=session, loan_id=loan.id, as_of=AS_OF)

    second = quote_restructuring(session=session, loan_id=loan.id, as_of=AS_OF + timedelta(1))

    assert {o.status for o in first} == {OfferStatus.WITHDRAWN}
    assert {o.status for o in second} == {OfferStatus.OFFERED, OfferStatus.PENDING_APPROVAL}


def test_written_off_loan_and_loan_owing_nothing_are_refused(session: Session) -> None:
    written_off = behind_loan(session)
    write_off_loan(session=session, loan_id=written_off.id, on=AS_OF)
    with pytest.raises(Conflict, match="written_off"):
        quote_restructuring(session=session, loan_id=written_off.id, as_of=AS_OF)

    paid_up = behind_loan(session)
    mark_all_paid(session, paid_up, date(2025, 2, 1))
    with pytest.raises(Conflict, match="nothing is owed"):
        quote_restructuring(session=session, loan_id=paid_up.id, as_of=AS_OF)


def test_a_supervisor_approves_or_rejects_a_pending_offer(session: Session) -> None:
    loan = behind_loan(session)
    [settlement] = by_kind(
        quote_restructuring(session=session, loan_id=loan.id, as_of=AS_OF), OfferKind.SETTLEMENT
    )

    approved = decide_offer(
        session=session, offer_id=settlement.id, approve=True, by="supervisor-7", on=AS_OF
    )
    assert (approved.status, approved.decided_by) == (OfferStatus.OFFERED, "supervisor-7")
    with pytest.raises(Conflict, match="offered"):
        decide_offer(session=session, offer_id=settlement.id, approve=True, by="x", on=AS_OF)

    [again] = by_kind(
        quote_restructuring(session=session, loan_id=loan.id, as_of=AS_OF), OfferKind.SETTLEMENT
    )
    rejected = decide_offer(session=session, offer_id=again.id, approve=False, by="sv", on=AS_OF)
    assert (rejected.status, rejected.decided_by) == (OfferStatus.REJECTED, "sv")
    with pytest.raises(InvalidInput):
        decide_offer(session=session, offer_id=again.id, approve=True, by="  ", on=AS_OF)


def test_approval_after_the_offer_ended_expires_it(session: Session) -> None:
    loan = behind_loan(session)
    [settlement] = by_kind(
        quote_restructuring(session=session, loan_id=loan.id, as_of=AS_OF), OfferKind.SETTLEMENT
    )

    with pytest.raises(NotEligible) as refused:
        decide_offer(
            session=session,
            offer_id=settlement.id,
            approve=True,
            by="sv",
            on=settlement.valid_until + timedelta(days=1),
        )

    assert refused.value.reason == "offer_expired"
    assert settlement.status is OfferStatus.EXPIRED


def test_accepting_replaces_the_unpaid_rest_with_the_offered_schedule(session: Session) -> None:
    loan = behind_loan(session)
    # 150.00 on the first due date pays its interest (120.00) and part of its principal.
    post_payment(
        session=session,
        loan_id=loan.id,
        amount=Decimal("150.00"),
        currency="USD",
        received_on=date(2025, 2, 15),
    )
    first = loan.installments[0]
    paid_before = (first.interest_paid_minor, first.principal_paid_minor)
    assert first.paid_on is None
    assert first.principal_paid_minor == 3000
    offers = quote_restructuring(session=session, loan_id=loan.id, as_of=AS_OF)
    offer = by_kind(offers, OfferKind.REAMORTIZE)[1]  # 36 months
    on = AS_OF + timedelta(days=3)

    arrangement = accept_offer(session=session, offer_id=offer.id, on=on)

    assert (arrangement.kind, arrangement.started_on, arrangement.offer_id) == (
        OfferKind.REAMORTIZE,
        on,
        offer.id,
    )
    assert arrangement.forgiven_minor == 0
    assert offer.status is OfferStatus.ACCEPTED
    assert {o.status for o in offers if o is not offer} == {OfferStatus.WITHDRAWN}
    old = [i for i in loan.installments if i.arrangement_id is None]
    new = [i for i in loan.installments if i.arrangement_id == arrangement.id]
    assert len(old) == 24
    assert {i.superseded_by_arrangement_id for i in old} == {arrangement.id}
    assert (first.interest_paid_minor, first.principal_paid_minor) == paid_before  # history
    assert [i.seq for i in new] == list(range(25, 61))
    assert new[0].due_on == offer.first_due_on == date(2025, 5, 20)
    assert new[0].principal_minor + new[0].interest_minor == offer.installment_minor
    assert sum(i.principal_minor + i.interest_minor for i in new) == offer.total_cost_minor
    balance = loan_balance(session=session, loan_id=loan.id, as_of=on)
    assert balance.principal_outstanding_minor == offer.balance_minor
    assert sum(i.principal_minor for i in new) == offer.balance_minor
    assert (balance.days_past_due, balance.interest_due_minor) == (0, 0)
    assert balance.next_due_minor == offer.installment_minor


def test_accepting_an_approved_settlement_leaves_the_discounted_lump_sum(
    session: Session,
) -> None:
    loan = behind_loan(session)
    [settlement] = by_kind(
        quote_restructuring(session=session, loan_id=loan.id, as_of=AS_OF), OfferKind.SETTLEMENT
    )
    decide_offer(session=session, offer_id=settlement.id, approve=True, by="sv", on=AS_OF)

    arrangement = accept_offer(session=session, offer_id=settlement.id, on=AS_OF)

    assert arrangement.forgiven_minor == settlement.discount_minor > 0
    [lump] = [i for i in loan.installments if i.arrangement_id == arrangement.id]
    assert lump.principal_minor == settlement.balance_minor - settlement.discount_minor
    assert lump.interest_minor == 0
    assert lump.due_on == settlement.valid_until
    balance = loan_balance(session=session, loan_id=loan.id, as_of=AS_OF)
    assert balance.principal_outstanding_minor == lump.principal_minor
    assert balance.days_past_due == 0


def test_a_pending_offer_cannot_be_accepted(session: Session) -> None:
    loan = behind_loan(session)
    [settlement] = by_kind(
        quote_restructuring(session=session, loan_id=loan.id, as_of=AS_OF), OfferKind.SETTLEMENT
    )

    with pytest.raises(NotEligible) as refused:
        accept_offer(session=session, offer_id=settlement.id, on=AS_OF)

    assert refused.value.reason == "awaiting_approval"
    assert settlement.status is OfferStatus.PENDING_APPROVAL


def test_an_offer_is_accepted_up_to_its_last_day_and_expires_after(session: Session) -> None:
    loan = behind_loan(session)
    offers = by_kind(
        quote_restructuring(session=session, loan_id=loan.id, as_of=AS_OF), OfferKind.REAMORTIZE
    )

    with pytest.raises(NotEligible) as refused:
        accept_offer(
            session=session, offer_id=offers[0].id, on=offers[0].valid_until + timedelta(1)
        )
    assert refused.value.reason == "offer_expired"
    assert offers[0].status is OfferStatus.EXPIRED

    arrangement = accept_offer(session=session, offer_id=offers[1].id, on=offers[1].valid_until)
    assert arrangement.started_on == offers[1].valid_until
    with pytest.raises(Conflict, match="accepted"):
        accept_offer(session=session, offer_id=offers[1].id, on=offers[1].valid_until)


def test_a_payment_after_the_quote_makes_the_offer_stale(session: Session) -> None:
    loan = behind_loan(session)
    [offer, *_] = quote_restructuring(session=session, loan_id=loan.id, as_of=AS_OF)
    post_payment(
        session=session,
        loan_id=loan.id,
        amount=Decimal("10.00"),
        currency="USD",
        received_on=AS_OF + timedelta(days=1),
    )
    on = AS_OF + timedelta(days=2)

    with pytest.raises(Conflict, match="balance changed since the quote"):
        accept_offer(session=session, offer_id=offer.id, on=on)

    assert offer.status is OfferStatus.OFFERED
    assert all(i.superseded_by_arrangement_id is None for i in loan.installments)


def test_an_offer_on_a_loan_written_off_since_is_refused(session: Session) -> None:
    loan = behind_loan(session)
    [offer, *_] = quote_restructuring(session=session, loan_id=loan.id, as_of=AS_OF)
    write_off_loan(session=session, loan_id=loan.id, on=AS_OF + timedelta(days=1))

    with pytest.raises(Conflict, match="written_off"):
        accept_offer(session=session, offer_id=offer.id, on=AS_OF + timedelta(days=1))


def test_a_payment_later_on_the_quote_day_makes_the_offer_stale(session: Session) -> None:
    loan = behind_loan(session)
    [offer, *_] = quote_restructuring(session=session, loan_id=loan.id, as_of=AS_OF)
    post_payment(
        session=session, loan_id=loan.id, amount=Decimal("10.00"), currency="USD", received_on=AS_OF
    )

    with pytest.raises(Conflict, match="balance changed since the quote"):
        accept_offer(session=session, offer_id=offer.id, on=AS_OF + timedelta(days=1))


def test_back_dated_quote_and_acceptance_are_refused(session: Session) -> None:
    """A quote or an acceptance dated before a later payment would ignore that payment."""
    loan = make_loan(session)
    first, second = loan.installments[:2]
    pay = first.principal_minor + first.interest_minor
    post_payment(
        session=session,
        loan_id=loan.id,
        amount=Decimal(pay) / 100,
        currency="USD",
        received_on=date(2025, 2, 15),
    )
    [offer, *_] = quote_restructuring(session=session, loan_id=loan.id, as_of=date(2025, 2, 20))
    post_payment(
        session=session,
        loan_id=loan.id,
        amount=Decimal(second.principal_minor + second.interest_minor) / 100,
        currency="USD",
        received_on=date(2025, 3, 1),
    )

    with pytest.raises(Conflict) as accepted_before:
        accept_offer(session=session, offer_id=offer.id, on=date(2025, 2, 25))
    assert accepted_before.value.field == "on"
    assert "2025-03-01" in accepted_before.value.message
    with pytest.raises(Conflict) as quoted_before:
        quote_restructuring(session=session, loan_id=loan.id, as_of=date(2025, 2, 28))
    assert quoted_before.value.field == "as_of"
    with pytest.raises(Conflict, match="balance changed since the quote"):
        accept_offer(session=session, offer_id=offer.id, on=date(2025, 3, 1))
    assert all(i.superseded_by_arrangement_id is None for i in loan.installments)


def test_acceptance_after_tomorrow_is_refused(session: Session) -> None:
    loan = behind_loan(session)
    [offer, *_] = quote_restructuring(session=session, loan_id=loan.id, as_of=AS_OF)

    with pytest.raises(InvalidInput) as refused:
        accept_offer(session=session, offer_id=offer.id, on=AS_OF + timedelta(2), today=AS_OF)
    assert refused.value.field == "on"

    arrangement = accept_offer(
        session=session, offer_id=offer.id, on=AS_OF + timedelta(1), today=AS_OF
    )
    assert arrangement.started_on == AS_OF + timedelta(1)


def test_interest_accrued_before_the_quote_is_carried_into_the_new_schedule(
    session: Session,
) -> None:
    """The old running installment is superseded; its interest earned so far must not vanish."""
    loan = make_loan(session)
    first = loan.installments[0]
    post_payment(
        session=session,
        loan_id=loan.id,
        amount=Decimal(first.principal_minor + first.interest_minor) / 100,
        currency="USD",
        received_on=date(2025, 2, 15),
    )
    day = date(2025, 3, 14)  # 27 of the 28 days from 02-15 to 03-15
    before = loan_balance(session=session, loan_id=loan.id, as_of=day)
    assert before.accrued_interest_minor == round(loan.installments[1].interest_minor * 27 / 28)
    offer = by_kind(
        quote_restructuring(session=session, loan_id=loan.id, as_of=day), OfferKind.REAMORTIZE
    )[0]

    arrangement = accept_offer(session=session, offer_id=offer.id, on=day + timedelta(days=2))

    new = [i for i in loan.installments if i.arrangement_id == arrangement.id]
    assert sum(i.principal_minor for i in new) == (
        before.principal_outstanding_minor + before.accrued_interest_minor
    )
    # The new schedule's first period runs from the quote day: no day is charged twice or never.
    assert new[0].due_on == date(2025, 4, 14)
