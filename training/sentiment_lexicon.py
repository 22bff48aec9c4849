"""Trial, not shipped: a bag-of-words model beside the shipped sentiment model, on dev only.

Issue 21 lists "ensemble ... with a lexicon model" among the routes to a better sentiment
model. This script measures the cheapest form of it, one that would keep the shipped model's
speed: a linear model over word 1-2 grams, its log-probabilities added to the shipped model's
at inference. It is not part of the installed package and ships nothing; it records how the
route was judged, so anyone can check the judgement.

Everything is measured on the 2,000-tweet development split carved from train (the same carve
as the shipped model's script), in the text ``ombud.voice.sentiment`` sees (normalised by
``ombud.voice.normalise``). Val is never read: the route would be adopted only if it helped on
dev halves it was not tuned on.

- The shipped int8 model's logits on dev (it never trained on dev), with its card's offsets
  and temperature.
- TF-IDF of word 1-2 grams (seen in at least 2 tweets, sublinear counts) and a class-balanced
  logistic regression, trained on train minus dev.
- Combined as ``log_softmax((logits + offsets) / T) + w * log p_words``.
- The figure to trust: on 40 half-splits of dev (20 random halvings, each both ways), the
  regularisation ``C`` (0.25, 0.5 or 1) and ``w`` (0 to 1 by 0.05, each point's score
  averaged with its neighbours) are chosen on one half and the gain in macro-recall is
  measured on the other.

Measured 2026-12-05: the shipped model alone 0.7173 on dev; the word model alone 0.632-0.643;
the best combination on all of dev +0.0061 (in-sample, and smoothed: ``C`` and ``w`` chosen
on the tweets they are scored on); held out, **+0.0008** mean gain with a standard deviation
of 0.0059 over the 40 half-splits. That is no gain distinguishable from zero, so the route was
not adopted and val was not read for it. The word weights are learnt from train; a hand-made
lexicon (VADER, say) was not tried beside the model.

Set-up: the training virtual environment of ``training/sentiment.py``, and ombud's source::

    PYTHONPATH=src /tmp/train/bin/python training/sentiment_lexicon.py \\
        --data ../shared/data/tweeteval-sentiment
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
from sentiment_distilled import SHIPPED, halvings, macro_recall, onnx_logits
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from ombud.voice.normalise import normalise
from sentiment import carve_dev, load_tokenizer, read_split

REGULARISATION = (0.25, 0.5, 1.0)
WEIGHTS = np.round(np.arange(0.0, 1.0001, 0.05), 2)


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def best_weight(labels: np.ndarray, model: np.ndarray, words: np.ndarray) -> tuple[float, float]:
    """The weight of the word model best on these tweets, each grid point's score averaged
    with its two neighbours (as ``fit_bias`` does), and that smoothed score."""
    scores = np.array([macro_recall(labels, model + w * words) for w in WEIGHTS])
    smooth = np.convolve(np.pad(scores, 1, mode="edge"), np.ones(3) / 3, mode="valid")
    i = int(np.argmax(smooth))
    return float(WEIGHTS[i]), float(smooth[i])


def held_out_gain(
    labels: np.ndarray, model: np.ndarray, words: dict[float, np.ndarray], repeats: int = 20
) -> list[float]:
    """Gains on one half of dev of ``C`` and ``w`` chosen on the other, both ways."""
    gains = []
    for fit, test in halvings(len(labels), repeats):
        choices = {c: best_weight(labels[fit], model[fit], p[fit]) for c, p in words.items()}
        c = max(choices, key=lambda k: choices[k][1])
        w = choices[c][0]
        after = macro_recall(labels[test], model[test] + w * words[c][test])
        gains.append(after - macro_recall(labels[test], model[test]))
    return gains


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, required=True, help="the tweeteval-sentiment folder of ../shared"
    )
    parser.add_argument("--seed", type=int, default=7, help="the shipped model's dev carve")
    args = parser.parse_args()
    random.seed(args.seed)
    texts, all_labels = read_split(args.data, "train")
    dev_idx, train_idx = carve_dev(len(texts))
    texts = [normalise(t) for t in texts]
    labels = np.array(all_labels)
    dev_labels = labels[dev_idx]

    card = json.loads((SHIPPED / "sentiment.json").read_text(encoding="utf-8"))
    bias = np.array(card["calibration"]["bias"], dtype=float)
    temperature = float(card["calibration"]["temperature"])
    tokenizer = load_tokenizer(SHIPPED)
    encoded = [e.ids for e in tokenizer.encode_batch([texts[i] for i in dev_idx])]
    model = log_softmax((onnx_logits(SHIPPED / "sentiment.onnx", encoded) + bias) / temperature)

    vectoriser = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    train_x = vectoriser.fit_transform([texts[i] for i in train_idx])
    dev_x = vectoriser.transform([texts[i] for i in dev_idx])
    words = {}
    for c in REGULARISATION:
        fitted = LogisticRegression(C=c, max_iter=3000, class_weight="balanced")
        fitted.fit(train_x, labels[train_idx])
        words[c] = fitted.predict_log_proba(dev_x)
        print(f"word model, C={c}: dev {macro_recall(dev_labels, words[c]):.4f}", flush=True)

    alone = macro_recall(dev_labels, model)
    in_sample = max(best_weight(dev_labels, model, p)[1] for p in words.values())
    gains = held_out_gain(dev_labels, model, words)
    print(f"shipped model alone: dev {alone:.4f}")
    print(f"best combination on all of dev (in-sample): +{in_sample - alone:.4f}")
    print(
        f"held out, {len(gains)} half-splits: gain {np.mean(gains):+.4f}, "
        f"standard deviation {np.std(gains):.4f}"
    )


if __name__ == "__main__":
    main()
