"""Measuring the NLU: per-intent precision, recall and F1 on the held-out split, the intents it
confuses, and how often unrelated sentences would make the bot act (the false-action rate).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

from dialogue.nlu.intents import ACTION_INTENTS
from dialogue.nlu.parser import Nlu
from dialogue.nlu.store import DataFiles
from dialogue.nlu.training_data import Example, read_many


@dataclass(frozen=True)
class IntentScore:
    intent: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class LanguageReport:
    language: str
    examples: int
    accuracy: float
    macro_f1: float
    intents: tuple[IntentScore, ...]
    confusions: tuple[tuple[str, str, int], ...]  # (true, predicted, count), most first


@dataclass(frozen=True)
class FalseActionReport:
    language: str
    sentences: int
    actions: int
    offenders: tuple[tuple[str, str, float], ...]  # (text, intent, confidence)

    @property
    def rate(self) -> float:
        return self.actions / self.sentences if self.sentences else 0.0


def score(examples: list[Example], predicted: list[str], language: str) -> LanguageReport:
    truth = [example.intent for example in examples]
    labels = sorted(set(truth) | set(predicted))
    scores: list[IntentScore] = []
    for label in labels:
        tp = sum(t == p == label for t, p in zip(truth, predicted, strict=True))
        fp = sum(p == label and t != label for t, p in zip(truth, predicted, strict=True))
        fn = sum(t == label and p != label for t, p in zip(truth, predicted, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        support = sum(t == label for t in truth)
        if support:
            scores.append(IntentScore(label, precision, recall, f1, support))
    confusions = Counter((t, p) for t, p in zip(truth, predicted, strict=True) if t != p)
    accuracy = sum(t == p for t, p in zip(truth, predicted, strict=True)) / len(truth)
    return LanguageReport(
        language=language,
        examples=len(truth),
        accuracy=accuracy,
        macro_f1=sum(s.f1 for s in scores) / len(scores) if scores else 0.0,
        intents=tuple(scores),
        confusions=tuple((t, p, n) for (t, p), n in confusions.most_common()),
    )


def evaluate_held_out(nlu: Nlu, files: DataFiles, *, today: date) -> list[LanguageReport]:
    """Scores on each language's held-out split; low confidence counts as out_of_scope."""
    reports = []
    for path, language in files.test:
        examples = read_many([(path, language)]).examples
        parsed = nlu.parse_many([example.text for example in examples], today=today)
        reports.append(score(examples, [result.intent for result in parsed], language))
    return reports


def false_actions(nlu: Nlu, files: DataFiles, *, today: date) -> list[FalseActionReport]:
    """Per language: how many unrelated sentences the bot would act on."""
    reports = []
    for path, language in files.unrelated:
        texts = [example.text for example in read_many([(path, language)]).examples]
        parsed = nlu.parse_many(texts, today=today)
        offenders = tuple(
            (result.text, result.intent, result.confidence)
            for result in parsed
            if result.intent in ACTION_INTENTS
        )
        reports.append(FalseActionReport(language, len(texts), len(offenders), offenders))
    return reports
