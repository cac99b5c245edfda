"""Precision, recall and F1 of the abuse screen per language and mode, beside alt-profanity-check
and the all-positive baseline, all measured in the same run (abusive = positive class).

Sets: the held-out 20% of the Davidson file (the fixed stratified split training.py uses), COLD's
dev split, and our own collections lines (tests/compliance/data/abuse_{en,zh}.tsv). Modes:
lexicon (patterns only), model (the trained head alone), no-encoder screen (lexicon + Chinese
character model), encoder screen (lexicon + both models).

alt-profanity-check pins scikit-learn and joblib exactly, so it lives in a venv of its own; this
script calls that venv's python through a subprocess:

    python3 -m venv var/profcheck-venv && var/profcheck-venv/bin/pip install alt-profanity-check
    .venv/bin/python bench/abuse_eval.py --data ../shared/data \
        --profanity-python var/profcheck-venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from compliance.screening import AbuseDetector
from compliance.screening.abuse import lexicon_matches, shipped_heads
from compliance.screening.training import (
    Scores,
    davidson_split,
    read_cold,
    read_davidson,
    score,
)
from dialogue.encoder import load_encoder

OWN = Path(__file__).resolve().parents[1] / "tests" / "compliance" / "data"
PROFANITY_SCRIPT = (
    "import json, sys\n"
    "from profanity_check import predict_prob\n"
    "texts = json.load(sys.stdin)\n"
    "json.dump([float(p) for p in predict_prob(texts)], sys.stdout)\n"
)


def own_lines(language: str) -> tuple[list[str], list[int]]:
    texts, labels = [], []
    for line in (OWN / f"abuse_{language}.tsv").read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        label, text = line.split("\t", 1)
        texts.append(text)
        labels.append(int(label))
    return texts, labels


def profanity_check(python: Path | None, texts: Sequence[str]) -> list[bool] | None:
    """alt-profanity-check's verdicts (probability >= 0.5), from its own venv; None if absent."""
    if python is None or not python.exists():
        return None
    done = subprocess.run(  # noqa: S603 - our own fixed script, given a path the user chose
        [str(python), "-c", PROFANITY_SCRIPT],
        input=json.dumps(list(texts)),
        capture_output=True,
        text=True,
        check=True,
    )
    return [p >= 0.5 for p in json.loads(done.stdout)]


def row(name: str, result: Scores | None) -> str:
    if result is None:
        return f"| {name} | n/a | n/a | n/a |"
    return f"| {name} | {result.precision:.3f} | {result.recall:.3f} | {result.f1:.3f} |"


def evaluate(
    title: str,
    texts: list[str],
    labels: Sequence[int],
    *,
    chinese: bool,
    detectors: dict[str, AbuseDetector],
    profanity_python: Path | None,
) -> None:
    heads = shipped_heads()
    lexicon = [bool(lexicon_matches(t)) for t in texts]
    no_encoder = [a.abusive for a in detectors["no-encoder"].assess_many(texts)]
    with_encoder = [a.abusive for a in detectors["encoder"].assess_many(texts)]
    if chinese:
        assert heads.zh is not None
        model = [heads.zh.score(t) >= heads.zh.threshold for t in texts]
        model_name = "character n-gram model alone"
    else:
        assert heads.en is not None
        probabilities = heads.en.scores(load_encoder().encode(texts))
        model = list(probabilities >= heads.en.threshold)
        model_name = "MiniLM head alone"
    profanity = profanity_check(profanity_python, texts)
    positives = int(np.sum(labels))
    print(f"\n### {title} ({len(texts)} rows, {positives} abusive)\n")
    print("| mode | precision | recall | F1 |")
    print("|---|---|---|---|")
    print(row("lexicon and patterns alone", score(labels, lexicon)))
    print(row(model_name, score(labels, model)))
    print(row("screen without encoder", score(labels, no_encoder)))
    print(row("screen with encoder", score(labels, with_encoder)))
    print(row("alt-profanity-check", score(labels, profanity) if profanity else None))
    print(row("all-positive baseline", score(labels, [True] * len(texts))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument(
        "--profanity-python", type=Path, default=Path("var/profcheck-venv/bin/python")
    )
    args = parser.parse_args()
    if not args.profanity_python.exists():
        print(f"no {args.profanity_python}: alt-profanity-check column left empty", file=sys.stderr)
    detectors = {
        "no-encoder": AbuseDetector(),
        "encoder": AbuseDetector(encoder=load_encoder()),
    }
    texts, labels = read_davidson(args.data)
    _, held = davidson_split(labels)
    evaluate(
        "English: Davidson held-out 20%",
        [texts[i] for i in held],
        list(labels[held]),
        chinese=False,
        detectors=detectors,
        profanity_python=args.profanity_python,
    )
    own_en = own_lines("en")
    evaluate(
        "English: our collections lines",
        *own_en,
        chinese=False,
        detectors=detectors,
        profanity_python=args.profanity_python,
    )
    cold_texts, cold_labels = read_cold(args.data, "dev")
    evaluate(
        "Chinese: COLD dev",
        cold_texts,
        list(cold_labels),
        chinese=True,
        detectors=detectors,
        profanity_python=args.profanity_python,
    )
    own_zh = own_lines("zh")
    evaluate(
        "Chinese: our collections lines",
        *own_zh,
        chinese=True,
        detectors=detectors,
        profanity_python=args.profanity_python,
    )


if __name__ == "__main__":
    main()
