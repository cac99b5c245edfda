"""Borrowers: contact data validated and normalized, time zones resolved, found by phone."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session

from servicing import (
    Conflict,
    InvalidInput,
    NewBorrower,
    create_borrower,
    find_borrowers_by_phone,
    phone_kind,
)
from tests.servicing.factories import make_borrower


def new(**overrides: object) -> NewBorrower:
    fields: dict[str, object] = {
        "external_ref": "BR-1",
        "full_name": "Ada Park",
        "country": "US",
        "phones": ["(212) 555-0142"],
    }
    fields.update(overrides)
    return NewBorrower(**fields)  # type: ignore[arg-type]


def test_phone_is_normalized_and_zone_derived(session: Session) -> None:
    borrower = create_borrower(session=session, borrower=new())
    assert [p.number for p in borrower.phones] == ["+12125550142"]
    assert borrower.time_zone == "America/New_York"
    assert find_borrowers_by_phone(session=session, phone="212.555.0142", country="US") == [
        borrower
    ]
    assert find_borrowers_by_phone(session=session, phone="+1 212 555 0143") == []


def test_a_shared_number_finds_every_borrower(session: Session) -> None:
    first = create_borrower(session=session, borrower=new(external_ref="BR-A"))
    second = create_borrower(session=session, borrower=new(external_ref="BR-B"))
    assert find_borrowers_by_phone(session=session, phone="+12125550142") == [first, second]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"phones": ["12"]}, "phones"),
        ({"phones": ["not a number"]}, "phones"),
        ({"country": "USA"}, "country"),
        ({"preferred_language": "fr"}, "preferred_language"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"phones": [], "time_zone": None}, "time_zone"),
        ({"full_name": "  "}, "full_name"),
        ({"external_ref": ""}, "external_ref"),
    ],
)
def test_bad_borrowers_name_the_field(
    session: Session, overrides: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        create_borrower(session=session, borrower=new(**overrides))
    assert refused.value.field == field


def test_ambiguous_zone_needs_an_explicit_one(session: Session) -> None:
    # A US toll-free number spans every US zone.
    with pytest.raises(InvalidInput, match="time_zone is required"):
        create_borrower(session=session, borrower=new(phones=["+1 800 555 0199"]))
    borrower = create_borrower(
        session=session, borrower=new(phones=["+1 800 555 0199"], time_zone="America/Denver")
    )
    assert borrower.time_zone == "America/Denver"


def test_duplicate_reference_is_a_conflict_and_the_session_survives(session: Session) -> None:
    create_borrower(session=session, borrower=new())
    with pytest.raises(Conflict):
        create_borrower(session=session, borrower=new())
    assert create_borrower(session=session, borrower=new(external_ref="BR-2")).id


def test_language_variants_and_kinds(session: Session) -> None:
    borrower = create_borrower(
        session=session,
        borrower=new(
            external_ref="BR-ZH",
            country="CN",
            phones=["138 0013 8000", "+44 20 7946 0958"],
            preferred_language="zh-CN",
            time_zone="Asia/Shanghai",
            date_of_birth=date(1985, 2, 3),
        ),
    )
    assert borrower.preferred_language == "zh"
    assert [p.kind for p in borrower.phones] == ["mobile", "landline"]
    assert phone_kind("+12125550142") == "mobile"  # NANP numbers cannot be told apart


@pytest.mark.parametrize("number", ["+1 415 555 01", "+999 415 555 0123", "415-555-0199 ext"])
def test_a_refused_phone_is_echoed_masked(session: Session, number: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        make_borrower(session, phones=[number])

    digits = "".join(c for c in number if c.isdigit())
    assert digits not in refused.value.message
    assert refused.value.message.startswith("•••" + digits[-4:])
    assert refused.value.field == "phones"


@pytest.mark.parametrize("chat_id", [2**63, -(2**63) - 1, 10**20])
def test_telegram_chat_id_must_fit_64_bits(session: Session, chat_id: int) -> None:
    with pytest.raises(InvalidInput) as refused:
        make_borrower(session, telegram_chat_id=chat_id)
    assert refused.value.field == "telegram_chat_id"
