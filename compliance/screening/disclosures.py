"""Per-jurisdiction screening rules (rules.yaml) and the disclosures a message must carry.

`screening_rules(name)` reads one profile's block of rules.yaml: which reason code each kind of
finding gets, and which disclosures apply. `add_disclosures` appends those that apply to a message
in the message's language, unless the message already says them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any

import yaml

from compliance.screening.lexicon import has_cjk
from models import Channel

MINI_MIRANDA = "US-MINI-MIRANDA"
OPTOUT_NOTICE = "US-OPTOUT-NOTICE"
LANGUAGES = ("en", "zh")


@functools.cache
def _rules_data() -> Any:
    source = resources.files("compliance.screening").joinpath("rules.yaml")
    return yaml.safe_load(source.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class ScreeningRules:
    """What one jurisdiction profile enforces on message content.

    `codes` maps a finding category (abuse, insult, threat_*, false_claim, pressure_*,
    debt_detail) to its reason code; a category not in it is not enforced under this profile.
    `disclosures` names the disclosures required (US-MINI-MIRANDA, US-OPTOUT-NOTICE).
    `texts[code][variant][language]` holds their wording.
    """

    name: str
    codes: MappingProxyType[str, str]
    disclosures: tuple[str, ...]
    electronic_channels: frozenset[Channel]
    texts: MappingProxyType[str, MappingProxyType[str, MappingProxyType[str, str]]]


def known_profiles() -> tuple[str, ...]:
    """The profile names rules.yaml defines."""
    return tuple(_rules_data()["profiles"])


@functools.cache
def screening_rules(name: str) -> ScreeningRules:
    """One profile's screening rules; an unknown name raises KeyError naming the known ones."""
    data = _rules_data()
    profiles = data["profiles"]
    if name not in profiles:
        raise KeyError(f"no screening rules for profile {name!r}; known: {', '.join(profiles)}")
    profile = profiles[name]
    texts = {
        code: MappingProxyType(
            {variant: MappingProxyType(dict(by_language)) for variant, by_language in spec.items()}
        )
        for code, spec in data["disclosures"].items()
    }
    return ScreeningRules(
        name=name,
        codes=MappingProxyType(dict(profile["codes"])),
        disclosures=tuple(profile["disclosures"]),
        electronic_channels=frozenset(Channel(c) for c in data["electronic_channels"]),
        texts=MappingProxyType(texts),
    )


def message_language(language: str) -> str:
    """The disclosure language for a conversation language tag ("zh-CN" -> "zh")."""
    return "zh" if language.lower().startswith("zh") else "en"


def written_language(text: str, language: str) -> str:
    """The language a message is actually written in, for its disclosures.

    The script decides when it can (a Chinese message tagged "en" still gets the Chinese
    Mini-Miranda); the conversation's language decides for text without letters.
    """
    if has_cjk(text):
        return "zh"
    if any("a" <= ch.lower() <= "z" for ch in text):
        return "en"
    return message_language(language)


def required_disclosures(
    *,
    rules: ScreeningRules,
    language: str,
    channel: Channel,
    first_contact: bool,
    party_verified: bool,
) -> tuple[tuple[str, str], ...]:
    """The (code, text) disclosures a message needs, in the message's language.

    The Mini-Miranda goes only to a verified borrower: said to anyone else it would itself reveal
    the debt (US-THIRD-PARTY), and a message to an unverified party must be limited-content.
    """
    lang = message_language(language)
    needed: list[tuple[str, str]] = []
    if MINI_MIRANDA in rules.disclosures and party_verified:
        variant = "first" if first_contact else "later"
        needed.append((MINI_MIRANDA, rules.texts[MINI_MIRANDA][variant][lang]))
    if OPTOUT_NOTICE in rules.disclosures and channel in rules.electronic_channels:
        needed.append((OPTOUT_NOTICE, rules.texts[OPTOUT_NOTICE]["always"][lang]))
    return tuple(needed)


def _already_says(text: str, disclosure: str) -> bool:
    def squash(s: str) -> str:
        return "".join(ch for ch in s.casefold() if ch.isalnum())

    return squash(disclosure) in squash(text)


def add_disclosures(
    text: str, disclosures: tuple[tuple[str, str], ...], language: str
) -> tuple[str, tuple[str, ...]]:
    """The text with each disclosure it lacks appended, and the codes of those appended."""
    chinese = message_language(language) == "zh"
    joiner, full_stop = ("", "。") if chinese else (" ", ".")
    body = text.rstrip()
    added_texts: list[str] = []
    added: list[str] = []
    for code, disclosure in disclosures:
        if not _already_says(text, disclosure):
            added_texts.append(disclosure)
            added.append(code)
    if not added:
        return text, ()
    # End the message's own last sentence so the disclosure does not run into it.
    if body and body[-1] not in _SENTENCE_END:
        body += full_stop
    return joiner.join([body, *added_texts]) if body else joiner.join(added_texts), tuple(added)


_SENTENCE_END = frozenset(".!?。！？…")
