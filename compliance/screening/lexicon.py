"""Text normalisation and the compiled pattern sets read from the package's YAML data files.

Every screen matches patterns against one normalised form of the text, so the data files can be
written in plain lower case. A category's English and Chinese patterns are joined into one
alternation each and compiled once per process.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

_SPACE = re.compile(r"\s+")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
# Characters people substitute for letters to slip past a word list ("sh1t", "b!tch", "a$$").
# Asterisks ("f*ck", "sh*t") stand for different letters, so the patterns allow them instead.
_LOOKALIKES = str.maketrans(
    {"1": "i", "!": "i", "|": "i", "0": "o", "3": "e", "@": "a", "$": "s", "5": "s", "4": "a"}
)
# Letters separated by single spaces or dots ("f u c k", "s.h.i.t") joined back into a word.
_SPACED_LETTERS = re.compile(r"\b(?:[a-z][ .](?=[a-z]\b)){2,}[a-z]\b")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[a-z][a-z'*@$!0-9]*")
_KEYWORD_STRIP = re.compile(r"[\s\W_]+")


def normalize(text: str) -> str:
    """NFKC (full-width to half-width), lower case, plain apostrophes, single spaces."""
    folded = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).casefold()
    return _SPACE.sub(" ", folded).strip()


def fold_lookalikes(normalized: str) -> str:
    """The normalised text with look-alike characters read as letters and spaced letters joined."""
    folded = normalized.translate(_LOOKALIKES)
    return _SPACED_LETTERS.sub(lambda m: re.sub(r"[ .]", "", m.group(0)), folded)


def keyword_form(normalized: str) -> str:
    """The text as a whole-message keyword: punctuation and spaces dropped ("Stop." -> "stop")."""
    return _KEYWORD_STRIP.sub("", normalized)


def has_cjk(text: str) -> bool:
    """Whether the text holds any Chinese character."""
    return _CJK.search(text) is not None


def latin_part(normalized: str) -> str:
    """The text with Chinese characters removed: what an English-only model should see."""
    return _SPACE.sub(" ", _CJK.sub(" ", normalized)).strip()


def latin_word_count(normalized: str) -> int:
    """How many Latin-script words the text holds."""
    return len(_LATIN_WORD.findall(normalized))


@dataclass(frozen=True)
class Match:
    """One pattern hit: which category matched and the text it matched."""

    category: str
    matched: str


class PatternSet:
    """One category's patterns, English and Chinese, plus whole-message keywords."""

    def __init__(
        self,
        category: str,
        *,
        en: Iterable[str] = (),
        zh: Iterable[str] = (),
        keywords: Iterable[str] = (),
    ) -> None:
        self.category = category
        alternatives = [f"(?:{p})" for p in (*en, *zh)]
        self._regex = re.compile("|".join(alternatives)) if alternatives else None
        self.keywords = frozenset(keyword_form(normalize(k)) for k in keywords)

    def search(self, normalized: str, keyword: str | None = None) -> Match | None:
        """The first hit in the normalised text, or the whole text when it is a keyword."""
        if keyword is not None and keyword in self.keywords:
            return Match(self.category, keyword)
        if self._regex is None:
            return None
        hit = self._regex.search(normalized)
        return Match(self.category, hit.group(0)) if hit else None


def load_data(name: str) -> Any:
    """Parse one YAML data file shipped in compliance/screening/data/."""
    source = resources.files("compliance.screening").joinpath("data", name)
    return yaml.safe_load(source.read_text(encoding="utf-8"))


def pattern_sets(entries: Mapping[str, Any]) -> dict[str, PatternSet]:
    """Compile `{category: {en: [...], zh: [...], keywords: [...]}}` into pattern sets."""
    for category, spec in entries.items():
        for key in ("en", "zh", "keywords"):
            for item in spec.get(key) or ():
                if not isinstance(item, str):
                    # YAML reads an unquoted "(?: is" as a mapping; say so instead of failing
                    # inside the regex compiler.
                    raise ValueError(f"{category}.{key}: {item!r} is not a string pattern")
    return {
        category: PatternSet(
            category,
            en=spec.get("en") or (),
            zh=spec.get("zh") or (),
            keywords=spec.get("keywords") or (),
        )
        for category, spec in entries.items()
    }


@functools.cache
def abuse_patterns() -> dict[str, PatternSet]:
    """abuse.yaml: profanity, insult, threat."""
    return pattern_sets(load_data("abuse.yaml"))


@functools.cache
def outbound_patterns() -> dict[str, PatternSet]:
    """outbound.yaml: collections threats, false claims, pressure, debt detail."""
    return pattern_sets(load_data("outbound.yaml"))
