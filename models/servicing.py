"""Tables of the loan servicing store: borrowers, loans, schedules, payments, and what changes them.

Money is integer minor units (`*_minor`) beside the loan's ISO currency; rates are exact decimals.
Personal data (phones, address, date of birth, national id) is encrypted at rest; phones are found
through a keyed blind index.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, enum_column, utcnow
from models.types import EncryptedDate, EncryptedText, UTCDateTime


class LoanStatus(StrEnum):
    ACTIVE = "active"
    SETTLED = "settled"
    WRITTEN_OFF = "written_off"


class Amortization(StrEnum):
    ANNUITY = "annuity"
    EQUAL_PRINCIPAL = "equal_principal"


class AllocationComponent(StrEnum):
    FEE = "fee"
    INTEREST = "interest"
    PRINCIPAL = "principal"
    CREDIT = "credit"


class PromiseStatus(StrEnum):
    PENDING = "pending"
    KEPT = "kept"
    BROKEN = "broken"
    CANCELLED = "cancelled"


class ClaimStatus(StrEnum):
    """Where a borrower's "I already paid" stands."""

    PENDING = "pending"  # waits for a person (or the next payment file) to match it
    MATCHED = "matched"
    UNMATCHED = "unmatched"


class OfferKind(StrEnum):
    REAMORTIZE = "reamortize"
    HARDSHIP = "hardship"
    SETTLEMENT = "settlement"


class OfferStatus(StrEnum):
    OFFERED = "offered"
    PENDING_APPROVAL = "pending_approval"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


class ArrangementStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    BROKEN = "broken"


class HoldKind(StrEnum):
    DISPUTE = "dispute"
    BANKRUPTCY = "bankruptcy"
    ATTORNEY = "attorney"
    CEASE = "cease"


class Borrower(Base):
    """A person who owes on one or more loans."""

    __tablename__ = "borrowers"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_ref: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    preferred_language: Mapped[str] = mapped_column(String(8), default="en")
    telegram_chat_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    # Plain: local-time rules query it for whole portfolios; it reveals little on its own.
    time_zone: Mapped[str] = mapped_column(String(64))
    country: Mapped[str] = mapped_column(String(2))
    postal_address: Mapped[str | None] = mapped_column(EncryptedText("borrowers.postal_address"))
    date_of_birth: Mapped[date | None] = mapped_column(EncryptedDate("borrowers.date_of_birth"))
    national_id: Mapped[str | None] = mapped_column(EncryptedText("borrowers.national_id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    phones: Mapped[list[BorrowerPhone]] = relationship(
        back_populates="borrower", cascade="all, delete-orphan", order_by="BorrowerPhone.id"
    )
    loans: Mapped[list[Loan]] = relationship(back_populates="borrower", order_by="Loan.id")


class BorrowerPhone(Base):
    """A phone number of a borrower, encrypted, found by its blind index (E.164 normalized)."""

    __tablename__ = "borrower_phones"
    __table_args__ = (UniqueConstraint("borrower_id", "number_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(EncryptedText("borrower_phones.number"))
    number_index: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="mobile")
    # A workplace number whose employer forbids collection contact there (US-WORKPLACE).
    no_contact: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    borrower: Mapped[Borrower] = relationship(back_populates="phones")


class Loan(Base):
    """One credit agreement: amount, price, term, and where it stands."""

    __tablename__ = "loans"
    __table_args__ = (
        CheckConstraint("principal_minor > 0", name="principal_positive"),
        CheckConstraint("term_months > 0", name="term_positive"),
        CheckConstraint("credit_minor >= 0", name="credit_not_negative"),
        Index("ix_loans_status_borrower", "status", "borrower_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    external_ref: Mapped[str] = mapped_column(String(64), unique=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"), index=True)
    product: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    principal_minor: Mapped[int] = mapped_column(BigInteger)
    annual_rate: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    term_months: Mapped[int] = mapped_column(Integer)
    amortization: Mapped[Amortization] = mapped_column(enum_column(Amortization, "amortization"))
    disbursed_on: Mapped[date] = mapped_column(Date)
    status: Mapped[LoanStatus] = mapped_column(
        enum_column(LoanStatus, "loan_status"), default=LoanStatus.ACTIVE
    )
    # Overpayment held for the borrower (products that hold credit rather than prepay).
    credit_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    closed_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    borrower: Mapped[Borrower] = relationship(back_populates="loans")
    installments: Mapped[list[Installment]] = relationship(
        back_populates="loan", cascade="all, delete-orphan", order_by="Installment.seq"
    )


class Installment(Base):
    """One scheduled payment and how much of each component has been paid."""

    __tablename__ = "installments"
    __table_args__ = (
        UniqueConstraint("loan_id", "seq"),
        CheckConstraint(
            "principal_paid_minor <= principal_minor AND interest_paid_minor <= interest_minor"
            " AND fee_paid_minor <= fee_minor",
            name="paid_within_due",
        ),
        # Days past due for a whole portfolio scans open installments by loan and due date.
        Index("ix_installments_open_due", "loan_id", "due_on", "paid_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date] = mapped_column(Date)
    original_due_on: Mapped[date] = mapped_column(Date)
    principal_minor: Mapped[int] = mapped_column(BigInteger)
    interest_minor: Mapped[int] = mapped_column(BigInteger)
    fee_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    principal_paid_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    interest_paid_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    fee_paid_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # The day the last component was paid: "unpaid as of D" is `paid_on IS NULL OR paid_on > D`.
    paid_on: Mapped[date | None] = mapped_column(Date)
    # Set when an arrangement replaced the unpaid rest of this installment.
    superseded_by_arrangement_id: Mapped[int | None] = mapped_column(ForeignKey("arrangements.id"))
    arrangement_id: Mapped[int | None] = mapped_column(ForeignKey("arrangements.id"))

    loan: Mapped[Loan] = relationship(back_populates="installments")


class Payment(Base):
    """Money received against a loan."""

    __tablename__ = "payments"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    external_ref: Mapped[str | None] = mapped_column(String(64), unique=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    received_on: Mapped[date] = mapped_column(Date)
    method: Mapped[str] = mapped_column(String(32), default="unknown")
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    allocations: Mapped[list[PaymentAllocation]] = relationship(
        back_populates="payment", cascade="all, delete-orphan", order_by="PaymentAllocation.id"
    )


class PaymentAllocation(Base):
    """The part of a payment that went to one component of one installment (or to credit)."""

    __tablename__ = "payment_allocations"
    __table_args__ = (CheckConstraint("amount_minor <> 0", name="amount_nonzero"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), index=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    installment_id: Mapped[int | None] = mapped_column(ForeignKey("installments.id"), index=True)
    component: Mapped[AllocationComponent] = mapped_column(
        enum_column(AllocationComponent, "allocation_component")
    )
    # Negative CREDIT rows record held credit being applied to installments.
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    applied_on: Mapped[date] = mapped_column(Date)

    payment: Mapped[Payment | None] = relationship(back_populates="allocations")


class PromiseToPay(Base):
    """A borrower's promise to pay an amount by a date."""

    __tablename__ = "promises_to_pay"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    promised_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[PromiseStatus] = mapped_column(
        enum_column(PromiseStatus, "promise_status"), default=PromiseStatus.PENDING
    )
    resolved_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PaymentClaim(Base):
    """A borrower's word that they paid, waiting for reconciliation against received payments."""

    __tablename__ = "payment_claims"
    __table_args__ = (Index("ix_payment_claims_status", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    # What the borrower said, when they said it; either may be unknown.
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    paid_on: Mapped[date | None] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[ClaimStatus] = mapped_column(
        enum_column(ClaimStatus, "claim_status"), default=ClaimStatus.PENDING
    )
    claimed_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Extension(Base):
    """A granted deferral: the next unpaid installments moved by some months."""

    __tablename__ = "extensions"

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    months: Mapped[int] = mapped_column(Integer)
    installments_moved: Mapped[int] = mapped_column(Integer)
    fee_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    granted_on: Mapped[date] = mapped_column(Date)
    first_moved_seq: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RestructuringOffer(Base):
    """A priced restructuring option computed from a loan's real balance."""

    __tablename__ = "restructuring_offers"

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    kind: Mapped[OfferKind] = mapped_column(enum_column(OfferKind, "offer_kind"))
    status: Mapped[OfferStatus] = mapped_column(
        enum_column(OfferStatus, "offer_status"), default=OfferStatus.OFFERED
    )
    quoted_on: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    balance_minor: Mapped[int] = mapped_column(BigInteger)
    annual_rate: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    number_of_payments: Mapped[int] = mapped_column(Integer)
    installment_minor: Mapped[int] = mapped_column(BigInteger)
    total_cost_minor: Mapped[int] = mapped_column(BigInteger)
    discount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    first_due_on: Mapped[date] = mapped_column(Date)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Arrangement(Base):
    """An accepted restructuring: the new schedule that replaced the loan's unpaid rest."""

    __tablename__ = "arrangements"

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("restructuring_offers.id"), unique=True)
    kind: Mapped[OfferKind] = mapped_column(enum_column(OfferKind, "arrangement_kind"))
    status: Mapped[ArrangementStatus] = mapped_column(
        enum_column(ArrangementStatus, "arrangement_status"), default=ArrangementStatus.ACTIVE
    )
    started_on: Mapped[date] = mapped_column(Date)
    # Settlement discount forgiven when the arrangement completes.
    forgiven_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AccountHold(Base):
    """A hold on collection (dispute, bankruptcy, attorney, cease); placed by compliance."""

    __tablename__ = "account_holds"

    id: Mapped[int] = mapped_column(primary_key=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"), index=True)
    # None: the hold covers every loan of the borrower.
    loan_id: Mapped[int | None] = mapped_column(ForeignKey("loans.id"))
    kind: Mapped[HoldKind] = mapped_column(enum_column(HoldKind, "hold_kind"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(64), default="api")
