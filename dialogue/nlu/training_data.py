"""Reading NLU training data in Rasa's YAML format (`nlu.yml`).

Supported: `intent` blocks with `examples`, `synonym` blocks and `lookup` tables, as Rasa 3
writes them. Entity annotations inside examples (`[150 dollars](amount)`,
`[Friday]{"entity": "date"}`) are stripped to their text: Settle extracts entities with rules
(dialogue.nlu.entities), not from annotations. Anything else in the file (`regex`, `responses`
...) is refused by name, so a Rasa user moving over learns what was not read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dialogue.nlu.language import detect_language

_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


class TrainingDataError(ValueError):
    """A training file that cannot be read; the message names the file and the block."""


@dataclass(frozen=True)
class Example:
    """One labelled message."""

    text: str
    intent: str
    language: str


@dataclass
class TrainingData:
    """Examples, synonyms (variant -> canonical value) and lookup tables (name -> entries)."""

    examples: list[Example] = field(default_factory=list)
    synonyms: dict[str, str] = field(default_factory=dict)
    lookups: dict[str, list[str]] = field(default_factory=dict)

    @property
    def intents(self) -> list[str]:
        return sorted({example.intent for example in self.examples})

    def merge(self, other: TrainingData) -> TrainingData:
        lookups = {name: list(entries) for name, entries in self.lookups.items()}
        for name, entries in other.lookups.items():
            lookups.setdefault(name, []).extend(entries)
        return TrainingData(
            examples=[*self.examples, *other.examples],
            synonyms={**self.synonyms, **other.synonyms},
            lookups=lookups,
        )


def strip_annotations(text: str) -> str:
    """`"pay [150](amount) on [Friday](date)"` -> `"pay 150 on Friday"`."""
    return _ANNOTATION.sub(r"\1", text)


def _example_lines(block: Any, where: str) -> list[str]:
    raw = block.get("examples")
    if not isinstance(raw, str):
        raise TrainingDataError(f"{where}: `examples` must be a block of `- ` lines")
    lines: list[str] = []
    for line in raw.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("- "):
            raise TrainingDataError(f"{where}: example line {stripped!r} does not start with '- '")
        text = stripped[2:].strip()
        # YAML block text keeps quotes literally; Rasa files often quote examples.
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
            text = text[1:-1]
        if text:
            lines.append(text)
    return lines


def read_training_data(path: Path, *, language: str | None = None) -> TrainingData:
    """Read one Rasa `nlu.yml`; `language` labels its examples (else each is detected)."""
    try:
        # libyaml's loader when present: the pure-Python one takes seconds on these files.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506
    except (OSError, yaml.YAMLError) as exc:
        raise TrainingDataError(f"{path}: cannot read: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("nlu"), list):
        raise TrainingDataError(f"{path}: expected a mapping with an `nlu:` list")
    data = TrainingData()
    for number, block in enumerate(document["nlu"], start=1):
        where = f"{path}: nlu item {number}"
        if not isinstance(block, dict):
            raise TrainingDataError(f"{where}: expected a mapping")
        if "intent" in block:
            intent = str(block["intent"]).strip()
            if not intent:
                raise TrainingDataError(f"{where}: empty intent name")
            for line in _example_lines(block, f"{where} (intent {intent})"):
                text = strip_annotations(line)
                detected = language or detect_language(text) or "en"
                data.examples.append(Example(text=text, intent=intent, language=detected))
        elif "synonym" in block:
            canonical = str(block["synonym"]).strip()
            for line in _example_lines(block, f"{where} (synonym {canonical})"):
                data.synonyms[line.lower()] = canonical
        elif "lookup" in block:
            name = str(block["lookup"]).strip()
            data.lookups.setdefault(name, []).extend(
                _example_lines(block, f"{where} (lookup {name})")
            )
        else:
            kinds = ", ".join(sorted(str(key) for key in block))
            raise TrainingDataError(
                f"{where}: Settle reads intent, synonym and lookup blocks, not {kinds}"
            )
    return data


def read_many(paths: Iterable[tuple[Path, str | None]]) -> TrainingData:
    """Read and merge several files, each with its language label (or None to detect)."""
    data = TrainingData()
    for path, language in paths:
        data = data.merge(read_training_data(path, language=language))
    return data
