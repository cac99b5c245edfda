"""Arrangements after acceptance: completed when paid, settlements broken when not paid on time.

A settlement arrangement asks for the discounted balance in one installment. The discount
(`forgiven_minor`) is forgiven only if that installment is paid in full by its due day; the
arrangement is then COMPLETED and the forgiveness final. If the due day passes with the installment
not paid in full, the settlement is BROKEN and the loan goes back to what it owed before:

1. what was paid on the settlement installment is moved out of it (negative allocation rows on it,
   dated the day of the break) into the loan's held credit (a CREDIT row of the same amount), and
   the settlement installment is superseded;
2. the installments the settlement superseded are live again, with the unpaid amounts they had;
3. the held credit then pays what is due on them, oldest first, like any held credit.

Every step is allocation rows, so the payments still equal the allocations and nothing is created or
lost; `forgiven_minor` is set to zero. A settlement is broken by `review_arrangements` (the daily
job) or, if a payment arrives first, by `post_payment` before it allocates the money.
Re-amortization and hardship arrangements are never broken here: late installments are arrears.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session, aliased

from models import (
    AllocationComponent,
    Arrangement,
    ArrangementStatus,
    Installment,
    Loan,
    LoanStatus,
    OfferKind,
)
from servicing.ledger import (
    COMPONENTS,
    Allocator,
    apply_credit_on,
    last_change,
    live_schedule,
)
from servicing.loans import lock_loan


def _active_settlement(session: Session, loan_id: int) -> Arrangement | None:
    return session.scalars(
        select(Arrangement).where(
            Arrangement.loan_id == loan_id,
            Arrangement.kind == OfferKind.SETTLEMENT,
            Arrangement.status == ArrangementStatus.ACTIVE,
        )
    ).first()


def _settlement_rows(session: Session, arrangement: Arrangement) -> list[Installment]:
    return list(
        session.scalars(
            select(Installment)
            .where(
                Installment.arrangement_id == arrangement.id,
                Installment.superseded_by_arrangement_id.is_(None),
            )
            .execution_options(populate_existing=True)
        )
    )


def break_settlement(*, session: Session, loan: Loan, arrangement: Arrangement, on: date) -> None:
    """Break a settlement on `on`: its payments become credit, the old schedule comes back.

    The caller has locked the loan and checked `on` is not back-dated.
    """
    allocator = Allocator(session, loan, None, on, 0)
    moved = 0
    for installment in _settlement_rows(session, arrangement):
        for component, _, paid in COMPONENTS:
            amount = int(getattr(installment, paid))
            if amount > 0:
                allocator.record(installment, component, -amount)
                setattr(installment, paid, 0)
                moved += amount
        installment.paid_on = None
        installment.superseded_by_arrangement_id = arrangement.id
    if moved > 0:
        allocator.record(None, AllocationComponent.CREDIT, moved)
        loan.credit_minor += moved
    restored = session.scalars(
        select(Installment).where(
            Installment.superseded_by_arrangement_id == arrangement.id,
            Installment.arrangement_id.is_distinct_from(arrangement.id),
        )
    )
    for installment in restored:
        installment.superseded_by_arrangement_id = None
    arrangement.status = ArrangementStatus.BROKEN
    arrangement.forgiven_minor = 0
    session.flush()
    apply_credit_on(session, loan, live_schedule(session, loan), on)
    session.flush()


def break_overdue_settlement(*, session: Session, loan: Loan, on: date) -> bool:
    """Break the loan's active settlement if its installment was not paid in full by its due day.

    For `post_payment`: money arriving after the settlement's due day goes to the old debt.
    """
    arrangement = _active_settlement(session, loan.id)
    if arrangement is None:
        return False
    overdue = any(
        i.paid_on is None and i.due_on < on for i in _settlement_rows(session, arrangement)
    )
    if overdue:
        break_settlement(session=session, loan=loan, arrangement=arrangement, on=on)
    return overdue


def review_arrangements(*, session: Session, as_of: date) -> list[Arrangement]:
    """The daily job: break settlements unpaid past their due day, complete paid arrangements.

    Two set-based selects find the arrangements to change (few); each overdue settlement's loan is
    then locked and the settlement broken on `as_of`, unless the loan changed after `as_of` (that
    one is left for a later run). Returns the arrangements whose status changed.
    """
    changed: list[Arrangement] = []
    settlement = aliased(Installment)
    overdue_ids = session.scalars(
        select(Arrangement.id)
        .join(Loan, Loan.id == Arrangement.loan_id)
        .where(
            Arrangement.status == ArrangementStatus.ACTIVE,
            Arrangement.kind == OfferKind.SETTLEMENT,
            Loan.status == LoanStatus.ACTIVE,
            exists().where(
                settlement.arrangement_id == Arrangement.id,
                settlement.superseded_by_arrangement_id.is_(None),
                settlement.paid_on.is_(None),
                settlement.due_on < as_of,
            ),
        )
        .order_by(Arrangement.id)
    ).all()
    for arrangement_id in overdue_ids:
        arrangement = session.get(Arrangement, arrangement_id)
        assert arrangement is not None
        loan = lock_loan(session=session, loan_id=arrangement.loan_id)
        session.refresh(arrangement)
        latest = last_change(session, loan.id)
        if arrangement.status is not ArrangementStatus.ACTIVE or (
            latest is not None and as_of < latest[0]
        ):
            continue
        break_settlement(session=session, loan=loan, arrangement=arrangement, on=as_of)
        changed.append(arrangement)

    unpaid = aliased(Installment)
    paid_ids = session.scalars(
        select(Arrangement.id)
        .where(
            Arrangement.status == ArrangementStatus.ACTIVE,
            ~exists().where(
                unpaid.arrangement_id == Arrangement.id,
                unpaid.superseded_by_arrangement_id.is_(None),
                or_(unpaid.paid_on.is_(None), unpaid.paid_on > as_of),
            ),
        )
        .order_by(Arrangement.id)
    ).all()
    for arrangement_id in paid_ids:
        arrangement = session.get(Arrangement, arrangement_id)
        assert arrangement is not None
        # The forgiven discount of a settlement is final from here.
        arrangement.status = ArrangementStatus.COMPLETED
        changed.append(arrangement)
    session.flush()
    return changed
