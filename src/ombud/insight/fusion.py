"""Residents beside sensors: which figures bear on which service, how they move together, and
the two lists an official acts on.

Threat model: a correlation across a handful of district-weeks is easily over-read, so each
comes with its bootstrap interval and its number of pairs; the lists are rules anyone can
recompute (stated in ``RULES``), not a model's opinion. The bootstrap's generator is seeded
from the data, so a recomputation gives the same interval. Pure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ombud.insight.changes import Change, Estimate
from ombud.insight.sensors import GUIDELINES, SensorWeek

__all__ = [
    "RULES",
    "SERVICE_INDICATORS",
    "TARGETS",
    "Relation",
    "concerns_and_problems",
    "relations",
    "scorecards",
    "spearman",
]

SERVICE_INDICATORS: Mapping[str, tuple[str, ...]] = {
    "noise": ("Lnight", "Lden"),
    "air": ("no2", "pm25", "pm10"),
    "parking": ("occupancy",),
    "transport": ("congestion", "flow"),
    "roads": ("congestion", "flow"),
}
"""The sensor figures that bear on each service."""
TARGETS: Mapping[str, float] = {"congestion": 0.25, "occupancy": 0.85}
"""Levels past which traffic and parking are a problem (no WHO guideline exists for them): a
quarter of daytime readings congested, and 85% occupancy, the usual on-street target."""
RULES = {
    "unhappy": "the cell-week's satisfaction interval lies below -0.2, or a fall was reported",
    "content": "the satisfaction estimate is 0 or more",
    "silent": "no release figure for the cell-week (suppressed or no posts)",
    "sensorsFine": "no figure that bears on the service is past its guideline or target",
    "unmeasuredConcern": "residents unhappy while the sensors look fine (or none bears on it)",
    "unheardProblem": "a figure past its guideline or target while residents are silent or content",
}
_MIN_PAIRS = 6
_BOOTSTRAP = 1000


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing their mean rank."""
    n = len(values)
    order = np.argsort(values, kind="stable")
    inverse = np.empty(n, dtype=int)
    inverse[order] = np.arange(n)
    ordered = values[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]]
    group = first.cumsum()[inverse]
    bounds = np.r_[np.nonzero(first)[0], n]
    ranks: np.ndarray = 0.5 * (bounds[group] + bounds[group - 1] + 1)
    return ranks


def spearman(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    rx, ry = _ranks(np.asarray(x, float)), _ranks(np.asarray(y, float))
    if rx.std() == 0 or ry.std() == 0:
        return 0.0
    return float(np.corrcoef(rx, ry)[0, 1])


@dataclass(frozen=True)
class Relation:
    service: str
    figure: str
    pairs: int
    rho: float
    low: float
    high: float

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "figure": self.figure,
            "pairs": self.pairs,
            "spearman": round(self.rho, 4),
            "low": round(self.low, 4),
            "high": round(self.high, 4),
        }


def relations(estimates: Sequence[Estimate], sensors: Sequence[SensorWeek]) -> list[Relation]:
    """Spearman's rank correlation of satisfaction with each related figure across
    district-weeks, with a 95% percentile bootstrap interval (1,000 resamples of the pairs)."""
    figures = {(s.district, s.period): s.figures for s in sensors}
    out = []
    for service, names in SERVICE_INDICATORS.items():
        for name in names:
            pairs = [
                (e.corrected.satisfaction, figures[e.district, e.period][name])
                for e in estimates
                if e.service == service and name in figures.get((e.district, e.period), {})
            ]
            if len(pairs) < _MIN_PAIRS:
                continue
            x = np.array([p[0] for p in pairs])
            y = np.array([p[1] for p in pairs])
            seed = hashlib.sha256(repr(sorted(pairs)).encode()).digest()[:8]
            rng = np.random.default_rng(int.from_bytes(seed, "big"))
            draws = [spearman(x[i], y[i]) for i in rng.integers(0, len(x), (_BOOTSTRAP, len(x)))]
            low, high = np.percentile(draws, [2.5, 97.5])
            out.append(Relation(service, name, len(pairs), spearman(x, y), float(low), float(high)))
    return out


def _limit(name: str) -> float | None:
    return GUIDELINES.get(name, TARGETS.get(name))


def concerns_and_problems(
    estimates: Sequence[Estimate],
    changes: Sequence[Change],
    sensors: Sequence[SensorWeek],
    services: Sequence[str],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(unmeasured concerns, unheard problems), by ``RULES``."""
    figures = {(s.district, s.period): s.figures for s in sensors}
    heard = {(e.district, e.service, e.period): e.corrected for e in estimates}
    falls = {
        (c.comparison.district, c.comparison.service, c.comparison.period)
        for c in changes
        if c.comparison.delta < 0
    }
    concerns = []
    for (district, service, period), corrected in sorted(heard.items()):
        unhappy = corrected.interval[1] < -0.2 or (district, service, period) in falls
        if not unhappy:
            continue
        related = figures.get((district, period), {})
        past = {
            n: round(related[n], 3)
            for n in SERVICE_INDICATORS.get(service, ())
            if n in related and (limit := _limit(n)) is not None and related[n] > limit
        }
        if past:
            continue
        measured = {
            n: round(related[n], 3) for n in SERVICE_INDICATORS.get(service, ()) if n in related
        }
        concerns.append(
            {
                "district": district,
                "service": service,
                "period": period,
                "satisfaction": round(corrected.satisfaction, 4),
                "interval": [round(v, 4) for v in corrected.interval],
                "sensors": measured or None,
                "why": "sensors within guideline" if measured else "no sensor bears on it",
            }
        )
    problems = []
    for (district, period), related in sorted(figures.items()):
        for service in services:
            for name in SERVICE_INDICATORS.get(service, ()):
                limit = _limit(name)
                if name not in related or limit is None or related[name] <= limit:
                    continue
                said = heard.get((district, service, period))
                if said is not None and said.satisfaction < 0:
                    continue
                problems.append(
                    {
                        "district": district,
                        "service": service,
                        "period": period,
                        "figure": name,
                        "value": round(related[name], 3),
                        "limit": limit,
                        "residents": "silent"
                        if said is None
                        else f"content ({said.satisfaction:+.2f})",
                    }
                )
    return concerns, problems


def scorecards(
    cells: Sequence[Mapping[str, Any]],
    changes: Sequence[Change],
    sensors: Sequence[SensorWeek],
) -> dict[str, list[dict[str, Any]]]:
    """Per district, each service heard: its latest satisfaction, its weekly trend, the changes
    reported and the latest figures of the sensors that bear on it."""
    figures = {(s.district, s.period): s for s in sensors}
    heard: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for cell in cells:
        if not cell["suppressed"]:
            heard.setdefault((cell["district"], cell["service"]), []).append(cell)
    out: dict[str, list[dict[str, Any]]] = {}
    for (district, service), weeks in sorted(heard.items()):
        latest = weeks[-1]
        week = figures.get((district, latest["period"]))
        related = {
            name: {
                "value": round(week.figures[name], 3),
                "limit": _limit(name),
                "past": (limit := _limit(name)) is not None and week.figures[name] > limit,
            }
            for name in SERVICE_INDICATORS.get(service, ())
            if week is not None and name in week.figures
        }
        out.setdefault(district, []).append(
            {
                "service": service,
                "period": latest["period"],
                "satisfaction": latest["satisfaction"],
                "low": latest["low"],
                "high": latest["high"],
                "trend": [
                    {"period": w["period"], "satisfaction": w["satisfaction"]} for w in weeks
                ],
                "changes": [
                    c.to_json()
                    for c in changes
                    if (c.comparison.district, c.comparison.service) == (district, service)
                ],
                "sensors": related,
            }
        )
    return out
