"""The application factory: refuses an unmigrated database, serves /healthz, one error envelope."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from models.schema import upgrade
from settle.app import Container, create_app
from settle.database import build_engine
from settle.settings import Settings
from tests.conftest import TEST_KEY


def settings_for(database_url: str) -> Settings:
    return Settings(_env_file=None, database_url=database_url, encryption_key=TEST_KEY)


@pytest.fixture
def migrated(database_url: str) -> Settings:
    settings = settings_for(database_url)
    engine = build_engine(settings)
    upgrade(engine)
    engine.dispose()
    return settings


@pytest.fixture
def app(migrated: Settings) -> FastAPI:
    return create_app(migrated)


def test_unmigrated_database_stops_start_up(database_url: str) -> None:
    with pytest.raises(SystemExit) as exited:
        create_app(settings_for(database_url))
    message = str(exited.value.code)
    assert message.startswith("settle: the database at ")
    assert "revision none" in message
    assert message.endswith("run `settle db upgrade`")
    assert "\n" not in message


def test_database_password_is_hidden() -> None:
    url = "postgresql://settle:hunter2@127.0.0.1:1/settle"
    with pytest.raises(SystemExit) as exited:
        create_app(settings_for(url))
    message = str(exited.value.code)
    assert message.startswith("settle: SETTLE_DATABASE_URL: cannot use the database at")
    assert "hunter2" not in message
    assert "***" in message


def test_healthz(app: FastAPI) -> None:
    with TestClient(app) as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_index_links_to_docs_and_health(app: FastAPI) -> None:
    with TestClient(app) as client:
        page = client.get("/")
    assert page.status_code == 200
    assert 'href="/docs"' in page.text
    assert 'href="/healthz"' in page.text


def test_container_gives_sessions(app: FastAPI, migrated: Settings) -> None:
    container = app.state.container
    assert isinstance(container, Container)
    assert container.settings is migrated
    with container.session() as session:
        assert session.get_bind() is container.engine


class Promise(BaseModel):
    amount: int
    due_on: str


def test_invalid_request_gets_the_error_envelope(app: FastAPI) -> None:
    @app.post("/test-only/promises/{loan_id}")
    def take_promise(loan_id: int, promise: Promise) -> dict[str, int]:
        return {"loan_id": loan_id, "amount": promise.amount}

    with TestClient(app) as client:
        response = client.post("/test-only/promises/abc", json={"amount": "lots"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert [(field["location"], field["field"]) for field in error["fields"]] == [
        ("path", "loan_id"),
        ("body", "amount"),
        ("body", "due_on"),
    ]
    assert error["message"].startswith("loan_id: input should be a valid integer")
    assert "amount: " in error["message"]
    assert "due_on: field required" in error["message"]

    with TestClient(app) as client:
        ok = client.post("/test-only/promises/7", json={"amount": 5, "due_on": "2030-01-01"})
    assert ok.json() == {"loan_id": 7, "amount": 5}


def test_engine_is_disposed_on_shutdown(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    container: Container = app.state.container
    disposed: list[bool] = []
    dispose = container.engine.dispose

    def recording_dispose() -> None:
        disposed.append(True)
        dispose()

    monkeypatch.setattr(container.engine, "dispose", recording_dispose)
    with TestClient(app) as client:
        client.get("/healthz")
        assert disposed == []
    assert disposed == [True]


def test_malformed_json_names_the_body(app: FastAPI) -> None:
    @app.post("/test-only/echo")
    def echo(promise: Promise) -> int:
        return promise.amount

    with TestClient(app) as client:
        response = client.post(
            "/test-only/echo", content=b"{oops", headers={"content-type": "application/json"}
        )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["message"].startswith("body: not valid JSON")
    assert error["fields"][0]["field"] == "body"
