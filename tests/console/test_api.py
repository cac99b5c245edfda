"""The servicing API: authentication, the whole loan life cycle, and bad input answered clearly."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.console.conftest import API_TOKEN

BORROWER = {
    "external_ref": "API-B1",
    "full_name": "Ada Park",
    "country": "US",
    "phones": ["+1 415 555 0123"],
    "time_zone": "America/Los_Angeles",
    "date_of_birth": "1990-05-17",
    "national_id": "900-12-3456",
    "postal_address": "1 Main St",
}


def make_loan(api: TestClient, **overrides: Any) -> dict[str, Any]:
    borrower = api.post(
        "/api/borrowers",
        json={**BORROWER, "external_ref": f"B-{overrides.get('external_ref', 'L1')}"},
    )
    assert borrower.status_code == 201, borrower.text
    body = {
        "external_ref": "L1",
        "borrower_id": borrower.json()["id"],
        "principal": "1200.00",
        "currency": "USD",
        "annual_rate": "0.12",
        "term_months": 12,
        "disbursed_on": "2025-01-15",
        **overrides,
    }
    response = api.post("/api/loans", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_every_route_rejects_missing_or_wrong_tokens(api: TestClient) -> None:
    paths = api.app.openapi()["paths"]  # type: ignore[attr-defined]
    operations = [(m.upper(), p) for p, ops in paths.items() for m in ops]
    assert len(operations) >= 15
    for method, template in operations:
        path = template.replace("{loan_id}", "1").replace("{offer_id}", "1")
        path = path.replace("{borrower_id}", "1")
        if True:
            for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong-token"},
                            {"Authorization": f"Basic {API_TOKEN}"}):  # fmt: skip
                response = api.request(method, path, headers=headers, json={})
                assert response.status_code == 401, (method, path, headers)
                assert response.headers["www-authenticate"] == "Bearer"
                assert response.json()["error"]["code"] == "unauthorized"


def test_borrower_personal_data_is_not_echoed(api: TestClient) -> None:
    response = api.post("/api/borrowers", json=BORROWER)
    assert response.status_code == 201
    body = response.json()
    assert body["phones"] == ["•••0123"]
    assert "national_id" not in body
    assert "date_of_birth" not in body
    assert api.get(f"/api/borrowers/{body['id']}").json() == body


def test_loan_schedule_and_balance(api: TestClient) -> None:
    loan = make_loan(api)
    schedule = loan["schedule"]
    assert len(schedule) == 12
    assert sum(Decimal(i["principal"]) for i in schedule) == Decimal("1200.00")
    assert schedule[0] == {
        "seq": 1,
        "due_on": "2025-02-15",
        "principal": "94.62",
        "interest": "12.00",
        "fee": "0.00",
        "paid": "0.00",
        "paid_on": None,
        "superseded": False,
    }
    balance = api.get(f"/api/loans/{loan['id']}/balance", params={"as_of": "2025-04-01"}).json()
    assert balance["days_past_due"] == 45
    assert balance["bucket"] == "31-60"
    assert balance["past_due"] == "213.23"  # 106.62 + 106.61: level to within a cent
    # Without as_of the API answers for today (2025-06-20 in these tests).
    today = api.get(f"/api/loans/{loan['id']}/balance").json()
    assert today["as_of"] == "2025-06-20"


def test_payment_brings_the_loan_current(api: TestClient) -> None:
    loan = make_loan(api)
    paid = api.post(
        f"/api/loans/{loan['id']}/payments",
        json={"amount": "213.23", "currency": "USD", "received_on": "2025-04-01",
              "external_ref": "P-1"},
    )  # fmt: skip
    assert paid.status_code == 201, paid.text
    components = [(a["installment_seq"], a["component"]) for a in paid.json()["allocations"]]
    assert components == [(1, "interest"), (1, "principal"), (2, "interest"), (2, "principal")]
    balance = api.get(f"/api/loans/{loan['id']}/balance", params={"as_of": "2025-04-01"}).json()
    assert balance["days_past_due"] == 0
    listed = api.get(f"/api/loans/{loan['id']}/payments").json()
    assert [p["external_ref"] for p in listed] == ["P-1"]


def test_promise_extension_and_restructuring(api: TestClient) -> None:
    loan = make_loan(api, disbursed_on="2025-05-01")  # first due 06-01: 19 days late on TODAY
    promise = api.post(
        f"/api/loans/{loan['id']}/promises", json={"amount": "106.62", "due_on": "2025-06-27"}
    )
    assert promise.status_code == 201, promise.text
    assert promise.json()["status"] == "pending"
    assert promise.json()["promised_on"] == "2025-06-20"

    quote = api.post(f"/api/loans/{loan['id']}/extensions/quote", json={"months": 1})
    assert quote.status_code == 200, quote.text
    assert quote.json()["decision"] == "approved"
    assert quote.json()["fee"] == "25.00"
    # Granted on the day it is asked for; a past day the loan was eligible on cannot be chosen.
    back_dated = api.post(
        f"/api/loans/{loan['id']}/extensions", json={"months": 1, "on": "2025-06-10"}
    )
    assert back_dated.status_code == 422
    assert back_dated.json()["error"]["fields"][0]["field"] == "on"
    granted = api.post(f"/api/loans/{loan['id']}/extensions", json={"months": 1})
    assert granted.status_code == 201, granted.text
    assert granted.json()["installments_moved"] == 12
    assert granted.json()["granted_on"] == "2025-06-20"
    again = api.post(f"/api/loans/{loan['id']}/extensions", json={"months": 1, "on": "2025-06-21"})
    assert again.status_code == 422
    assert again.json()["error"]["reason"] == "limit_per_12_months"

    offers = api.post(f"/api/loans/{loan['id']}/restructuring/quote", json={"as_of": "2025-06-20"})
    assert offers.status_code == 200, offers.text
    kinds = {o["kind"] for o in offers.json()}
    assert kinds == {"reamortize", "hardship", "settlement"}
    settlement = next(o for o in offers.json() if o["kind"] == "settlement")
    assert settlement["status"] == "pending_approval"  # 30% off is above the 20% threshold
    refused = api.post(
        f"/api/restructuring-offers/{settlement['id']}/accept", json={"on": "2025-06-20"}
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["reason"] == "awaiting_approval"
    plan = next(o for o in offers.json() if o["kind"] == "reamortize")
    accepted = api.post(f"/api/restructuring-offers/{plan['id']}/accept", json={"on": "2025-06-20"})
    assert accepted.status_code == 201, accepted.text
    schedule = api.get(f"/api/loans/{loan['id']}").json()["schedule"]
    live = [i for i in schedule if not i["superseded"]]
    assert len(live) == plan["number_of_payments"]


def test_portfolio_buckets(api: TestClient) -> None:
    make_loan(api, external_ref="LB1", disbursed_on="2025-01-15")
    make_loan(api, external_ref="LB2", disbursed_on="2025-05-25")
    counts = api.get("/api/portfolio/buckets", params={"as_of": "2025-06-20"}).json()["counts"]
    assert counts["90+"] >= 1
    assert counts["current"] >= 1


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"principal": "-5"}, "principal"),
        ({"principal": "0"}, "principal"),
        ({"principal": "10.001"}, "principal"),
        ({"annual_rate": "1.5"}, "annual_rate"),
        ({"annual_rate": "-0.01"}, "annual_rate"),
        ({"currency": "XYZ"}, "currency"),
        ({"term_months": 0}, "term_months"),
        ({"first_due_on": "2025-01-10"}, "first_due_on"),
        ({"product": "payday"}, "product"),
        ({"borrower_id": 999999}, "borrower_id"),
        ({"principal": "lots"}, "principal"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_loans_name_the_field(api: TestClient, override: dict[str, Any], field: str) -> None:
    borrower = api.post("/api/borrowers", json=BORROWER).json()
    body = {
        "external_ref": "BAD-1",
        "borrower_id": borrower["id"],
        "principal": "1200.00",
        "currency": "USD",
        "annual_rate": "0.12",
        "term_months": 12,
        "disbursed_on": "2025-01-15",
        **override,
    }
    response = api.post("/api/loans", json=body)
    assert response.status_code in (404, 422), response.text
    error = response.json()["error"]
    assert field in error["message"] or any(f["field"] == field for f in error.get("fields", []))
    assert api.get("/api/portfolio/buckets").json()["counts"] == {
        "current": 0,
        "1-30": 0,
        "31-60": 0,
        "61-90": 0,
        "90+": 0,
    }  # fmt: skip  (nothing was written)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"amount": "0", "currency": "USD", "received_on": "2025-03-01"}, 422, "amount"),
        ({"amount": "-10", "currency": "USD", "received_on": "2025-03-01"}, 422, "amount"),
        ({"amount": "10", "currency": "GBP", "received_on": "2025-03-01"}, 422, "currency"),
        ({"amount": "10", "currency": "USD", "received_on": "2025-01-01"}, 422, "received_on"),
        ({"amount": "10", "currency": "USD", "received_on": "not a date"}, 422, "received_on"),
    ],
)
def test_bad_payments_are_refused(
    api: TestClient, body: dict[str, Any], status: int, field: str
) -> None:
    loan = make_loan(api)
    response = api.post(f"/api/loans/{loan['id']}/payments", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert field in error["message"] or any(f["field"] == field for f in error.get("fields", []))
    assert api.get(f"/api/loans/{loan['id']}/payments").json() == []


def test_unknown_ids_and_written_off_loans(api: TestClient) -> None:
    assert api.get("/api/loans/987654").status_code == 404
    assert api.get("/api/loans/987654/balance").json()["error"]["code"] == "not_found"
    assert api.get("/api/borrowers/987654").status_code == 404
    loan = make_loan(api)
    assert (
        api.post(f"/api/loans/{loan['id']}/write-off", json={"on": "2025-05-01"}).json()["status"]
        == "written_off"
    )
    refused = api.post(
        f"/api/loans/{loan['id']}/payments",
        json={"amount": "10", "currency": "USD", "received_on": "2025-05-02"},
    )
    assert refused.status_code == 409
    assert "written_off" in refused.json()["error"]["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/loans/99999999999999999999",
        "/api/loans/2147483648",
        "/api/loans/0",
        "/api/loans/2147483648/balance",
        "/api/borrowers/9223372036854775808",
    ],
)
def test_out_of_range_path_ids_are_422(api: TestClient, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"


def test_out_of_range_body_values_are_4xx_never_500(api: TestClient) -> None:
    loan = make_loan(api)
    borrower_id = loan["borrower_id"]
    base = {
        "external_ref": "BIG",
        "borrower_id": borrower_id,
        "principal": "1200.00",
        "currency": "USD",
        "annual_rate": "0.12",
        "term_months": 12,
        "disbursed_on": "2025-01-15",
    }
    answers = {
        "principal": api.post("/api/loans", json={**base, "principal": "100000000000000000"}),
        "principal (exponent)": api.post("/api/loans", json={**base, "principal": "1e999999999"}),
        "borrower_id": api.post("/api/loans", json={**base, "borrower_id": 2**40}),
        "amount": api.post(
            f"/api/loans/{loan['id']}/payments",
            json={"amount": "100000000000000000", "currency": "USD", "received_on": "2025-02-15"},
        ),
        "telegram_chat_id": api.post(
            "/api/borrowers",
            json={**BORROWER, "external_ref": "TG", "telegram_chat_id": 10**20},
        ),
        "promise amount": api.post(
            f"/api/loans/{loan['id']}/promises",
            json={"amount": "1e30", "due_on": "2025-06-25"},
        ),
    }
    for name, response in answers.items():
        assert response.status_code == 422, (name, response.text)
    assert api.get(f"/api/loans/{loan['id']}/payments").json() == []


def test_days_after_tomorrow_are_refused(api: TestClient) -> None:
    """The API's clock says today is 2025-06-20: up to 06-21 is accepted (time zones), no later."""
    loan = make_loan(api)
    future = "2025-06-22"
    answers = {
        "received_on": api.post(
            f"/api/loans/{loan['id']}/payments",
            json={"amount": "10.00", "currency": "USD", "received_on": future},
        ),
        "promised_on": api.post(
            f"/api/loans/{loan['id']}/promises",
            json={"amount": "10.00", "due_on": "2025-06-30", "promised_on": future},
        ),
        "on": api.post(f"/api/loans/{loan['id']}/extensions", json={"months": 1, "on": future}),
        "disbursed_on": api.post(
            "/api/loans",
            json={
                "external_ref": "FUT",
                "borrower_id": loan["borrower_id"],
                "principal": "100.00",
                "currency": "USD",
                "annual_rate": "0.1",
                "term_months": 6,
                "disbursed_on": future,
            },
        ),
    }
    for field, response in answers.items():
        assert response.status_code == 422, (field, response.text)
        assert response.json()["error"]["fields"][0]["field"] == field
    ok = api.post(
        f"/api/loans/{loan['id']}/payments",
        json={"amount": "10.00", "currency": "USD", "received_on": "2025-06-21"},
    )
    assert ok.status_code == 201, ok.text
