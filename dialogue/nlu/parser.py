"""Parsing one message: language, intent with its confidence, and entities.

`Nlu` is built once per process from a trained `IntentModel` and the shared sentence encoder.
A prediction under the model's threshold is reported as `out_of_scope`: the bot answers it with
the help menu and never acts on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from dialogue.nlu.entities import Entity, extract_entities
from dialogue.nlu.intents import OUT_OF_SCOPE
from dialogue.nlu.language import detect_language
from dialogue.nlu.model import Encoder, IntentModel

# Longer messages are cut before parsing: nobody types an essay to a collections bot, and the
# encoder's cost grows with length.
MAX_CHARACTERS = 1000


@dataclass(frozen=True)
class ParseResult:
    """What one message says, as far as the NLU can tell."""

    text: str
    intent: str  # out_of_scope when the best guess is under the threshold
    confidence: float
    entities: tuple[Entity, ...]
    language: str | None  # None: no letters to tell by ("1", "👍")
    ranking: tuple[tuple[str, float], ...]  # the best three guesses, before the threshold

    def first(self, kind: str) -> Entity | None:
        return next((entity for entity in self.entities if entity.kind == kind), None)

    def as_json(self) -> dict[str, Any]:
        """The JSON object `settle nlu parse` prints."""
        return {
            "text": self.text,
            "intent": self.intent,
            "confidence": round(self.confidence, 4),
            "entities": [
                {
                    "entity": entity.kind,
                    "value": _json_value(entity.value),
                    "text": entity.text,
                    "start": entity.start,
                    "end": entity.end,
                }
                for entity in self.entities
            ],
            "language": self.language,
            "ranking": [{"intent": name, "confidence": round(p, 4)} for name, p in self.ranking],
        }


def _json_value(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


class Nlu:
    """Intent, entities and language of borrowers' messages."""

    def __init__(self, model: IntentModel, encoder: Encoder) -> None:
        self.model = model
        self._encoder = encoder

    @property
    def threshold(self) -> float:
        return self.model.threshold

    def parse(self, text: str, *, today: date) -> ParseResult:
        return self.parse_many([text], today=today)[0]

    def parse_many(self, texts: Sequence[str], *, today: date) -> list[ParseResult]:
        """Parse a batch in one encoder pass (evaluation, bulk checks)."""
        cut = [text[:MAX_CHARACTERS] for text in texts]
        probabilities = self.model.probabilities(cut, self._encoder.encode(cut))
        results: list[ParseResult] = []
        for text, row in zip(cut, probabilities, strict=True):
            order = row.argsort()[::-1][:3]
            ranking = tuple((self.model.classes[i], float(row[i])) for i in order)
            best, confidence = ranking[0]
            language = detect_language(text)
            results.append(
                ParseResult(
                    text=text,
                    intent=best if confidence >= self.model.threshold else OUT_OF_SCOPE,
                    confidence=confidence,
                    entities=extract_entities(text, language=language or "en", today=today),
                    language=language,
                    ranking=ranking,
                )
            )
        return results
