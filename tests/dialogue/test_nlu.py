"""The NLU: Rasa-format reading, language detection, the threshold rule, the model file, and
what the shipped data and model must be."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from dialogue import Nlu, data_files
from dialogue.encoder import shared_encoder
from dialogue.nlu.entities import parse_past_date
from dialogue.nlu.language import detect_language
from dialogue.nlu.model import (
    IntentModel,
    _design,
    _fit_head,
    augment_with_synonyms,
    choose_threshold,
    normalize,
    train,
)
from dialogue.nlu.store import training_data
from dialogue.nlu.training_data import (
    TrainingData,
    TrainingDataError,
    read_many,
    read_training_data,
    strip_annotations,
)

TODAY = date(2026, 11, 22)  # a Sunday


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "nlu.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_intents_synonyms_and_lookups(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """version: "3.1"
nlu:
- intent: promise_to_pay
  examples: |
    - I'll pay [150 dollars](amount) on [Friday]{"entity": "date"}
    - "quoted line"
- synonym: extension
  examples: |
    - Deferral
- lookup: weekday
  examples: |
    - Monday
""",
    )
    data = read_training_data(path, language="en")
    assert [e.text for e in data.examples] == ["I'll pay 150 dollars on Friday", "quoted line"]
    assert data.synonyms == {"deferral": "extension"}
    assert data.lookups == {"weekday": ["Monday"]}


def test_refuses_blocks_it_does_not_read_by_name(tmp_path: Path) -> None:
    path = write(tmp_path, "nlu:\n- regex: account\n  examples: |\n    - \\d{10}\n")
    with pytest.raises(TrainingDataError, match="not examples, regex"):
        read_training_data(path)


def test_refuses_example_lines_without_a_dash(tmp_path: Path) -> None:
    path = write(tmp_path, "nlu:\n- intent: greet\n  examples: |\n    hello\n")
    with pytest.raises(TrainingDataError, match="does not start with '- '"):
        read_training_data(path)


def test_strip_annotations() -> None:
    assert strip_annotations("pay [150](amount) by [下周五](date)") == "pay 150 by 下周五"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("how much do I owe", "en"),
        ("我还欠多少钱", "zh"),
        ("我想 check my balance", "zh"),
        ("ok 好的", "zh"),
        ("1", None),
        ("👍", None),
        ("$150", None),
    ],
)
def test_detect_language(text: str, language: str | None) -> None:
    assert detect_language(text) == language


def test_normalize_folds_full_width_and_case() -> None:
    assert normalize("  ＯＫ　１２３  Yes ") == "ok 123 yes"


def test_threshold_weighs_false_actions_above_misunderstandings() -> None:
    classes = ["check_balance", "out_of_scope"]
    # Out-of-scope rows predicted check_balance at 0.5 and 0.7; in-scope rows at 0.6 and 0.9.
    probabilities = np.array([[0.5, 0.5], [0.7, 0.3], [0.6, 0.4], [0.9, 0.1]])
    labels = ["out_of_scope", "out_of_scope", "check_balance", "check_balance"]
    threshold, curve = choose_threshold(probabilities, labels, classes)
    # Missing the 0.6 request (cost 1) is cheaper than acting on the 0.7 chatter (cost 3).
    assert threshold == pytest.approx(0.72)
    point = next(p for p in curve if p[0] == pytest.approx(0.72))
    assert point[1] == pytest.approx(0.75)
    assert point[2] == 0.0


class HashingEncoder:
    """A stand-in encoder for fast model tests: a bag of hashed characters, unit length."""

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), 16), dtype=np.float32)
        for row, text in enumerate(texts):
            for char in text:
                out[row, ord(char) % 16] += 1
            out[row] /= max(float(np.linalg.norm(out[row])), 1e-9)
        return out


def test_model_file_round_trip_predicts_the_same(tmp_path: Path) -> None:
    data = TrainingData()
    for path, language in data_files().training[:1]:
        data = read_many([(path, language)])
    run = train(data, HashingEncoder(), fingerprint="test", folds=3)
    path = tmp_path / "model.npz"
    run.model.save(path)
    loaded = IntentModel.load(path)
    texts = ["how much do I owe", "stop texting me", "hello"]
    encoder = HashingEncoder()
    assert np.allclose(
        run.model.probabilities(texts, encoder.encode(texts)),
        loaded.probabilities(texts, encoder.encode(texts)),
    )
    assert loaded.threshold == run.model.threshold
    assert loaded.classes == run.model.classes


def test_shipped_data_has_forty_examples_per_intent_per_language() -> None:
    counts = Counter(
        (example.intent, example.language) for example in training_data(data_files()).examples
    )
    intents = {intent for intent, _language in counts}
    assert len(intents) >= 22
    thin = {key: n for key, n in counts.items() if n < 40}
    assert not thin, thin
    assert {language for _intent, language in counts} == {"en", "zh"}


def test_held_out_and_unrelated_sets_are_kept_out_of_training() -> None:
    files = data_files()
    training = {normalize(e.text) for e in training_data(files).examples}
    held_out = [e for path, lang in files.test for e in read_many([(path, lang)]).examples]
    unrelated = [e for path, lang in files.unrelated for e in read_many([(path, lang)]).examples]
    assert not [e.text for e in held_out if normalize(e.text) in training]
    assert not [e.text for e in unrelated if normalize(e.text) in training]
    assert len(unrelated) >= 500


def test_held_out_accuracy_per_language(nlu: Nlu) -> None:
    files = data_files()
    for path, language in files.test:
        examples = read_many([(path, language)]).examples
        parsed = nlu.parse_many([e.text for e in examples], today=TODAY)
        accuracy = sum(p.intent == e.intent for p, e in zip(parsed, examples, strict=True)) / len(
            examples
        )
        assert accuracy >= 0.8, (language, accuracy)


def test_parse_reports_entities_language_and_ranking(nlu: Nlu) -> None:
    result = nlu.parse("I can pay $150 next Friday", today=TODAY)
    assert result.intent == "promise_to_pay"
    assert result.language == "en"
    assert {e.kind for e in result.entities} >= {"amount", "date"}
    as_json = result.as_json()
    assert set(as_json) >= {"text", "intent", "confidence", "entities", "language"}
    assert {"entity": "amount", "value": "150.00"}.items() <= as_json["entities"][0].items()


def test_under_the_threshold_a_guess_is_out_of_scope(nlu: Nlu) -> None:
    strict = Nlu(replace(nlu.model, threshold=0.999), shared_encoder())
    result = strict.parse("hmm maybe the thing about the stuff", today=TODAY)
    assert result.confidence < 0.999
    assert result.intent == "out_of_scope"
    # With no threshold, the same sentence gets its best guess.
    relaxed = Nlu(replace(nlu.model, threshold=0.0), shared_encoder())
    assert (
        relaxed.parse("hmm maybe the thing about the stuff", today=TODAY).intent
        == (result.ranking[0][0])
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I paid yesterday", date(2026, 11, 21)),
        ("昨天转账了", date(2026, 11, 21)),
        ("前天还的", date(2026, 11, 20)),
        ("paid it 3 days ago", date(2026, 11, 19)),
        ("I paid on the 20th", date(2026, 11, 20)),
        ("paid on the 25th", date(2026, 10, 25)),  # the 25th has not come this month
        ("20号转的", date(2026, 11, 20)),
        ("sent it last friday", date(2026, 11, 20)),
        ("上周五还了", date(2026, 11, 13)),  # Friday of last calendar week
        ("paid 2026-11-20", date(2026, 11, 20)),
        ("I paid on Nov 15", date(2026, 11, 15)),
        ("paid it 11/15", date(2026, 11, 15)),
        ("11月15日转的", date(2026, 11, 15)),
        ("paid on Dec 1", date(2025, 12, 1)),  # no year: last December
        ("paid today", TODAY),
        ("I paid it", None),
        ("paid 2026-12-01", None),  # not yet
    ],
)
def test_parse_past_date(text: str, expected: date | None) -> None:
    assert parse_past_date(text, language="en", today=TODAY) == expected


def test_numpy_model_agrees_with_the_fitted_head() -> None:
    """The running model (numpy, sparse n-grams) gives scikit-learn's probabilities."""
    data = read_many([data_files().training[0]])
    run = train(data, HashingEncoder(), fingerprint="test", folds=3)
    examples = augment_with_synonyms(data)  # what `train` fits on
    texts = [e.text for e in examples]
    embeddings = HashingEncoder().encode(texts)
    flags = run.model.lookup_features(texts)
    labels = np.array([run.model.classes.index(e.intent) for e in examples])
    vectorizer, head = _fit_head(texts, embeddings, flags, labels)
    sample = [*texts[:25], "unseen words entirely", "嗯"]
    expected = head.predict_proba(
        _design(
            vectorizer, sample, HashingEncoder().encode(sample), run.model.lookup_features(sample)
        )
    )
    actual = run.model.probabilities(sample, HashingEncoder().encode(sample))
    assert np.allclose(actual, expected, atol=1e-9)
