"""Extensions (deferrals): eligibility by the product's rules, dates moved, fee, limits, holds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from models import AllocationComponent, Extension, HoldKind, Loan, PaymentAllocation
from servicing.balance import loan_balance
from servicing.errors import Conflict, InvalidInput, NotEligible
from servicing.extensions import (
    ExtensionDecision,
    ExtensionReason,
    MovedInstallment,
    apply_extension,
    list_extensions,
    quote_extension,
)
from servicing.holds import active_holds, place_hold, release_hold
from servicing.loans import write_off_loan
from servicing.money import from_minor
from servicing.payments import post_payment
from tests.servicing.factories import make_borrower, make_loan

# make_loan: USD personal loan, 1,200.00 at 12% over 12 months, disbursed 2025-01-15, so the
# installments fall due on the 15th from 2025-02-15 to 2026-01-15. Personal product rules: 1-3
# months, fee 25.00 USD, 1 per 12 months, 3 per loan, auto up to 60 days past due, referred to 90.
FIRST_DUE = date(2025, 2, 15)
AT = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def pay_through(session: Session, loan: Loan, until: date) -> None:
    """Pay every installment falling due up to `until` in full, on its due date."""
    for installment in sorted(loan.installments, key=lambda i: i.due_on):
        if installment.paid_on is not None or installment.due_on > until:
            continue
        unpaid = (
            installment.principal_minor
            + installment.interest_minor
            + installment.fee_minor
            - installment.principal_paid_minor
            - installment.interest_paid_minor
            - installment.fee_paid_minor
        )
        post_payment(
            session=session,
            loan_id=loan.id,
            amount=from_minor(unpaid, loan.currency),
            currency=loan.currency,
            received_on=installment.due_on,
        )


def mark_all_paid(session: Session, loan: Loan, on: date) -> None:
    """Every installment paid with its allocation rows, the loan still open.

    `post_payment` closes a loan the moment nothing is owed, so this state is written by hand to
    reach the rule that stands behind it.
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


def test_approved_quote_moves_every_unpaid_installment_and_prices_the_fee(
    session: Session,
) -> None:
    loan = make_loan(session)

    quote = quote_extension(session=session, loan_id=loan.id, months=2, as_of=date(2025, 2, 1))

    assert quote.decision is ExtensionDecision.APPROVED
    assert quote.reason is None
    assert (quote.fee_minor, quote.currency, quote.months) == (2500, "USD", 2)
    assert [m.seq for m in quote.moves] == list(range(1, 13))
    assert quote.moves[0] == MovedInstallment(1, date(2025, 2, 15), date(2025, 4, 15))
    assert quote.moves[-1] == MovedInstallment(12, date(2026, 1, 15), date(2026, 3, 15))
    assert "2025-04-15" in quote.message
    assert "25.00 USD" in quote.message
    # A quote changes nothing.
    assert loan.installments[0].due_on == FIRST_DUE
    assert list_extensions(session=session, loan_id=loan.id) == []


def test_apply_moves_the_unpaid_rest_and_adds_the_fee_to_the_first_moved(
    session: Session,
) -> None:
    loan = make_loan(session)
    pay_through(session, loan, FIRST_DUE)
    before = {i.seq: (i.due_on, i.interest_minor, i.principal_minor) for i in loan.installments}

    extension = apply_extension(session=session, loan_id=loan.id, months=1, on=date(2025, 3, 1))

    assert (extension.months, extension.installments_moved, extension.first_moved_seq) == (1, 11, 2)
    assert (extension.fee_minor, extension.granted_on) == (2500, date(2025, 3, 1))
    by_seq = {i.seq: i for i in loan.installments}
    assert by_seq[1].due_on == FIRST_DUE  # paid: stays where it was
    assert by_seq[1].fee_minor == 0
    assert by_seq[2].fee_minor == 2500
    assert all(by_seq[s].fee_minor == 0 for s in range(3, 13))
    expected = [date(2025, m, 15) for m in range(4, 13)] + [date(2026, 1, 15), date(2026, 2, 15)]
    assert [by_seq[s].due_on for s in range(2, 13)] == expected
    for seq in range(2, 13):
        old_due, interest, principal = before[seq]
        assert by_seq[seq].original_due_on == old_due
        assert (by_seq[seq].interest_minor, by_seq[seq].principal_minor) == (interest, principal)
    assert list_extensions(session=session, loan_id=loan.id) == [extension]


def test_month_end_due_dates_are_clamped_and_keep_the_schedule_day(session: Session) -> None:
    loan = make_loan(
        session, disbursed_on=date(2024, 12, 31), first_due_on=date(2025, 1, 31), term_months=36
    )
    assert [i.due_on for i in loan.installments[:3]] == [
        date(2025, 1, 31),
        date(2025, 2, 28),
        date(2025, 3, 31),
    ]

    apply_extension(session=session, loan_id=loan.id, months=1, on=date(2025, 1, 10))

    assert [i.due_on for i in loan.installments[:4]] == [
        date(2025, 2, 28),  # Jan 31 + 1 month, clamped to February's end
        date(2025, 3, 31),  # Feb 28 + 1 month: back on the schedule's 31st, not Mar 28
        date(2025, 4, 30),
        date(2025, 5, 31),
    ]
    pay_through(session, loan, date(2026, 1, 31))

    # A second extension starts from the clamped Feb 28 and still lands on the 31st.
    apply_extension(session=session, loan_id=loan.id, months=1, on=date(2026, 2, 1))
    assert [i.due_on for i in loan.installments if i.paid_on is None][:2] == [
        date(2026, 3, 31),
        date(2026, 4, 30),
    ]


def test_product_without_a_fee_charges_none(session: Session) -> None:
    loan = make_loan(session, product="consumer")

    extension = apply_extension(session=session, loan_id=loan.id, months=2, on=date(2025, 2, 1))

    assert extension.fee_minor == 0
    assert all(i.fee_minor == 0 for i in loan.installments)


def test_written_off_loan_is_declined(session: Session) -> None:
    loan = make_loan(session)
    write_off_loan(session=session, loan_id=loan.id, on=date(2025, 6, 1))

    quote = quote_extension(session=session, loan_id=loan.id, months=1, as_of=date(2025, 6, 2))

    assert (quote.decision, quote.reason) == (
        ExtensionDecision.DECLINED,
        ExtensionReason.LOAN_NOT_ACTIVE,
    )
    assert quote.moves == ()
    assert quote.fee_minor == 0


@pytest.mark.parametrize("months", [0, 4, -1])
def test_months_outside_the_product_offer_are_declined(session: Session, months: int) -> None:
    loan = make_loan(session)

    quote = quote_extension(session=session, loan_id=loan.id, months=months, as_of=date(2025, 2, 1))
    assert (quote.decision, quote.reason) == (
        ExtensionDecision.DECLINED,
        ExtensionReason.MONTHS_NOT_OFFERED,
    )
    assert "1, 2, 3" in quote.message
    with pytest.raises(NotEligible) as refused:
        apply_extension(session=session, loan_id=loan.id, months=months, on=date(2025, 2, 1))
    assert refused.value.reason == "months_not_offered"
    assert refused.value.field == "months"


def test_fully_paid_schedule_has_nothing_to_defer(session: Session) -> None:
    loan = make_loan(session)
    mark_all_paid(session, loan, date(2025, 2, 1))

    quote = quote_extension(session=session, loan_id=loan.id, months=1, as_of=date(2025, 2, 1))

    assert (quote.decision, quote.reason) == (
        ExtensionDecision.DECLINED,
        ExtensionReason.NOTHING_TO_DEFER,
    )


def test_holds_on_the_loan_or_the_borrower_block_it_until_released(session: Session) -> None:
    borrower = make_borrower(session)
    loan = make_loan(session, borrower_id=borrower.id)
    other = make_loan(session, borrower_id=borrower.id)
    as_of = date(2025, 2, 1)
    on_other = place_hold(
        session=session,
        borrower_id=borrower.id,
        loan_id=other.id,
        kind=HoldKind.DISPUTE,
        source="test",
        at=AT,
    )
    assert quote_extension(session=session, loan_id=loan.id, months=1, as_of=as_of).decision is (
        ExtensionDecision.APPROVED
    )

    for kind, loan_id in [(HoldKind.BANKRUPTCY, None), (HoldKind.ATTORNEY, loan.id)]:
        hold = place_hold(
            session=session, borrower_id=borrower.id, kind=kind, loan_id=loan_id, source="t", at=AT
        )
        assert active_holds(session=session, loan_id=loan.id) == [hold]
        quote = quote_extension(session=session, loan_id=loan.id, months=1, as_of=as_of)
        assert (quote.decision, quote.reason) == (
            ExtensionDecision.DECLINED,
            ExtensionReason.ACCOUNT_ON_HOLD,
        )
        with pytest.raises(NotEligible, match="on hold"):
            apply_extension(session=session, loan_id=loan.id, months=1, on=as_of)
        release_hold(session=session, hold_id=hold.id, at=AT + timedelta(hours=1))
        assert hold.released_at == AT + timedelta(hours=1)

    assert active_holds(session=session, loan_id=other.id) == [on_other]
    assert quote_extension(session=session, loan_id=loan.id, months=1, as_of=as_of).decision is (
        ExtensionDecision.APPROVED
    )


def test_hold_input_is_checked(session: Session) -> None:
    loan = make_loan(session)
    stranger = make_borrower(session)
    with pytest.raises(InvalidInput) as naive:
        place_hold(
            session=session,
            borrower_id=loan.borrower_id,
            kind=HoldKind.CEASE,
            source="t",
            at=datetime(2025, 3, 1, 9, 0),  # noqa: DTZ001 - the naive instant under test
        )
    assert naive.value.field == "at"
    with pytest.raises(InvalidInput) as wrong_owner:
        place_hold(
            session=session,
            borrower_id=stranger.id,
            loan_id=loan.id,
            kind=HoldKind.CEASE,
            source="t",
            at=AT,
        )
    assert wrong_owner.value.field == "loan_id"
    hold = place_hold(
        session=session, borrower_id=loan.borrower_id, kind=HoldKind.CEASE, source="t", at=AT
    )
    release_hold(session=session, hold_id=hold.id, at=AT)
    with pytest.raises(Conflict):
        release_hold(session=session, hold_id=hold.id, at=AT)


def test_one_extension_per_12_months(session: Session) -> None:
    loan = make_loan(session, term_months=36)
    apply_extension(session=session, loan_id=loan.id, months=1, on=date(2025, 2, 1))
    pay_through(session, loan, date(2026, 2, 1))

    within = quote_extension(session=session, loan_id=loan.id, months=1, as_of=date(2026, 1, 31))
    assert (within.decision, within.reason) == (
        ExtensionDecision.DECLINED,
        ExtensionReason.LIMIT_PER_12_MONTHS,
    )
    with pytest.raises(NotEligible) as refused:
        apply_extension(session=session, loan_id=loan.id, months=1, on=date(2026, 1, 31))
    assert refused.value.reason == "limit_per_12_months"

    # Twelve months after the first one, the window no longer holds it.
    after = quote_extension(session=session, loan_id=loan.id, months=1, as_of=date(2026, 2, 1))
    assert after.decision is ExtensionDecision.APPROVED


def test_extensions_per_loan_are_capped_over_its_life(session: Session) -> None:
    loan = make_loan(session, term_months=36)
    # Three extensions granted earlier in the loan's life, more than 12 months before the request.
    for day in (1, 2, 3):
        session.add(
            Extension(
                loan_id=loan.id,
                months=1,
                installments_moved=1,
                fee_minor=0,
                granted_on=date(2025, 2, day),
                first_moved_seq=1,
            )
        )
    pay_through(session, loan, date(2026, 3, 1))

    quote = quote_extension(session=session, loan_id=loan.id, months=1, as_of=date(2026, 3, 1))

    assert (quote.decision, quote.reason) == (
        ExtensionDecision.DECLINED,
        ExtensionReason.LIMIT_PER_LOAN,
    )
    assert "3 extension(s)" in quote.message


@pytest.mark.parametrize(
    ("days_past_due", "decision", "reason"),
    [
        (60, ExtensionDecision.APPROVED, None),
        (61, ExtensionDecision.REFERRED, ExtensionReason.REFERRED_TO_HUMAN),
        (90, ExtensionDecision.REFERRED, ExtensionReason.REFERRED_TO_HUMAN),
        (91, ExtensionDecision.DECLINED, ExtensionReason.TOO_FAR_PAST_DUE),
    ],
)
def test_days_past_due_decide_between_approve_refer_and_decline(
    session: Session,
    days_past_due: int,
    decision: ExtensionDecision,
    reason: ExtensionReason | None,
) -> None:
    loan = make_loan(session)
    as_of = FIRST_DUE + timedelta(days=days_past_due)
    assert loan_balance(session=session, loan_id=loan.id, as_of=as_of).days_past_due == (
        days_past_due
    )

    quote = quote_extension(session=session, loan_id=loan.id, months=3, as_of=as_of)

    assert (quote.decision, quote.reason) == (decision, reason)


def test_a_referred_request_is_not_applied(session: Session) -> None:
    loan = make_loan(session)
    on = FIRST_DUE + timedelta(days=75)

    with pytest.raises(NotEligible) as refused:
        apply_extension(session=session, loan_id=loan.id, months=3, on=on)

    assert refused.value.reason == "referred_to_human"
    assert loan.installments[0].due_on == FIRST_DUE
    assert list_extensions(session=session, loan_id=loan.id) == []


def test_moving_the_overdue_installments_brings_the_loan_current(session: Session) -> None:
    loan = make_loan(session)
    on = date(2025, 4, 1)  # Feb 15 and Mar 15 unpaid: 45 days past due
    assert loan_balance(session=session, loan_id=loan.id, as_of=on).days_past_due == 45

    apply_extension(session=session, loan_id=loan.id, months=3, on=on)

    balance = loan_balance(session=session, loan_id=loan.id, as_of=on)
    assert balance.days_past_due == 0
    assert balance.past_due_minor == 0
    assert balance.next_due_on == date(2025, 5, 15)
    first = loan.installments[0]
    assert balance.next_due_minor == first.principal_minor + first.interest_minor + 2500


def test_a_short_extension_leaves_older_arrears_overdue(session: Session) -> None:
    loan = make_loan(session)
    on = date(2025, 4, 1)

    apply_extension(session=session, loan_id=loan.id, months=1, on=on)

    # Feb 15 moved to Mar 15, still before Apr 1.
    assert loan_balance(session=session, loan_id=loan.id, as_of=on).days_past_due == 17


def test_a_day_before_the_loans_latest_change_is_refused(session: Session) -> None:
    """Eligibility is judged on the day the extension is applied, never on an earlier one."""
    loan = make_loan(session)
    post_payment(
        session=session,
        loan_id=loan.id,
        amount=from_minor(1000, "USD"),
        currency="USD",
        received_on=date(2025, 6, 1),
    )  # 106 days past due that day: declined
    assert (
        quote_extension(session=session, loan_id=loan.id, months=1, as_of=date(2025, 6, 1)).reason
        is ExtensionReason.TOO_FAR_PAST_DUE
    )

    for call in (
        lambda: quote_extension(session=session, loan_id=loan.id, months=1, as_of=date(2025, 2, 1)),
        lambda: apply_extension(session=session, loan_id=loan.id, months=1, on=date(2025, 2, 1)),
    ):
        with pytest.raises(Conflict, match="2025-06-01") as refused:
            call()
        assert refused.value.field == "on"
    assert list_extensions(session=session, loan_id=loan.id) == []


def test_changes_dated_before_a_granted_extension_are_refused(session: Session) -> None:
    loan = make_loan(session)
    apply_extension(session=session, loan_id=loan.id, months=1, on=date(2025, 3, 2))

    with pytest.raises(Conflict, match="extension granted") as payment:
        post_payment(
            session=session,
            loan_id=loan.id,
            amount=from_minor(1000, "USD"),
            currency="USD",
            received_on=date(2025, 3, 1),
        )
    assert payment.value.field == "received_on"
    with pytest.raises(Conflict, match="extension granted"):
        quote_extension(session=session, loan_id=loan.id, months=1, as_of=date(2025, 3, 1))


def test_an_extension_dated_after_tomorrow_is_refused(session: Session) -> None:
    loan = make_loan(session)

    with pytest.raises(InvalidInput) as refused:
        apply_extension(
            session=session, loan_id=loan.id, months=1, on=date(2025, 3, 3), today=date(2025, 3, 1)
        )

    assert refused.value.field == "on"
    apply_extension(
        session=session, loan_id=loan.id, months=1, on=date(2025, 3, 2), today=date(2025, 3, 1)
    )


def test_with_a_clock_an_extension_cannot_be_back_dated_to_an_eligible_day(
    session: Session,
) -> None:
    loan = make_loan(session)  # nothing paid: 106 days past due on 2025-06-01, declined

    with pytest.raises(InvalidInput) as refused:
        apply_extension(
            session=session, loan_id=loan.id, months=1, on=date(2025, 2, 1), today=date(2025, 6, 1)
        )

    assert refused.value.field == "on"
    assert list_extensions(session=session, loan_id=loan.id) == []
