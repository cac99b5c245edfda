"""Payment claims: what a borrower says they paid, kept for reconciliation."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from models import ClaimStatus
from servicing import InvalidInput, pending_claims, record_payment_claim
from tests.servicing.factories import make_loan


def test_a_claim_is_pending_with_what_the_borrower_could_say(session: Session) -> None:
    loan = make_loan(session)
    claim = record_payment_claim(
        session=session,
        loan_id=loan.id,
        claimed_on=date(2026, 11, 22),
        channel=" SMS ",
        amount=Decimal("150.00"),
        paid_on=date(2026, 11, 21),
    )
    unknown = record_payment_claim(
        session=session, loan_id=loan.id, claimed_on=date(2026, 11, 22), channel="web"
    )
    assert (claim.amount_minor, claim.channel, claim.status) == (15000, "sms", ClaimStatus.PENDING)
    assert (unknown.amount_minor, unknown.paid_on) == (None, None)
    assert [c.id for c in pending_claims(session=session, loan_id=loan.id)] == [
        claim.id,
        unknown.id,
    ]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"paid_on": date(2026, 11, 30)}, "paid_on"),  # after the day it was said
        ({"amount": Decimal("0")}, "amount"),
        ({"amount": Decimal("1.005")}, "amount"),
        ({"channel": ""}, "channel"),
        ({"channel": "x" * 17}, "channel"),
    ],
)
def test_a_claim_that_cannot_be_true_is_refused(
    session: Session, changes: dict[str, object], field: str
) -> None:
    loan = make_loan(session)
    arguments: dict[str, object] = {"claimed_on": date(2026, 11, 22), "channel": "sms", **changes}
    with pytest.raises(InvalidInput) as refused:
        record_payment_claim(session=session, loan_id=loan.id, **arguments)  # type: ignore[arg-type]
    assert refused.value.field == field
