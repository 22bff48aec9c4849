"""Poisoning benchmark: an attacker with valid keys on a fraction of a district's sensors.

A simulated district of 50 noise sensors (LAeq, 5-minute readings over two days, each sensor
with its own site offset and noise, from ``ombud.ingest.sensors``). An attacker controls a
fraction f ∈ {5%, 10%, 20%, 30%} of them and, on the second day:
  (a) bias: adds a constant +10 dB;
  (b) drift: adds a slow drift from 0 to +15 dB over the day;
  (c) replay: sends the first day's readings again (what the place sounded like yesterday);
  (d) mimic: sends the median of the honest neighbours plus 3 dB — inside the spatial
      threshold, built to shift the district figure without looking odd.
The indicator is the district's mean level on day 2. Undefended: the plain mean of every
reading. Defended: each reading checked against its neighbours at the same time step
(``check_neighbours``), each device's day checked for a replay of the day before
(``check_replay``); a device suspect in more than 10% of its readings is quarantined whole;
then a Huber estimate with a per-device weight cap (``integrity.aggregate``) over the rest.
Reports the relative error against the clean figure (the same district with no attack), the
share of compromised devices caught and of clean devices falsely quarantined.
Usage: python bench/poisoning.py
"""

from __future__ import annotations

import json
import random
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ombud.ingest.sensors import reading
from ombud.integrity.aggregate import Estimator, Reading, indicator
from ombud.integrity.checks import check_neighbours, check_replay

RESULTS = Path(__file__).resolve().parent / "results"
SENSORS = 50
STEPS_PER_DAY = 288
START = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
SUSPECT_SHARE = 0.10


def city(seed: int) -> list[list[float]]:
    """Each sensor's LAeq over two days: the model's daily rhythm, a site offset, noise."""
    rng = random.Random(seed)
    series = []
    for s in range(SENSORS):
        offset = rng.gauss(0, 1.0)
        own = random.Random(rng.random())
        values = []
        for step in range(2 * STEPS_PER_DAY):
            at = START + timedelta(minutes=5 * step)
            laeq = reading("NoiseLevelObserved", f"n{s}", "centre", at, own)["LAeq"]["value"]
            values.append(round(laeq + offset, 1))
        series.append(values)
    return series


def attack(clean: list[list[float]], kind: str, attackers: list[int]) -> list[list[float]]:
    series = [list(v) for v in clean]
    day = range(STEPS_PER_DAY, 2 * STEPS_PER_DAY)
    honest = [s for s in range(SENSORS) if s not in attackers]
    for s in attackers:
        for i, step in enumerate(day):
            if kind == "bias":
                series[s][step] = clean[s][step] + 10.0
            elif kind == "drift":
                series[s][step] = clean[s][step] + 15.0 * i / STEPS_PER_DAY
            elif kind == "replay":
                series[s][step] = clean[s][step - STEPS_PER_DAY]
            elif kind == "mimic":
                series[s][step] = round(statistics.median(clean[h][step] for h in honest) + 3.0, 1)
    return series


def defend(series: list[list[float]]) -> tuple[float, set[int]]:
    day = range(STEPS_PER_DAY, 2 * STEPS_PER_DAY)
    suspect_counts = [0] * SENSORS
    for step in day:
        values = [series[s][step] for s in range(SENSORS)]
        for s in range(SENSORS):
            neighbours = values[:s] + values[s + 1 :]
            if check_neighbours(values[s], neighbours, k=5.0, floor=1.0).suspect:
                suspect_counts[s] += 1
    quarantined = {s for s in range(SENSORS) if suspect_counts[s] > SUSPECT_SHARE * STEPS_PER_DAY}
    for s in range(SENSORS):
        if check_replay(series[s], lag=STEPS_PER_DAY).suspect:
            quarantined.add(s)
    readings = [
        Reading(f"n{s}", series[s][step], quarantined=s in quarantined)
        for s in range(SENSORS)
        for step in day
    ]
    return indicator(readings, Estimator.HUBER, cap=0.05).value, quarantined


def main() -> None:
    results: list[dict[str, Any]] = []
    for seed in (1, 2, 3):
        clean = city(seed)
        truth = statistics.fmean(v for s in clean for v in s[STEPS_PER_DAY:])
        _, false_alarms = defend(clean)
        for fraction in (0.05, 0.10, 0.20, 0.30):
            attackers = random.Random(seed * 100 + int(fraction * 100)).sample(
                range(SENSORS), round(fraction * SENSORS)
            )
            for kind in ("bias", "drift", "replay", "mimic"):
                series = attack(clean, kind, attackers)
                plain = statistics.fmean(v for s in series for v in s[STEPS_PER_DAY:])
                defended, quarantined = defend(series)
                caught = len(quarantined & set(attackers)) / len(attackers)
                false = len(quarantined - set(attackers)) / (SENSORS - len(attackers))
                results.append(
                    {
                        "seed": seed,
                        "fraction": fraction,
                        "attack": kind,
                        "undefended_error": abs(plain - truth) / truth,
                        "defended_error": abs(defended - truth) / truth,
                        "detected": caught,
                        "false_quarantine": false,
                    }
                )
        results.append({"seed": seed, "clean_false_quarantine": len(false_alarms) / SENSORS})
    summary: dict[str, Any] = {}
    for fraction in (0.05, 0.10, 0.20, 0.30):
        for kind in ("bias", "drift", "replay", "mimic"):
            rows = [r for r in results if r.get("fraction") == fraction and r.get("attack") == kind]
            summary[f"{int(fraction * 100)}% {kind}"] = {
                key: round(statistics.median(r[key] for r in rows) * 100, 2)
                for key in ("undefended_error", "defended_error", "detected", "false_quarantine")
            }
    clean_fq = [r["clean_false_quarantine"] for r in results if "clean_false_quarantine" in r]
    out = {
        "benchmark": "poisoning",
        "sensors": SENSORS,
        "seeds": 3,
        "percent_medians_over_seeds": summary,
        "clean_city_false_quarantine_percent": round(100 * max(clean_fq), 2),
    }
    print(json.dumps(out, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "poisoning.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
