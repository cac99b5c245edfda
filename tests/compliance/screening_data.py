"""Readers for our own hand-written labelled collections lines in tests/compliance/data/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DATA = Path(__file__).parent / "data"


def labelled_lines(language: str) -> list[tuple[int, str]]:
    """(label, text) pairs of abuse_<language>.tsv: 1 abusive, 0 not."""
    rows = []
    for line in (DATA / f"abuse_{language}.tsv").read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        label, text = line.split("\t", 1)
        rows.append((int(label), text))
    return rows


def outbound_cases() -> dict[str, list[dict[str, Any]]]:
    """outbound_cases.yaml: lines the outbound screen must block, and lines it must allow."""
    data: dict[str, list[dict[str, Any]]] = yaml.safe_load(
        (DATA / "outbound_cases.yaml").read_text(encoding="utf-8")
    )
    return data
