"""Plausibility checks: small pure functions over a sensor's recent readings, each a verdict.

Threat model: a signed reading can still be wrong — a broken sensor, a tampered one, a stolen
key feeding fiction. Each check looks at one symptom and returns a ``Verdict`` that carries its
evidence (the values, neighbours and thresholds it used), so an auditor can redo the reasoning;
none of them deletes or alters a reading (suspect data is quarantined elsewhere, never dropped).
Every check must also leave clean data alone: thresholds are robust (median and MAD, which a
few outliers cannot drag) and conservative.

Checks: physical range per Smart Data Model attribute, sentinel values, stuck-at (flat line),
rate of change (a Hampel filter), sampling gaps (recorded as "no data", never interpolated),
and disagreement with the median of neighbouring sensors of the same type.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from ombud.errors import MalformedError

__all__ = [
    "MAD_SCALE",
    "PHYSICAL_RANGES",
    "SENTINELS",
    "Gap",
    "Verdict",
    "check_flat_line",
    "check_neighbours",
    "check_range",
    "check_rate",
    "check_replay",
    "check_sentinel",
    "find_gaps",
    "mad",
    "screen_entity",
]

MAD_SCALE = 1.4826
"""MAD x 1.4826 estimates the standard deviation of Gaussian data (Hampel 1974)."""

PHYSICAL_RANGES: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        # NoiseLevelObserved: A-weighted sound levels in dB(A); 140 dB is the pain threshold.
        "LAeq": (0.0, 140.0),
        "LAmax": (0.0, 160.0),
        "LAS": (0.0, 160.0),
        # AirQualityObserved: concentrations in µg/m³ (episodes above a few thousand are unknown
        # outside fires); temperature in °C; relative humidity as a fraction.
        "no2": (0.0, 2000.0),
        "no": (0.0, 2000.0),
        "o3": (0.0, 1000.0),
        "so2": (0.0, 3000.0),
        "co": (0.0, 100000.0),
        "pm10": (0.0, 3000.0),
        "pm25": (0.0, 2000.0),
        "temperature": (-60.0, 60.0),
        "relativeHumidity": (0.0, 1.0),
        # TrafficFlowObserved: vehicles per observation period, speeds in km/h.
        "intensity": (0.0, 20000.0),
        "averageVehicleSpeed": (0.0, 250.0),
        "occupancy": (0.0, 1.0),
        # Parking.
        "occupancyRate": (0.0, 1.0),
        "availableSpotNumber": (0.0, 100000.0),
        "totalSpotNumber": (0.0, 100000.0),
    }
)
"""What an attribute can physically be, in the units the Smart Data Models document."""

SENTINELS = frozenset({-9999.0, -999.0, 9999.0, 99999.0, -32768.0, 32767.0, 65535.0})
"""Values firmware writes for "no measurement" (missing-value codes), never real readings."""


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check: suspect or not, why, on what evidence, and when."""

    check: str
    suspect: bool
    reason: str
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "evidence", MappingProxyType(dict(self.evidence)))


def _ok(check: str, **evidence: Any) -> Verdict:
    return Verdict(check, False, "plausible", evidence)


def mad(values: Sequence[float]) -> float:
    """Median absolute deviation from the median."""
    centre = statistics.median(values)
    return statistics.median(abs(v - centre) for v in values)


def check_range(attribute: str, value: float) -> Verdict:
    """Is ``value`` physically possible for ``attribute``? Unknown attributes pass."""
    limits = PHYSICAL_RANGES.get(attribute)
    if limits is None:
        return _ok("range", attribute=attribute, value=value)
    low, high = limits
    if not low <= value <= high:
        return Verdict(
            "range",
            True,
            f"{attribute} = {value} is outside its physical range {low}..{high}",
            {"attribute": attribute, "value": value, "low": low, "high": high},
        )
    return _ok("range", attribute=attribute, value=value, low=low, high=high)


def check_sentinel(value: float) -> Verdict:
    """A missing-value code (-9999, 65535, ...) posing as a reading."""
    if value in SENTINELS:
        return Verdict(
            "sentinel", True, f"{value} is a missing-value code, not a reading", {"value": value}
        )
    return _ok("sentinel", value=value)


def check_flat_line(values: Sequence[float], *, run: int = 12, tolerance: float = 0.0) -> Verdict:
    """Stuck-at: the last ``run`` readings all equal (within ``tolerance``). Real sensors with
    any resolution wobble; a frozen one repeats itself."""
    if run < 2:
        raise MalformedError("a flat line needs a run of at least 2 readings")
    if len(values) < run:
        return _ok("flat_line", readings=len(values), run=run)
    tail = values[-run:]
    if max(tail) - min(tail) <= tolerance:
        return Verdict(
            "flat_line",
            True,
            f"the last {run} readings are all {tail[-1]}: the sensor looks stuck",
            {"value": tail[-1], "run": run, "tolerance": tolerance},
        )
    return _ok("flat_line", run=run, spread=max(tail) - min(tail))


def check_rate(
    values: Sequence[float], *, window: int = 25, k: float = 6.0, floor: float = 1e-9
) -> Verdict:
    """Hampel filter on the newest reading: suspect when it is more than ``k`` robust standard
    deviations (``MAD_SCALE``·MAD) from the median of the ``window`` readings before it.

    The defaults are conservative on purpose: the MAD of a short window is itself noisy, and
    with 7 readings and k = 4 a clean noisy daily cycle raised a false alarm every ~120
    readings; 25 readings and k = 6 raised none in 8,370 (tests/integrity/test_checks.py).
    """
    if window < 3 or k <= 0:
        raise MalformedError("a Hampel window has at least 3 readings and k > 0")
    if len(values) <= window:
        return _ok("rate", readings=len(values), window=window)
    previous, value = values[-window - 1 : -1], values[-1]
    centre = statistics.median(previous)
    scale = max(MAD_SCALE * mad(previous), floor)
    distance = abs(value - centre) / scale
    evidence = {"value": value, "median": centre, "scale": scale, "k": k, "window": window}
    if distance > k:
        return Verdict(
            "rate",
            True,
            f"{value} jumps {distance:.1f} robust deviations from the recent median {centre}",
            evidence,
        )
    return _ok("rate", **evidence)


def check_replay(
    values: Sequence[float], *, lag: int, window: int | None = None, share: float = 0.9
) -> Verdict:
    """Replayed history: the last ``window`` readings (default ``lag``) repeat, value for value,
    the readings ``lag`` steps before them (yesterday's, for a daily lag) in at least ``share``
    of the cases. Honest sensors never repeat a day exactly; a replaying one always does."""
    window = lag if window is None else window
    if lag < 1 or window < 1 or not 0 < share <= 1:
        raise MalformedError("a replay check needs a lag and a window of at least 1")
    if len(values) < lag + window:
        return _ok("replay", readings=len(values), lag=lag)
    recent = values[-window:]
    before = values[-window - lag : len(values) - lag]
    same = sum(1 for a, b in zip(recent, before, strict=True) if a == b) / window
    evidence = {"lag": lag, "window": window, "repeated_share": same, "share": share}
    if same >= share:
        return Verdict(
            "replay",
            True,
            f"{same:.0%} of the last {window} readings repeat those {lag} readings earlier",
            evidence,
        )
    return _ok("replay", **evidence)


@dataclass(frozen=True)
class Gap:
    """A span with no data: recorded as such, never filled in."""

    start: datetime
    end: datetime
    missing: int
    """Readings expected in the span and not received."""


def find_gaps(
    times: Sequence[datetime], interval: timedelta, *, tolerance: float = 1.5
) -> list[Gap]:
    """Spans longer than ``tolerance`` x ``interval`` between consecutive readings."""
    if interval <= timedelta(0) or tolerance < 1:
        raise MalformedError("a sampling interval is positive and the tolerance at least 1")
    gaps = []
    for before, after in itertools.pairwise(times):
        if after < before:
            raise MalformedError("readings must be in time order to find gaps")
        if after - before > interval * tolerance:
            gaps.append(Gap(before, after, round((after - before) / interval) - 1))
    return gaps


def check_neighbours(
    value: float,
    neighbours: Sequence[float],
    *,
    k: float = 5.0,
    floor: float = 0.0,
    minimum: int = 3,
) -> Verdict:
    """Spatial consistency: suspect when ``value`` is more than ``k`` robust deviations from
    the median of its neighbours of the same type (``floor`` bounds the deviation from below,
    for neighbours that happen to agree exactly). Fewer than ``minimum`` neighbours: no verdict
    against the reading."""
    if len(neighbours) < minimum:
        return _ok("neighbours", neighbours=len(neighbours), minimum=minimum)
    centre = statistics.median(neighbours)
    scale = max(MAD_SCALE * mad(neighbours), floor, 1e-9)
    distance = abs(value - centre) / scale
    evidence = {
        "value": value,
        "median": centre,
        "scale": scale,
        "k": k,
        "neighbours": list(neighbours),
    }
    if distance > k:
        return Verdict(
            "neighbours",
            True,
            f"{value} is {distance:.1f} robust deviations from its {len(neighbours)} "
            f"neighbours' median {centre}",
            evidence,
        )
    return _ok("neighbours", **evidence)


def screen_entity(entity: Mapping[str, Any]) -> list[Verdict]:
    """The suspect verdicts of the checks that need no history — physical range and sentinel
    values — over an NGSI-LD entity's numeric Property values (run on every observation)."""
    suspects = []
    for name, member in entity.items():
        if not isinstance(member, Mapping) or member.get("type") != "Property":
            continue
        value = member.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        for verdict in (check_sentinel(float(value)), check_range(name, float(value))):
            if verdict.suspect:
                suspects.append(verdict)
                break
    return suspects
