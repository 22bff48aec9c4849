"""label_texts: the sentiment model on a worker thread, the services beside it, one result."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from ombud.errors import MalformedError
from ombud.voice.labels import label_texts
from ombud.voice.normalise import normalise
from ombud.voice.sentiment import Sentiment, SentimentModel, default_model
from ombud.voice.services import classify_services

TEXTS = [
    "The bins on Elm Street were not collected again this week!!",
    "",
    "Thank you for fixing the streetlight so quickly",
    "b.u.s 42 is l@te every m0rning",
    "cars double-park every night outside the school",
]


def test_each_text_gets_what_the_model_and_the_services_give_it_alone() -> None:
    labels = label_texts(TEXTS)
    model = default_model()
    for text, got in zip(TEXTS, labels, strict=True):
        clean = normalise(text)
        (sentiment,) = model.classify([clean])
        (service,) = classify_services([clean])
        assert (got.normalised, got.sentiment, got.service) == (
            clean,
            sentiment.label,
            service.category,
        )
        assert got.scores == pytest.approx(dict(sentiment.scores), abs=1e-6)


class _Failing(SentimentModel):
    def __init__(self) -> None:  # no model to load
        pass

    def classify(self, texts: Sequence[str]) -> list[Sentiment]:
        raise MalformedError("the model refused these texts")


def test_the_models_error_reaches_the_caller() -> None:
    with pytest.raises(MalformedError, match="refused these texts"):
        label_texts(TEXTS, _Failing())
