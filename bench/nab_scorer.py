"""The Numenta Anomaly Benchmark scorer (NAB v1.1), to judge anomaly detectors on labelled series.

Threat model: a score that flatters a detector would let a city trust a check that misses
tampered sensors; so this follows NAB's published rules exactly and is pure (rows, flags and
windows in, numbers out). The rules (Lavin & Ahmad 2015; NAB ``sweeper.py``):

* the first 15% of rows, at most 750, are a probation period and are not scored;
* a window (labelled anomaly span, in rows) is detected by its earliest flag only, which earns
  ``A_TP·sigma(y)`` with ``y = -(right - i + 1)/width`` (-1 at the left edge, → 0 at the right) and
  ``sigma(y) = 2/(1 + e^{5y}) - 1`` (the scaled sigmoid); later flags in the same window count for
  nothing;
* a window with no flag costs ``A_FN``;
* a flag outside every window costs ``A_FP·sigma(y)`` with ``y`` its distance past the previous
  window in that window's widths (``sigma`` is negative there), and the full ``A_FP`` when no window
  precedes it or it lies more than three widths past one;
* scores are normalised as ``100·(S - S_null)/(S_perfect - S_null)`` over the whole corpus, where
  the null detector never flags (``-A_FN`` per window) and the perfect one earns ``A_TP`` per
  window — NAB's normalisation: with it, the per-file scores NAB publishes give exactly the
  normalised totals it reports (``tests/bench/test_nab_scorer.py``); a flag at a window's
  first row itself earns ``A_TP·sigma(-1)`` ≈ 0.9866·A_TP, so no real detector reaches 100.

NAB reports each detector at the threshold that maximises its corpus score per profile
(``optimise_threshold``); ombud also reports its detector at its own fixed default threshold.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ombud.errors import MalformedError

__all__ = [
    "PROFILES",
    "PUBLISHED",
    "PUBLISHED_AS",
    "Profile",
    "SeriesScore",
    "normalised",
    "optimise_threshold",
    "probation_rows",
    "scaled_sigmoid",
    "score_flagged",
    "score_series",
]


@dataclass(frozen=True)
class Profile:
    """A NAB cost profile (``config/profiles.json``)."""

    tp: float
    fp: float
    fn: float


PROFILES: Mapping[str, Profile] = {
    "standard": Profile(tp=1.0, fp=0.11, fn=1.0),
    "reward_low_FP_rate": Profile(tp=1.0, fp=0.22, fn=1.0),
    "reward_low_FN_rate": Profile(tp=1.0, fp=0.11, fn=2.0),
}


PUBLISHED: Mapping[str, Mapping[str, float]] = {
    "standard": {"ARTime": 73.2, "CAD OSE": 67.0, "Numenta HTM": 68.4, "windowed Gaussian": 36.3},
    "reward_low_FP_rate": {
        "ARTime": 62.9, "CAD OSE": 64.0, "Numenta HTM": 61.4, "windowed Gaussian": 15.3,
    },
    "reward_low_FN_rate": {
        "ARTime": 78.9, "CAD OSE": 70.5, "Numenta HTM": 72.7, "windowed Gaussian": 44.8,
    },
}  # fmt: skip
"""NAB's normalised totals on the 51 files of ../shared/data/nab-corpus (its README), per
profile and detector; tests/bench/test_nab_scorer.py recomputes each from NAB's per-file
scores."""
PUBLISHED_AS: Mapping[str, str] = {
    "ARTime": "ARTime",
    "CAD OSE": "contextOSE",
    "Numenta HTM": "numenta",
    "windowed Gaussian": "windowedGaussian",
}
"""Each published detector's name in NAB's per-file scores (``reference/published_scores.csv``)."""


def probation_rows(rows: int) -> int:
    """NAB's probation period: the first 15% of a series, at most 750 rows."""
    return min(math.floor(0.15 * rows), 750)


def scaled_sigmoid(y: float) -> float:
    """NAB's scaled sigmoid: ≈ 0.987 at y = -1, 0 at y = 0, → -1 as y grows; -1 past y = 3."""
    if y > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


@dataclass(frozen=True)
class SeriesScore:
    """One series scored: the raw score and its null and perfect bounds, and what made it."""

    score: float
    null: float
    perfect: float
    detected: int
    """Windows with a flag."""
    windows: int
    false_positives: int


def _check_windows(windows: Sequence[tuple[int, int]], rows: int) -> None:
    previous = -1
    for start, end in windows:
        if not 0 <= start <= end < rows or start <= previous:
            raise MalformedError(
                f"window rows ({start}, {end}) are not ordered within 0..{rows - 1}"
            )
        previous = end


def score_series(
    flags: Sequence[bool], windows: Sequence[tuple[int, int]], profile: Profile
) -> SeriesScore:
    """Score one series' detections (a flag per row) against its windows (inclusive row spans)."""
    return score_flagged([i for i, f in enumerate(flags) if f], len(flags), windows, profile)


def score_flagged(
    flagged: Sequence[int], rows: int, windows: Sequence[tuple[int, int]], profile: Profile
) -> SeriesScore:
    """``score_series`` from the rows that flag, in increasing order (what a sweep over a
    large corpus hands in: flags are few, rows many)."""
    _check_windows(windows, rows)
    probation = probation_rows(rows)
    scored = [w for w in windows if w[1] >= probation]
    tp_total = fp_total = 0.0
    detected: set[int] = set()
    false_positives = 0
    window = 0  # the window at or after the current row
    for i in flagged:
        if i < probation:
            continue
        while window < len(windows) and windows[window][1] < i:
            window += 1
        if window < len(windows) and windows[window][0] <= i:
            if window not in detected:
                start, end = windows[window]
                detected.add(window)
                tp_total += profile.tp * scaled_sigmoid(-(end - i + 1) / (end - start + 1))
            continue
        false_positives += 1
        if window == 0:
            fp_total -= profile.fp  # no window before it: as far from one as can be
        else:
            start, end = windows[window - 1]
            width = end - start + 1
            past = abs(end - i) / max(width - 1, 1)
            fp_total += profile.fp * scaled_sigmoid(past)
    missed = sum(1 for k, w in enumerate(windows) if w in scored and k not in detected)
    score = tp_total + fp_total - profile.fn * missed
    null = -profile.fn * len(scored)
    perfect = profile.tp * len(scored)
    return SeriesScore(score, null, perfect, len(detected), len(scored), false_positives)


def normalised(scores: Sequence[SeriesScore]) -> float:
    """NAB's normalised score over a corpus: 0 for the null detector, 100 for the perfect one."""
    total = sum(s.score for s in scores)
    null = sum(s.null for s in scores)
    perfect = sum(s.perfect for s in scores)
    if perfect == null:
        raise MalformedError("a corpus without anomaly windows cannot be normalised")
    return 100.0 * (total - null) / (perfect - null)


def optimise_threshold(
    series: Sequence[tuple[Sequence[float], Sequence[tuple[int, int]]]],
    profile: Profile,
    flags_for: Callable[[Sequence[float], float], Sequence[bool]] | None = None,
    candidates: Sequence[float] | None = None,
) -> tuple[float, float]:
    """The threshold maximising the corpus's normalised score, and that score (NAB's sweep).

    ``series`` holds each series' anomaly scores and windows; ``flags_for(scores, threshold)``
    turns scores into flags as the detector would (by default: score ≥ threshold).
    """
    if flags_for is None:
        flags_for = lambda scores, threshold: [s >= threshold for s in scores]  # noqa: E731
    if candidates is None:
        # Every one of the highest distinct scores (where flags are sparse and the optimum
        # lies), and a thinned sample of the rest.
        values = sorted({round(s, 6) for scores, _ in series for s in scores}, reverse=True)
        step = max(1, len(values) // 400)
        candidates = sorted({*values[:1000], *values[::step], math.inf}, reverse=True)
    best = (math.inf, -math.inf)
    for threshold in candidates:
        result = normalised(
            [
                score_series(flags_for(scores, threshold), windows, profile)
                for scores, windows in series
            ]
        )
        if result > best[1]:
            best = (threshold, result)
    return best
