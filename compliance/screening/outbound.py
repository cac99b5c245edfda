"""Screening what Settle or a collector is about to send, and adding the required disclosures.

`screen_outbound` blocks a message that is abusive (lexicons, threat patterns, trained models),
threatens (violence, arrest, seizure, telling employer or family, legal action), claims to be an
attorney, police, court, government or credit bureau, uses pressure the profile forbids, or
reveals a debt to a party not yet verified. Each finding carries the reason code the profile
gives it (rules.yaml). An allowed message comes back as `text_to_send`, with the Mini-Miranda
and opt-out line appended in its language where the profile requires them. Bot replies and
messages human collectors write go through the same screen.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum

from compliance.screening.abuse import AbuseAssessment, AbuseDetector
from compliance.screening.disclosures import (
    ScreeningRules,
    add_disclosures,
    required_disclosures,
    screening_rules,
    written_language,
)
from compliance.screening.lexicon import fold_lookalikes, normalize, outbound_patterns
from models import Channel

DEBT_DETAIL = "debt_detail"
ABUSE = "abuse"


class Decision(StrEnum):
    ALLOW = "allow"
    BLOCK = "block"


class Author(StrEnum):
    """Who wrote the message; the screen is the same, the record says who."""

    BOT = "bot"
    COLLECTOR = "collector"


@dataclass(frozen=True)
class OutboundContext:
    """What the screen needs to know about the message's circumstances.

    `profile` names a block of rules.yaml (us_reg_f, cn, uk). `first_contact` is the first
    communication with the borrower about this debt (full Mini-Miranda); `party_verified` says
    identity is verified, without which no debt detail may be sent.
    """

    profile: str = "us_reg_f"
    channel: Channel = Channel.SMS
    first_contact: bool = False
    party_verified: bool = False
    author: Author = Author.BOT


@dataclass(frozen=True)
class Finding:
    """One reason to block: the kind of content, the rule code it breaks, the matched text."""

    category: str
    code: str
    matched: str


@dataclass(frozen=True)
class OutboundScreen:
    """The decision on one outbound message.

    `reasons` are the distinct rule codes of the findings, in order found. `text_to_send` is the
    message with its disclosures (codes in `disclosures`) when allowed, None when blocked.
    """

    decision: Decision
    reasons: tuple[str, ...]
    findings: tuple[Finding, ...]
    text_to_send: str | None
    disclosures: tuple[str, ...]
    abuse: AbuseAssessment
    author: Author

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW


@functools.cache
def _lexicon_only_detector() -> AbuseDetector:
    return AbuseDetector()


def _content_findings(text: str, rules: ScreeningRules, *, verified: bool) -> list[Finding]:
    normalized = normalize(text)
    folded = fold_lookalikes(normalized)
    findings = []
    for category, patterns in outbound_patterns().items():
        code = rules.codes.get(category)
        if code is None or (category == DEBT_DETAIL and verified):
            continue
        hit = patterns.search(normalized)
        # Insults typed with look-alike characters count; amounts must be read as written.
        if hit is None and category != DEBT_DETAIL and folded != normalized:
            hit = patterns.search(folded)
        if hit is not None:
            findings.append(Finding(category, code, hit.matched))
    return findings


def screen_outbound(
    text: str,
    language: str,
    context: OutboundContext,
    *,
    detector: AbuseDetector | None = None,
) -> OutboundScreen:
    """Screen one outbound message under `context.profile`'s rules.

    `detector` carries the abuse models (with the shared encoder when the composition root has
    one); without it, lexicons and the Chinese character model are used.
    """
    rules = screening_rules(context.profile)
    findings = _content_findings(text, rules, verified=context.party_verified)
    # Strict thresholds: a model's false alarm here would block a legitimate message.
    abuse = (detector or _lexicon_only_detector()).assess(text, strict=True)
    if abuse.abusive and ABUSE in rules.codes:
        matched = abuse.matches[0].matched if abuse.matches else f"model score {abuse.score:.2f}"
        findings.insert(0, Finding(ABUSE, rules.codes[ABUSE], matched))
    reasons = tuple(dict.fromkeys(f.code for f in findings))
    if findings:
        return OutboundScreen(
            decision=Decision.BLOCK,
            reasons=reasons,
            findings=tuple(findings),
            text_to_send=None,
            disclosures=(),
            abuse=abuse,
            author=context.author,
        )
    written_in = written_language(text, language)
    needed = required_disclosures(
        rules=rules,
        language=written_in,
        channel=context.channel,
        first_contact=context.first_contact,
        party_verified=context.party_verified,
    )
    to_send, added = add_disclosures(text, needed, written_in)
    return OutboundScreen(
        decision=Decision.ALLOW,
        reasons=(),
        findings=(),
        text_to_send=to_send,
        disclosures=added,
        abuse=abuse,
        author=context.author,
    )
