"""The loan servicing store and its rules: schedules, payments, balances, forbearance.

Other packages call the functions exported here; each takes the SQLAlchemy session first as a
keyword argument and flushes, never commits (the caller owns the unit of work).
"""

from servicing.arrangements import break_settlement, review_arrangements
from servicing.balance import (
    Balance,
    Bucket,
    Delinquency,
    InstallmentPosition,
    bucket_counts,
    bucket_for,
    delinquent_loans,
    loan_balance,
)
from servicing.borrowers import (
    NewBorrower,
    create_borrower,
    find_borrower_by_telegram_chat,
    find_borrowers_by_phone,
    get_borrower,
    get_borrower_by_ref,
    normalize_phone,
    phone_kind,
    phone_time_zones,
)
from servicing.claims import pending_claims, record_payment_claim
from servicing.demo import SeedSummary, seed_portfolio
from servicing.errors import Conflict, InvalidInput, NotEligible, NotFound, ServicingError
from servicing.extensions import (
    ExtensionDecision,
    ExtensionQuote,
    ExtensionReason,
    MovedInstallment,
    apply_extension,
    list_extensions,
    quote_extension,
)
from servicing.holds import active_holds, place_hold, release_hold
from servicing.imports import ImportFailed, ImportResult, RowError, import_loans, import_payments
from servicing.loans import (
    NewLoan,
    create_loan,
    get_loan,
    get_loan_by_ref,
    lock_loan,
    write_off_loan,
)
from servicing.money import check_currency, exponent, from_minor, to_minor
from servicing.payments import apply_credit, apply_due_credit, list_payments, post_payment
from servicing.products import Product, catalogue
from servicing.promises import (
    MAX_PROMISE_DAYS,
    evaluate_promises,
    pending_promise,
    record_promise,
)
from servicing.restructuring import (
    OfferRefusal,
    accept_offer,
    capitalised_balance,
    decide_offer,
    list_offers,
    quote_restructuring,
)
from servicing.schedule import ScheduledInstallment, generate_schedule

__all__ = [
    "MAX_PROMISE_DAYS",
    "Balance",
    "Bucket",
    "Conflict",
    "Delinquency",
    "ExtensionDecision",
    "ExtensionQuote",
    "ExtensionReason",
    "ImportFailed",
    "ImportResult",
    "InstallmentPosition",
    "InvalidInput",
    "MovedInstallment",
    "NewBorrower",
    "NewLoan",
    "NotEligible",
    "NotFound",
    "OfferRefusal",
    "Product",
    "RowError",
    "ScheduledInstallment",
    "SeedSummary",
    "ServicingError",
    "accept_offer",
    "active_holds",
    "apply_credit",
    "apply_due_credit",
    "apply_extension",
    "break_settlement",
    "bucket_counts",
    "bucket_for",
    "capitalised_balance",
    "catalogue",
    "check_currency",
    "create_borrower",
    "create_loan",
    "decide_offer",
    "delinquent_loans",
    "evaluate_promises",
    "exponent",
    "find_borrower_by_telegram_chat",
    "find_borrowers_by_phone",
    "from_minor",
    "generate_schedule",
    "get_borrower",
    "get_borrower_by_ref",
    "get_loan",
    "get_loan_by_ref",
    "import_loans",
    "import_payments",
    "list_extensions",
    "list_offers",
    "list_payments",
    "loan_balance",
    "lock_loan",
    "normalize_phone",
    "pending_claims",
    "pending_promise",
    "phone_kind",
    "phone_time_zones",
    "place_hold",
    "post_payment",
    "quote_extension",
    "quote_restructuring",
    "record_payment_claim",
    "record_promise",
    "release_hold",
    "review_arrangements",
    "seed_portfolio",
    "to_minor",
    "write_off_loan",
]
