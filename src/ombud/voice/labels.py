"""What ombud derives from a post's text and keeps after the text is gone: sentiment and service.

Threat model: labels outlive the text (retention), so they must say nothing about the writer:
a sentiment label, its scores and a service category are all that is kept. Classification
always runs on the normalised text, so an obfuscated complaint is counted like a plain one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ombud.voice.normalise import normalise
from ombud.voice.sentiment import SentimentModel, default_model
from ombud.voice.services import classify_services

__all__ = ["Labels", "label_texts"]


@dataclass(frozen=True)
class Labels:
    sentiment: str
    scores: Mapping[str, float]
    service: str
    """The classifier's service category (a resident's own choice is kept beside it)."""
    normalised: str

    def to_json(self) -> dict[str, Any]:
        """The ``ombud voice classify`` line (a contract: external checks read it)."""
        return {
            "label": self.sentiment,
            "scores": {k: round(v, 4) for k, v in self.scores.items()},
            "service": self.service,
            "normalised": self.normalised,
        }


def label_texts(texts: Sequence[str], model: SentimentModel | None = None) -> list[Labels]:
    """Normalise each text, then classify its sentiment (batched) and its service."""
    normalised = [normalise(t) for t in texts]
    model = model or default_model()
    # the sentiment model runs on a worker thread (it releases the GIL) while this one finds
    # the services: about a fifth of the time, which the model's own two threads leave idle
    with ThreadPoolExecutor(1, thread_name_prefix="sentiment") as pool:
        sentiments = pool.submit(model.classify, normalised)
        services = classify_services(normalised)
        return [
            Labels(s.label, s.scores, g.category, n)
            for n, s, g in zip(normalised, sentiments.result(), services, strict=True)
        ]
