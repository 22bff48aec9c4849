"""Services benchmark: agreement of the service classifier with labelled messages, and its speed.

Agreement (each message normalised first, as ombud does), for the shipped model
(``classify_service``) and, as the baseline measured in the same run, the lexicon alone
(``classify_by_lexicon``, the method before the model): overall, and per category its recall,
precision and count, plus the model's confusion matrix (rows: the label, columns: the guess), on

  - the development test, training/data/services/devtest.jsonl and devtest_vocab.jsonl (never
    trained on; it chose the model's route and settings), each and together;
  - tests/voice/service_examples.jsonl (written for the lexicon, never trained on);
  - training/data/services/independent.jsonl (written by another author from the categories'
    mapping rules alone; never trained on, never used for a choice).

Throughput, medians of --runs passes on this machine: ``classify_service`` and
``classify_by_lexicon`` alone, one message at a time, and ``classify_services`` in batches of
256 (what ``label_texts`` does), over every message above but the independent author's
(normalised beforehand); with
--process, also ``ombud voice classify`` as a whole process (sentiment and service, start-up
included) fed the messages cycled to 5,000 lines, and the same process with the lexicon alone
as its service step (the baseline), --runs // 2 of each, alternating.
Usage: python bench/services.py [--runs N] [--process]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ombud.voice.normalise import normalise
from ombud.voice.services import (
    CATEGORIES,
    ServiceGuess,
    classify_by_lexicon,
    classify_service,
    classify_services,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DEV = ROOT / "training" / "data" / "services"
SETS = {
    "devtest": [DEV / "devtest.jsonl"],
    "devtest_vocab": [DEV / "devtest_vocab.jsonl"],
    "devtest_combined": [DEV / "devtest.jsonl", DEV / "devtest_vocab.jsonl"],
    "service_examples": [ROOT / "tests" / "voice" / "service_examples.jsonl"],
    "independent": [DEV / "independent.jsonl"],
}


def load(paths: list[Path]) -> tuple[list[str], list[str]]:
    rows = [json.loads(line) for p in paths for line in p.read_text().splitlines() if line]
    return [normalise(r["text"]) for r in rows], [r["category"] for r in rows]


def agreement(truth: list[str], guess: list[str]) -> dict[str, Any]:
    per = {}
    for c in CATEGORIES:
        right = sum(1 for t, g in zip(truth, guess, strict=True) if t == g == c)
        count, chosen = truth.count(c), guess.count(c)
        per[c] = {
            "recall": round(right / count, 4) if count else None,
            "precision": round(right / chosen, 4) if chosen else None,
            "count": count,
        }
    right = sum(t == g for t, g in zip(truth, guess, strict=True))
    return {"overall": round(right / len(truth), 4), "n": len(truth), "per_category": per}


def confusion(truth: list[str], guess: list[str]) -> dict[str, dict[str, int]]:
    table = {t: dict.fromkeys(CATEGORIES, 0) for t in CATEGORIES}
    for t, g in zip(truth, guess, strict=True):
        table[t][g] += 1
    return table


def rate(texts: list[str], classify: Callable[[str], ServiceGuess], runs: int) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        for text in texts:
            classify(text)
        timings.append(time.perf_counter() - started)
    return len(texts) / statistics.median(timings)


LEXICON_ONLY = (
    "import sys; import ombud.voice.labels as labels; from ombud.cli import main; "
    "from ombud.voice.services import classify_by_lexicon; "
    "labels.classify_services = lambda texts: [classify_by_lexicon(t) for t in texts]; "
    "sys.argv = ['ombud', 'voice', 'classify']; main()"
)
"""``ombud voice classify`` with the lexicon alone for the service step: the baseline."""


def batch_rate(texts: list[str], runs: int, batch: int = 256) -> float:
    """``classify_services`` over batches of 256 (as ``label_texts`` gets them from the CLI)."""
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        for start in range(0, len(texts), batch):
            classify_services(texts[start : start + batch])
        timings.append(time.perf_counter() - started)
    return len(texts) / statistics.median(timings)


def whole_process(texts: list[str], lines: int, runs: int) -> tuple[float, float]:
    """Posts/s through ``ombud voice classify`` as a whole process, start-up included, with the
    model and with the lexicon alone; runs alternate, so both see the same machine load."""
    body = "\n".join(t.replace("\n", " ") for t in itertools.islice(itertools.cycle(texts), lines))
    timings: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(runs):
        for lexicon in (False, True):
            command = ["-c", LEXICON_ONLY] if lexicon else ["-m", "ombud", "voice", "classify"]
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, *command],
                input=(body + "\n").encode("utf-8"),
                capture_output=True,
                check=True,
            )
            timings[lexicon].append(time.perf_counter() - started)
            assert done.stdout.count(b"\n") == lines
    return lines / statistics.median(timings[False]), lines / statistics.median(timings[True])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--process", action="store_true", help="also time ombud voice classify")
    args = parser.parse_args()
    out: dict[str, Any] = {"benchmark": "services", "categories": list(CATEGORIES)}
    every: list[str] = []
    for name, paths in SETS.items():
        texts, truth = load(paths)
        model = [classify_service(t).category for t in texts]
        lexicon = [classify_by_lexicon(t).category for t in texts]
        out[name] = {
            "model": agreement(truth, model),
            "lexicon": agreement(truth, lexicon),
            "model_confusion": confusion(truth, model),
        }
        if name not in ("devtest_combined", "independent"):  # the throughput set as before
            every += texts
    classify_service("warm up: load the model")
    model_rate = rate(every, classify_service, args.runs)
    lexicon_rate = rate(every, classify_by_lexicon, args.runs)
    batched_rate = batch_rate(every, args.runs)
    out["throughput"] = {
        "messages": len(every),
        "runs": args.runs,
        "posts_per_s_model": round(model_rate),
        "ms_per_post_model": round(1000 / model_rate, 4),
        "posts_per_s_lexicon": round(lexicon_rate),
        "ms_per_post_lexicon": round(1000 / lexicon_rate, 4),
        "model_vs_lexicon_time": round(lexicon_rate / model_rate, 2),
        "posts_per_s_model_batches_of_256": round(batched_rate),
        "ms_per_post_model_batches_of_256": round(1000 / batched_rate, 4),
    }
    if args.process:
        with_model, with_lexicon = whole_process(every, 5000, max(1, args.runs // 2))
        out["throughput"]["posts_per_s_whole_process_5000_lines"] = round(with_model)
        out["throughput"]["posts_per_s_whole_process_lexicon_only"] = round(with_lexicon)
    print(json.dumps(out, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "services.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
