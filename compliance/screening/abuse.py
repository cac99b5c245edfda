"""Abusive-language detection: curated lexicons and threat patterns plus trained classifiers.

A message is abusive when a lexicon or threat pattern (data/abuse.yaml) matches it, or when a
trained model scores it at or above that model's threshold. Two models ship in heads/:

- `en_minilm.npz`: a logistic head on the all-MiniLM-L6-v2 sentence embedding, trained on the
  Davidson tweets. It needs an encoder, which this package does not load: the composition root
  hands in the one `dialogue` loads, through the `TextEncoder` protocol below.
- `zh_char.npz`: TF-IDF over character 1-3 grams with a logistic head, trained on COLD. It needs
  nothing but numpy, so the Chinese model always runs.

Without an encoder, English relies on the lexicons alone. The models are applied by script, not
by the `language` the caller names, so mixed-language lines are read by both: the Chinese model
when the text holds Chinese characters, the English head on the text's Latin-script part when
it holds at least two Latin words. `training.py` reproduces the head files.

Each head carries two thresholds. `threshold` (0.5) is used on inbound messages, where a false
alarm costs a calm reply. `strict_threshold` is used on outbound messages, where a false alarm
blocks a legitimate reminder: the lowest score that flagged at most 2% of the non-abusive rows in
5-fold cross-validation on the head's training part. The public sets are tweets and social-media
comments, not collections messages, so on our own lines the models are the weaker half of the
screen and the lexicons carry most of the recall (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from compliance.screening.lexicon import (
    Match,
    abuse_patterns,
    fold_lookalikes,
    has_cjk,
    latin_part,
    latin_word_count,
    normalize,
)

EN_HEAD_FILE = "en_minilm.npz"
ZH_HEAD_FILE = "zh_char.npz"
# The English head sees only the Latin part of a mixed line, and only when there is enough of it
# for an embedding to mean something.
MIN_LATIN_WORDS = 2
# sklearn's word analyzer token pattern, reproduced so a trained word-n-gram head reads the same.
_WORD_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_MULTI_SPACE = re.compile(r"\s\s+")


class TextEncoder(Protocol):
    """What the abuse screen needs from a sentence encoder: texts in, one vector per text out."""

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Row i is the embedding of texts[i]; shape (len(texts), dimension)."""
        ...


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


@dataclass(frozen=True)
class EncoderHead:
    """A logistic regression on sentence embeddings."""

    name: str
    coef: npt.NDArray[np.float64]
    intercept: float
    threshold: float
    strict_threshold: float

    def scores(self, embeddings: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
        """Probability of abuse for each embedding row."""
        logits = embeddings.astype(np.float64) @ self.coef + self.intercept
        return np.asarray(1.0 / (1.0 + np.exp(-logits)), dtype=np.float64)

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            kind=np.array("encoder"),
            name=np.array(self.name),
            coef=self.coef,
            intercept=np.array(self.intercept),
            threshold=np.array(self.threshold),
            strict_threshold=np.array(self.strict_threshold),
        )


@dataclass(frozen=True)
class NgramHead:
    """TF-IDF over character or word n-grams (sublinear tf, l2 norm) with a logistic head.

    Reproduces scikit-learn's `TfidfVectorizer` (with `normalize` as its preprocessor) followed
    by `LogisticRegression.decision_function`, in plain Python and numpy, so the runtime needs
    neither scikit-learn nor a pickle.
    """

    name: str
    analyzer: str  # "char" or "word"
    ngram_min: int
    ngram_max: int
    index: dict[str, int]
    idf: npt.NDArray[np.float64]
    coef: npt.NDArray[np.float64]
    intercept: float
    threshold: float
    strict_threshold: float

    def ngrams(self, text: str) -> list[str]:
        """The n-grams scikit-learn's analyzer would produce for the text."""
        doc = normalize(text)
        if self.analyzer == "char":
            doc = _MULTI_SPACE.sub(" ", doc)
            grams: list[str] = []
            for n in range(self.ngram_min, min(self.ngram_max, len(doc)) + 1):
                grams.extend(doc[i : i + n] for i in range(len(doc) - n + 1))
            return grams
        tokens = _WORD_TOKEN.findall(doc)
        grams = []
        for n in range(self.ngram_min, min(self.ngram_max, len(tokens)) + 1):
            grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
        return grams

    def score(self, text: str) -> float:
        """Probability of abuse for one text."""
        counts = Counter(g for g in self.ngrams(text) if g in self.index)
        if not counts:
            return _sigmoid(self.intercept)
        columns = np.fromiter((self.index[g] for g in counts), dtype=np.int64, count=len(counts))
        tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
        weights = tf * self.idf[columns]
        norm = float(np.sqrt(weights @ weights))
        logit = float(weights @ self.coef[columns]) / norm + self.intercept
        return _sigmoid(logit)

    def save(self, path: Path) -> None:
        vocabulary = sorted(self.index, key=self.index.__getitem__)
        np.savez_compressed(
            path,
            kind=np.array("ngram"),
            name=np.array(self.name),
            analyzer=np.array(self.analyzer),
            ngram_range=np.array([self.ngram_min, self.ngram_max]),
            vocabulary=np.array(vocabulary, dtype=str),
            idf=self.idf.astype(np.float32),
            coef=self.coef.astype(np.float32),
            intercept=np.array(self.intercept),
            threshold=np.array(self.threshold),
            strict_threshold=np.array(self.strict_threshold),
        )


def load_encoder_head(path: Path) -> EncoderHead:
    with np.load(path, allow_pickle=False) as data:
        return EncoderHead(
            name=str(data["name"]),
            coef=data["coef"].astype(np.float64),
            intercept=float(data["intercept"]),
            threshold=float(data["threshold"]),
            strict_threshold=float(data["strict_threshold"]),
        )


def load_ngram_head(path: Path) -> NgramHead:
    with np.load(path, allow_pickle=False) as data:
        vocabulary = [str(v) for v in data["vocabulary"]]
        low, high = (int(v) for v in data["ngram_range"])
        return NgramHead(
            name=str(data["name"]),
            analyzer=str(data["analyzer"]),
            ngram_min=low,
            ngram_max=high,
            index={gram: i for i, gram in enumerate(vocabulary)},
            idf=data["idf"].astype(np.float64),
            coef=data["coef"].astype(np.float64),
            intercept=float(data["intercept"]),
            threshold=float(data["threshold"]),
            strict_threshold=float(data["strict_threshold"]),
        )


@dataclass(frozen=True)
class AbuseHeads:
    """The trained models: the English encoder head and the Chinese character model."""

    en: EncoderHead | None
    zh: NgramHead | None


def shipped_heads_dir() -> Path:
    """compliance/screening/heads/ inside the installed package."""
    return Path(str(resources.files("compliance.screening").joinpath("heads")))


def load_heads(directory: Path | None = None) -> AbuseHeads:
    """Read the head files from `directory` (default: the shipped ones); a missing file is None."""
    base = directory or shipped_heads_dir()
    en_path, zh_path = base / EN_HEAD_FILE, base / ZH_HEAD_FILE
    return AbuseHeads(
        en=load_encoder_head(en_path) if en_path.is_file() else None,
        zh=load_ngram_head(zh_path) if zh_path.is_file() else None,
    )


@functools.cache
def shipped_heads() -> AbuseHeads:
    """The shipped heads, read once per process."""
    return load_heads()


@dataclass(frozen=True)
class AbuseAssessment:
    """Whether a text is abusive, how sure the models are, and which patterns matched.

    `score` is the highest model probability, or 1.0 when a lexicon or threat pattern matched.
    `model_scores` names each model that ran with its probability.
    """

    abusive: bool
    score: float
    matches: tuple[Match, ...]
    model_scores: tuple[tuple[str, float], ...]

    @property
    def threat(self) -> bool:
        """Whether a threat pattern matched (a threat of harm, not just rudeness)."""
        return any(m.category == "threat" for m in self.matches)


def lexicon_matches(text: str) -> tuple[Match, ...]:
    """Every abuse category whose patterns match the text or its look-alike-folded form."""
    normalized = normalize(text)
    folded = fold_lookalikes(normalized)
    found: list[Match] = []
    for patterns in abuse_patterns().values():
        hit = patterns.search(normalized)
        if hit is None and folded != normalized:
            hit = patterns.search(folded)
        if hit is not None:
            found.append(hit)
    return tuple(found)


class AbuseDetector:
    """Lexicons and threat patterns, the Chinese character model, and the English encoder head
    when an encoder is given."""

    def __init__(
        self, *, encoder: TextEncoder | None = None, heads: AbuseHeads | None = None
    ) -> None:
        self.encoder = encoder
        self.heads = heads if heads is not None else shipped_heads()

    @property
    def uses_encoder(self) -> bool:
        """Whether the English model runs (an encoder and its head are both present)."""
        return self.encoder is not None and self.heads.en is not None

    def assess(self, text: str, *, strict: bool = False) -> AbuseAssessment:
        """Assess one message; `strict` uses the models' high-precision thresholds."""
        return self.assess_many([text], strict=strict)[0]

    def assess_many(self, texts: Sequence[str], *, strict: bool = False) -> list[AbuseAssessment]:
        """Assess many messages, encoding the English ones in one batch."""
        english = self._english_scores(texts)
        results = []
        for i, text in enumerate(texts):
            matches = lexicon_matches(text)
            scored: list[tuple[str, float, float]] = []  # name, probability, threshold
            en, zh = self.heads.en, self.heads.zh
            if i in english and en is not None:
                scored.append(
                    (en.name, english[i], en.strict_threshold if strict else en.threshold)
                )
            if zh is not None and has_cjk(text):
                scored.append(
                    (zh.name, zh.score(text), zh.strict_threshold if strict else zh.threshold)
                )
            model_hit = any(p >= threshold for _, p, threshold in scored)
            best = max((p for _, p, _ in scored), default=0.0)
            results.append(
                AbuseAssessment(
                    abusive=bool(matches) or model_hit,
                    score=1.0 if matches else best,
                    matches=matches,
                    model_scores=tuple((name, round(p, 4)) for name, p, _ in scored),
                )
            )
        return results

    def _english_scores(self, texts: Sequence[str]) -> dict[int, float]:
        if self.encoder is None or self.heads.en is None:
            return {}
        picked: list[int] = []
        inputs: list[str] = []
        for i, text in enumerate(texts):
            latin = latin_part(normalize(text))
            if latin_word_count(latin) >= MIN_LATIN_WORDS:
                picked.append(i)
                # The original casing and punctuation where the text is all Latin; the encoder
                # was trained on raw tweets, not on our normalised form.
                inputs.append(text if not has_cjk(text) else latin)
        if not picked:
            return {}
        probabilities = self.heads.en.scores(self.encoder.encode(inputs))
        return {i: float(p) for i, p in zip(picked, probabilities, strict=True)}
