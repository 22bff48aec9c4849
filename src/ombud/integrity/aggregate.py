"""Robust district indicators: what a set of readings says, so that a few cannot say it alone.

Threat model: an attacker who controls some sensors of a district (with valid keys) tries to
move the district's figure. Robust estimators (a weighted median, a trimmed mean, Huber's
M-estimator) ignore or bound outlying values, and a per-device weight cap bounds what any one
device can contribute however many readings it sends. Quarantined readings are excluded before
anything is computed, and the output says how many readings and devices were used and how
many were left out, so nobody mistakes a thin figure for a solid one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from ombud.errors import MalformedError

__all__ = [
    "MAD_SCALE",
    "Estimator",
    "Indicator",
    "Reading",
    "indicator",
    "mad",
    "weighted_quantile",
]

MAD_SCALE = 1.4826
"""MAD x 1.4826 estimates the standard deviation of Gaussian data (Hampel 1974)."""


class Estimator(StrEnum):
    MEDIAN = "median"
    TRIMMED_MEAN = "trimmed_mean"
    HUBER = "huber"


@dataclass(frozen=True)
class Reading:
    device: str
    value: float
    quarantined: bool = False


@dataclass(frozen=True)
class Indicator:
    estimator: Estimator
    value: float
    p10: float
    p50: float
    p90: float
    readings: int
    """Readings used."""
    devices: int
    """Devices with at least one reading used."""
    quarantined_readings: int
    """Readings left out because they are quarantined."""
    quarantined_devices: int
    """Devices none of whose readings could be used."""

    def to_json(self) -> dict[str, float | int | str]:
        return {
            "estimator": self.estimator.value,
            "value": self.value,
            "p10": self.p10,
            "p50": self.p50,
            "p90": self.p90,
            "readings": self.readings,
            "devices": self.devices,
            "quarantinedReadings": self.quarantined_readings,
            "quarantinedDevices": self.quarantined_devices,
        }


def _weights(readings: Sequence[Reading], cap: float) -> list[float]:
    """Each reading's weight. A device's readings share its weight ``min(n, c)``, with ``c`` the
    largest bound that keeps every device at most ``cap`` of the total weight (found by
    iterating ``c = cap · Σ min(n_d, c)`` down to its fixed point): a device sending a thousand
    readings counts no more than a capped share. With fewer than ``1/cap`` devices the cap
    cannot hold, and every device gets one equal vote."""
    per_device: dict[str, int] = {}
    for r in readings:
        per_device[r.device] = per_device.get(r.device, 0) + 1
    counts = per_device.values()
    if cap * len(per_device) <= 1:
        share = dict.fromkeys(per_device, 1.0)
    else:
        bound = float(max(counts))
        for _ in range(200):
            limit = cap * sum(min(n, bound) for n in counts)
            if limit >= bound - 1e-9:
                break
            bound = limit
        share = {d: min(n, bound) for d, n in per_device.items()}
    return [share[r.device] / per_device[r.device] for r in readings]


def weighted_quantile(values: Sequence[float], weights: Sequence[float], q: float) -> float:
    """The ``q`` quantile of ``values`` under ``weights`` (the lower one at ties)."""
    if not values or len(values) != len(weights) or not 0 <= q <= 1:
        raise MalformedError("a quantile needs values, one weight each, and 0 ≤ q ≤ 1")
    pairs = sorted(zip(values, weights, strict=True))
    total = sum(w for _, w in pairs)
    running = 0.0
    for value, weight in pairs:
        running += weight
        if running >= q * total - 1e-12:
            return value
    return pairs[-1][0]


def mad(values: Sequence[float], weights: Sequence[float] | None = None) -> float:
    """The median absolute deviation from the median of ``values`` — under ``weights`` when
    given (weighted medians, the lower one at ties), else the plain medians. Every robust
    scale in ombud is ``MAD_SCALE`` times this."""
    if weights is None:
        import statistics  # not at import time: it loads decimal and fractions (~5 ms of CLI start)

        centre = statistics.median(values)
        return statistics.median(abs(v - centre) for v in values)
    centre = weighted_quantile(values, weights, 0.5)
    return weighted_quantile([abs(v - centre) for v in values], weights, 0.5)


def _trimmed_mean(values: list[float], weights: list[float], trim: float) -> float:
    low = weighted_quantile(values, weights, trim)
    high = weighted_quantile(values, weights, 1 - trim)
    kept = [(v, w) for v, w in zip(values, weights, strict=True) if low <= v <= high]
    return _weighted_mean([v for v, _ in kept], [w for _, w in kept])


def _weighted_mean(values: Sequence[float], weights: Sequence[float]) -> float:
    """Σ w·v / Σ w; where that sum overflows (readings near the largest float, which a device
    with a valid key can sign for an attribute without a physical range), the weights are
    normalised first, so that no partial sum exceeds the largest reading."""
    total = sum(weights)
    mean = sum(v * w for v, w in zip(values, weights, strict=True)) / total
    if math.isfinite(mean):
        return mean  # ordinary readings: exactly as before
    normalised = sum(v * (w / total) for v, w in zip(values, weights, strict=True))
    return min(max(normalised, min(values)), max(values))  # w/total may round up past the top


def _huber(values: list[float], weights: list[float], k: float = 1.345) -> float:
    """Huber's M-estimator of location by iteratively reweighted means, scale fixed at the
    weighted MAD (k = 1.345 gives 95% efficiency on Gaussian data)."""
    centre = weighted_quantile(values, weights, 0.5)
    scale = MAD_SCALE * mad(values, weights)
    if scale == 0:
        return centre
    for _ in range(50):
        factors = [
            w * min(1.0, k * scale / abs(v - centre)) if v != centre else w
            for v, w in zip(values, weights, strict=True)
        ]
        updated = _weighted_mean(values, factors)
        if math.isclose(updated, centre, rel_tol=0, abs_tol=1e-9 * (1 + abs(centre))):
            return updated
        centre = updated
    return centre


def indicator(
    readings: Sequence[Reading],
    estimator: Estimator = Estimator.MEDIAN,
    *,
    cap: float = 0.1,
    trim: float = 0.2,
) -> Indicator:
    """The district's figure over the non-quarantined readings, with what went into it."""
    if not 0 < cap <= 1 or not 0 <= trim < 0.5:
        raise MalformedError("the device weight cap is in (0, 1] and the trim in [0, 0.5)")
    used = [r for r in readings if not r.quarantined]
    left_out = [r for r in readings if r.quarantined]
    if not used:
        raise MalformedError("no readings left to aggregate once the quarantined are excluded")
    values = [r.value for r in used]
    if not all(math.isfinite(v) for v in values):
        raise MalformedError("readings must be finite numbers")
    weights = _weights(used, cap)
    if estimator is Estimator.MEDIAN:
        value = weighted_quantile(values, weights, 0.5)
    elif estimator is Estimator.TRIMMED_MEAN:
        value = _trimmed_mean(values, weights, trim)
    else:
        value = _huber(values, weights)
    if not math.isfinite(value):  # only readings at the very edge of the float range
        raise MalformedError(
            f"the {estimator.value} of these readings overflows: ask for the median"
        )
    return Indicator(
        estimator,
        value,
        weighted_quantile(values, weights, 0.1),
        weighted_quantile(values, weights, 0.5),
        weighted_quantile(values, weights, 0.9),
        len(used),
        len({r.device for r in used}),
        len(left_out),
        len({r.device for r in left_out} - {r.device for r in used}),
    )
