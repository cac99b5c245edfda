"""Settings refuse to start on a missing or bad value, naming the variable to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from settle.settings import ConfigError, Settings, load_settings
from tests.conftest import TEST_KEY

TOKEN = "a-long-enough-api-token"


def problems(**overrides: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(**overrides)
    return str(caught.value)


def test_production_requires_a_key_and_a_token() -> None:
    message = problems(env="production")
    assert message.splitlines() == [
        "SETTLE_ENCRYPTION_KEY: required when SETTLE_ENV=production; "
        "create one with `settle keygen`",
        "SETTLE_API_TOKEN: required when SETTLE_ENV=production; use a long random string",
    ]


def test_production_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SETTLE_ENV", "production")
    monkeypatch.setenv("SETTLE_API_TOKEN", TOKEN)
    assert problems().startswith("SETTLE_ENCRYPTION_KEY: required")
    monkeypatch.setenv("SETTLE_ENCRYPTION_KEY", TEST_KEY)
    settings = load_settings()
    assert settings.env == "production"
    assert settings.pii_cipher().encrypt("x") != "x"


@pytest.mark.parametrize("key", ["not base64 !!", "c2hvcnQ="])
def test_malformed_key(key: str) -> None:
    message = problems(encryption_key=key)
    assert message.startswith("SETTLE_ENCRYPTION_KEY: must be 32 bytes, base64 encoded")
    assert key not in message


def test_short_api_token_is_not_echoed() -> None:
    message = problems(encryption_key=TEST_KEY, api_token="hunter2")
    assert message == "SETTLE_API_TOKEN: must be at least 16 characters long"


def test_bad_jurisdiction() -> None:
    message = problems(encryption_key=TEST_KEY, jurisdiction="mars")
    assert message == "SETTLE_JURISDICTION: must be one of us_reg_f, cn or uk (got 'mars')"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("not a url", "not a database URL"),
        ("mysql://settle:secret@db/settle", "mysql is not supported"),
    ],
)
def test_bad_database_url(url: str, problem: str) -> None:
    message = problems(encryption_key=TEST_KEY, database_url=url)
    assert message.startswith(f"SETTLE_DATABASE_URL: {problem}")
    assert "secret" not in message


def test_every_problem_is_one_line() -> None:
    message = problems(env="production", jurisdiction="xx", port="eighty")
    names = [line.split(":")[0] for line in message.splitlines()]
    assert names == [
        "SETTLE_ENCRYPTION_KEY",
        "SETTLE_API_TOKEN",
        "SETTLE_JURISDICTION",
        "SETTLE_PORT",
    ]


def test_development_with_a_key_works() -> None:
    settings = load_settings(encryption_key=TEST_KEY)
    assert settings.env == "development"
    assert settings.database_url == "sqlite:///var/settle.db"
    assert settings.jurisdiction == "us_reg_f"
    assert settings.public_base_url == "http://127.0.0.1:8000"
    assert settings.api_token is None
    assert settings.pii_cipher().decrypt(settings.pii_cipher().encrypt("x")) == "x"


def test_development_without_a_key_fails_when_the_key_is_needed() -> None:
    settings = load_settings()
    with pytest.raises(ConfigError, match=r"^SETTLE_ENCRYPTION_KEY: not set; run `settle init`"):
        settings.pii_cipher()


def test_env_file_is_read_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, clean_environment: Path
) -> None:
    env_file = clean_environment / "var" / "settle.env"
    env_file.parent.mkdir()
    env_file.write_text(f"SETTLE_ENCRYPTION_KEY={TEST_KEY}\nSETTLE_JURISDICTION=uk\n")
    assert load_settings().jurisdiction == "uk"
    monkeypatch.setenv("SETTLE_JURISDICTION", "cn")
    settings = load_settings()
    assert settings.jurisdiction == "cn"
    assert settings.encryption_key is not None
    assert settings.encryption_key.get_secret_value() == TEST_KEY


def test_misspelt_setting_in_the_env_file(clean_environment: Path) -> None:
    env_file = clean_environment / "var" / "settle.env"
    env_file.parent.mkdir()
    env_file.write_text("SETTLE_DATABSE_URL=sqlite:///x.db\n")
    assert problems() == (
        "SETTLE_DATABSE_URL: not a setting Settle knows (check the spelling in var/settle.env)"
    )


def test_public_base_url_is_canonical() -> None:
    settings = Settings(encryption_key=TEST_KEY, public_base_url="https://settle.example.com/")
    assert settings.public_base_url == "https://settle.example.com"
