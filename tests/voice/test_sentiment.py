"""The shipped sentiment model: loads offline, labels like the training figures say, and is not
fooled by obfuscation (after normalisation)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ombud.errors import ConfigError, MalformedError
from ombud.voice.labels import label_texts
from ombud.voice.sentiment import LABELS, SentimentModel, default_model

from ..conftest import SHARED

CORPUS = Path(__file__).parent / "obfuscation_corpus.jsonl"
TWEETEVAL = SHARED / "data" / "tweeteval-sentiment"


def test_the_model_ships_in_the_package_with_its_card() -> None:
    model = default_model()
    card = model.card
    assert tuple(card["labels"]) == LABELS
    assert "all-MiniLM-L6-v2" in card["base"] and "val" in card["data"]
    size = sum(p.stat().st_size for p in Path(str(card_dir())).iterdir())
    assert size < 100 * 1024 * 1024


def card_dir() -> Path:
    from importlib import resources

    return Path(str(resources.files("ombud.voice") / "models"))


def test_scores_are_probabilities_and_batching_changes_nothing() -> None:
    texts = [
        "I love the new tram line, it is so quick",
        "Worst bus service ever, late every single day",
        "The council meeting is on Tuesday at 7pm",
        "ok",
        "",
    ]
    together = default_model().classify(texts)
    for text, result in zip(texts, together, strict=True):
        alone = default_model().classify([text])[0]
        assert alone.label == result.label
        assert all(abs(alone.scores[k] - result.scores[k]) < 1e-3 for k in LABELS)
        assert abs(sum(result.scores.values()) - 1) < 1e-4
        assert result.label == max(result.scores, key=lambda k: result.scores[k])
    assert [r.label for r in together[:3]] == ["positive", "negative", "neutral"]
    assert default_model().classify([]) == []
    with pytest.raises(MalformedError):
        default_model().classify([b"bytes"])  # type: ignore[list-item]


def test_a_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sentiment\.onnx is missing"):
        SentimentModel(tmp_path)


def test_obfuscated_variants_classify_like_the_clean_text() -> None:
    pairs = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
    assert len(pairs) >= 40
    clean = label_texts([p["clean"] for p in pairs])
    obfuscated = label_texts([p["obfuscated"] for p in pairs])
    for pair, a, b in zip(pairs, clean, obfuscated, strict=True):
        assert (a.sentiment, a.service) == (b.sentiment, b.service), pair["technique"]
    # Without normalisation the model is fooled by some of them: the test can fail.
    raw = default_model().classify([p["obfuscated"] for p in pairs])
    assert sum(r.label != c.sentiment for r, c in zip(raw, clean, strict=True)) > 0


def test_validation_macro_recall_is_at_least_0_70() -> None:
    """The issue's bar, on TweetEval val (never trained on; the epoch was chosen on a split of
    train). The figure itself is in the README and the model card."""
    texts_file, labels_file = TWEETEVAL / "val_text.txt", TWEETEVAL / "val_labels.txt"
    if not texts_file.is_file():
        pytest.skip(f"TweetEval not available: {texts_file} (../shared is absent)")
    texts = [t.strip() for t in texts_file.read_text(encoding="utf-8").splitlines()]
    truth = [LABELS[int(x)] for x in labels_file.read_text().split()]
    predicted = [s.label for s in default_model().classify(texts)]
    recalls = []
    for label in LABELS:
        relevant = [p for p, t in zip(predicted, truth, strict=True) if t == label]
        recalls.append(sum(p == label for p in relevant) / len(relevant))
    assert sum(recalls) / 3 >= 0.70


def _copy_model(tmp_path: Path, calibration: object) -> Path:
    for name in ("sentiment.onnx", "tokenizer.json"):
        (tmp_path / name).symlink_to(card_dir() / name)
    card = dict(default_model().card, calibration=calibration)
    (tmp_path / "sentiment.json").write_text(json.dumps(card), encoding="utf-8")
    return tmp_path


def test_the_cards_offsets_and_temperature_are_applied(tmp_path: Path) -> None:
    """Scores are softmax((logits + bias) / temperature) with the card's dev-chosen values."""
    import numpy as np

    texts = ["Worst bus service ever", "The meeting is on Tuesday", "Love the new tram line"]
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    plain = SentimentModel(_copy_model(tmp_path / "a", {"bias": [0, 0, 0], "temperature": 1}))
    shifted = SentimentModel(_copy_model(tmp_path / "b", {"bias": [0, 3, 0], "temperature": 2}))
    for a, b in zip(plain.classify(texts), shifted.classify(texts), strict=True):
        logits = np.log([a.scores[k] for k in LABELS]) + np.array([0, 3, 0])
        expected = np.exp(logits / 2) / np.exp(logits / 2).sum()
        assert np.allclose([b.scores[k] for k in LABELS], expected, atol=1e-4)
        assert b.label == LABELS[int(np.argmax(expected))]


@pytest.mark.parametrize(
    "calibration",
    [
        {"bias": [0, 0], "temperature": 1},
        {"bias": [0, 0, 0], "temperature": 0},
        "warm",
        {"bias": 1},
    ],
)
def test_a_malformed_calibration_is_a_clear_error(tmp_path: Path, calibration: object) -> None:
    with pytest.raises(ConfigError, match="calibration"):
        SentimentModel(_copy_model(tmp_path, calibration))
