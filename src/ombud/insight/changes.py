"""Did satisfaction move? Week against previous week, and against the cell's own baseline.

Threat model: with dozens of districts x services compared every week, some comparisons look
like changes by chance, and a city that acts on them chases noise (or is told what it wants to
hear). A change is reported only when it survives Benjamini-Hochberg at false discovery rate
``q`` over every comparison made, and its interval is the false-coverage-adjusted one
(Benjamini & Yekutieli 2005: level 1 - R q / m for R selected of m), which excludes zero
exactly for the reported ones. Errors of the confusion matrix are shared by both sides of a
comparison, so their variance is taken on the difference of the shares. A change is about the
residents, not about who happened to write that week: each side's variance includes the
sampling variance of its posts (a cell's own interval, about the posts it counts, does not).
Pure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from ombud.insight.correction import Confusion, Corrected, confusion_variance

__all__ = ["Change", "Comparison", "Estimate", "compare", "select"]

_NORMAL = NormalDist()


@dataclass(frozen=True)
class Estimate:
    """A non-suppressed cell of one week's release, corrected."""

    district: str
    service: str
    period: str
    corrected: Corrected


@dataclass(frozen=True)
class Comparison:
    district: str
    service: str
    period: str
    against: str
    """``previous week <period>`` or ``baseline <periods>``."""
    delta: float
    sd: float

    @property
    def p_value(self) -> float:
        if self.sd == 0:
            return 0.0 if self.delta else 1.0
        return 2 * (1 - _NORMAL.cdf(abs(self.delta) / self.sd))


@dataclass(frozen=True)
class Change:
    """A reported change: its size and its FCR-adjusted interval, which excludes zero."""

    comparison: Comparison
    low: float
    high: float
    level: float
    q_value: float

    def to_json(self) -> dict[str, Any]:
        c = self.comparison
        return {
            "district": c.district,
            "service": c.service,
            "period": c.period,
            "against": c.against,
            "delta": round(c.delta, 4),
            "low": round(self.low, 4),
            "high": round(self.high, 4),
            "level": round(self.level, 6),
            "pValue": float(f"{c.p_value:.4g}"),
            "qValue": float(f"{self.q_value:.4g}"),
        }


def _difference(
    a: Corrected, b_shares: np.ndarray, b_own: float, confusion: Confusion
) -> tuple[float, float]:
    """``a`` minus a reference (its shares and its variance, sampling included)."""
    direction = np.array(a.shares) - b_shares
    variance = _own(a) + b_own + confusion_variance(confusion, direction)
    delta = float(np.array([-1.0, 0.0, 1.0]) @ direction)
    return delta, math.sqrt(max(variance, 0.0))


def _own(c: Corrected) -> float:
    """A week's variance as a measure of its residents: DP noise, the classifier's errors and
    who happened to write (sampling)."""
    return c.own_variance + c.sampling_variance


def _median_week(weeks: Sequence[Corrected]) -> tuple[np.ndarray, float]:
    """The cell's usual level: its median week (the two middle weeks' inverse-variance mean
    when there is an even number), so one unusual week does not move the baseline."""
    ordered = sorted(weeks, key=lambda c: c.satisfaction)
    middle = ordered[(len(ordered) - 1) // 2 : len(ordered) // 2 + 1]
    weights = np.array([1 / max(_own(c), 1e-12) for c in middle])
    weights /= weights.sum()
    shares = np.sum([w * np.array(c.shares) for w, c in zip(weights, middle, strict=True)], axis=0)
    own = float(sum(w**2 * _own(c) for w, c in zip(weights, middle, strict=True)))
    return shares, own


def compare(
    estimates: Sequence[Estimate], periods: Sequence[str], confusion: Confusion
) -> list[Comparison]:
    """Every comparison of a cell's week: with the previous week (both not suppressed), and
    with its own baseline — its median week among the weeks before it, from two weeks on, or
    from one when the previous week has no figure (a week after a suppressed one is still
    compared with what came before the gap)."""
    by_cell: dict[tuple[str, str], dict[str, Corrected]] = {}
    for e in estimates:
        by_cell.setdefault((e.district, e.service), {})[e.period] = e.corrected
    order = {p: i for i, p in enumerate(periods)}
    out: list[Comparison] = []
    for (district, service), weeks in sorted(by_cell.items()):
        ordered = sorted(weeks, key=lambda p: order.get(p, len(order)))
        for period in ordered:
            here = weeks[period]
            index = order.get(period)
            previous = periods[index - 1] if index else None
            if previous is not None and previous in weeks:
                last = weeks[previous]
                delta, sd = _difference(here, np.array(last.shares), _own(last), confusion)
                out.append(
                    Comparison(district, service, period, f"previous week {previous}", delta, sd)
                )
            before = ordered[: ordered.index(period)]
            # one preceding week that is the previous week is the previous-week comparison
            if len(before) >= 2 or (index is not None and before and before[-1] != previous):
                base_shares, base_own = _median_week([weeks[p] for p in before])
                delta, sd = _difference(here, base_shares, base_own, confusion)
                out.append(
                    Comparison(
                        district, service, period, f"baseline {', '.join(before)}", delta, sd
                    )
                )
    return out


def select(comparisons: Sequence[Comparison], q: float = 0.05) -> list[Change]:
    """The comparisons Benjamini-Hochberg keeps at false discovery rate ``q``, with intervals at
    the false-coverage-adjusted level 1 - R q / m."""
    m = len(comparisons)
    if m == 0:
        return []
    ranked = sorted(range(m), key=lambda i: comparisons[i].p_value)
    kept = 0
    for rank, i in enumerate(ranked, 1):
        if comparisons[i].p_value <= rank * q / m:
            kept = rank
    # q-values: the smallest FDR at which each comparison would be kept
    q_values = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = ranked[rank - 1]
        running = min(running, comparisons[i].p_value * m / rank)
        q_values[i] = running
    if kept == 0:
        return []
    level = 1 - kept * q / m
    z = _NORMAL.inv_cdf(1 - kept * q / (2 * m))
    changes = []
    for i in ranked[:kept]:
        c = comparisons[i]
        changes.append(Change(c, c.delta - z * c.sd, c.delta + z * c.sd, level, q_values[i]))
    return sorted(changes, key=lambda ch: (ch.comparison.period, ch.comparison.district))
