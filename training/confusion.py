"""Measure the shipped sentiment model's confusion matrix on TweetEval val and store it beside
the model (``src/ombud/voice/models/confusion.json``).

This script is not part of the installed package: it is how the shipped file was made, so
anyone can make it again. ``ombud.insight`` corrects the label shares of the DP releases for
these errors (adjusted classify-and-count), which assumes that the val tweets stand in for a
city's posts: the model errs on city posts as it errs on them.

Data: ``../shared/data/tweeteval-sentiment`` val (2,000 tweets), never used to train the model
or to choose its epoch (see ``training/sentiment.py``). Texts are normalised first, as ombud
does before it classifies a post.

    .venv/bin/python training/confusion.py --data ../shared/data/tweeteval-sentiment
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ombud.voice.labels import label_texts
from ombud.voice.sentiment import LABELS

OUT = Path(__file__).resolve().parents[1] / "src/ombud/voice/models/confusion.json"


def measure(data: Path) -> dict[str, object]:
    texts = [t.strip() for t in (data / "val_text.txt").read_text(encoding="utf-8").splitlines()]
    truth = [LABELS[int(x)] for x in (data / "val_labels.txt").read_text().split()]
    predicted = [labels.sentiment for labels in label_texts(texts)]
    counts = {t: dict.fromkeys(LABELS, 0) for t in LABELS}
    for t, p in zip(truth, predicted, strict=True):
        counts[t][p] += 1
    return {
        "labels": list(LABELS),
        "data": "TweetEval sentiment val (2,000 tweets; never used for training or tuning)",
        "normalised": True,
        "layout": "counts[true label][predicted label]",
        "counts": counts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/tweeteval-sentiment"))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.write_text(json.dumps(measure(args.data), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
