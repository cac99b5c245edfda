"""Payment claims: a borrower says they already paid; the claim waits to be reconciled.

A claim changes no balance. It is a note for the person (or the next payment file) that matches
it against money received, and while it is pending the conversation does not press for the
amount claimed.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import ClaimStatus, PaymentClaim
from servicing.ledger import check_channel, refuse_future
from servicing.loans import get_loan
from servicing.money import positive_minor


def record_payment_claim(
    *,
    session: Session,
    loan_id: int,
    claimed_on: date,
    channel: str,
    amount: Decimal | None = None,
    paid_on: date | None = None,
) -> PaymentClaim:
    """Record that the borrower says they paid (`amount` on `paid_on`, either may be unknown)."""
    loan = get_loan(session=session, loan_id=loan_id)
    cleaned = check_channel(channel)
    if paid_on is not None:
        # Said on `claimed_on`, a payment cannot have been made after it.
        refuse_future(paid_on, today=claimed_on, field="paid_on")
    amount_minor = None if amount is None else positive_minor(amount, loan.currency, field="amount")
    claim = PaymentClaim(
        loan_id=loan.id,
        amount_minor=amount_minor,
        paid_on=paid_on,
        channel=cleaned,
        claimed_on=claimed_on,
        status=ClaimStatus.PENDING,
    )
    session.add(claim)
    session.flush()
    return claim


def pending_claims(*, session: Session, loan_id: int) -> list[PaymentClaim]:
    """The loan's claims still waiting for reconciliation, oldest first."""
    get_loan(session=session, loan_id=loan_id)
    return list(
        session.scalars(
            select(PaymentClaim)
            .where(PaymentClaim.loan_id == loan_id, PaymentClaim.status == ClaimStatus.PENDING)
            .order_by(PaymentClaim.id)
        )
    )
