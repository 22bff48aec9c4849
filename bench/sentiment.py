"""Sentiment benchmark: the shipped model's accuracy on TweetEval val and its throughput.

Accuracy: macro-averaged recall (TweetEval's sentiment metric), each class's recall and
macro-F1 on the 2,000 val tweets, which the model never trained on (its epoch was chosen on
2,000 tweets held out of train), both on the raw text and after ``normalise`` (what ombud
does). Calibration: the expected calibration error (15 equal-width bins of the top class's
probability) and the reliability curve (mean confidence and accuracy per bin).
Throughput, medians of --runs passes over val on this machine:
  - batched: ``SentimentModel.classify`` on all 2,000 (length-sorted batches of 32);
  - labels: the whole path of a post, ``label_texts`` (normalise + sentiment + service);
  - whole process: ``ombud voice classify`` fed the 2,000 tweets five times on stdin, start-up
    included (the contract's rate);
  - baseline, same run: one tweet per call (batch of 1), the rate a single post sees.
With ``--against REV``, the whole process also runs from a checkout of git revision REV,
alternating with this one (--runs each), and the output lines must be byte-identical: the
median times and their ratio go in ``whole_process_against``.
Usage: python bench/sentiment.py [--runs N] [--against REV]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

from ombud.voice.labels import label_texts
from ombud.voice.sentiment import LABELS, default_model

RESULTS = Path(__file__).resolve().parent / "results"
DATA = Path(__file__).resolve().parents[2] / "shared/data/tweeteval-sentiment"


def scores(truth: list[str], predicted: list[str]) -> dict[str, Any]:
    recalls, f1s = [], []
    for label in LABELS:
        tp = sum(1 for t, p in zip(truth, predicted, strict=True) if t == p == label)
        recall = tp / sum(t == label for t in truth)
        chosen = sum(p == label for p in predicted)
        precision = tp / chosen if chosen else 0.0
        recalls.append(recall)
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return {
        "macro_recall": round(sum(recalls) / 3, 4),
        "recall": {label: round(r, 4) for label, r in zip(LABELS, recalls, strict=True)},
        "macro_f1": round(sum(f1s) / 3, 4),
    }


def calibration(truth: list[str], results: list[Any], bins: int = 15) -> dict[str, Any]:
    """Expected calibration error of the top class's probability, and the reliability curve."""
    rows: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for t, r in zip(truth, results, strict=True):
        confidence = max(r.scores.values())
        rows[min(int(confidence * bins), bins - 1)].append((confidence, r.label == t))
    ece, curve = 0.0, []
    for k, row in enumerate(rows):
        if not row:
            continue
        conf = sum(c for c, _ in row) / len(row)
        acc = sum(ok for _, ok in row) / len(row)
        ece += len(row) / len(truth) * abs(acc - conf)
        curve.append(
            {"bin": [round(k / bins, 3), round((k + 1) / bins, 3)], "n": len(row),
             "confidence": round(conf, 4), "accuracy": round(acc, 4)}
        )  # fmt: skip
    return {"ece": round(ece, 4), "bins": bins, "curve": curve}


def classify_process(lines: bytes, source: Path | None = None) -> tuple[float, bytes]:
    """Seconds for ``ombud voice classify`` on ``lines`` as a whole process, start-up included,
    and its output; ``source``: the ``src`` folder of another checkout to run instead."""
    env = {**os.environ, "PYTHONPATH": str(source)} if source else None
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "ombud", "voice", "classify"],
        input=lines,
        capture_output=True,
        check=True,
        env=env,
    )
    return time.perf_counter() - started, done.stdout


def whole_process(texts: list[str], runs: int) -> float:
    """Posts/s through ``ombud voice classify`` as a whole process, start-up included."""
    lines = ("\n".join(texts * 5) + "\n").encode("utf-8")
    timings = []
    for _ in range(runs):
        seconds, out = classify_process(lines)
        timings.append(seconds)
        assert out.count(b"\n") == len(texts) * 5
    return len(texts) * 5 / statistics.median(timings)


def against(texts: list[str], revision: str, runs: int) -> dict[str, Any]:
    """The whole process here and at ``revision``, alternating; outputs must be identical."""
    lines = ("\n".join(texts * 5) + "\n").encode("utf-8")
    repo = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        checkout = Path(tmp) / "baseline"
        subprocess.run(
            ["git", "-C", str(repo), "worktree", "add", "-q", "--detach", str(checkout), revision],
            check=True,
        )
        try:
            base, here = [], []
            for _ in range(runs):
                seconds, before = classify_process(lines, checkout / "src")
                base.append(seconds)
                seconds, after = classify_process(lines)
                here.append(seconds)
                if before != after:
                    raise SystemExit(f"the output differs from {revision}'s")
        finally:
            subprocess.run(
                ["git", "-C", str(repo), "worktree", "remove", "--force", str(checkout)],
                check=True,
            )
    lines_n = len(texts) * 5
    return {
        "revision": revision,
        "lines": lines_n,
        "seconds_baseline": [round(x, 2) for x in base],
        "seconds_here": [round(x, 2) for x in here],
        "posts_per_s_baseline": round(lines_n / statistics.median(base)),
        "posts_per_s_here": round(lines_n / statistics.median(here)),
        "speedup": round(statistics.median(base) / statistics.median(here), 2),
        "output_identical": True,
    }


def rate(texts: list[str], run: Any, runs: int) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        run(texts)
        timings.append(time.perf_counter() - started)
    return len(texts) / statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--against", metavar="REV", help="a git revision to compare with")
    args = parser.parse_args()
    if not (DATA / "val_text.txt").is_file():
        raise SystemExit(f"{DATA} is absent: this benchmark needs ../shared/data")
    texts = [t.strip() for t in (DATA / "val_text.txt").read_text(encoding="utf-8").splitlines()]
    truth = [LABELS[int(x)] for x in (DATA / "val_labels.txt").read_text().split()]
    model = default_model()
    results = model.classify(texts)
    raw = scores(truth, [s.label for s in results])
    normalised = scores(truth, [lab.sentiment for lab in label_texts(texts)])
    batched = rate(texts, model.classify, args.runs)
    labelled = rate(texts, label_texts, args.runs)
    single = rate(texts[:400], lambda ts: [model.classify([t]) for t in ts], args.runs)
    process = whole_process(texts, max(1, args.runs // 2))
    folder = Path(str(resources.files("ombud.voice") / "models"))
    size = sum(p.stat().st_size for p in folder.iterdir())
    out = {
        "benchmark": "sentiment",
        "data": "TweetEval sentiment val (2,000 tweets)",
        "model": model.card["base"],
        "quantisation": model.card["quantisation"],
        "model_mb": round(size / 1e6, 1),
        "val_raw_text": raw,
        "val_normalised": normalised,
        "calibration_raw_text": calibration(truth, results),
        "posts_per_s_batched": round(batched),
        "posts_per_s_labels": round(labelled),
        "posts_per_s_whole_process": round(process),
        "posts_per_s_one_at_a_time": round(single),
        "batched_vs_one_at_a_time": round(batched / single, 2),
        "runs": args.runs,
    }
    if args.against:
        out["whole_process_against"] = against(texts, args.against, args.runs)
    print(json.dumps(out, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sentiment.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
