"""The insight: satisfaction per district x service x week with honest intervals, the changes
that are not noise, what the sensors measured, and how the two relate — from public data only.

Threat model: the city's answer must be one anyone can recompute, so it is computed from the
DP releases (never from posts) and the public sensor readings, as they stood at a witnessed
checkpoint, and names both; ``verify_insight`` recomputes it and raises if it differs. It
carries no more about residents than the releases it cites. Pure: inputs in, report out (the
deployment shell is ``ombud.insight.source``).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from ombud.canonical import canonical_json
from ombud.clock import week_window
from ombud.districts import DISTRICT_PATTERN, DISTRICT_RULE
from ombud.errors import MalformedError, VerificationError
from ombud.insight.changes import Estimate, compare, select
from ombud.insight.correction import Confusion, correct
from ombud.insight.fusion import RULES, concerns_and_problems, relations, scorecards
from ombud.insight.sensors import GUIDELINES, INDICATORS, district_weeks
from ombud.sensors.indicators import SensorReading

__all__ = [
    "INSIGHT_VERSION",
    "SERVICE_PATTERN",
    "WEEK_PATTERN",
    "Inputs",
    "PublishedRelease",
    "SkippedRelease",
    "compute",
    "verify_insight",
    "view",
]

INSIGHT_VERSION = 1


@dataclass(frozen=True)
class PublishedRelease:
    """A DP release as anyone can read it (``GET /privacy/releases/{id}``)."""

    id: str
    period: str
    ledger_index: int
    result: Mapping[str, Any]

    @property
    def digest(self) -> str:
        """SHA-256 of the RFC 8785 result: what its ``dp.released`` entry commits to."""
        return hashlib.sha256(canonical_json(dict(self.result))).hexdigest()


@dataclass(frozen=True)
class SkippedRelease:
    """A satisfaction release whose period reads as an ISO week the insight cannot place there
    (not a week, released before its week began, or too far before the others): left out of
    the insight and named in it, so one bad ledger entry cannot break or skew it for good."""

    id: str
    period: str
    ledger_index: int
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "period": self.period,
            "ledgerIndex": self.ledger_index,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Inputs:
    origin: str
    checkpoint_size: int
    checkpoint_root: bytes
    releases: Sequence[PublishedRelease]
    """The satisfaction releases on the log before the checkpoint, one per week (the latest)."""
    readings: Iterable[SensorReading]
    """The sensor readings of the releases' weeks, in time order per device; taken as they
    stream (``gather`` gives an iterable that reads them from the database a page at a time)."""
    confusion: Confusion
    zone: tzinfo
    q: float = 0.05
    skipped: Sequence[SkippedRelease] = ()
    """Week-labelled satisfaction releases before the checkpoint left out (``SkippedRelease``)."""


def _cells(inputs: Inputs) -> tuple[list[dict[str, Any]], list[Estimate]]:
    cells, estimates = [], []
    for release in inputs.releases:
        scale = float(release.result.get("countScale", 0.0))
        for cell in release.result.get("cells", ()):
            base = {"district": cell["district"], "service": cell["service"]}
            counts = cell.get("counts")
            if cell.get("suppressed") or not counts or sum(counts.values()) <= 0:
                cells.append(
                    base
                    | {
                        "period": release.period,
                        "satisfaction": None,
                        "low": None,
                        "high": None,
                        "suppressed": True,
                    }
                )
                continue
            corrected = correct(
                [counts["negative"], counts["neutral"], counts["positive"]], scale, inputs.confusion
            )
            low, high = corrected.interval
            cells.append(
                base
                | {
                    "period": release.period,
                    "satisfaction": round(corrected.satisfaction, 4),
                    "low": round(low, 4),
                    "high": round(high, 4),
                    "suppressed": False,
                    "posts": round(corrected.posts),
                    "shares": [round(s, 4) for s in corrected.shares],
                    "uncorrected": cell.get("meanSatisfaction"),
                    "release": release.id,
                }
            )
            estimates.append(Estimate(base["district"], base["service"], release.period, corrected))
    return cells, estimates


def compute(inputs: Inputs) -> dict[str, Any]:
    """The insight report (JSON-ready), with its digest."""
    periods = [r.period for r in inputs.releases]
    if len(set(periods)) != len(periods):
        raise MalformedError("an insight takes one release per week")
    weeks = [(p, *week_window(p)) for p in periods]
    cells, estimates = _cells(inputs)
    comparisons = compare(estimates, periods, inputs.confusion)
    changes = select(comparisons, inputs.q)
    sensors = district_weeks(inputs.readings, weeks, inputs.zone)
    services = sorted({c["service"] for c in cells})
    concerns, problems = concerns_and_problems(estimates, changes, sensors, services)
    report: dict[str, Any] = {
        "v": INSIGHT_VERSION,
        "checkpoint": {
            "origin": inputs.origin,
            "size": inputs.checkpoint_size,
            "root": base64.b64encode(inputs.checkpoint_root).decode("ascii"),
        },
        "releases": [
            {"id": r.id, "period": r.period, "ledgerIndex": r.ledger_index, "result": r.digest}
            for r in inputs.releases
        ],
        "confusion": {"digest": inputs.confusion.digest, "data": inputs.confusion.source},
        "method": {
            "satisfaction": "share positive minus share negative, -1..1, corrected for the "
            "model's confusion by adjusted classify-and-count; 95% interval by the delta method "
            "over DP noise, the classifier's errors and the confusion matrix's estimation",
            "assumes": "the model errs on the city's posts as on its held-out validation data",
            "changes": f"week vs previous week and vs the cell's other weeks, Benjamini-Hochberg "
            f"at FDR {inputs.q}; intervals at the false-coverage-adjusted level",
            "sensors": INDICATORS,
            "guidelines": GUIDELINES,
            "rules": RULES,
            "timezone": str(inputs.zone),
        },
        "periods": periods,
        "cells": cells,
        "comparisons": len(comparisons),
        "changes": [c.to_json() for c in changes],
        "sensors": [s.to_json() for s in sensors],
        "relations": [r.to_json() for r in relations(estimates, sensors)],
        "scorecards": scorecards(cells, changes, sensors),
        "unmeasuredConcerns": concerns,
        "unheardProblems": problems,
    }
    if inputs.skipped:  # only then: reports without any keep the digest they always had
        report["skippedReleases"] = [s.to_json() for s in inputs.skipped]
    report["digest"] = hashlib.sha256(canonical_json(_rounded(report))).hexdigest()
    return report


def _rounded(value: Any) -> Any:
    """Floats at 9 significant digits: what the digest covers (a recomputation on another
    machine may differ in the last bits of a float)."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


SERVICE_PATTERN = r"^[a-z_]{1,32}$"
WEEK_PATTERN = r"^[0-9]{4}-W[0-9]{2}$"
"""What a report can be narrowed to, besides a district id (``ombud.districts``): a service
category, an ISO week."""


def view(
    report: Mapping[str, Any],
    *,
    district: str | None = None,
    service: str | None = None,
    week: str | None = None,
) -> dict[str, Any]:
    """The report narrowed to a district, a service and/or a week (the digest stays the full
    report's: it is what ``verify`` checks). A filter of the wrong form is refused."""
    for value, pattern, what in (
        (district, DISTRICT_PATTERN, f"a district id ({DISTRICT_RULE})"),
        (service, SERVICE_PATTERN, "a service category (lower-case letters and '_')"),
        (week, WEEK_PATTERN, "an ISO week such as 2026-W46"),
    ):
        if value is not None and not re.fullmatch(pattern, value):
            raise MalformedError(f"{value[:40]!r} is not {what}")
    if week is not None:
        week_window(week)  # 2026-W99, 0000-W00: no such week (MalformedError), not an empty view

    def keep(item: Mapping[str, Any]) -> bool:
        return (
            (district is None or item.get("district") == district)
            and (service is None or item.get("service", service) == service)
            and (week is None or item.get("period") == week)
        )

    out = dict(report)
    for key in ("cells", "changes", "sensors", "unmeasuredConcerns", "unheardProblems"):
        out[key] = [item for item in report.get(key, ()) if keep(item)]
    if service is not None:
        out["relations"] = [r for r in report.get("relations", ()) if r["service"] == service]
    cards = report.get("scorecards", {})
    out["scorecards"] = {
        d: [c for c in card if service is None or c["service"] == service]
        for d, card in cards.items()
        if district is None or d == district
    }
    out["filter"] = {"district": district, "service": service, "week": week}
    return out


def verify_insight(report: Mapping[str, Any], inputs: Inputs) -> None:
    """Recompute ``report`` from ``inputs``; returns None, or raises ``VerificationError``
    naming the first part that differs."""
    fresh = compute(inputs)
    if report.get("digest") == fresh["digest"]:
        return
    for key in fresh:
        if _rounded(report.get(key)) != _rounded(fresh[key]):
            raise VerificationError(f"the insight's {key!r} differs from its recomputation")
    raise VerificationError("the insight's digest differs from its recomputation")
