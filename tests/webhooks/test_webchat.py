"""The demo web chat: the page, its borrower list, and a conversation linked to a demo borrower."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from bots import demo_borrowers
from dialogue import Dialogue
from models import session_factory
from models.schema import upgrade
from servicing import Bucket
from settle.app import create_app
from settle.database import build_engine
from settle.settings import Settings
from tests.conftest import TEST_KEY
from tests.servicing.factories import make_borrower, make_loan, unique_ref
from tests.webhooks.conftest import (
    DATE_OF_BIRTH,
    NOW,
    add_demo_borrower,
    build_client,
)
from webhooks.rest import PATH


def texts(replies: list[dict[str, object]]) -> str:
    return "\n".join(str(reply["text"]) for reply in replies)


# --- the page --------------------------------------------------------------------------------


def test_the_page_offers_the_demo_borrowers_with_credentials_in_development(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    borrower = add_demo_borrower(sessions, name="Ada Park")

    page = client.get("/")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<meta name="viewport"' in html
    assert '<label for="borrower">' in html
    assert f'<option value="{borrower.id}"' in html
    assert "Ada Park" in html
    assert 'aria-live="polite"' in html
    assert 'id="restart"' in html
    assert PATH in html
    assert "Demo credentials" in html
    assert 'data-dob="1985-03-03"' in html
    assert 'data-last4="6789"' in html


def test_scripts_run_only_with_the_pages_nonce(client: TestClient) -> None:
    page = client.get("/")
    policy = page.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce is not None
    assert f'<script nonce="{nonce.group(1)}">' in page.text
    assert page.headers["cache-control"] == "no-store"


def test_names_are_escaped(client: TestClient, sessions: sessionmaker[Session]) -> None:
    add_demo_borrower(sessions, name="<script>alert(1)</script>")
    html = client.get("/").text
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)" in html


def test_without_credentials_the_page_and_the_list_keep_them_out(
    sessions: sessionmaker[Session], dialogue: Dialogue
) -> None:
    add_demo_borrower(sessions, name="Ada Park")
    with build_client(sessions, dialogue, demo_credentials=False) as client:
        html = client.get("/").text
        listed = client.get("/chat/borrowers").json()

    assert "Ada Park" in html
    assert "Demo credentials" not in html
    assert "data-dob" not in html
    assert "1985-03-03" not in html
    assert "6789" not in html
    assert listed[0]["name"] == "Ada Park"
    assert listed[0]["credentials"] is None


def test_an_empty_portfolio_says_how_to_seed_it(client: TestClient) -> None:
    assert "settle seed" in client.get("/").text


# --- the borrower list -----------------------------------------------------------------------


def test_only_demo_borrowers_whose_phone_is_their_own_are_listed(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    demo = add_demo_borrower(sessions, name="Demo Person", phone="+14155550101")
    add_demo_borrower(sessions, name="Real Customer", phone="+14155550102", ref_prefix="B")
    add_demo_borrower(sessions, name="Twin One", phone="+14155550103")
    add_demo_borrower(sessions, name="Twin Two", phone="+14155550103")

    listed = client.get("/chat/borrowers").json()

    assert [b["name"] for b in listed] == ["Demo Person"]
    assert listed[0] == {
        "id": demo.id,
        "name": "Demo Person",
        "language": "en",
        "situation": Bucket.DPD_90_PLUS.value,
        "days_past_due": listed[0]["days_past_due"],
        "credentials": {"date_of_birth": "1985-03-03", "id_last4": "6789"},
    }
    assert listed[0]["days_past_due"] > 90


def test_the_list_takes_turns_across_situations_and_languages(
    sessions: sessionmaker[Session],
) -> None:
    late_en = add_demo_borrower(sessions, name="Late", phone="+14155550111")
    late_zh = add_demo_borrower(sessions, name="迟到", phone="+14155550112", language="zh")
    also_late = add_demo_borrower(sessions, name="Also late", phone="+14155550113")
    current = add_demo_borrower(
        sessions, name="On time", phone="+14155550114", disbursed_on=date(2025, 6, 1)
    )

    with sessions() as session:
        listed = demo_borrowers(session, 3, as_of=NOW.date())

    assert [b.id for b in listed] == [current.id, late_en.id, late_zh.id]
    assert also_late.id not in {b.id for b in listed}
    assert listed[0].situation is Bucket.CURRENT
    assert listed[0].date_of_birth == DATE_OF_BIRTH
    assert listed[0].id_last4 == "6789"


# --- a conversation --------------------------------------------------------------------------


def test_starting_a_chat_links_it_to_the_borrower_who_can_then_verify(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    borrower = add_demo_borrower(sessions)
    sender = "web-0123456789abcdef"

    opening = client.post("/chat/start", json={"sender": sender, "borrower_id": borrower.id})
    assert opening.status_code == 200, opening.text
    assert opening.json()[0]["recipient_id"] == sender
    assert opening.json()[-1]["buttons"]

    def say(message: str) -> str:
        response = client.post(PATH, json={"sender": sender, "message": message})
        assert response.status_code == 200, response.text
        return texts(response.json())

    assert "date of birth" in say("how much do I owe")
    assert "last 4" in say("March 3 1985")
    answer = say("6789")
    assert "verified" in answer
    # Only a conversation linked to this borrower reaches their loan.
    with sessions() as session:
        loan_ref = session.get_one(type(borrower), borrower.id).loans[0].external_ref
    assert loan_ref in answer


def test_a_chat_may_start_without_a_borrower(client: TestClient) -> None:
    response = client.post("/chat/start", json={"sender": "web-anonymous-0a1b2c3d"})
    assert response.status_code == 200
    assert response.json()[0]["recipient_id"] == "web-anonymous-0a1b2c3d"


def test_a_chat_cannot_be_linked_to_a_customer_who_is_not_a_demo_borrower(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    customer = add_demo_borrower(sessions, ref_prefix="B")

    for borrower_id in (customer.id, 999_999):
        response = client.post("/chat/start", json={"sender": "web-x", "borrower_id": borrower_id})
        assert response.status_code == 404
        assert response.json()["error"] == {
            "code": "not_found",
            "message": f"no demo borrower with id {borrower_id}",
        }


def test_start_needs_a_sender(client: TestClient) -> None:
    response = client.post("/chat/start", json={"borrower_id": 1})
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "sender"


# --- in the real application -----------------------------------------------------------------


@pytest.fixture
def database(tmp_path: Path) -> str:
    """A migrated SQLite file with one demo borrower."""
    url = f"sqlite:///{tmp_path / 'settle.db'}"
    engine = build_engine(Settings(_env_file=None, database_url=url, encryption_key=TEST_KEY))
    upgrade(engine)
    with session_factory(engine).begin() as session:
        borrower = make_borrower(
            session,
            external_ref=unique_ref("DEMO-B"),
            full_name="Ada Park",
            date_of_birth=DATE_OF_BIRTH,
            national_id="123-45-6789",
        )
        make_loan(session, borrower_id=borrower.id)
    engine.dispose()
    return url


@pytest.mark.parametrize("env", ["development", "production"])
def test_the_app_shows_demo_credentials_only_in_development(database: str, env: str) -> None:
    settings = Settings(
        _env_file=None,
        env=env,
        database_url=database,
        encryption_key=TEST_KEY,
        api_token="a-long-enough-api-token",
    )
    app = create_app(settings)
    with TestClient(app) as client:
        html = client.get("/").text
        assert client.get("/healthz").status_code == 200

    assert "Ada Park" in html
    assert ("1985-03-03" in html) is (env == "development")
    assert ("Demo credentials" in html) is (env == "development")
    # Neither the page nor the health check loads the language model.
    assert not app.state.container.dialogue.built
