"""The servicing API: each route parses, calls one `servicing` function, and answers.

Every request runs in one transaction: either all its changes are committed or none are.
(No `from __future__ import annotations`: FastAPI must resolve the local `Db` alias.)
"""

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status
from sqlalchemy.orm import Session, sessionmaker

import servicing
from console.api import schemas as s
from console.api.auth import bearer_token_guard
from models import Payment

LoanId = Annotated[int, Path(ge=1, le=s.MAX_ID)]
BorrowerId = Annotated[int, Path(ge=1, le=s.MAX_ID)]
OfferId = Annotated[int, Path(ge=1, le=s.MAX_ID)]


def utc_today() -> date:
    """Today's date in UTC, the default 'as of' for API calls that omit it."""
    return datetime.now(UTC).date()


def build_api_router(
    *,
    sessions: sessionmaker[Session],
    api_token: str | None,
    today: Callable[[], date] = utc_today,
) -> APIRouter:
    """The `/api` router, bound to a database and a bearer token."""

    def unit_of_work() -> Iterator[Session]:
        with sessions.begin() as session:
            yield session

    # "function" scope: the commit happens before the response is sent, so a 201 means stored.
    Db = Annotated[Session, Depends(unit_of_work, scope="function")]
    router = APIRouter(
        prefix="/api", tags=["servicing"], dependencies=[Depends(bearer_token_guard(api_token))]
    )

    @router.post("/borrowers", status_code=status.HTTP_201_CREATED)
    def create_borrower(body: s.BorrowerIn, db: Db) -> s.BorrowerOut:
        """Register a borrower; personal data is encrypted at rest."""
        row = servicing.create_borrower(
            session=db, borrower=servicing.NewBorrower(**body.model_dump())
        )
        return s.BorrowerOut.of(row)

    @router.get("/borrowers/{borrower_id}")
    def read_borrower(borrower_id: BorrowerId, db: Db) -> s.BorrowerOut:
        """A borrower, phones masked."""
        return s.BorrowerOut.of(servicing.get_borrower(session=db, borrower_id=borrower_id))

    @router.post("/loans", status_code=status.HTTP_201_CREATED)
    def create_loan(body: s.LoanIn, db: Db) -> s.LoanOut:
        """Book a disbursed loan; its schedule is generated."""
        row = servicing.create_loan(
            session=db, loan=servicing.NewLoan(**body.model_dump()), today=today()
        )
        return s.LoanOut.of(row)

    @router.get("/loans/{loan_id}")
    def read_loan(loan_id: LoanId, db: Db) -> s.LoanOut:
        """A loan with its schedule."""
        return s.LoanOut.of(servicing.get_loan(session=db, loan_id=loan_id))

    @router.get("/loans/{loan_id}/balance")
    def read_balance(
        loan_id: LoanId, db: Db, as_of: Annotated[date | None, Query()] = None
    ) -> s.BalanceOut:
        """Where the loan stands on `as_of` (default today)."""
        balance = servicing.loan_balance(session=db, loan_id=loan_id, as_of=as_of or today())
        return s.BalanceOut.of(balance)

    @router.post("/loans/{loan_id}/payments", status_code=status.HTTP_201_CREATED)
    def post_payment(loan_id: LoanId, body: s.PaymentIn, db: Db) -> s.PaymentOut:
        """Post money received; it is allocated fees, interest, principal, oldest first."""
        payment = servicing.post_payment(
            session=db, loan_id=loan_id, today=today(), **body.model_dump()
        )
        return _payment_out(db, loan_id, payment)

    @router.get("/loans/{loan_id}/payments")
    def list_payments(loan_id: LoanId, db: Db) -> list[s.PaymentOut]:
        """Payments on the loan with their allocations."""
        servicing.get_loan(session=db, loan_id=loan_id)
        return [
            _payment_out(db, loan_id, p)
            for p in servicing.list_payments(session=db, loan_id=loan_id)
        ]

    @router.post("/loans/{loan_id}/promises", status_code=status.HTTP_201_CREATED)
    def record_promise(loan_id: LoanId, body: s.PromiseIn, db: Db) -> s.PromiseOut:
        """Record a promise to pay an amount by a date."""
        promise = servicing.record_promise(
            session=db,
            loan_id=loan_id,
            amount=body.amount,
            due_on=body.due_on,
            channel=body.channel,
            promised_on=body.promised_on or today(),
            today=today(),
        )
        currency = servicing.get_loan(session=db, loan_id=loan_id).currency
        return s.PromiseOut.of(promise, currency)

    @router.post("/loans/{loan_id}/extensions/quote")
    def quote_extension(loan_id: LoanId, body: s.ExtensionIn, db: Db) -> s.ExtensionQuoteOut:
        """Whether an extension of `months` would be granted, its fee and the new dates."""
        quote = servicing.quote_extension(
            session=db, loan_id=loan_id, months=body.months, as_of=body.on or today()
        )
        return _quote_out(loan_id, quote)

    @router.post("/loans/{loan_id}/extensions", status_code=status.HTTP_201_CREATED)
    def apply_extension(loan_id: LoanId, body: s.ExtensionIn, db: Db) -> s.ExtensionOut:
        """Grant an extension; refused with the reason when the rules decline it."""
        row = servicing.apply_extension(
            session=db, loan_id=loan_id, months=body.months, on=body.on or today(), today=today()
        )
        currency = servicing.get_loan(session=db, loan_id=loan_id).currency
        return s.ExtensionOut(
            id=row.id,
            loan_id=row.loan_id,
            months=row.months,
            installments_moved=row.installments_moved,
            fee=servicing.from_minor(row.fee_minor, currency),
            granted_on=row.granted_on,
        )

    @router.post("/loans/{loan_id}/restructuring/quote")
    def quote_restructuring(loan_id: LoanId, body: s.QuoteIn, db: Db) -> list[s.OfferOut]:
        """Restructuring offers computed from the loan's balance."""
        offers = servicing.quote_restructuring(
            session=db, loan_id=loan_id, as_of=body.as_of or today()
        )
        currency = servicing.get_loan(session=db, loan_id=loan_id).currency
        return [s.OfferOut.of(offer, currency) for offer in offers]

    @router.post("/restructuring-offers/{offer_id}/accept", status_code=status.HTTP_201_CREATED)
    def accept_offer(offer_id: OfferId, body: s.AcceptIn, db: Db) -> s.ArrangementOut:
        """Accept an offer: an arrangement and its new schedule replace the unpaid rest."""
        row = servicing.accept_offer(
            session=db, offer_id=offer_id, on=body.on or today(), today=today()
        )
        currency = servicing.get_loan(session=db, loan_id=row.loan_id).currency
        return s.ArrangementOut(
            id=row.id,
            loan_id=row.loan_id,
            offer_id=row.offer_id,
            kind=row.kind.value,
            status=row.status.value,
            started_on=row.started_on,
            forgiven=servicing.from_minor(row.forgiven_minor, currency),
        )

    @router.post("/restructuring-offers/{offer_id}/decision")
    def decide_offer(offer_id: OfferId, body: s.DecisionIn, db: Db) -> s.OfferOut:
        """Approve or reject an offer whose discount needs a supervisor."""
        row = servicing.decide_offer(
            session=db, offer_id=offer_id, approve=body.approve, by=body.by, on=body.on or today()
        )
        currency = servicing.get_loan(session=db, loan_id=row.loan_id).currency
        return s.OfferOut.of(row, currency)

    @router.post("/loans/{loan_id}/write-off")
    def write_off(loan_id: LoanId, body: s.WriteOffIn, db: Db) -> s.LoanOut:
        """Write a loan off: it is never contacted for collection again."""
        return s.LoanOut.of(
            servicing.write_off_loan(session=db, loan_id=loan_id, on=body.on or today())
        )

    @router.get("/portfolio/buckets")
    def portfolio_buckets(
        db: Db, as_of: Annotated[date | None, Query()] = None
    ) -> s.BucketCountsOut:
        """How many active loans are in each delinquency bucket."""
        day = as_of or today()
        counts = servicing.bucket_counts(session=db, as_of=day)
        return s.BucketCountsOut(as_of=day, counts={b.value: n for b, n in counts.items()})

    return router


def _payment_out(db: Session, loan_id: int, payment: Payment) -> s.PaymentOut:
    loan = servicing.get_loan(session=db, loan_id=loan_id)
    return s.PaymentOut.of(payment, {i.id: i.seq for i in loan.installments})


def _quote_out(loan_id: int, quote: servicing.ExtensionQuote) -> s.ExtensionQuoteOut:
    return s.ExtensionQuoteOut(
        loan_id=loan_id,
        decision=quote.decision.value,
        reason=quote.reason.value if quote.reason else None,
        message=quote.message,
        months=quote.months,
        fee=servicing.from_minor(quote.fee_minor, quote.currency),
        moved=[
            s.MovedInstallmentOut(seq=m.seq, from_due_on=m.old_due_on, to_due_on=m.new_due_on)
            for m in quote.moves
        ],
    )
