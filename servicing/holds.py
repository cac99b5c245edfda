"""Account holds: dispute, bankruptcy, attorney and cease holds that stop collection on a loan.

A hold names a borrower and optionally one loan; without a loan it covers all of the borrower's
loans. Compliance places and releases holds through these functions; servicing reads them before
granting forbearance.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from models import AccountHold, HoldKind
from servicing.borrowers import get_borrower
from servicing.errors import Conflict, InvalidInput, NotFound
from servicing.loans import get_loan

_SOURCE_MAX = 64


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInput("at must be a timezone-aware instant", field="at")


def active_holds(*, session: Session, loan_id: int) -> list[AccountHold]:
    """Holds in force on loan `loan_id`: its own and its borrower's borrower-wide ones."""
    loan = get_loan(session=session, loan_id=loan_id)
    covers_loan = or_(
        AccountHold.loan_id == loan.id,
        and_(AccountHold.loan_id.is_(None), AccountHold.borrower_id == loan.borrower_id),
    )
    return list(
        session.scalars(
            select(AccountHold)
            .where(AccountHold.active.is_(True), covers_loan)
            .order_by(AccountHold.id)
        )
    )


def place_hold(
    *,
    session: Session,
    borrower_id: int,
    kind: HoldKind,
    loan_id: int | None = None,
    source: str,
    at: datetime,
) -> AccountHold:
    """Put a hold on one loan of the borrower, or on all of them when `loan_id` is None."""
    _require_aware(at)
    borrower = get_borrower(session=session, borrower_id=borrower_id)
    if (
        loan_id is not None
        and get_loan(session=session, loan_id=loan_id).borrower_id != borrower.id
    ):
        raise InvalidInput(
            f"loan {loan_id} is not a loan of borrower {borrower.id}", field="loan_id"
        )
    source = source.strip()
    if not source or len(source) > _SOURCE_MAX:
        raise InvalidInput(f"source must be 1 to {_SOURCE_MAX} characters", field="source")
    hold = AccountHold(
        borrower_id=borrower.id,
        loan_id=loan_id,
        kind=HoldKind(kind),
        active=True,
        placed_at=at,
        source=source,
    )
    session.add(hold)
    session.flush()
    return hold


def release_hold(*, session: Session, hold_id: int, at: datetime) -> AccountHold:
    """Lift a hold; the row stays, with when it was released."""
    _require_aware(at)
    hold = session.get(AccountHold, hold_id)
    if hold is None:
        raise NotFound(f"no hold with id {hold_id}", field="hold_id")
    if not hold.active:
        raise Conflict(f"hold {hold_id} was already released", field="hold_id")
    if at < hold.placed_at:
        raise InvalidInput("a hold cannot be released before it was placed", field="at")
    hold.active = False
    hold.released_at = at
    session.flush()
    return hold
