"""`settle seed` and `settle import` against a migrated database, as an operator runs them."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from settle.cli import app
from tests.conftest import TEST_KEY

runner = CliRunner()


@pytest.fixture
def migrated(monkeypatch: pytest.MonkeyPatch, database_url: str) -> str:
    monkeypatch.setenv("SETTLE_DATABASE_URL", database_url)
    monkeypatch.setenv("SETTLE_ENCRYPTION_KEY", TEST_KEY)
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    return database_url


def test_seed_if_empty_seeds_once(migrated: str) -> None:
    first = runner.invoke(app, ["seed", "--loans", "120", "--seed", "3", "--as-of", "2026-11-22"])
    assert first.exit_code == 0, first.output
    assert "added 120 loans" in first.output
    assert "buckets: current" in first.output
    assert "written off" in first.output
    again = runner.invoke(app, ["seed", "--if-empty"])
    assert again.exit_code == 0, again.output
    assert "already has loans" in again.output


def test_seed_refuses_a_bad_date(migrated: str) -> None:
    result = runner.invoke(app, ["seed", "--as-of", "22/11/2026"])
    assert result.exit_code == 2
    assert "is not a date" in result.output


def test_import_reports_bad_lines_and_keeps_nothing(migrated: str, tmp_path: Path) -> None:
    loans = tmp_path / "loans.csv"
    loans.write_text(
        "borrower_ref,full_name,country,phone,loan_ref,principal,currency,annual_rate,"
        "term_months,disbursed_on\n"
        "C-B1,Ada Park,US,+1 212 555 0101,C-L1,1000.00,USD,0.1,12,2025-01-15\n"
        "C-B2,Ben Okafor,GB,+44 20 7946 0123,C-L2,1000.00,GBP,0.1,0,2025-01-15\n"
    )
    failed = runner.invoke(app, ["import", str(loans)])
    assert failed.exit_code == 1
    assert "line 3: term_months must be between 1 and 600" in failed.output
    assert "nothing imported" in failed.output

    payments = tmp_path / "payments.csv"
    payments.write_text("loan_ref,amount,currency,received_on\nC-L1,50.00,USD,2025-02-15\n")
    missing = runner.invoke(app, ["import", str(payments)])
    assert missing.exit_code == 1
    assert "line 2: no loan with external_ref 'C-L1'" in missing.output  # line 2 was not kept

    loans.write_text(loans.read_text().replace(",0,2025-01-15", ",12,2025-01-15"))
    loaded = runner.invoke(app, ["import", str(loans)])
    assert loaded.exit_code == 0, loaded.output
    assert "2 loans rows imported (2 borrowers, 2 loans, 0 payments)" in loaded.output
    posted = runner.invoke(app, ["import", str(payments)])
    assert posted.exit_code == 0, posted.output
    assert "1 payments rows imported" in posted.output
