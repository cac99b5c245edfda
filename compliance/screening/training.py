"""Reproduce the shipped abuse-model heads from the public data sets, and measure them.

    train(data_dir=Path("../shared/data"), encoder=load_encoder())

reads `davidson/labeled_data_70.csv` (English tweets; class 0 hate or 1 offensive = abusive) and
`cold/train.csv`, `cold/dev.csv` (Chinese comments; label 1 = offensive), fits

- English: a logistic head on the encoder's embeddings, on a fixed stratified 80% of the
  Davidson file (it is the only English file, so the other 20% is held out for measuring);
- Chinese: TF-IDF over character 1-3 grams and a logistic head, on COLD's train split, measured
  on its dev split;

and writes `en_minilm.npz`, `zh_char.npz` and `metrics.json` (held-out precision, recall, F1,
the all-positive baseline, data checksums) into the heads directory. Seeds are fixed, so a rerun
on the same data and library versions writes the same heads. scikit-learn is needed here only:
the runtime reads the heads with numpy (abuse.py).
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from compliance.screening.abuse import (
    EN_HEAD_FILE,
    ZH_HEAD_FILE,
    EncoderHead,
    NgramHead,
    TextEncoder,
    shipped_heads_dir,
)
from compliance.screening.lexicon import normalize

SEED = 20260101
HELD_OUT_FRACTION = 0.2
# Chosen on COLD (see docs/BENCHMARKS.md): 50,000 n-grams seen in at least 3 comments keep the
# head file near 1 MB at no loss of F1 against the full vocabulary (0.907 vs 0.906).
ZH_MAX_FEATURES = 50_000
ZH_MIN_DF = 3
ZH_C = 3.0
EN_C = 10.0
THRESHOLD = 0.5
# Outbound messages use the lowest threshold that flags at most this share of the non-abusive
# rows in cross-validation on the training part: a false alarm there blocks a legitimate message.
STRICT_FALSE_POSITIVE_RATE = 0.02
CV_FOLDS = 5
METRICS_FILE = "metrics.json"


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 with abusive as the positive class."""

    precision: float
    recall: float
    f1: float
    n: int
    positives: int


@dataclass(frozen=True)
class HeadReport:
    """One trained head: where it was measured and how it did."""

    name: str
    train_rows: int
    held_out: Scores
    all_positive_baseline: Scores
    strict_threshold: float
    held_out_strict: Scores  # at the outbound (strict) threshold


@dataclass(frozen=True)
class TrainingReport:
    en: HeadReport | None
    zh: HeadReport
    out_dir: str


def score(labels: Sequence[int] | npt.NDArray[np.int64], predicted: Sequence[bool]) -> Scores:
    """Precision, recall and F1 of `predicted` against `labels` (1 = abusive)."""
    y = np.asarray(labels, dtype=bool)
    p = np.asarray(predicted, dtype=bool)
    tp = int(np.sum(y & p))
    fp = int(np.sum(~y & p))
    fn = int(np.sum(y & ~p))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(round(precision, 4), round(recall, 4), round(f1, 4), len(y), int(y.sum()))


def read_davidson(data_dir: Path) -> tuple[list[str], npt.NDArray[np.int64]]:
    """The Davidson tweets and labels (1 when the majority said hate speech or offensive)."""
    with (data_dir / "davidson" / "labeled_data_70.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    texts = [row["tweet"] for row in rows]
    labels = np.array([1 if row["class"] in ("0", "1") else 0 for row in rows], dtype=np.int64)
    return texts, labels


def read_cold(data_dir: Path, split: str) -> tuple[list[str], npt.NDArray[np.int64]]:
    """One COLD split's comments and labels (1 = offensive)."""
    with (data_dir / "cold" / f"{split}.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    return [row["TEXT"] for row in rows], np.array([int(r["label"]) for r in rows], np.int64)


def davidson_split(
    labels: npt.NDArray[np.int64], seed: int = SEED
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Row indices of the fixed stratified train / held-out split of the Davidson file."""
    from sklearn.model_selection import train_test_split

    train_idx, held_idx = train_test_split(
        np.arange(len(labels)), test_size=HELD_OUT_FRACTION, random_state=seed, stratify=labels
    )
    return np.sort(train_idx), np.sort(held_idx)


def train_zh_head(
    texts: Sequence[str], labels: npt.NDArray[np.int64], *, seed: int = SEED
) -> NgramHead:
    """Fit the Chinese character n-gram model and convert it to a numpy-only head."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    def make_vectorizer() -> TfidfVectorizer:
        return TfidfVectorizer(
            analyzer="char",
            ngram_range=(1, 3),
            preprocessor=normalize,
            lowercase=False,
            min_df=ZH_MIN_DF,
            max_features=ZH_MAX_FEATURES,
            sublinear_tf=True,
            dtype=np.float64,
        )

    def make_model() -> LogisticRegression:
        return LogisticRegression(C=ZH_C, class_weight="balanced", max_iter=5000, random_state=seed)

    vectorizer = make_vectorizer()
    matrix = vectorizer.fit_transform(texts)
    model = make_model().fit(matrix, labels)
    cv = _cross_validated(
        lambda: make_pipeline(make_vectorizer(), make_model()), list(texts), labels, seed
    )
    head = NgramHead(
        name="zh-char-ngram",
        analyzer="char",
        ngram_min=1,
        ngram_max=3,
        index={str(gram): int(i) for gram, i in vectorizer.vocabulary_.items()},
        idf=np.asarray(vectorizer.idf_, dtype=np.float64),
        coef=np.asarray(model.coef_[0], dtype=np.float64),
        intercept=float(model.intercept_[0]),
        threshold=THRESHOLD,
        strict_threshold=strict_threshold(cv, labels),
    )
    # The numpy head must read texts exactly as scikit-learn does; check on a sample.
    sample = list(texts[:200])
    expected = model.predict_proba(vectorizer.transform(sample))[:, 1]
    got = np.array([head.score(t) for t in sample])
    if not np.allclose(expected, got, atol=1e-6):
        raise AssertionError("numpy n-gram head disagrees with scikit-learn")
    return head


def train_en_head(
    embeddings: npt.NDArray[np.floating], labels: npt.NDArray[np.int64], *, seed: int = SEED
) -> EncoderHead:
    """Fit the logistic head on sentence embeddings."""
    from sklearn.linear_model import LogisticRegression

    def make_model() -> LogisticRegression:
        return LogisticRegression(C=EN_C, class_weight="balanced", max_iter=5000, random_state=seed)

    model = make_model().fit(embeddings, labels)
    cv = _cross_validated(make_model, embeddings, labels, seed)
    return EncoderHead(
        name="en-minilm-logistic",
        coef=np.asarray(model.coef_[0], dtype=np.float64),
        intercept=float(model.intercept_[0]),
        threshold=THRESHOLD,
        strict_threshold=strict_threshold(cv, labels),
    )


def strict_threshold(
    probabilities: npt.NDArray[np.float64], labels: npt.NDArray[np.int64]
) -> float:
    """The lowest threshold (never below 0.5) that flags at most STRICT_FALSE_POSITIVE_RATE of
    the non-abusive rows. A false-positive rate, unlike precision, does not depend on how many
    abusive rows a data set happens to hold (83% of Davidson, half of COLD)."""
    negatives = np.sort(probabilities[labels == 0])
    allowed = int(STRICT_FALSE_POSITIVE_RATE * len(negatives))
    if allowed == 0:
        cut = float(np.nextafter(negatives[-1], np.inf)) if len(negatives) else THRESHOLD
    else:
        cut = float(negatives[len(negatives) - allowed])
    return round(max(THRESHOLD, cut), 4)


def _cross_validated(
    make: Callable[[], Any], features: Any, labels: npt.NDArray[np.int64], seed: int
) -> npt.NDArray[np.float64]:
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=seed)
    predicted = cross_val_predict(make(), features, labels, cv=folds, method="predict_proba")
    return np.asarray(predicted[:, 1], dtype=np.float64)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def train(
    data_dir: Path,
    *,
    encoder: TextEncoder | None,
    out_dir: Path | None = None,
    seed: int = SEED,
) -> TrainingReport:
    """Train both heads from `data_dir` (the shared data directory) and write them to `out_dir`
    (default: the package's heads/). Without an encoder the English head is left as it is."""
    target = out_dir or shipped_heads_dir()
    target.mkdir(parents=True, exist_ok=True)

    zh_train_texts, zh_train_labels = read_cold(data_dir, "train")
    zh_dev_texts, zh_dev_labels = read_cold(data_dir, "dev")
    zh_head = train_zh_head(zh_train_texts, zh_train_labels, seed=seed)
    zh_scores = np.array([zh_head.score(t) for t in zh_dev_texts])
    zh_report = HeadReport(
        name=zh_head.name,
        train_rows=len(zh_train_texts),
        held_out=score(zh_dev_labels, list(zh_scores >= zh_head.threshold)),
        all_positive_baseline=score(zh_dev_labels, [True] * len(zh_dev_labels)),
        strict_threshold=zh_head.strict_threshold,
        held_out_strict=score(zh_dev_labels, list(zh_scores >= zh_head.strict_threshold)),
    )
    zh_head.save(target / ZH_HEAD_FILE)

    en_report = None
    if encoder is not None:
        texts, labels = read_davidson(data_dir)
        train_idx, held_idx = davidson_split(labels, seed)
        embeddings = encoder.encode(texts)
        en_head = train_en_head(embeddings[train_idx], labels[train_idx], seed=seed)
        en_scores = en_head.scores(embeddings[held_idx])
        en_report = HeadReport(
            name=en_head.name,
            train_rows=len(train_idx),
            held_out=score(labels[held_idx], list(en_scores >= en_head.threshold)),
            all_positive_baseline=score(labels[held_idx], [True] * len(held_idx)),
            strict_threshold=en_head.strict_threshold,
            held_out_strict=score(labels[held_idx], list(en_scores >= en_head.strict_threshold)),
        )
        en_head.save(target / EN_HEAD_FILE)

    report = TrainingReport(en=en_report, zh=zh_report, out_dir=str(target))
    metrics_path = target / METRICS_FILE
    previous = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    metrics = {
        "seed": seed,
        "zh": asdict(zh_report),
        "en": asdict(en_report) if en_report else previous.get("en"),
        "data_sha256": {
            "davidson/labeled_data_70.csv": _sha256(data_dir / "davidson" / "labeled_data_70.csv"),
            "cold/train.csv": _sha256(data_dir / "cold" / "train.csv"),
            "cold/dev.csv": _sha256(data_dir / "cold" / "dev.csv"),
        },
    }
    metrics_path.write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    return report
