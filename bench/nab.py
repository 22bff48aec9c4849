"""NAB benchmark: ombud's streaming detector on the 51 series of ../shared/data/nab-corpus (six
families), scored by ombud's NAB v1.1 scorer, beside the published detectors.

Reports, per cost profile (standard, reward_low_FP_rate, reward_low_FN_rate):
- the corpus score at ONE threshold for all 51 files, the one NAB's own procedure picks (the
  sweep that maximises the corpus score), and at the detector's shipped default threshold;
- how much the score depends on the threshold (the score at thresholds around the optimum);
- the leave-one-family-out figure — for each family, the threshold and the refractory period
  chosen on the other five, then every family scored with the choice it never saw, normalised
  over all 51 files: the figure to trust (and the same with only the threshold chosen, the
  refractory period fixed at the shipped one);
- the windowed-Gaussian baseline measured in the same run through the same sweep, and the
  published reference scores (ARTime, CAD OSE, Numenta HTM, windowed Gaussian) on these files;
- per family, the raw score at that threshold beside each published detector's (NAB's
  per-file scores summed), to show where the corpus score is won or lost;
- the detector's throughput (readings/s on one core, over one pass of the corpus).
Each series is fed with its rows' timestamps, as live screening feeds signed times (the
detector flags nothing in a series' first day of them). The detector's other settings are
fixed in the code; they were chosen on these 51 files (scales, smoothing, history,
calibration window and tail quantile, from about seventy combinations — see the README), so
only the threshold and refractory period are truly held out in the leave-one-family-out
figure. ``--designs`` adds the figure with the settings chosen too:
for each family, the best of ``DESIGNS`` (the shipped settings and its nearest alternatives)
and threshold on the other five, scored on the one left out. The corpus's seventh family is
withheld from this copy: the independent check. Usage: python bench/nab.py [--designs]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np

import nab_scorer as nab
from ombud.integrity.detector import AnomalyDetector, DetectorSettings

ROOT = Path(__file__).resolve().parent
CORPUS = ROOT.parents[1] / "shared" / "data" / "nab-corpus"
RESULTS = ROOT / "results"


@dataclass(frozen=True)
class Series:
    """One labelled series of the corpus."""

    name: str
    """family/file"""
    values: list[float]
    times: list[float]
    """Each reading's time, seconds since 1970 (the detector learns for a day of them)."""
    spans: list[tuple[int, int]]
    """The anomaly windows, as inclusive row spans."""

    @property
    def family(self) -> str:
        return self.name.split("/")[0]


@dataclass(frozen=True)
class Run:
    """A detector's scores over one series, and the first row it may flag."""

    scores: np.ndarray
    rows: int
    spans: list[tuple[int, int]]
    flags_from: int


def load_corpus() -> list[Series]:
    """Every labelled series."""
    windows = json.loads((CORPUS / "labels" / "combined_windows.json").read_text())
    corpus = []
    for name in sorted(windows):
        with open(CORPUS / "data" / name, newline="") as f:
            rows = list(csv.reader(f))[1:]
        stamps = [r[0] for r in rows]
        spans = []
        for start, end in windows[name]:
            first = next(i for i, t in enumerate(stamps) if t >= start[:19])
            last = max(i for i, t in enumerate(stamps) if t <= end[:19])
            spans.append((first, last))
        times = [datetime.fromisoformat(s).replace(tzinfo=UTC).timestamp() for s in stamps]
        corpus.append(Series(name, [float(r[1]) for r in rows], times, spans))
    return corpus


def run_detector(series: Series, settings: DetectorSettings) -> Run:
    """The detector over one series, fed its readings and their times in order."""
    detector = AnomalyDetector(settings)
    scores = [detector.update(v, at)[0] for v, at in zip(series.values, series.times, strict=True)]
    return Run(np.array(scores), len(scores), series.spans, detector.flags_from)


def windowed_gaussian(values: list[float], window: int = 6400) -> np.ndarray:
    """NAB's windowed Gaussian: each reading's tail probability under the mean and deviation
    of the previous ``window`` readings (30 at least), from the past alone."""
    x = np.asarray(values, dtype=float)
    s1 = np.concatenate([[0.0], np.cumsum(x)])
    s2 = np.concatenate([[0.0], np.cumsum(x * x)])
    i = np.arange(len(x))
    lo = np.maximum(0, i - window)
    n = i - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (s1[i] - s1[lo]) / n
        var = np.maximum((s2[i] - s2[lo]) / n - mean * mean, 0.0)
        z = np.abs(x - mean) / np.maximum(np.sqrt(var), 1e-9)
    erfc = np.vectorize(math.erfc)
    scores = 1 - 0.5 * erfc(np.nan_to_num(z) / math.sqrt(2))
    scores[n < 30] = 0.0
    return np.asarray(scores)


SHIPPED = DetectorSettings()
DESIGNS = {
    "shipped": SHIPPED,
    "smoothing 1": replace(SHIPPED, smoothing=1),
    "smoothing 3": replace(SHIPPED, smoothing=3),
    "smoothing 7": replace(SHIPPED, smoothing=7),
    "scales 4-32": replace(SHIPPED, scales=(4, 8, 16, 32)),
    "scales 4-32, smoothing 1 (the previous detector)": replace(
        SHIPPED, scales=(4, 8, 16, 32), smoothing=1
    ),
}
"""The settings ``--designs`` chooses among, per family left out."""
REFRACTORIES = (50, 80, 110, 150, 300)
"""Refractory periods the leave-one-family-out figure chooses from (scores do not depend on
it, so choosing it costs only sweeps)."""


def flagged(scores: np.ndarray, threshold: float, refractory: int, flags_from: int) -> list[int]:
    """The rows the detector would flag at ``threshold`` (``detector.to_flags``, sparse)."""
    out: list[int] = []
    quiet_until = -1
    for i in np.flatnonzero(scores >= threshold).tolist():
        if i > quiet_until and i >= flags_from:
            out.append(i)
            quiet_until = i + refractory
    return out


def corpus_score(
    runs: list[Run], thresholds: list[float], profile: nab.Profile, refractory: int
) -> list[nab.SeriesScore]:
    return [
        nab.score_flagged(flagged(r.scores, t, refractory, r.flags_from), r.rows, r.spans, profile)
        for r, t in zip(runs, thresholds, strict=True)
    ]


def candidates(all_scores: list[np.ndarray]) -> list[float]:
    """Thresholds to sweep: the 300 highest distinct scores (where flags are sparse and the
    optimum usually lies), 400 quantiles of the distinct scores above 0.5 and 300 of all."""
    joined = np.concatenate(all_scores)
    distinct = np.unique(np.round(joined[joined > 0], 6))
    upper = distinct[distinct > 0.5]
    picks: set[float] = {*distinct[-300:].tolist(), math.inf}
    for values, count in ((upper, 400), (distinct, 300)):
        if len(values):
            picks.update(np.quantile(values, np.linspace(0.0, 1.0, count)).tolist())
    return sorted(picks)


def sweep(
    runs: list[Run], profile: nab.Profile, refractory: int, options: list[float]
) -> tuple[float, float, dict[float, float]]:
    """The best single threshold, its normalised score, and the score at every candidate."""
    curve = {
        t: nab.normalised(corpus_score(runs, [t] * len(runs), profile, refractory)) for t in options
    }
    best = max(curve, key=lambda t: curve[t])
    return best, curve[best], curve


def leave_one_family_out(
    corpus: list[Series],
    runs: list[Run],
    profile: nab.Profile,
    options: list[float],
    refractories: tuple[int, ...] = REFRACTORIES,
) -> tuple[float, dict[str, tuple[float, int]]]:
    """For each family, the (threshold, refractory) with the best score on the other five;
    the corpus scored with those choices, each family with the one made without it."""
    family = [s.family for s in corpus]
    chosen: dict[str, tuple[float, int]] = {}
    for held in sorted(set(family)):
        train = [r for r, f in zip(runs, family, strict=True) if f != held]
        best = (-math.inf, 0.0, 0)
        for refractory in refractories:
            threshold, score, _ = sweep(train, profile, refractory, options)
            best = max(best, (score, threshold, refractory))
        chosen[held] = (best[1], best[2])
    per = [
        nab.score_flagged(flagged(r.scores, *chosen[f], r.flags_from), r.rows, r.spans, profile)
        for r, f in zip(runs, family, strict=True)
    ]
    return nab.normalised(per), chosen


def leave_one_family_out_designs(
    corpus: list[Series],
    scored: dict[str, list[Run]],
    profile: nab.Profile,
) -> tuple[float, dict[str, tuple[str, float]]]:
    """For each family, the (design, threshold) with the best score on the other five, at the
    shipped refractory period; the corpus scored with those choices, each family with the one
    made without it."""
    family = [s.family for s in corpus]
    per_design = {}
    for design, runs in scored.items():
        options = candidates([r.scores for r in runs])
        options = [*options[:: max(1, len(options) // 250)], math.inf]
        per_design[design] = {
            t: corpus_score(runs, [t] * len(runs), profile, SHIPPED.refractory) for t in options
        }
    chosen: dict[str, tuple[str, float]] = {}
    for held in sorted(set(family)):
        train = [i for i, f in enumerate(family) if f != held]
        _, design, threshold = max(
            (nab.normalised([per[i] for i in train]), design, t)
            for design, curve in per_design.items()
            for t, per in curve.items()
        )
        chosen[held] = (design, threshold)
    final = [per_design[chosen[f][0]][chosen[f][1]][i] for i, f in enumerate(family)]
    return nab.normalised(final), chosen


def run_designs(corpus: list[Series]) -> dict[str, Any]:
    """Every design over the corpus (two processes), and the leave-one-family-out figure with
    the design chosen too, per profile."""
    jobs = [(series, settings) for settings in DESIGNS.values() for series in corpus]
    with Pool(2) as pool:
        outputs = pool.starmap(run_detector, jobs, chunksize=4)
    scored = {
        design: outputs[k * len(corpus) : (k + 1) * len(corpus)] for k, design in enumerate(DESIGNS)
    }
    result: dict[str, Any] = {
        "designs": {d: _settings_json(s) for d, s in DESIGNS.items()},
        "profiles": {},
    }
    for name, profile in nab.PROFILES.items():
        figure, chosen = leave_one_family_out_designs(corpus, scored, profile)
        each = {
            d: round(sweep(r, profile, SHIPPED.refractory, candidates([x.scores for x in r]))[1], 1)
            for d, r in scored.items()
        }
        result["profiles"][name] = {
            "leave_one_family_out_design_and_threshold": round(figure, 1),
            "chosen_without_each_family": {
                f: {"design": d, "threshold": round(t, 6)} for f, (d, t) in chosen.items()
            },
            "one_threshold_score_of_each_design": each,
        }
        print(name, "designs chosen too: lofo", round(figure, 1), each, flush=True)
    return result


def published_scores() -> dict[tuple[str, str, str], float]:
    """NAB's per-file raw scores of the published detectors, by (profile, detector, file)."""
    with open(CORPUS / "reference" / "published_scores.csv", newline="") as f:
        return {
            (r["Profile"], r["Detector"], r["File"]): float(r["Score"]) for r in csv.DictReader(f)
        }


def by_family(
    corpus: list[Series],
    per: list[nab.SeriesScore],
    profile: str,
    published: dict[tuple[str, str, str], float],
) -> dict[str, dict[str, float]]:
    """Per family, the raw score (sum over its files) of ombud at its one threshold and of each
    published detector (``published_scores``), with the null detector's and a perfect one's:
    where the corpus score is won or lost."""
    out: dict[str, dict[str, float]] = {}
    for series, score in zip(corpus, per, strict=True):
        row = out.setdefault(series.family, {})
        shown = {"null": score.null, "perfect": score.perfect, "ombud": score.score}
        for name, detector in nab.PUBLISHED_AS.items():
            shown[name] = published[(profile, detector, series.name)]
        for name, value in shown.items():
            row[name] = row.get(name, 0.0) + value
    return {f: {k: round(v, 2) for k, v in row.items()} for f, row in sorted(out.items())}


def _settings_json(settings: DetectorSettings) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(settings).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--designs", action="store_true", help="also choose the settings per family"
    )
    args = parser.parse_args()
    if not CORPUS.is_dir():
        print(f"skipped: {CORPUS} is absent (the NAB corpus comes from ../shared)")
        return
    corpus = load_corpus()
    settings = SHIPPED
    started = time.perf_counter()
    scored = [run_detector(series, settings) for series in corpus]
    elapsed = time.perf_counter() - started
    rows = sum(len(s.values) for s in corpus)
    gaussian = [Run(windowed_gaussian(s.values), len(s.values), s.spans, 0) for s in corpus]
    options = candidates([r.scores for r in scored])
    lofo_options = [*options[:: max(1, len(options) // 250)], math.inf]
    gaussian_options = candidates([r.scores for r in gaussian])
    published = published_scores()
    result: dict[str, Any] = {
        "benchmark": "nab",
        "files": len(corpus),
        "rows": rows,
        "families": sorted({s.family for s in corpus}),
        "seconds_for_the_corpus_one_core": round(elapsed, 1),
        "readings_per_s_one_core": round(rows / elapsed),
        "settings": _settings_json(settings),
        "default_threshold": settings.threshold,
        "profiles": {},
    }
    for name, profile in nab.PROFILES.items():
        best_t, best, curve = sweep(scored, profile, settings.refractory, options)
        at_default = nab.normalised(
            corpus_score(scored, [settings.threshold] * len(scored), profile, settings.refractory)
        )
        lofo, chosen = leave_one_family_out(corpus, scored, profile, lofo_options)
        lofo_threshold, _ = leave_one_family_out(
            corpus, scored, profile, lofo_options, (settings.refractory,)
        )
        _, gaussian_best, _ = sweep(gaussian, profile, 0, gaussian_options)
        per = corpus_score(scored, [best_t] * len(scored), profile, settings.refractory)
        finite = sorted(t for t in curve if math.isfinite(t))
        k = finite.index(best_t) if best_t in finite else 0
        nearby = {f"{t:.6f}": round(curve[t], 1) for t in finite[max(0, k - 20) : k + 21 : 5]}
        result["profiles"][name] = {
            "one_threshold": round(best_t, 6),
            "score": round(best, 1),
            "score_at_default_threshold": round(at_default, 1),
            "leave_one_family_out": round(lofo, 1),
            "leave_one_family_out_threshold_only": round(lofo_threshold, 1),
            "chosen_without_each_family": {
                f: {"threshold": round(t, 6), "refractory": r} for f, (t, r) in chosen.items()
            },
            "score_around_the_threshold": nearby,
            "windows_detected": sum(s.detected for s in per),
            "windows": sum(s.windows for s in per),
            "false_positives": sum(s.false_positives for s in per),
            "windowed_gaussian_same_run": round(gaussian_best, 1),
            "published": nab.PUBLISHED[name],
            "raw_score_by_family": by_family(corpus, per, name, published),
        }
        print(name, result["profiles"][name]["score"], "lofo", round(lofo, 1), flush=True)
    if args.designs:
        result["settings_chosen_too"] = run_designs(corpus)
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "nab.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
