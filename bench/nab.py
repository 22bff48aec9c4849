"""NAB benchmark: the streaming detector on the two real sensor-failure series of
../shared/data/nab-sensor-failures, scored by ombud's NAB v1.1 scorer.

Reports the corpus's normalised score per profile at the detector's default threshold and at
the threshold NAB's own procedure would pick (the sweep that maximises the score), the detected
windows and false positives, and the detector's throughput in readings/s on one core (median of
repeats). The baselines in the same run are NAB's null detector (0 by construction) and a
z-score detector (each reading against the mean and deviation of the previous 2,000, in the
spirit of NAB's "windowed Gaussian", which scores 39.6 on the whole corpus), both through the
same threshold sweep. Usage: python bench/nab.py
"""

from __future__ import annotations

import csv
import json
import math
import statistics
import time
from collections import deque
from pathlib import Path
from typing import Any

import nab_scorer as nab
from ombud.integrity.detector import DetectorSettings, detect, to_flags

ROOT = Path(__file__).resolve().parent
DATA = ROOT.parents[1] / "shared" / "data" / "nab-sensor-failures"
RESULTS = ROOT / "results"
FILES = (
    "realKnownCause/ambient_temperature_system_failure.csv",
    "realKnownCause/machine_temperature_system_failure.csv",
)


def load(
    name: str, windows: dict[str, list[list[str]]]
) -> tuple[list[float], list[tuple[int, int]]]:
    with open(DATA / "data" / name, newline="") as f:
        rows = list(csv.reader(f))[1:]
    stamps = [r[0] for r in rows]
    spans = []
    for start, end in windows[name]:
        first = next(i for i, t in enumerate(stamps) if t >= start[:19])
        last = max(i for i, t in enumerate(stamps) if t <= end[:19])
        spans.append((first, last))
    return [float(r[1]) for r in rows], spans


def windowed_gaussian(values: list[float], window: int = 2000) -> list[float]:
    recent: deque[float] = deque(maxlen=window)
    scores = []
    for value in values:
        if len(recent) < 30:
            scores.append(0.0)
        else:
            mean = statistics.fmean(recent)
            sd = statistics.pstdev(recent) or 1e-9
            scores.append(1 - 0.5 * math.erfc(abs(value - mean) / sd / math.sqrt(2)))
        recent.append(value)
    return scores


def main() -> None:
    if not DATA.is_dir():
        print(f"skipped: {DATA} is absent (the NAB series come from ../shared)")
        return
    windows = json.loads((DATA / "labels" / "combined_windows.json").read_text())
    corpus = [load(name, windows) for name in FILES]
    settings = DetectorSettings()
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        outputs = [detect(values) for values, _ in corpus]
        runs.append(sum(len(v) for v, _ in corpus) / (time.perf_counter() - started))
    gaussian = [windowed_gaussian(values) for values, _ in corpus]
    result: dict[str, Any] = {
        "benchmark": "nab",
        "series": {name: len(values) for name, (values, _) in zip(FILES, corpus, strict=True)},
        "readings_per_s_one_core": round(statistics.median(runs)),
        "default_threshold": settings.threshold,
        "profiles": {},
    }
    for name, profile in nab.PROFILES.items():
        per_series = [
            nab.score_series(flags, spans, profile)
            for (_, flags), (_, spans) in zip(outputs, corpus, strict=True)
        ]
        threshold, best = nab.optimise_threshold(
            [(scores, spans) for (scores, _), (_, spans) in zip(outputs, corpus, strict=True)],
            profile,
            lambda scores, t: to_flags(list(scores), t, settings.refractory),
        )
        _, gaussian_best = nab.optimise_threshold(
            [(scores, spans) for scores, (_, spans) in zip(gaussian, corpus, strict=True)], profile
        )
        result["profiles"][name] = {
            "default_threshold_score": round(nab.normalised(per_series), 1),
            "swept_threshold": round(threshold, 6),
            "swept_score": round(best, 1),
            "windowed_gaussian_swept_score": round(gaussian_best, 1),
            "windows_detected": sum(s.detected for s in per_series),
            "windows": sum(s.windows for s in per_series),
            "false_positives": sum(s.false_positives for s in per_series),
        }
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "nab.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
