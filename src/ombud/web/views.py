"""What each public page shows, shaped from the insight report and other public records: pure
functions, report in, plain values out (the templates only lay them out).

Threat model: the inputs are public (DP releases through the insight, sensor aggregates,
public flags, ledger events), so are the outputs; nothing here reads a post, a subject or a
vault. District and service names come from the report and the city's map, escaped by the
templates like everything else.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AIR_FIGURES",
    "DistrictNames",
    "Figure",
    "cell_table",
    "default_service",
    "district_sensors",
    "latest_period",
    "noise_rows",
    "satisfaction_by_district",
    "services",
    "trend_points",
]

AIR_FIGURES = ("pm25", "pm10", "no2")
_ORDER: tuple[str, ...] = ("Lden", "Lnight", "Lday", "Levening", "pm25", "pm10", "no2")
_ORDER += ("flow", "congestion", "occupancy")


@dataclass(frozen=True)
class DistrictNames:
    """District id → the name people know it by (from the city's map; else the id)."""

    names: Mapping[str, str]

    def __call__(self, district: str) -> str:
        return self.names.get(district, district)


@dataclass(frozen=True)
class Figure:
    """One sensor figure as a row: what, value, unit, guideline and whether it is past it."""

    key: str
    meaning: str
    value: float
    guideline: float | None
    past: bool


def services(report: Mapping[str, Any]) -> list[str]:
    return sorted({c["service"] for c in report["cells"]})


def districts(report: Mapping[str, Any]) -> list[str]:
    return sorted(
        {c["district"] for c in report["cells"]} | {s["district"] for s in report["sensors"]}
    )


def latest_period(report: Mapping[str, Any]) -> str | None:
    periods = report.get("periods") or []
    return str(periods[-1]) if periods else None


def default_service(report: Mapping[str, Any], period: str | None) -> str | None:
    """The service a page opens on: the one with the latest reported change, else the one
    with most figures in ``period``."""
    if report["changes"]:
        return str(max(report["changes"], key=lambda c: c["period"])["service"])
    shown: dict[str, int] = defaultdict(int)
    for c in report["cells"]:
        if c["period"] == period and c["satisfaction"] is not None:
            shown[c["service"]] += 1
    return max(sorted(shown), key=lambda s: shown[s]) if shown else None


def satisfaction_by_district(
    report: Mapping[str, Any], service: str, period: str
) -> dict[str, float | None]:
    return {
        c["district"]: c["satisfaction"]
        for c in report["cells"]
        if c["service"] == service and c["period"] == period
    }


def cell_table(
    report: Mapping[str, Any], *, service: str | None = None, district: str | None = None
) -> list[dict[str, Any]]:
    """Cells, newest week first, then district and service."""
    rows = [
        c
        for c in report["cells"]
        if (service is None or c["service"] == service)
        and (district is None or c["district"] == district)
    ]
    rows.sort(key=lambda c: (c["district"], c["service"]))
    rows.sort(key=lambda c: c["period"], reverse=True)
    return rows


def trend_points(
    report: Mapping[str, Any], *, series: str, service: str | None = None,
    district: str | None = None, names: DistrictNames | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Weekly satisfaction with its interval, one series per ``series`` ("district" or
    "service"); suppressed cells are left out (the table says which)."""
    label = names or DistrictNames({})
    out = []
    for c in cell_table(report, service=service, district=district):
        if c["satisfaction"] is None:
            continue
        name = label(c["district"]) if series == "district" else c["service"].replace("_", " ")
        out.append(
            {
                "series": name,
                "period": c["period"],
                "satisfaction": c["satisfaction"],
                "low": c["low"],
                "high": c["high"],
            }
        )
    out.sort(key=lambda p: (p["series"], p["period"]))
    return out


def noise_rows(
    report: Mapping[str, Any], district: str | None, names: DistrictNames
) -> list[dict[str, Any]]:
    rows = []
    for s in sorted(report["sensors"], key=lambda s: (s["district"], s["period"])):
        if district is not None and s["district"] != district:
            continue
        for figure in ("Lden", "Lnight"):
            if figure in s["figures"]:
                where = names(s["district"]) if district is None else ""
                label = f"{where} {s['period'][-3:]}".strip()
                rows.append({"label": label, "figure": figure, "value": s["figures"][figure]})
    return rows


def district_sensors(report: Mapping[str, Any], district: str) -> list[dict[str, Any]]:
    """Per week: the figures with their guideline, the devices used and left out."""
    meanings = report["method"]["sensors"]
    guidelines = report["method"]["guidelines"]
    weeks = []
    for s in sorted(report["sensors"], key=lambda s: s["period"], reverse=True):
        if s["district"] != district:
            continue
        figures = [
            Figure(
                key,
                meanings.get(key, key),
                s["figures"][key],
                guidelines.get(key),
                key in s["pastGuideline"],
            )
            for key in _ORDER
            if key in s["figures"]
        ]
        weeks.append({**s, "rows": figures})
    return weeks


def quarantine_by_check(held: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for q in held:
        for check in q.get("checks") or [q.get("reason", "?")]:
            counts[str(check)] += 1
    return dict(sorted(counts.items()))
