"""Fit the simulated residents' writing styles so that the shipped model errs on their posts as
it errs on TweetEval val (``src/ombud/citysim/data/style.json``).

Not part of the installed package: it is how the shipped file was made. For each service and
true feeling j, posts are written in each style k (words that read like k) and labelled by the
shipped model; the style weights of (service, j) are then the point of the simplex whose mix of
predicted labels is nearest to row j of the model's validation confusion. What is left over is
written beside the weights (``residual``): the simulation honours the correction's assumption
only that closely.

    .venv/bin/python training/calibrate_writing.py [--per-style 300] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np

from ombud.citysim.writing import SUBJECTS, write_post
from ombud.insight.correction import shipped_confusion
from ombud.voice.labels import label_texts

LABELS = ("negative", "neutral", "positive")
OUT = Path(__file__).resolve().parents[1] / "src/ombud/citysim/data/style.json"


def fit(h: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, float]:
    """Weights on the simplex (step 0.01) whose mix of the rows of ``h`` is nearest ``target``."""
    best, best_error = np.array([1.0, 0.0, 0.0]), float("inf")
    for a in range(101):
        for b in range(101 - a):
            w = np.array([a, b, 100 - a - b]) / 100
            error = float(np.sum((w @ h - target) ** 2))
            if error < best_error:
                best, best_error = w, error
    return best, best_error**0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-style", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    target = np.array(shipped_confusion().counts, dtype=float)
    target /= target.sum(axis=1, keepdims=True)
    texts, keys = [], []
    for service in SUBJECTS:
        for j, feeling in enumerate(LABELS):
            for k, style in enumerate(LABELS):
                for _ in range(args.per_style):
                    texts.append(write_post(service, feeling, rng, style=style))
                    keys.append((service, j, k))
    predicted = [LABELS.index(labels.sentiment) for labels in label_texts(texts)]
    h: dict[str, np.ndarray] = {s: np.zeros((3, 3, 3)) for s in SUBJECTS}
    for (service, j, k), p in zip(keys, predicted, strict=True):
        h[service][j, k, p] += 1 / args.per_style
    styles: dict[str, dict[str, dict[str, float]]] = {}
    residual: dict[str, dict[str, float]] = {}
    for service in SUBJECTS:
        styles[service], residual[service] = {}, {}
        for j, feeling in enumerate(LABELS):
            weights, error = fit(h[service][j], target[j])
            styles[service][feeling] = dict(zip(LABELS, map(float, weights), strict=True))
            residual[service][feeling] = round(error, 4)
    doc = {
        "fitted": f"{args.per_style} posts per service, feeling and style; seed {args.seed}",
        "target": "the shipped model's confusion on TweetEval val (voice/models/confusion.json)",
        "styles": styles,
        "residual": residual,
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    worst = max((e, s, f) for s, r in residual.items() for f, e in r.items())
    print(f"wrote {OUT}; largest residual {worst[0]:.3f} ({worst[1]}, {worst[2]})")


if __name__ == "__main__":
    main()
