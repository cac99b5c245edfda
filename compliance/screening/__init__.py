"""Screening what is said, both ways: abuse, holds and cues inbound; threats, claims, pressure,
debt detail and disclosures outbound.

The composition root builds one `AbuseDetector(encoder=...)` with the sentence encoder `dialogue`
loads and passes it to both screens; without it the screens use the lexicons, threat patterns
and the Chinese character model only.
"""

from compliance.screening.abuse import (
    AbuseAssessment,
    AbuseDetector,
    AbuseHeads,
    TextEncoder,
    load_heads,
)
from compliance.screening.disclosures import ScreeningRules, known_profiles, screening_rules
from compliance.screening.inbound import (
    HOLD_FOR_FLAG,
    Cue,
    InboundFlag,
    InboundScreen,
    screen_inbound,
)
from compliance.screening.lexicon import Match
from compliance.screening.outbound import (
    Author,
    Decision,
    Finding,
    OutboundContext,
    OutboundScreen,
    screen_outbound,
)

__all__ = [
    "HOLD_FOR_FLAG",
    "AbuseAssessment",
    "AbuseDetector",
    "AbuseHeads",
    "Author",
    "Cue",
    "Decision",
    "Finding",
    "InboundFlag",
    "InboundScreen",
    "Match",
    "OutboundContext",
    "OutboundScreen",
    "ScreeningRules",
    "TextEncoder",
    "known_profiles",
    "load_heads",
    "screen_inbound",
    "screen_outbound",
    "screening_rules",
]
