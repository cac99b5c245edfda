"""Screening a borrower's message: abuse, opt-out, holds, vulnerability and distress.

`screen_inbound` never decides what happens next; it names what the message says so the caller
can act: place the holds it lists at once (US-CEASE, US-ATTORNEY, bankruptcy, US-VALIDATION),
record an opt-out (US-OPTOUT), answer abuse calmly and hand repeated abuse, distress or any
self-harm cue to a human (ALL-ABUSE-INBOUND, UK-VULNERABLE). English and Chinese patterns are
both searched whatever `language` says, so mixed-language lines are read in full.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum

from compliance.screening.abuse import AbuseAssessment, AbuseDetector
from compliance.screening.lexicon import (
    Match,
    PatternSet,
    keyword_form,
    load_data,
    normalize,
    pattern_sets,
)
from models import HoldKind


class InboundFlag(StrEnum):
    """What an inbound message says that the system must act on."""

    ABUSE = "abuse"
    OPT_OUT = "opt_out"
    START = "start"
    HELP = "help"
    CEASE = "cease"
    ATTORNEY = "attorney"
    BANKRUPTCY = "bankruptcy"
    DISPUTE = "dispute"
    WRONG_PERSON = "wrong_person"
    VULNERABILITY = "vulnerability"
    SELF_HARM = "self_harm"


class Cue(StrEnum):
    """Kinds of vulnerability and distress a message may show (UK-VULNERABLE)."""

    SELF_HARM = "self_harm"
    ILLNESS = "illness"
    BEREAVEMENT = "bereavement"
    JOB_LOSS = "job_loss"
    HARDSHIP = "hardship"
    DISTRESS = "distress"


# Flags that are account holds: the caller places them the moment the message arrives.
HOLD_FOR_FLAG: dict[InboundFlag, HoldKind] = {
    InboundFlag.CEASE: HoldKind.CEASE,
    InboundFlag.ATTORNEY: HoldKind.ATTORNEY,
    InboundFlag.BANKRUPTCY: HoldKind.BANKRUPTCY,
    InboundFlag.DISPUTE: HoldKind.DISPUTE,
}
# The pattern categories of inbound.yaml that map one to one onto flags.
_SIMPLE_FLAGS = (
    InboundFlag.OPT_OUT,
    InboundFlag.START,
    InboundFlag.HELP,
    InboundFlag.CEASE,
    InboundFlag.ATTORNEY,
    InboundFlag.BANKRUPTCY,
    InboundFlag.DISPUTE,
    InboundFlag.WRONG_PERSON,
)


@dataclass(frozen=True)
class InboundScreen:
    """What a borrower's message says: flags, the holds to place, cues, and the abuse verdict.

    `urgent` is set by a self-harm cue: a person must see the conversation now.
    `matches` lists each pattern hit (category and matched text) for reviewers.
    """

    flags: frozenset[InboundFlag]
    holds: tuple[HoldKind, ...]
    cues: tuple[Cue, ...]
    urgent: bool
    abuse: AbuseAssessment
    matches: tuple[Match, ...]

    @property
    def abusive(self) -> bool:
        return self.abuse.abusive

    @property
    def needs_human(self) -> bool:
        """Hand the conversation to a person: a hold, a vulnerability cue, a threat or self-harm."""
        return bool(self.holds) or bool(self.cues) or self.abuse.threat


@dataclass(frozen=True)
class _InboundPatterns:
    flags: dict[InboundFlag, PatternSet]
    cues: dict[Cue, PatternSet]


@functools.cache
def _inbound_patterns() -> _InboundPatterns:
    data = load_data("inbound.yaml")
    simple = pattern_sets({flag.value: data[flag.value] for flag in _SIMPLE_FLAGS})
    cues = pattern_sets(data["vulnerability"])
    return _InboundPatterns(
        flags={flag: simple[flag.value] for flag in _SIMPLE_FLAGS},
        cues={Cue(name): patterns for name, patterns in cues.items()},
    )


@functools.cache
def _lexicon_only_detector() -> AbuseDetector:
    return AbuseDetector()


def screen_inbound(
    text: str, language: str, *, detector: AbuseDetector | None = None
) -> InboundScreen:
    """Screen one inbound message.

    `language` ("en" or "zh") is the conversation's language; both languages' patterns run
    regardless. `detector` carries the abuse models (with the shared encoder when the composition
    root has one); without it, lexicons and the Chinese character model are used.
    """
    del language  # Patterns of both languages always run: mixed lines are common.
    patterns = _inbound_patterns()
    normalized = normalize(text)
    keyword = keyword_form(normalized)
    flags: set[InboundFlag] = set()
    matches: list[Match] = []
    for flag, flag_patterns in patterns.flags.items():
        hit = flag_patterns.search(normalized, keyword)
        if hit is not None:
            flags.add(flag)
            matches.append(hit)
    cues: list[Cue] = []
    for cue, cue_patterns in patterns.cues.items():
        hit = cue_patterns.search(normalized)
        if hit is not None:
            cues.append(cue)
            matches.append(hit)
    if cues:
        flags.add(InboundFlag.VULNERABILITY)
    if Cue.SELF_HARM in cues:
        flags.add(InboundFlag.SELF_HARM)
    abuse = (detector or _lexicon_only_detector()).assess(text)
    if abuse.abusive:
        flags.add(InboundFlag.ABUSE)
        matches.extend(abuse.matches)
    holds = tuple(hold for flag, hold in HOLD_FOR_FLAG.items() if flag in flags)
    return InboundScreen(
        flags=frozenset(flags),
        holds=holds,
        cues=tuple(cues),
        urgent=Cue.SELF_HARM in cues,
        abuse=abuse,
        matches=tuple(matches),
    )
