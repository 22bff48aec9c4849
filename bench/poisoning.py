"""Poisoning benchmark: an attacker with valid keys on a fraction of a district's sensors.

A simulated district of 50 noise sensors (LAeq, 5-minute readings over two days, each sensor
with its own site offset and noise, from ``ombud.ingest.fleet``). An attacker controls a
fraction f ∈ {5%, 10%, 20%, 30%} of them and, on the second day:
  (a) bias: adds a constant +10 dB;
  (b) drift: adds a slow drift from 0 to +15 dB over the day;
  (c) replay: sends the first day's readings again (what the place sounded like yesterday);
  (d) mimic: sends the median of the honest neighbours plus 3 dB — inside the spatial
      threshold, built to shift the district figure without looking odd.

Everything runs on the real path: each step's readings are signed by their device and
submitted to the intake (SQLite), the screener screens them a step at a time with the
deployment's default settings (as ``ombud serve`` does), and the district indicator is the one
the API serves (Huber, default weight cap, quarantined readings and devices left out). The
undefended figure is the plain mean of every reading of day 2; the error is relative to the
same district's clean figure (no attack). Reports the detection rate (attacking devices
quarantined as a whole) and the false-quarantine rate (clean devices quarantined as a whole,
and clean readings quarantined), per scenario, as medians over the seeds — and what the
streaming anomaly detector (``ombud.integrity.detector``, one check of the screening) adds:
the share of attacking devices it flagged, the attacking readings no other check flagged, and
the honest readings it flagged (summed over the seeds).
Usage: python bench/poisoning.py [--seeds N]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ombud.config import IntegritySettings
from ombud.database import SqliteDatabase
from ombud.ingest.devices import DeviceRegistry
from ombud.ingest.fleet import SimulatedSensor, make_fleet, reading
from ombud.ingest.intake import Accepted, Intake
from ombud.integrity.aggregate import Estimator
from ombud.ledger import note
from ombud.ledger.log import Log
from ombud.ledger.store_sql import SqlStore
from ombud.migrations import upgrade
from ombud.sensors.indicators import district_indicator
from ombud.sensors.observations import ObservationStore
from ombud.sensors.quarantine import QuarantineStore
from ombud.sensors.screening import Screener

RESULTS = Path(__file__).resolve().parent / "results"
SENSORS = 50
STEPS_PER_DAY = 288
STEP = timedelta(minutes=5)
START = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
NOISE = "NoiseLevelObserved"
FRACTIONS = (0.05, 0.10, 0.20, 0.30)
ATTACKS = ("bias", "drift", "replay", "mimic")


def city(seed: int) -> list[list[float]]:
    """Each sensor's LAeq over two days: the model's daily rhythm, a site offset, noise."""
    rng = random.Random(seed)
    series = []
    for s in range(SENSORS):
        offset = rng.gauss(0, 1.0)
        own = random.Random(rng.random())
        values = []
        for step in range(2 * STEPS_PER_DAY):
            laeq = reading(NOISE, f"n{s}", "centre", START + step * STEP, own)["LAeq"]["value"]
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
                series[s][step] = round(clean[s][step] + 10.0, 1)
            elif kind == "drift":
                series[s][step] = round(clean[s][step] + 15.0 * i / STEPS_PER_DAY, 1)
            elif kind == "replay":
                series[s][step] = clean[s][step - STEPS_PER_DAY]
            elif kind == "mimic":
                series[s][step] = round(statistics.median(clean[h][step] for h in honest) + 3.0, 1)
    return series


def submit_step(
    intake: Intake, fleet: list[SimulatedSensor], series: list[list[float]], step: int, at: datetime
) -> None:
    """Each sensor's reading of ``step``, signed by its device and accepted by the intake."""
    batch = []
    for s, sensor in enumerate(fleet):
        entity = reading(NOISE, sensor.device.id, "centre", at, sensor.rng)
        entity["LAeq"]["value"] = series[s][step]
        batch.append(sensor.signer.sign(entity))
    assert all(isinstance(v, Accepted) for v in intake.submit(batch))


def defend(series: list[list[float]], seed: int, workdir: Path) -> dict[str, Any]:
    """Sign, ingest, screen and aggregate ``series`` through ombud; what came out."""
    now = [START]

    def clock() -> datetime:
        return now[0]

    db = SqliteDatabase.create(workdir / f"city-{time.monotonic_ns()}.sqlite")

    upgrade(db)
    log = Log(SqlStore.create(db, "bench.example/log"), note.Signer.generate("bench.example/log"))
    try:
        registry = DeviceRegistry(db, log, clock=clock)
        fleet = list(
            make_fleet(SENSORS, random.Random(seed), clock=clock, models=(NOISE,),
                       districts=("centre",))
        )  # fmt: skip
        for sensor in fleet:
            registry.add(sensor.device)
        quarantine = QuarantineStore(db)
        intake = Intake(log, registry, ObservationStore(db), quarantine=quarantine, clock=clock)
        screener = Screener(
            db,
            log,
            IntegritySettings(settle_s=0, batch=SENSORS),
            quarantine=quarantine,
            clock=clock,
        )
        started = time.perf_counter()
        for step in range(2 * STEPS_PER_DAY):
            now[0] = START + step * STEP
            submit_step(intake, fleet, series, step, now[0])
            screener.screen_all()  # a step at a time, as the live screener keeps up
        elapsed = time.perf_counter() - started
        day2 = (START + STEPS_PER_DAY * STEP, START + 2 * STEPS_PER_DAY * STEP)
        figure = district_indicator(db, "centre", NOISE, "LAeq", *day2, Estimator.HUBER)
        index = {sensor.device.id: s for s, sensor in enumerate(fleet)}
        devices = {index[d.device] for d in screener.quarantine.devices(limit=SENSORS)}
        held = screener.quarantine.list(limit=1_000_000)
        return {
            "value": figure.indicator.value,
            "devices": devices,
            "readings": [index[q.device] for q in held],
            "anomaly": [
                (index[q.device], q.checks == ("anomaly",)) for q in held if "anomaly" in q.checks
            ],
            "observations_per_s": 2 * STEPS_PER_DAY * SENSORS / elapsed,
        }
    finally:
        log.close()
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    rates: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for seed in range(1, args.seeds + 1):
            clean = city(seed)
            truth = statistics.fmean(v for s in clean for v in s[STEPS_PER_DAY:])
            baseline = defend(clean, seed, workdir)
            rates.append(baseline["observations_per_s"])
            rows.append(
                {
                    "seed": seed,
                    "attack": "none",
                    "defended_error": abs(baseline["value"] - truth) / truth,
                    "false_quarantine": len(baseline["devices"]) / SENSORS,
                    "clean_readings_quarantined": len(baseline["readings"])
                    / (SENSORS * 2 * STEPS_PER_DAY),
                    "honest_readings_the_detector_flagged": len(baseline["anomaly"]),
                }
            )
            for fraction in FRACTIONS:
                attackers = random.Random(seed * 100 + int(fraction * 100)).sample(
                    range(SENSORS), round(fraction * SENSORS)
                )
                honest = SENSORS - len(attackers)
                for kind in ATTACKS:
                    series = attack(clean, kind, attackers)
                    plain = statistics.fmean(v for s in series for v in s[STEPS_PER_DAY:])
                    out = defend(series, seed, workdir)
                    rates.append(out["observations_per_s"])
                    clean_flags = sum(1 for s in out["readings"] if s not in attackers)
                    flagged = {s for s, _ in out["anomaly"] if s in attackers}
                    rows.append(
                        {
                            "seed": seed,
                            "fraction": fraction,
                            "attack": kind,
                            "undefended_error": abs(plain - truth) / truth,
                            "defended_error": abs(out["value"] - truth) / truth,
                            "detected": len(out["devices"] & set(attackers)) / len(attackers),
                            "false_quarantine": len(out["devices"] - set(attackers)) / honest,
                            "clean_readings_quarantined": clean_flags
                            / (honest * 2 * STEPS_PER_DAY),
                            "detector_flagged": len(flagged) / len(attackers),
                            "readings_only_the_detector_flagged": sum(
                                1 for s, alone in out["anomaly"] if alone and s in attackers
                            ),
                            "honest_readings_the_detector_flagged": sum(
                                1 for s, _ in out["anomaly"] if s not in attackers
                            ),
                        }
                    )
                    print(f"seed {seed} {fraction:.0%} {kind}: {rows[-1]}", flush=True)
    summary: dict[str, Any] = {}
    keys = ("undefended_error", "defended_error", "detected", "false_quarantine")
    for fraction in FRACTIONS:
        for kind in ATTACKS:
            cell = [r for r in rows if r.get("fraction") == fraction and r["attack"] == kind]
            summary[f"{int(fraction * 100)}% {kind}"] = {
                **{key: round(statistics.median(r[key] for r in cell) * 100, 2) for key in keys},
                "detector_flagged": round(
                    statistics.median(r["detector_flagged"] for r in cell) * 100, 2
                ),
                "readings_only_the_detector_flagged_total": sum(
                    r["readings_only_the_detector_flagged"] for r in cell
                ),
            }
    clean_rows = [r for r in rows if r["attack"] == "none"]
    out = {
        "benchmark": "poisoning",
        "path": "sign → intake (SQLite) → screener (default settings) → district indicator",
        "sensors": SENSORS,
        "seeds": args.seeds,
        "percent_medians_over_seeds": summary,
        "clean_city": {
            "defended_error_percent_max": round(
                100 * max(r["defended_error"] for r in clean_rows), 3
            ),
            "false_device_quarantine_percent_max": round(
                100 * max(r["false_quarantine"] for r in clean_rows), 2
            ),
        },
        "clean_readings_quarantined_percent_max": round(
            100 * max(r["clean_readings_quarantined"] for r in rows), 3
        ),
        "honest_readings_the_detector_flagged_total": sum(
            r["honest_readings_the_detector_flagged"] for r in rows
        ),
        "pipeline_observations_per_s_median": round(statistics.median(rates)),
    }
    print(json.dumps(out, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "poisoning.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
