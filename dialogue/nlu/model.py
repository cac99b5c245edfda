"""The intent classifier: sentence embeddings and character n-grams into one logistic head.

Features of a message are, side by side:
- its all-MiniLM-L6-v2 embedding (unit length), which carries English meaning;
- TF-IDF of its character 1-3-grams (unit length), which carries Chinese, typos and the short
  replies an encoder cannot tell apart ("1", "嗯", "k");
- one flag per lookup table of the training data that has an entry in the message.
One multinomial logistic regression over both languages reads them, so a mixed line ("能 delay
一个月吗") needs no language switch. docs/NLU.md has the measurements behind this choice.

Training uses scikit-learn; the running model is plain numpy arrays read from one `.npz` file, so
a prediction is two matrix products.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from dialogue.nlu.intents import ACTION_INTENTS, OUT_OF_SCOPE
from dialogue.nlu.training_data import Example, TrainingData

# Bump when features or training change: a cached model with another version is retrained.
MODEL_VERSION = "1"
NGRAM_RANGE = (1, 3)
# Inverse regularisation of the head; 10 is what BANKING77 liked (shared MEASUREMENTS.md) and
# what cross-validation on Settle's data picked among 1, 3, 10, 30 (docs/NLU.md).
REGULARISATION_C = 10.0
MIN_THRESHOLD = 0.2
# An unrelated message acted on counts as this many misunderstood requests when the threshold is
# chosen (docs/DIALOGUE.md has the curve it was chosen from).
FALSE_ACTION_COST = 3

_SPACES = re.compile(r"\s+")


class Encoder(Protocol):
    """Texts in, unit-length vectors out (dialogue.encoder.SentenceEncoder)."""

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...


def normalize(text: str) -> str:
    """Full-width forms folded, lower case, single spaces."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def char_ngrams(text: str) -> list[str]:
    """Character n-grams of the normalized text, padded with a space at each end."""
    padded = f" {normalize(text)} "
    low, high = NGRAM_RANGE
    return [padded[i : i + n] for n in range(low, high + 1) for i in range(len(padded) - n + 1)]


def _contains(text: str, entry: str) -> bool:
    if not entry:
        return False
    if entry.isascii():
        return re.search(rf"(?<![a-z0-9]){re.escape(entry)}(?![a-z0-9])", text) is not None
    return entry in text


@dataclass(frozen=True)
class IntentModel:
    """A trained head: classes, weights, the n-gram vocabulary and the confidence threshold."""

    classes: tuple[str, ...]
    coef: npt.NDArray[np.float64]  # (classes, features)
    intercept: npt.NDArray[np.float64]  # (classes,)
    vocabulary: dict[str, int]
    idf: npt.NDArray[np.float64]
    lookups: dict[str, tuple[str, ...]]
    threshold: float
    fingerprint: str
    embedding_dimension: int

    def ngram_weights(self, text: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """The text's character n-gram columns and their sublinear TF-IDF, of unit length."""
        counts = Counter(char_ngrams(text))
        columns = [self.vocabulary[gram] for gram in counts if gram in self.vocabulary]
        values = np.array(
            [
                (1.0 + math.log(count)) * self.idf[self.vocabulary[gram]]
                for gram, count in counts.items()
                if gram in self.vocabulary
            ],
            dtype=np.float64,
        )
        norm = float(np.linalg.norm(values)) if len(values) else 0.0
        return np.array(columns, dtype=np.int64), values / norm if norm > 0 else values

    def lookup_features(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        names = sorted(self.lookups)
        out = np.zeros((len(texts), len(names)), dtype=np.float64)
        for row, text in enumerate(texts):
            normalized = normalize(text)
            for column, name in enumerate(names):
                if any(_contains(normalized, entry) for entry in self.lookups[name]):
                    out[row, column] = 1.0
        return out

    def probabilities(
        self, texts: Sequence[str], embeddings: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float64]:
        """Row i: the probability of each class for texts[i] (softmax of the head).

        The n-gram part is sparse: only the weights of the n-grams a text has are read.
        """
        dimension = self.embedding_dimension
        ngram_start = dimension
        lookup_start = dimension + len(self.vocabulary)
        logits = embeddings.astype(np.float64) @ self.coef[:, :dimension].T + self.intercept
        logits += self.lookup_features(texts) @ self.coef[:, lookup_start:].T
        for row, text in enumerate(texts):
            columns, values = self.ngram_weights(text)
            if len(columns):
                logits[row] += self.coef[:, ngram_start + columns] @ values
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return np.asarray(exp / exp.sum(axis=1, keepdims=True), dtype=np.float64)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "classes": list(self.classes),
            "vocabulary": self.vocabulary,
            "lookups": {name: list(entries) for name, entries in self.lookups.items()},
            "threshold": self.threshold,
            "fingerprint": self.fingerprint,
            "embedding_dimension": self.embedding_dimension,
            "version": MODEL_VERSION,
        }
        # Written beside and renamed, so a reader never sees half a model.
        partial = path.with_name(path.name + ".partial.npz")
        np.savez_compressed(
            partial,
            coef=self.coef,
            intercept=self.intercept,
            idf=self.idf,
            meta=np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), np.uint8),
        )
        partial.replace(path)

    @classmethod
    def load(cls, path: Path) -> IntentModel:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(bytes(stored["meta"]).decode("utf-8"))
            if meta.get("version") != MODEL_VERSION:
                raise ValueError(
                    f"{path}: model version {meta.get('version')}, need {MODEL_VERSION}"
                )
            return cls(
                classes=tuple(meta["classes"]),
                coef=stored["coef"],
                intercept=stored["intercept"],
                vocabulary={str(k): int(v) for k, v in meta["vocabulary"].items()},
                idf=stored["idf"],
                lookups={k: tuple(v) for k, v in meta["lookups"].items()},
                threshold=float(meta["threshold"]),
                fingerprint=str(meta["fingerprint"]),
                embedding_dimension=int(meta["embedding_dimension"]),
            )


def fingerprint(files: Sequence[Path]) -> str:
    """What a cached model was trained from: the model version and the data files' bytes."""
    digest = hashlib.sha256(MODEL_VERSION.encode())
    for path in sorted(files):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def augment_with_synonyms(data: TrainingData) -> list[Example]:
    """The examples, plus a copy of each with a synonym variant replaced by its canonical value.

    Rasa maps synonyms onto entity values; here they also teach the head that a deferral and an
    extension are asked for alike.
    """
    out = list(data.examples)
    for example in data.examples:
        lowered = normalize(example.text)
        for variant, canonical in data.synonyms.items():
            if variant != canonical.lower() and _contains(lowered, variant):
                out.append(
                    Example(
                        text=lowered.replace(variant, canonical.lower(), 1),
                        intent=example.intent,
                        language=example.language,
                    )
                )
                break
    return out


@dataclass(frozen=True)
class TrainingRun:
    """A trained model and how the threshold was chosen on out-of-fold predictions."""

    model: IntentModel
    examples: int
    validation_accuracy: float  # argmax accuracy of the out-of-fold predictions
    threshold_curve: tuple[tuple[float, float, float], ...]  # (threshold, accuracy, oos actions)


def _fit_head(
    texts: Sequence[str],
    embeddings: npt.NDArray[np.float32],
    lookup_flags: npt.NDArray[np.float64],
    labels: npt.NDArray[np.int64],
) -> tuple[Any, Any]:
    """The fitted n-gram vectorizer and logistic head (training only: scikit-learn, sparse)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(analyzer=char_ngrams, sublinear_tf=True, min_df=2)
    vectorizer.fit(texts)
    head = LogisticRegression(C=REGULARISATION_C, max_iter=3000)
    head.fit(_design(vectorizer, texts, embeddings, lookup_flags), labels)
    return vectorizer, head


def _design(
    vectorizer: Any,
    texts: Sequence[str],
    embeddings: npt.NDArray[np.float32],
    lookup_flags: npt.NDArray[np.float64],
) -> Any:
    """Embedding, n-gram and lookup columns side by side, as one sparse matrix."""
    from scipy import sparse

    return sparse.hstack(
        [
            sparse.csr_matrix(embeddings.astype(np.float64)),
            vectorizer.transform(texts),
            sparse.csr_matrix(lookup_flags),
        ],
        format="csr",
    )


def choose_threshold(
    probabilities: npt.NDArray[np.float64], labels: Sequence[str], classes: Sequence[str]
) -> tuple[float, tuple[tuple[float, float, float], ...]]:
    """The confidence below which a message is treated as not understood.

    Picked on validation predictions to make the fewest costly mistakes: a message the bot
    fails to understand costs 1 (the borrower gets the help menu and rephrases), an out-of-scope
    message it acts on costs `FALSE_ACTION_COST`. Ties go to the lower threshold.
    Returns the threshold and the curve of (threshold, accuracy, false-action rate), where a
    prediction under the threshold counts as out_of_scope.
    """
    curve: list[tuple[float, float, float]] = []
    top = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    oos_rows = [i for i, label in enumerate(labels) if label == OUT_OF_SCOPE]
    best: tuple[float, float] | None = None
    for step in range(int(MIN_THRESHOLD * 100), 96, 2):
        threshold = step / 100
        predicted = [
            classes[top[i]] if confidence[i] >= threshold else OUT_OF_SCOPE
            for i in range(len(labels))
        ]
        wrong = sum(p != y for p, y in zip(predicted, labels, strict=True))
        acted = sum(predicted[i] in ACTION_INTENTS for i in oos_rows)
        cost = wrong + (FALSE_ACTION_COST - 1) * acted
        if best is None or cost < best[0]:
            best = (cost, threshold)
        curve.append(
            (threshold, 1 - wrong / len(labels), acted / len(oos_rows) if oos_rows else 0.0)
        )
    assert best is not None
    return best[1], tuple(curve)


def train(
    data: TrainingData, encoder: Encoder, *, fingerprint: str, folds: int = 5, seed: int = 0
) -> TrainingRun:
    """Train the head on `data`; the threshold comes from `folds`-fold out-of-fold predictions."""
    from sklearn.model_selection import StratifiedKFold

    examples = augment_with_synonyms(data)
    texts = [example.text for example in examples]
    classes = tuple(sorted({example.intent for example in examples}))
    index = {name: i for i, name in enumerate(classes)}
    labels = np.array([index[example.intent] for example in examples], dtype=np.int64)
    embeddings = encoder.encode(texts)
    lookups = {
        name: tuple(normalize(entry) for entry in entries)
        for name, entries in sorted(data.lookups.items())
    }

    lookup_model = IntentModel(
        classes=classes,
        coef=np.zeros((0, 0)),
        intercept=np.zeros(0),
        vocabulary={},
        idf=np.zeros(0),
        lookups=lookups,
        threshold=MIN_THRESHOLD,
        fingerprint=fingerprint,
        embedding_dimension=int(embeddings.shape[1]),
    )
    flags = lookup_model.lookup_features(texts)

    out_of_fold = np.zeros((len(texts), len(classes)), dtype=np.float64)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train_rows, held_rows in splitter.split(texts, labels):
        vectorizer, head = _fit_head(
            [texts[i] for i in train_rows],
            embeddings[train_rows],
            flags[train_rows],
            labels[train_rows],
        )
        held = _design(
            vectorizer, [texts[i] for i in held_rows], embeddings[held_rows], flags[held_rows]
        )
        out_of_fold[np.ix_(held_rows, head.classes_)] = head.predict_proba(held)
    true_names = [classes[label] for label in labels]
    threshold, curve = choose_threshold(out_of_fold, true_names, classes)
    accuracy = float((out_of_fold.argmax(axis=1) == labels).mean())
    vectorizer, head = _fit_head(texts, embeddings, flags, labels)
    model = replace(
        lookup_model,
        coef=np.asarray(head.coef_, np.float64),
        intercept=np.asarray(head.intercept_, np.float64),
        vocabulary={str(gram): int(column) for gram, column in vectorizer.vocabulary_.items()},
        idf=np.asarray(vectorizer.idf_, dtype=np.float64),
        threshold=threshold,
    )
    return TrainingRun(
        model=model, examples=len(texts), validation_accuracy=accuracy, threshold_curve=curve
    )
