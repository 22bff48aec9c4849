"""What the sensors measured, per district and week, in the figures a city already reads.

Threat model: a figure a council acts on may be what an attacker wants it to read, so only
readings not held in quarantine are used, each device's figure is computed on its own and the
district's is the weight-capped median of its devices (``ombud.integrity.aggregate``), and the
answer names the devices and counts the readings used and left out. Readings are public.
Definitions:
* noise — L_day (07-19), L_evening (19-23), L_night (23-07) and L_den as the EU Environmental
  Noise Directive (2002/49/EC, Annex I) defines them: energy averages of the A-weighted levels,
  L_den = 10 lg((12·10^(Ld/10) + 4·10^((Le+5)/10) + 8·10^((Ln+10)/10)) / 24); judged against
  the WHO 2018 guideline for road traffic noise (L_den 53 dB, L_night 45 dB);
* air — daily means of PM2.5, PM10 and NO₂ against the WHO 2021 24-hour guideline levels
  (15, 45 and 25 µg/m³): the week's highest daily mean and the days above;
* traffic — flow (mean vehicles per hour) and congestion (share of readings between 07 and
  19 whose mean speed is below half the device's free-flow speed, its 95th percentile);
* parking — occupancy (share of spaces taken: OnStreetParking's occupancyRate, ParkingSpot's
  status).
Pure: readings in, figures out; the local time zone is passed in.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any

from ombud.integrity.aggregate import Estimator, Reading, indicator
from ombud.sensors.indicators import SensorReading

__all__ = [
    "GUIDELINES",
    "INDICATORS",
    "SensorWeek",
    "district_weeks",
    "energy_average",
    "l_den",
]

GUIDELINES: Mapping[str, float] = {
    "Lden": 53.0,
    "Lnight": 45.0,
    "pm25": 15.0,
    "pm10": 45.0,
    "no2": 25.0,
}
"""WHO guideline levels: road traffic noise 2018 (dB), air quality 2021 24-hour (µg/m³)."""
INDICATORS: Mapping[str, str] = {
    "Lday": "noise, dB(A), 07-19 energy average",
    "Levening": "noise, dB(A), 19-23 energy average",
    "Lnight": "noise, dB(A), 23-07 energy average",
    "Lden": "noise, dB(A), day-evening-night level (EU END)",
    "pm25": "PM2.5, µg/m³, highest daily mean",
    "pm10": "PM10, µg/m³, highest daily mean",
    "no2": "NO₂, µg/m³, highest daily mean",
    "flow": "traffic, vehicles per hour",
    "congestion": "traffic, share of daytime readings below half free-flow speed",
    "occupancy": "parking, share of spaces taken",
}
_AIR = ("pm25", "pm10", "no2")


def energy_average(levels: Iterable[float]) -> float:
    """10 lg of the mean of 10^(L/10): how decibels are averaged."""
    values = [10 ** (level / 10) for level in levels]
    if not values:
        raise ValueError("no levels to average")
    return 10 * math.log10(sum(values) / len(values))


def l_den(day: float, evening: float, night: float) -> float:
    return 10 * math.log10(
        (12 * 10 ** (day / 10) + 4 * 10 ** ((evening + 5) / 10) + 8 * 10 ** ((night + 10) / 10))
        / 24
    )


def _period_of_day(hour: int) -> str:
    if 7 <= hour < 19:
        return "day"
    if 19 <= hour < 23:
        return "evening"
    return "night"


@dataclass(frozen=True)
class SensorWeek:
    district: str
    period: str
    figures: Mapping[str, float]
    past_guideline: Mapping[str, float]
    """Each figure past its WHO guideline, with the guideline level."""
    exceedance_days: Mapping[str, int]
    readings_used: int
    readings_left_out: int
    devices_used: tuple[str, ...]
    devices_left_out: tuple[str, ...]
    """Devices none of whose readings that week could be used (all quarantined)."""
    devices_per_figure: Mapping[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "district": self.district,
            "period": self.period,
            "figures": {k: round(v, 3) for k, v in sorted(self.figures.items())},
            "pastGuideline": dict(sorted(self.past_guideline.items())),
            "exceedanceDays": dict(sorted(self.exceedance_days.items())),
            "readingsUsed": self.readings_used,
            "readingsLeftOut": self.readings_left_out,
            "devicesUsed": list(self.devices_used),
            "devicesLeftOut": list(self.devices_left_out),
            "devicesPerFigure": dict(sorted(self.devices_per_figure.items())),
        }


@dataclass
class _DeviceWeek:
    """What one device's readings of one week add up to, as they stream past: sums and counts
    (and a traffic device's speeds), never the readings themselves, so a report's memory grows
    with devices and weeks, not readings. Each sum is added to in the readings' order, one
    float at a time: the figures are the same on every Python (``sum`` of floats became
    compensated in 3.12)."""

    model: str
    used: int = 0
    left: int = 0
    energy: dict[str, list[float]] = field(default_factory=dict)
    """Noise: per part of the day, [sum of 10^(L/10), count]."""
    daily: dict[tuple[str, date], list[float]] = field(default_factory=dict)
    """Air: per (attribute, local day), [sum, count]."""
    flow: list[float] = field(default_factory=lambda: [0, 0])
    speeds: list[tuple[float, bool]] = field(default_factory=list)
    """Traffic: each mean speed, and whether it was measured between 07 and 19."""
    occupancy: list[float] = field(default_factory=lambda: [0, 0])

    def add(self, r: SensorReading, zone: tzinfo) -> None:
        if r.quarantined:
            self.left += 1
            return
        self.used += 1
        values = r.values
        if self.model == "NoiseLevelObserved":
            if "LAeq" in values:
                _add(
                    self.energy,
                    _period_of_day(r.at.astimezone(zone).hour),
                    10 ** (values["LAeq"] / 10),
                )
        elif self.model == "AirQualityObserved":
            day = r.at.astimezone(zone).date()
            for attribute in _AIR:
                if attribute in values:
                    _add(self.daily, (attribute, day), values[attribute])
        elif self.model == "TrafficFlowObserved":
            if "intensity" in values:
                self.flow[0] += values["intensity"]
                self.flow[1] += 1
            if "averageVehicleSpeed" in values:
                daytime = 7 <= r.at.astimezone(zone).hour < 19
                self.speeds.append((values["averageVehicleSpeed"], daytime))
        elif self.model == "OnStreetParking":
            if "occupancyRate" in values:
                self.occupancy[0] += values["occupancyRate"]
                self.occupancy[1] += 1
        elif self.model == "ParkingSpot" and r.status in ("free", "occupied"):
            self.occupancy[0] += r.status == "occupied"
            self.occupancy[1] += 1

    def figures(self) -> dict[str, float]:
        """The device's figures for the week, from its usable readings."""
        out: dict[str, float] = {}
        if self.energy:
            levels = {k: 10 * math.log10(total / n) for k, (total, n) in self.energy.items()}
            names = {"day": "Lday", "evening": "Levening", "night": "Lnight"}
            out |= {names[k]: v for k, v in levels.items()}
            if len(levels) == 3:
                out["Lden"] = l_den(levels["day"], levels["evening"], levels["night"])
        for (attribute, day), (total, n) in self.daily.items():
            out[f"{attribute}@{day.isoformat()}"] = total / n
        if self.flow[1]:
            out["flow"] = self.flow[0] / self.flow[1]
        if self.speeds:
            ordered = sorted(speed for speed, _ in self.speeds)
            free = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
            daytime = [speed for speed, day in self.speeds if day]
            if daytime and free > 0:
                out["congestion"] = sum(speed < free / 2 for speed in daytime) / len(daytime)
        if self.occupancy[1]:
            out["occupancy"] = self.occupancy[0] / self.occupancy[1]
        return out


def _add(sums: dict[Any, list[float]], key: Any, value: float) -> None:
    total = sums.setdefault(key, [0, 0])
    total[0] += value
    total[1] += 1


def district_weeks(
    readings: Iterable[SensorReading],
    weeks: Sequence[tuple[str, datetime, datetime]],
    zone: tzinfo,
    *,
    cap: float = 0.2,
) -> list[SensorWeek]:
    """Each district's figures for each ``(period, since, until)`` week, from ``readings`` in
    time order per device (how they are interleaved across devices does not matter), taken
    as they stream: none is kept."""
    grouped: dict[tuple[str, str], dict[str, _DeviceWeek]] = defaultdict(dict)
    for r in readings:
        for period, since, until in weeks:
            if since <= r.at < until:
                devices = grouped[r.district, period]
                if r.device not in devices:
                    devices[r.device] = _DeviceWeek(r.model)
                devices[r.device].add(r, zone)
                break
    out = []
    for (district, period), devices in sorted(grouped.items()):
        used_devices, left_devices = [], []
        used_readings = left_readings = 0
        per_figure: dict[str, list[Reading]] = defaultdict(list)
        for device, week in sorted(devices.items()):
            left_readings += week.left
            used_readings += week.used
            if not week.used:
                left_devices.append(device)
                continue
            used_devices.append(device)
            for name, value in week.figures().items():
                per_figure[name].append(Reading(device, value))
        figures: dict[str, float] = {}
        counts: dict[str, int] = {}
        daily: dict[str, list[float]] = defaultdict(list)
        for name, values in per_figure.items():
            value = indicator(values, Estimator.MEDIAN, cap=cap).value
            if "@" in name:
                daily[name.split("@")[0]].append(value)
            else:
                figures[name] = value
                counts[name] = len(values)
        exceedances: dict[str, int] = {}
        for name, days in daily.items():
            figures[name] = max(days)
            counts[name] = max(len(v) for k, v in per_figure.items() if k.startswith(f"{name}@"))
            exceedances[name] = sum(v > GUIDELINES[name] for v in days)
        past = {
            k: GUIDELINES[k] for k, v in figures.items() if k in GUIDELINES and v > GUIDELINES[k]
        }
        out.append(
            SensorWeek(
                district,
                period,
                figures,
                past,
                exceedances,
                used_readings,
                left_readings,
                tuple(used_devices),
                tuple(left_devices),
                counts,
            )
        )
    return out
