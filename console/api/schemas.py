"""Request and response bodies of the servicing API (pydantic at the edge; money as strings)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from models import Borrower, Installment, Loan, Payment, PromiseToPay, RestructuringOffer
from servicing import Balance, from_minor

# Ids are 32-bit integer columns on PostgreSQL; a larger id names nothing and must be a 422, not a
# database overflow. Telegram chat ids are signed 64-bit.
MAX_ID = 2**31 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
ChatId = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


class Body(BaseModel):
    """Request bodies refuse unknown fields, so a typo is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class BorrowerIn(Body):
    external_ref: str = Field(min_length=1, max_length=64)
    full_name: str = Field(min_length=1, max_length=200)
    country: str = Field(min_length=2, max_length=2, description="ISO 3166 alpha-2")
    phones: list[str] = Field(default_factory=list, max_length=5)
    preferred_language: str = "en"
    time_zone: str | None = Field(
        default=None, description="IANA zone; derived from the phone if unique"
    )
    postal_address: str | None = Field(default=None, max_length=500)
    date_of_birth: date | None = None
    national_id: str | None = Field(default=None, max_length=64)
    telegram_chat_id: ChatId | None = None


class BorrowerOut(BaseModel):
    id: int
    external_ref: str
    full_name: str
    country: str
    preferred_language: str
    time_zone: str
    phones: list[str] = Field(description="masked: only the last four digits are shown")
    loan_ids: list[int]

    @classmethod
    def of(cls, row: Borrower) -> BorrowerOut:
        return cls(
            id=row.id,
            external_ref=row.external_ref,
            full_name=row.full_name,
            country=row.country,
            preferred_language=row.preferred_language,
            time_zone=row.time_zone,
            phones=["•••" + phone.number[-4:] for phone in row.phones],
            loan_ids=[loan.id for loan in row.loans],
        )


class LoanIn(Body):
    external_ref: str = Field(min_length=1, max_length=64)
    borrower_id: Id
    principal: Decimal
    currency: str
    annual_rate: Decimal = Field(description="a fraction: 0.1299 is 12.99% a year")
    term_months: int
    disbursed_on: date
    first_due_on: date | None = None
    product: str | None = None


class InstallmentOut(BaseModel):
    seq: int
    due_on: date
    principal: Decimal
    interest: Decimal
    fee: Decimal
    paid: Decimal
    paid_on: date | None
    superseded: bool

    @classmethod
    def of(cls, row: Installment, currency: str) -> InstallmentOut:
        paid = row.principal_paid_minor + row.interest_paid_minor + row.fee_paid_minor
        return cls(
            seq=row.seq,
            due_on=row.due_on,
            principal=from_minor(row.principal_minor, currency),
            interest=from_minor(row.interest_minor, currency),
            fee=from_minor(row.fee_minor, currency),
            paid=from_minor(paid, currency),
            paid_on=row.paid_on,
            superseded=row.superseded_by_arrangement_id is not None,
        )


class LoanOut(BaseModel):
    id: int
    external_ref: str
    borrower_id: int
    product: str
    currency: str
    principal: Decimal
    annual_rate: Decimal
    term_months: int
    amortization: str
    disbursed_on: date
    status: str
    schedule: list[InstallmentOut]

    @classmethod
    def of(cls, row: Loan) -> LoanOut:
        return cls(
            id=row.id,
            external_ref=row.external_ref,
            borrower_id=row.borrower_id,
            product=row.product,
            currency=row.currency,
            principal=from_minor(row.principal_minor, row.currency),
            annual_rate=row.annual_rate,
            term_months=row.term_months,
            amortization=row.amortization.value,
            disbursed_on=row.disbursed_on,
            status=row.status.value,
            schedule=[InstallmentOut.of(i, row.currency) for i in row.installments],
        )


class BalanceOut(BaseModel):
    loan_id: int
    as_of: date
    currency: str
    status: str
    principal_outstanding: Decimal
    interest_due: Decimal
    fees_due: Decimal
    accrued_interest: Decimal
    past_due: Decimal
    due_today: Decimal
    next_due_on: date | None
    next_due_amount: Decimal
    days_past_due: int
    bucket: str
    credit: Decimal
    payoff_amount: Decimal

    @classmethod
    def of(cls, b: Balance) -> BalanceOut:
        c = b.currency
        return cls(
            loan_id=b.loan_id,
            as_of=b.as_of,
            currency=c,
            status=b.status.value,
            principal_outstanding=from_minor(b.principal_outstanding_minor, c),
            interest_due=from_minor(b.interest_due_minor, c),
            fees_due=from_minor(b.fees_due_minor, c),
            accrued_interest=from_minor(b.accrued_interest_minor, c),
            past_due=from_minor(b.past_due_minor, c),
            due_today=from_minor(b.due_today_minor, c),
            next_due_on=b.next_due_on,
            next_due_amount=from_minor(b.next_due_minor, c),
            days_past_due=b.days_past_due,
            bucket=b.bucket.value,
            credit=from_minor(b.credit_minor, c),
            payoff_amount=from_minor(b.payoff_minor, c),
        )


class PaymentIn(Body):
    amount: Decimal
    currency: str
    received_on: date
    external_ref: str | None = Field(default=None, max_length=64)
    method: str = Field(default="unknown", max_length=32)


class AllocationOut(BaseModel):
    installment_seq: int | None
    component: str
    amount: Decimal


class PaymentOut(BaseModel):
    id: int
    loan_id: int
    amount: Decimal
    currency: str
    received_on: date
    external_ref: str | None
    allocations: list[AllocationOut]

    @classmethod
    def of(cls, row: Payment, seq_by_installment: dict[int, int]) -> PaymentOut:
        return cls(
            id=row.id,
            loan_id=row.loan_id,
            amount=from_minor(row.amount_minor, row.currency),
            currency=row.currency,
            received_on=row.received_on,
            external_ref=row.external_ref,
            allocations=[
                AllocationOut(
                    installment_seq=seq_by_installment.get(a.installment_id)
                    if a.installment_id is not None
                    else None,
                    component=a.component.value,
                    amount=from_minor(a.amount_minor, row.currency),
                )
                for a in row.allocations
            ],
        )


class PromiseIn(Body):
    amount: Decimal
    due_on: date
    channel: str = Field(default="api", max_length=16)
    promised_on: date | None = None


class PromiseOut(BaseModel):
    id: int
    loan_id: int
    amount: Decimal
    promised_on: date
    due_on: date
    channel: str
    status: str
    resolved_on: date | None

    @classmethod
    def of(cls, row: PromiseToPay, currency: str) -> PromiseOut:
        return cls(
            id=row.id,
            loan_id=row.loan_id,
            amount=from_minor(row.amount_minor, currency),
            promised_on=row.promised_on,
            due_on=row.due_on,
            channel=row.channel,
            status=row.status.value,
            resolved_on=row.resolved_on,
        )


class ExtensionIn(Body):
    months: int
    on: date | None = Field(default=None, description="defaults to today")


class MovedInstallmentOut(BaseModel):
    seq: int
    from_due_on: date
    to_due_on: date


class ExtensionQuoteOut(BaseModel):
    loan_id: int
    decision: str
    reason: str | None
    message: str
    months: int
    fee: Decimal
    moved: list[MovedInstallmentOut]


class ExtensionOut(BaseModel):
    id: int
    loan_id: int
    months: int
    installments_moved: int
    fee: Decimal
    granted_on: date


class QuoteIn(Body):
    as_of: date | None = Field(default=None, description="defaults to today")


class OfferOut(BaseModel):
    id: int
    loan_id: int
    kind: str
    status: str
    quoted_on: date
    valid_until: date
    balance: Decimal
    annual_rate: Decimal
    number_of_payments: int
    installment_amount: Decimal
    total_cost: Decimal
    discount: Decimal
    first_due_on: date

    @classmethod
    def of(cls, row: RestructuringOffer, currency: str) -> OfferOut:
        return cls(
            id=row.id,
            loan_id=row.loan_id,
            kind=row.kind.value,
            status=row.status.value,
            quoted_on=row.quoted_on,
            valid_until=row.valid_until,
            balance=from_minor(row.balance_minor, currency),
            annual_rate=row.annual_rate,
            number_of_payments=row.number_of_payments,
            installment_amount=from_minor(row.installment_minor, currency),
            total_cost=from_minor(row.total_cost_minor, currency),
            discount=from_minor(row.discount_minor, currency),
            first_due_on=row.first_due_on,
        )


class AcceptIn(Body):
    on: date | None = Field(default=None, description="defaults to today")


class DecisionIn(Body):
    approve: bool
    by: str = Field(min_length=1, max_length=64)
    on: date | None = None


class ArrangementOut(BaseModel):
    id: int
    loan_id: int
    offer_id: int
    kind: str
    status: str
    started_on: date
    forgiven: Decimal


class WriteOffIn(Body):
    on: date | None = None


class BucketCountsOut(BaseModel):
    as_of: date
    counts: dict[str, int]
