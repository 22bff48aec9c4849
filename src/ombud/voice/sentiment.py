"""Sentiment of what residents write: negative, neutral or positive, from the model shipped in the
package.

Threat model: the model file is part of the package, read from disk with no network, so nobody
can swap it at run time from outside; its provenance (data, base model, training script
``training/sentiment_distilled.py``, figures) is in ``models/sentiment.json`` beside it. Text is
normalised (``ombud.voice.normalise``) before it reaches the model, so invisible characters,
homoglyphs and leetspeak do not steer it; a model is still only a model, and its figures say
how often it is wrong.

The model is the first three layers of all-MiniLM-L6-v2 fine-tuned on TweetEval sentiment
(Barbieri et al. 2020) and distilled from all six fine-tuned the same way, exported to ONNX
with int8 weights and run by onnxruntime on the CPU. A card may carry a ``calibration``
(per-label logit offsets and a temperature, chosen on a development split of train, never on
val) that turns logits into the scores: ``softmax((logits + bias) / temperature)``; the
shipped card's offsets are 0 (they did not help on held-out halves of dev) and its
temperature 1.353.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType

import numpy as np
import onnxruntime  # type: ignore[import-untyped]
from tokenizers import Tokenizer

from ombud.errors import ConfigError, MalformedError

__all__ = ["LABELS", "Sentiment", "SentimentModel", "default_model"]

LABELS = ("negative", "neutral", "positive")
_BATCH = 32
"""Texts per model call; with length-sorted batches, 32 was the fastest on two cores."""


@dataclass(frozen=True)
class Sentiment:
    label: str
    scores: Mapping[str, float]
    """Softmax probability of each label; they sum to 1."""


class SentimentModel:
    """A loaded sentiment model; ``classify`` is safe to call from several threads."""

    def __init__(self, directory: Path, *, threads: int | None = None) -> None:
        model, tokenizer = directory / "sentiment.onnx", directory / "tokenizer.json"
        card = directory / "sentiment.json"
        for path in (model, tokenizer, card):
            if not path.is_file():
                raise ConfigError(f"the sentiment model is incomplete: {path} is missing")
        self.card = json.loads(card.read_text(encoding="utf-8"))
        if tuple(self.card.get("labels", ())) != LABELS:
            raise ConfigError(f"{card} must list the labels {list(LABELS)}")
        self._bias, self._temperature = _calibration(self.card, card)
        self._tokenizer = Tokenizer.from_file(str(tokenizer))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(int(self.card.get("max_tokens", 128)))
        self._tokenizer_lock = threading.Lock()  # tokenizers' settings are per object
        options = onnxruntime.SessionOptions()
        # onnxruntime's default counts physical cores, one on a 2-vCPU VM: ask for every CPU
        # (550-585 posts/s here against 380 with one thread).
        options.intra_op_num_threads = threads or min(os.cpu_count() or 1, 8)
        options.inter_op_num_threads = 1
        # and no spinning: a pool thread that spins between two runs keeps a core that the
        # services, on another thread meanwhile, need (whole-process classify: 461 -> 669
        # posts/s on two busy cores, with the services run beside the model)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(
            str(model), options, providers=["CPUExecutionProvider"]
        )

    def classify(self, texts: Sequence[str]) -> list[Sentiment]:
        """One ``Sentiment`` per text, in order. Texts should be normalised first."""
        for text in texts:
            if not isinstance(text, str):
                raise MalformedError("sentiment is computed on text strings")
        with self._tokenizer_lock:
            encoded = [e.ids for e in self._tokenizer.encode_batch(list(texts))]
        out: list[Sentiment | None] = [None] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
        for start in range(0, len(order), _BATCH):
            rows = order[start : start + _BATCH]
            width = max(len(encoded[i]) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for r, i in enumerate(rows):
                ids[r, : len(encoded[i])] = encoded[i]
                mask[r, : len(encoded[i])] = 1
            (logits,) = self._session.run(["logits"], {"input_ids": ids, "attention_mask": mask})
            logits = (logits + self._bias) / self._temperature
            shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
            probabilities = shifted / shifted.sum(axis=1, keepdims=True)
            for r, i in enumerate(rows):
                p = [float(x) for x in probabilities[r]]
                out[i] = Sentiment(
                    LABELS[int(np.argmax(probabilities[r]))],
                    MappingProxyType(dict(zip(LABELS, p, strict=True))),
                )
        return [s for s in out if s is not None]


def _calibration(card: Mapping[str, object], path: Path) -> tuple[np.ndarray, float]:
    """The card's per-label logit offsets and temperature (none: 0 and 1), chosen on dev data.

    Scores are ``softmax((logits + bias) / temperature)``: the offsets move the decision between
    labels (for macro-recall), the temperature only how sure the scores say the model is.
    """
    calibration = card.get("calibration", {})
    try:
        if not isinstance(calibration, Mapping):
            raise TypeError
        bias = [float(b) for b in calibration.get("bias", [0.0] * len(LABELS))]
        temperature = float(calibration.get("temperature", 1.0))
    except (TypeError, ValueError):
        raise ConfigError(f"{path}: calibration must hold a bias list and a temperature") from None
    if len(bias) != len(LABELS) or not all(np.isfinite(bias)):
        raise ConfigError(f"{path}: calibration's bias must be {len(LABELS)} finite numbers")
    if not (np.isfinite(temperature) and temperature > 0):
        raise ConfigError(f"{path}: calibration's temperature must be a positive number")
    return np.array(bias, dtype=np.float32), temperature


@cache
def default_model() -> SentimentModel:
    """The model shipped in the package, loaded once per process."""
    directory = resources.files("ombud.voice") / "models"
    return SentimentModel(Path(str(directory)))
