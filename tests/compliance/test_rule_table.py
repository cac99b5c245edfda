"""docs/COMPLIANCE_RULES.md: one row per rule code of shared/COMPLIANCE.md, in its order, and
every enforcing function and test the table names exists.

The cross-check against shared/COMPLIANCE.md reads it beside the repository (`../shared`, where
CI clones it); without it that test is skipped and the table is still checked on its own.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "docs" / "COMPLIANCE_RULES.md"
SHARED = ROOT.parent / "shared" / "COMPLIANCE.md"
CODE = re.compile(r"[A-Z]{2,3}(?:-[A-Z0-9]+)+")
TICKED = re.compile(r"`([^`]+)`")
TEST_REF = re.compile(r"(tests/[\w/]+)\.py::(test_\w+)")


def table_rows() -> list[tuple[str, list[str], list[str]]]:
    """(code, enforcing functions, tests) per row of the rule table."""
    rows = []
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not CODE.fullmatch(cells[0]):
            continue
        rows.append((cells[0], TICKED.findall(cells[2]), TICKED.findall(cells[3])))
    return rows


def compliance_codes(text: str) -> list[str]:
    """The codes of shared/COMPLIANCE.md's tables, in order."""
    codes = []
    for line in text.splitlines():
        first = line.strip().strip("|").split("|")[0].strip()
        if line.startswith("|") and CODE.fullmatch(first):
            codes.append(first)
    return codes


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            found = getattr(found, name)
        return found
    raise ModuleNotFoundError(dotted)


def test_the_table_has_rows_each_with_functions_and_tests() -> None:
    rows = table_rows()
    assert len(rows) >= 30
    codes = [code for code, _, _ in rows]
    assert len(codes) == len(set(codes)), "a code has two rows"
    for code, functions, tests in rows:
        assert functions, f"{code}: no enforcing function"
        assert tests, f"{code}: no test"


def test_every_code_of_compliance_md_has_a_row_in_order() -> None:
    if not SHARED.exists():
        pytest.skip(f"{SHARED} is not beside the repository (CI clones shared/ there)")
    expected = compliance_codes(SHARED.read_text(encoding="utf-8"))
    assert expected, "no codes found in COMPLIANCE.md"
    assert [code for code, _, _ in table_rows()] == expected


def test_every_enforcing_function_exists() -> None:
    for code, functions, _ in table_rows():
        for dotted in functions:
            assert dotted.startswith("compliance."), f"{code}: {dotted}"
            assert callable(_resolve(dotted)), f"{code}: {dotted} is not callable"


def test_every_named_test_exists() -> None:
    for code, _, tests in table_rows():
        for ref in tests:
            match = TEST_REF.fullmatch(ref)
            assert match is not None, f"{code}: {ref} is not tests/<path>.py::test_<name>"
            path, function = match.groups()
            assert (ROOT / f"{path}.py").is_file(), f"{code}: no file {path}.py"
            module: ModuleType = importlib.import_module(path.replace("/", "."))
            assert callable(getattr(module, function, None)), f"{code}: {ref} is missing"


def test_contact_rule_tests_are_in_the_table() -> None:
    # RULE_TESTS (test_contact_rules.py) pins the contact-decision codes; the table names them
    # too, for every code both know.
    from tests.compliance.test_contact_rules import RULE_TESTS

    table = {code: set(tests) for code, _, tests in table_rows()}
    for code, tests in RULE_TESTS.items():
        if code not in table:
            continue  # Settle's own codes (ALL-BANKRUPTCY, ALL-NO-ADDRESS) are not in the table
        named = {f"tests/compliance/{t.replace('::', '.py::')}" for t in tests}
        assert named <= table[code], (code, named - table[code])
