"""The abuse screen on our own labelled collections lines, with and without the encoder, and the
shipped heads (no public data needed: the heads are read from the package).

The bounds are what the shipped heads and lexicons measured on these lines (docs/BENCHMARKS.md),
less a small margin; a retrained head or an edited lexicon that does worse fails here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from compliance.screening import AbuseDetector, load_heads
from compliance.screening.abuse import (
    EN_HEAD_FILE,
    ZH_HEAD_FILE,
    TextEncoder,
    lexicon_matches,
    shipped_heads,
    shipped_heads_dir,
)
from compliance.screening.training import score, strict_threshold, train_zh_head
from tests.compliance.screening_data import labelled_lines

# (language, mode) -> (minimum recall on our abusive lines, maximum false-positive rate on our
# ordinary complaints). Measured: en lexicon 0.875/0.00, en encoder 0.975/0.10,
# zh 1.00/0.06 in both modes.
BOUNDS = {
    ("en", "lexicon"): (0.85, 0.02),
    ("en", "encoder"): (0.95, 0.12),
    ("zh", "lexicon"): (0.95, 0.08),
    ("zh", "encoder"): (0.95, 0.08),
}


@pytest.fixture(scope="session")
def encoder() -> TextEncoder:
    from dialogue.encoder import load_encoder

    return load_encoder()


def detector_for(mode: str, request: pytest.FixtureRequest) -> AbuseDetector:
    if mode == "lexicon":
        return AbuseDetector()
    return AbuseDetector(encoder=request.getfixturevalue("encoder"))


@pytest.mark.parametrize(("language", "mode"), list(BOUNDS))
def test_own_lines_recall_and_false_positives(
    language: str, mode: str, request: pytest.FixtureRequest
) -> None:
    rows = labelled_lines(language)
    detector = detector_for(mode, request)
    verdicts = detector.assess_many([text for _, text in rows])
    labels = [label for label, _ in rows]
    predicted = [v.abusive for v in verdicts]
    scores = score(labels, predicted)
    false_positives = sum(1 for y, p in zip(labels, predicted, strict=True) if p and not y)
    min_recall, max_fp_rate = BOUNDS[(language, mode)]
    assert scores.recall >= min_recall, scores
    assert false_positives / labels.count(0) <= max_fp_rate, scores


def test_the_encoder_head_adds_recall_the_lexicon_lacks(encoder: TextEncoder) -> None:
    rows = [(y, t) for y, t in labelled_lines("en") if y == 1 and not lexicon_matches(t)]
    assert rows, "every abusive English line is in the lexicon: nothing left for the model"
    verdicts = AbuseDetector(encoder=encoder).assess_many([t for _, t in rows])
    assert sum(v.abusive for v in verdicts) >= 1
    assert all(v.model_scores and v.model_scores[0][0] == "en-minilm-logistic" for v in verdicts)


def test_models_run_by_script_on_mixed_lines(encoder: TextEncoder) -> None:
    detector = AbuseDetector(encoder=encoder)
    names = {name for name, _ in detector.assess("you are such a 傻瓜 honestly").model_scores}
    assert names == {"en-minilm-logistic", "zh-char-ngram"}
    # One Latin word is too little for an English embedding to mean anything.
    assert {n for n, _ in detector.assess("好的 OK").model_scores} == {"zh-char-ngram"}
    assert AbuseDetector().assess("you are nice").model_scores == ()


def test_scores_are_probabilities(encoder: TextEncoder) -> None:
    for verdict in AbuseDetector(encoder=encoder).assess_many(
        ["Thanks, I will pay Friday", "你妈的", "fuck off", "谢谢"]
    ):
        assert 0.0 <= verdict.score <= 1.0
        assert verdict.abusive == (bool(verdict.matches) or verdict.score >= 0.5)


def test_shipped_heads_are_present_and_small() -> None:
    directory = shipped_heads_dir()
    for name in (EN_HEAD_FILE, ZH_HEAD_FILE):
        assert (directory / name).stat().st_size < 3_000_000
    heads = shipped_heads()
    assert heads.en is not None
    assert heads.zh is not None
    assert heads.en.coef.shape == (384,)
    assert len(heads.zh.index) == heads.zh.idf.shape[0] == heads.zh.coef.shape[0]


def test_numpy_ngram_head_matches_scikit_learn_and_round_trips(tmp_path: Path) -> None:
    texts = [
        "你真是个好人",
        "谢谢你的帮助",
        "滚开你这个蠢货",
        "你这个垃圾",
        "今天天气很好",
        "蠢货滚开",
        "好人有好报",
        "垃圾东西滚",
    ] * 4
    labels = np.array([0, 0, 1, 1, 0, 1, 0, 1] * 4)
    # train_zh_head itself checks the numpy head against scikit-learn's probabilities.
    head = train_zh_head(texts, labels)
    again = train_zh_head(texts, labels)
    np.testing.assert_array_equal(head.coef, again.coef)  # fixed seed: same head
    head.save(tmp_path / ZH_HEAD_FILE)
    loaded = load_heads(tmp_path)
    assert loaded.en is None
    assert loaded.zh is not None
    for text in ("蠢货", "好人", "你这个蠢货滚开"):
        assert loaded.zh.score(text) == pytest.approx(head.score(text), abs=1e-5)
    assert loaded.zh.score("蠢货滚开") > 0.5 > loaded.zh.score("好人好报")


def test_strict_threshold_bounds_the_false_positive_rate() -> None:
    rng = np.random.default_rng(7)
    negatives = rng.uniform(0.0, 1.0, 1000)
    labels = np.array([0] * 1000 + [1] * 100)
    probabilities = np.concatenate([negatives, np.full(100, 0.99)])
    cut = strict_threshold(probabilities, labels)
    assert np.mean(negatives >= cut) <= 0.02
    assert np.mean(negatives >= cut - 0.01) > 0.02  # the lowest such threshold, not any
    # Never below the ordinary threshold, however clean the negatives.
    assert strict_threshold(np.array([0.1, 0.2, 0.9]), np.array([0, 0, 1])) == 0.5
