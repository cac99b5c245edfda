"""Settle's settings: one typed `Settings` read from `SETTLE_*` variables and `var/settle.env`.

Settings are built once by the composition root (`load_settings`) and handed to whatever needs
them; nothing else in Settle reads the environment. A bad or missing setting becomes a
`ConfigError` with one line per problem, each naming the variable to fix.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import phonenumbers
from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from models import PiiCipher, PiiKeyError
from models.pii import decode_key

ENV_PREFIX = "SETTLE_"
# Relative on purpose: Settle runs from its checkout (`make run`), like the default SQLite path.
ENV_FILE = Path("var") / "settle.env"
SUPPORTED_DATABASES = ("sqlite", "postgresql")
API_TOKEN_MIN_LENGTH = 16

Environment = Literal["development", "production"]
Jurisdiction = Literal["us_reg_f", "cn", "uk"]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]

# Values of these settings may be quoted back in error messages; every other one may hold a
# secret or a password inside a URL.
_QUOTABLE = frozenset(
    {
        "env",
        "jurisdiction",
        "host",
        "port",
        "log_level",
        "public_base_url",
        "audit_retention_days",
        "verification_ttl_minutes",
        "payment_link_template",
        "nlu_model_path",
        "twilio_from_number",
        "twilio_whatsapp_from",
        "telegram_api_url",
        "twilio_api_url",
        "business_name",
        "callback_number",
        "collector_number",
    }
)


class ConfigError(Exception):
    """Settings are missing or malformed; the message has one line per problem."""


class Settings(BaseSettings):
    """Everything an operator configures, typed and validated at start-up."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=ENV_FILE,
        env_file_encoding="utf-8",
        # `SETTLE_API_TOKEN=` in a file means "not set", not "an empty token".
        env_ignore_empty=True,
        # A misspelt SETTLE_* line in var/settle.env is reported rather than silently ignored.
        extra="forbid",
        frozen=True,
    )

    env: Environment = "development"
    database_url: str = "sqlite:///var/settle.db"
    encryption_key: SecretStr | None = Field(default=None, validate_default=True)
    api_token: SecretStr | None = Field(default=None, validate_default=True)
    public_base_url: str = "http://127.0.0.1:8000"
    jurisdiction: Jurisdiction = "us_reg_f"
    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from_number: str | None = None
    # The WhatsApp sender on the Twilio account ("+14155238886"); unset: WhatsApp is off.
    twilio_whatsapp_from: str | None = None
    # Where API requests go instead of the providers themselves (a local Bot API server, a
    # regional edge or an egress proxy); unset: api.telegram.org and *.twilio.com.
    telegram_api_url: str = "https://api.telegram.org"
    twilio_api_url: str | None = None
    # Who calls and texts: said at the start of every call (US-TCPA-ID, US-CALLER-ID), and the
    # number a borrower can call back. The business name must not reveal debt collection.
    business_name: str = "Settle Demo Lending"
    callback_number: str = "+12025550143"
    # A collector line calls are transferred to (<Dial>); unset: a callback request is queued.
    collector_number: str | None = None
    # The shared secret a Rasa assistant sends to `settle rasa-actions` (endpoints.yml `token:`).
    rasa_action_token: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: LogLevel = "info"
    # US-RETENTION: audit streams are kept this many days after their last event (3 years).
    audit_retention_days: int = Field(default=1095, ge=1095)  # US-RETENTION floor
    # A verified borrower stays verified this long after their last message.
    verification_ttl_minutes: int = Field(default=30, ge=1, le=24 * 60)
    # The payment page a borrower is sent to; {loan_ref} and {amount} are filled in.
    payment_link_template: str = "https://pay.example.com/settle/{loan_ref}?amount={amount}"
    nlu_model_path: Path = Path("var") / "nlu" / "intent-model.npz"

    @field_validator("env", "jurisdiction", "log_level", mode="before")
    @classmethod
    def _lowercase(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        try:
            url = make_url(value.strip())
        except ArgumentError:
            raise ValueError(
                "not a database URL; expected sqlite:///path/to/file.db or "
                "postgresql://user:password@host:port/database"
            ) from None
        if url.get_backend_name() not in SUPPORTED_DATABASES:
            raise ValueError(
                f"{url.get_backend_name()} is not supported; use a sqlite:/// or postgresql:// URL"
            )
        return value.strip()

    @field_validator("encryption_key")
    @classmethod
    def _check_encryption_key(
        cls, value: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        if value is None:
            _require_outside_development(info, "create one with `settle keygen`")
            return None
        try:
            decode_key(value.get_secret_value())
        except PiiKeyError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("api_token")
    @classmethod
    def _check_api_token(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None:
            _require_outside_development(info, "use a long random string")
            return None
        if len(value.get_secret_value()) < API_TOKEN_MIN_LENGTH:
            raise ValueError(f"must be at least {API_TOKEN_MIN_LENGTH} characters long")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _check_public_base_url(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("http://", "https://")) or len(value) <= len("https://"):
            raise ValueError(
                "must be an http:// or https:// URL, such as https://settle.example.com"
            )
        # Routes are appended to it ("/webhooks/..."), so keep one canonical form.
        return value.rstrip("/")

    @field_validator("payment_link_template")
    @classmethod
    def _check_payment_link_template(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        try:
            value.format(loan_ref="L-1", amount="1.00")
        except (KeyError, IndexError, ValueError):
            raise ValueError("may use only the placeholders {loan_ref} and {amount}") from None
        return value

    @field_validator("telegram_bot_token")
    @classmethod
    def _check_bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(
            r"[0-9]{3,}:[A-Za-z0-9_-]{20,}", value.get_secret_value().strip()
        ):
            raise ValueError("not a Telegram bot token (123456:ABC-..., as @BotFather gives it)")
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram's own limits on secret_token; 16 is Settle's floor against guessing.
        if value is not None and not re.fullmatch(
            r"[A-Za-z0-9_-]{16,256}", value.get_secret_value()
        ):
            raise ValueError("must be 16 to 256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("telegram_api_url", "twilio_api_url")
    @classmethod
    def _check_api_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("twilio_from_number", "callback_number", "collector_number")
    @classmethod
    def _check_phone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        number = _e164(value)
        if number is None:
            raise ValueError("must be a phone number in international form, such as +12025550143")
        return number

    @field_validator("twilio_whatsapp_from")
    @classmethod
    def _check_whatsapp(cls, value: str | None) -> str | None:
        if value is None:
            return None
        number = _e164(value.strip().removeprefix("whatsapp:"))
        if number is None:
            raise ValueError("must be a number in international form, such as +14155238886")
        return number

    @field_validator("business_name")
    @classmethod
    def _check_business_name(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("must not be empty")
        return value

    def pii_cipher(self) -> PiiCipher:
        """The cipher for personal data; `ConfigError` when no key is configured."""
        if self.encryption_key is None:
            raise ConfigError(
                f"{ENV_PREFIX}ENCRYPTION_KEY: not set; run `settle init` to write one to "
                f"{ENV_FILE}, or set it to the output of `settle keygen`"
            )
        return PiiCipher.from_text(self.encryption_key.get_secret_value())


def _e164(value: str) -> str | None:
    try:
        number = phonenumbers.parse(value.strip(), None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _require_outside_development(info: ValidationInfo, hint: str) -> None:
    # `env` is declared first, so it is already validated here (absent only if it was invalid,
    # in which case that error is the one to report).
    env = info.data.get("env")
    if env is not None and env != "development":
        raise ValueError(f"required when {ENV_PREFIX}ENV={env}; {hint}")


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and `var/settle.env`; keyword arguments win over both."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError("\n".join(_describe(error) for error in exc.errors())) from None


def variable_name(field: str) -> str:
    """The environment variable behind a settings field."""
    return f"{ENV_PREFIX}{field.upper()}"


def _describe(error: ErrorDetails) -> str:
    field = str(error["loc"][0]) if error["loc"] else ""
    name = variable_name(field) if field else "settings"
    kind = error["type"]
    if kind == "extra_forbidden":
        # Lines of the env file arrive with their prefix still on ("settle_databse_url").
        name = field.upper() if field.upper().startswith(ENV_PREFIX) else name
        return f"{name}: not a setting Settle knows (check the spelling in {ENV_FILE})"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        problem = f"must be one of {expected}".replace("'", "")
    elif kind == "value_error":
        problem = str(error.get("ctx", {}).get("error", error["msg"]))
    else:
        problem = error["msg"][:1].lower() + error["msg"][1:]
    if field in _QUOTABLE and kind != "missing":
        problem += f" (got {error['input']!r})"
    return f"{name}: {problem}"
