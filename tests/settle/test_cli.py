"""The `settle` command line: init, keygen, database migrations, and one-line errors."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models import PiiCipher
from settle.cli import app, main
from tests.conftest import TEST_KEY

runner = CliRunner()


def test_upgrade_then_current(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    monkeypatch.setenv("SETTLE_DATABASE_URL", database_url)
    monkeypatch.setenv("SETTLE_ENCRYPTION_KEY", TEST_KEY)

    before = runner.invoke(app, ["db", "current"])
    assert before.exit_code == 0, before.output
    assert "current:  none" in before.output
    assert "run `settle db upgrade`" in before.output

    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert "upgraded from none" in upgraded.output

    after = runner.invoke(app, ["db", "current"])
    assert after.exit_code == 0, after.output
    lines = dict(line.split(":", 1) for line in after.output.splitlines())
    assert lines["current"].strip() == lines["head"].strip()

    again = runner.invoke(app, ["db", "upgrade"])
    assert "already at" in again.output


def test_upgrade_creates_the_directory_of_a_relative_sqlite_file(
    monkeypatch: pytest.MonkeyPatch, clean_environment: Path
) -> None:
    monkeypatch.setenv("SETTLE_ENCRYPTION_KEY", TEST_KEY)
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (clean_environment / "var" / "settle.db").is_file()


def test_init_writes_the_env_file_once(clean_environment: Path) -> None:
    env_file = clean_environment / "var" / "settle.env"

    first = runner.invoke(app, ["init"])
    assert first.exit_code == 0, first.output
    assert "wrote var/settle.env" in first.output
    written = env_file.read_text()
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    values = dict(
        line.split("=", 1) for line in written.splitlines() if line and not line.startswith("#")
    )
    PiiCipher.from_text(values["SETTLE_ENCRYPTION_KEY"])
    assert len(values["SETTLE_API_TOKEN"]) >= 16

    second = runner.invoke(app, ["init"])
    assert second.exit_code == 0, second.output
    assert "already exists" in second.output
    assert env_file.read_text() == written


def test_init_refuses_outside_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SETTLE_ENV", "production")
    monkeypatch.setenv("SETTLE_ENCRYPTION_KEY", TEST_KEY)
    monkeypatch.setenv("SETTLE_API_TOKEN", "a-long-enough-api-token")
    result = runner.invoke(app, ["init"])
    assert result.exit_code != 0
    assert not Path("var/settle.env").exists()


def test_keygen_prints_a_usable_key() -> None:
    result = runner.invoke(app, ["keygen"])
    assert result.exit_code == 0
    PiiCipher.from_text(result.output.strip())


def test_main_reports_a_config_error_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SETTLE_JURISDICTION", "mars")
    monkeypatch.setattr(sys, "argv", ["settle", "db", "current"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        "settle: SETTLE_JURISDICTION: must be one of us_reg_f, cn or uk (got 'mars')\n"
    )


def test_missing_key_in_development_points_to_init(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["settle", "db", "upgrade"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    assert capsys.readouterr().err.startswith(
        "settle: SETTLE_ENCRYPTION_KEY: not set; run `settle init`"
    )
