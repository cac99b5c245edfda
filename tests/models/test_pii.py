"""Personal data is encrypted at rest and found through the blind index."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from models import Borrower, BorrowerPhone, PiiCipher, PiiDecryptError, PiiKeyError, generate_key


def test_round_trip_uses_fresh_nonces(cipher: PiiCipher) -> None:
    first, second = cipher.encrypt("+14155550100"), cipher.encrypt("+14155550100")
    assert first != second
    assert cipher.decrypt(first) == cipher.decrypt(second) == "+14155550100"


def test_another_key_cannot_decrypt(cipher: PiiCipher) -> None:
    token = cipher.encrypt("secret")
    with pytest.raises(PiiDecryptError):
        PiiCipher.from_text(generate_key()).decrypt(token)


def test_blind_index_is_keyed(cipher: PiiCipher) -> None:
    other = PiiCipher.from_text(generate_key())
    assert cipher.blind_index("+14155550100") == cipher.blind_index("+14155550100")
    assert cipher.blind_index("+14155550100") != other.blind_index("+14155550100")


@pytest.mark.parametrize("bad", ["", "not base64 !!", "c2hvcnQ="])
def test_malformed_keys_are_refused(bad: str) -> None:
    with pytest.raises(PiiKeyError):
        PiiCipher.from_text(bad)


def test_columns_hold_ciphertext_only(session: Session, cipher: PiiCipher) -> None:
    borrower = Borrower(
        external_ref="B-PII",
        full_name="Ada Park",
        time_zone="America/New_York",
        country="US",
        postal_address="1 Main St, Springfield",
        date_of_birth=date(1990, 5, 17),
        national_id="123-45-6789",
        phones=[
            BorrowerPhone(number="+14155550100", number_index=cipher.blind_index("+14155550100"))
        ],
    )
    session.add(borrower)
    session.flush()
    raw = session.execute(
        text("SELECT postal_address, date_of_birth, national_id FROM borrowers WHERE id = :id"),
        {"id": borrower.id},
    ).one()
    for value in raw:
        assert "Main" not in value
        assert "1990" not in value
        assert "6789" not in value
    raw_phone = session.execute(text("SELECT number FROM borrower_phones")).scalar_one()
    assert "4155550100" not in raw_phone
    session.expire_all()
    found = session.scalars(
        select(BorrowerPhone).where(
            BorrowerPhone.number_index == cipher.blind_index("+14155550100")
        )
    ).one()
    assert found.borrower.date_of_birth == date(1990, 5, 17)
    assert found.number == "+14155550100"


def test_ciphertext_is_bound_to_its_column(session: Session) -> None:
    borrower = Borrower(
        external_ref="B-SWAP",
        full_name="Ada Park",
        time_zone="America/New_York",
        country="US",
        postal_address="1 Main St",
        national_id="900-12-3456",
    )
    session.add(borrower)
    session.flush()
    # Copy the national id's ciphertext into the address column, bypassing the ORM.
    session.execute(
        text("UPDATE borrowers SET postal_address = national_id WHERE id = :id"),
        {"id": borrower.id},
    )
    session.expire_all()
    with pytest.raises(PiiDecryptError):
        session.execute(select(Borrower.postal_address).where(Borrower.id == borrower.id)).one()
