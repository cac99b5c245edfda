"""Building the dialogue engine from settings: the shared encoder, the NLU, the abuse screen.

The sentence encoder is loaded once per process and handed to both the NLU (dialogue) and the
abuse detector (compliance); compliance only knows the small protocol it declares.
"""

from __future__ import annotations

import functools
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from compliance.screening import AbuseDetector
from dialogue import Dialogue, DialogueSettings, Nlu, load_nlu
from dialogue.encoder import shared_encoder
from settle.settings import Settings

# The country whose numbering a phone typed without its country code is read in.
REGION_OF_JURISDICTION = {"us_reg_f": "US", "cn": "CN", "uk": "GB"}


def dialogue_settings(settings: Settings) -> DialogueSettings:
    return DialogueSettings(
        profile=settings.jurisdiction,
        default_region=REGION_OF_JURISDICTION[settings.jurisdiction],
        verification_ttl=timedelta(minutes=settings.verification_ttl_minutes),
        payment_link_template=settings.payment_link_template,
    )


@functools.cache
def shared_detector() -> AbuseDetector:
    """The abuse detector with the process's one encoder (cached, shared with the NLU)."""
    return AbuseDetector(encoder=shared_encoder())


def build_nlu(settings: Settings) -> Nlu:
    """The NLU, from the cached model at `settings.nlu_model_path` (trained first if stale)."""
    return load_nlu(shared_encoder(), path=settings.nlu_model_path)


def build_dialogue(settings: Settings, sessions: sessionmaker[Session]) -> Dialogue:
    return Dialogue(
        sessions=sessions,
        nlu=build_nlu(settings),
        settings=dialogue_settings(settings),
        detector=shared_detector(),
    )
