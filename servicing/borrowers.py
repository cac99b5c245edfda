"""Borrowers: creating them with validated contact data, and finding them by phone number."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from phonenumbers import timezone as phone_timezones
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import Borrower, BorrowerPhone, session_cipher
from servicing.errors import Conflict, InvalidInput, NotFound

LANGUAGES = ("en", "zh")


@dataclass(frozen=True)
class NewBorrower:
    """What the lender tells Settle about a borrower."""

    external_ref: str
    full_name: str
    country: str
    phones: list[str] = field(default_factory=list)
    preferred_language: str = "en"
    time_zone: str | None = None
    postal_address: str | None = None
    date_of_birth: date | None = None
    national_id: str | None = None
    telegram_chat_id: int | None = None


TELEGRAM_CHAT_ID_RANGE = (-(2**63), 2**63 - 1)  # a signed 64-bit integer, like the column


def mask_phone(number: str) -> str:
    """A phone number safe to echo in messages and logs: only its last four digits."""
    digits = "".join(c for c in number if c.isdigit())
    return "•••" + digits[-4:]


def normalize_phone(number: str, *, country: str | None = None, field: str = "phones") -> str:
    """The E.164 form of a phone number, or `InvalidInput` (the number masked) if it is invalid."""
    try:
        parsed = phonenumbers.parse(number, (country or "").upper() or None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(
            f"{mask_phone(number)} is not a phone number: {exc}", field=field
        ) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput(f"{mask_phone(number)} is not a valid phone number", field=field)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def phone_kind(e164: str) -> str:
    """`mobile` where the number can take texts (or cannot be told apart), else `landline`."""
    kind = phonenumbers.number_type(phonenumbers.parse(e164))
    texting = (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )
    return "mobile" if kind in texting else "landline"


def phone_time_zones(e164: str) -> list[str]:
    """The IANA zones a number's prefix can be in (several for a country with many zones)."""
    zones = phone_timezones.time_zones_for_number(phonenumbers.parse(e164))
    return [z for z in zones if z != "Etc/Unknown"]


def _check_time_zone(zone: str) -> str:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(
            f"unknown time zone {zone!r}; use an IANA name", field="time_zone"
        ) from exc
    if zone not in available_timezones():
        raise InvalidInput(f"unknown time zone {zone!r}; use an IANA name", field="time_zone")
    return zone


def _resolve_time_zone(given: str | None, phones: list[str]) -> str:
    if given:
        return _check_time_zone(given)
    candidates = {z for number in phones for z in phone_time_zones(number)}
    if len(candidates) == 1:
        return candidates.pop()
    raise InvalidInput(
        "time_zone is required: the phone numbers do not determine one", field="time_zone"
    )


def create_borrower(*, session: Session, borrower: NewBorrower) -> Borrower:
    """Store a new borrower; personal data is encrypted and phones are blind-indexed."""
    if not borrower.external_ref.strip():
        raise InvalidInput("external_ref must not be empty", field="external_ref")
    if not borrower.full_name.strip():
        raise InvalidInput("full_name must not be empty", field="full_name")
    country = borrower.country.strip().upper()
    if len(country) != 2 or not country.isalpha():
        raise InvalidInput("country must be an ISO 3166 two-letter code", field="country")
    language = borrower.preferred_language.split("-")[0].lower()
    if language not in LANGUAGES:
        raise InvalidInput(
            f"preferred_language must be one of {', '.join(LANGUAGES)}", field="preferred_language"
        )
    chat = borrower.telegram_chat_id
    if chat is not None and not TELEGRAM_CHAT_ID_RANGE[0] <= chat <= TELEGRAM_CHAT_ID_RANGE[1]:
        raise InvalidInput(
            "telegram_chat_id must be a signed 64-bit integer", field="telegram_chat_id"
        )
    numbers = list(dict.fromkeys(normalize_phone(p, country=country) for p in borrower.phones))
    cipher = session_cipher(session)
    row = Borrower(
        external_ref=borrower.external_ref.strip(),
        full_name=borrower.full_name.strip(),
        country=country,
        preferred_language=language,
        time_zone=_resolve_time_zone(borrower.time_zone, numbers),
        postal_address=borrower.postal_address,
        date_of_birth=borrower.date_of_birth,
        national_id=borrower.national_id,
        telegram_chat_id=borrower.telegram_chat_id,
        phones=[
            BorrowerPhone(number=n, number_index=cipher.blind_index(n), kind=phone_kind(n))
            for n in numbers
        ],
    )
    try:
        # Added inside the savepoint, so a refused row leaves the session as it was.
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"a borrower with external_ref {borrower.external_ref!r} or that Telegram chat exists",
            field="external_ref",
        ) from exc
    return row


def get_borrower(*, session: Session, borrower_id: int) -> Borrower:
    """The borrower `borrower_id`, or `NotFound`."""
    row = session.get(Borrower, borrower_id)
    if row is None:
        raise NotFound(f"no borrower with id {borrower_id}", field="borrower_id")
    return row


def get_borrower_by_ref(*, session: Session, external_ref: str) -> Borrower:
    """The borrower the lender knows as `external_ref`, or `NotFound`."""
    row = session.scalars(select(Borrower).where(Borrower.external_ref == external_ref)).first()
    if row is None:
        raise NotFound(f"no borrower with external_ref {external_ref!r}", field="borrower_ref")
    return row


def find_borrower_by_telegram_chat(*, session: Session, chat_id: int) -> Borrower | None:
    """The borrower whose Telegram chat this is; None for an id no chat can have."""
    if not TELEGRAM_CHAT_ID_RANGE[0] <= chat_id <= TELEGRAM_CHAT_ID_RANGE[1]:
        return None
    return session.scalars(select(Borrower).where(Borrower.telegram_chat_id == chat_id)).first()


def find_borrowers_by_phone(
    *, session: Session, phone: str, country: str | None = None
) -> list[Borrower]:
    """Borrowers having this phone number, found through the blind index without decrypting."""
    index = session_cipher(session).blind_index(
        normalize_phone(phone, country=country, field="phone")
    )
    return list(
        session.scalars(
            select(Borrower)
            .join(BorrowerPhone)
            .where(BorrowerPhone.number_index == index)
            .order_by(Borrower.id)
        )
    )
