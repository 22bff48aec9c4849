"""Screening throughput: batches of stored observations screened with and without the streaming
anomaly detector, in the same run.

The clean district of the poisoning benchmark (50 noise sensors, two days of 5-minute LAeq,
28,800 signed observations) is ingested once into SQLite through the intake; then copies of
that database are screened from the start by ``Screener.screen_all``, ``--repeats`` times
each configuration in turn:
- batches of 2,000 (the deployment's default), with the detector at its shipped threshold and
  turned off (threshold 1);
- batches of 100 (two readings per series, as live screening sees a large city every few
  seconds), with every series' detector kept in memory and with room for only 20 of the 50
  (a city with more series than ``integrity.detector_series``: each series leaves memory at
  every batch's end and is saved, then restored when it comes back).
Only the screening is timed (one process, one core). Reports each configuration's median
observations/s, the detector's cost (on over off) and the cost of too little memory, and what
the screening quarantined (the clean district should lose nothing).
Usage: python bench/screening.py [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from ombud.config import IntegritySettings
from ombud.database import SqliteDatabase
from ombud.ingest.devices import DeviceRegistry
from ombud.ingest.fleet import make_fleet
from ombud.ingest.intake import Intake
from ombud.ledger import note
from ombud.ledger.log import Log
from ombud.ledger.store_sql import SqlStore
from ombud.migrations import upgrade
from ombud.sensors.observations import ObservationStore
from ombud.sensors.quarantine import QuarantineStore
from ombud.sensors.screening import Screener
from poisoning import NOISE, SENSORS, START, STEP, STEPS_PER_DAY, city, submit_step

RESULTS = Path(__file__).resolve().parent / "results"
SEED = 2026
LOG_ORIGIN = "bench.example/log"


def ingest(path: Path, key: bytes) -> None:
    """The clean district, signed and ingested (nothing screened)."""
    series = city(SEED)
    now = [START]
    db = SqliteDatabase.create(path)
    upgrade(db)
    log = Log(SqlStore.create(db, LOG_ORIGIN), note.Signer(LOG_ORIGIN, key))
    try:
        registry = DeviceRegistry(db, log, clock=lambda: now[0])
        fleet = list(
            make_fleet(SENSORS, random.Random(SEED), clock=lambda: now[0], models=(NOISE,),
                       districts=("centre",))
        )  # fmt: skip
        for sensor in fleet:
            registry.add(sensor.device)
        intake = Intake(
            log,
            registry,
            ObservationStore(db),
            quarantine=QuarantineStore(db),
            clock=lambda: now[0],
        )
        for step in range(2 * STEPS_PER_DAY):
            now[0] = START + step * STEP
            submit_step(intake, fleet, series, step, now[0])
    finally:
        log.close()
        db.close()


def screen(path: Path, key: bytes, settings: IntegritySettings) -> tuple[float, int]:
    """Seconds to screen every stored observation, and the readings quarantined."""
    end = START + 2 * STEPS_PER_DAY * STEP

    def clock() -> datetime:
        return end

    db = SqliteDatabase(path)
    log = Log(SqlStore(db), note.Signer(LOG_ORIGIN, key))
    try:
        quarantine = QuarantineStore(db)
        screener = Screener(db, log, settings, quarantine=quarantine, clock=clock)
        started = time.perf_counter()
        screener.screen_all()
        elapsed = time.perf_counter() - started
        return elapsed, len(quarantine.list(limit=1_000_000))
    finally:
        log.close()
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    shipped = IntegritySettings().anomaly_threshold
    configurations = {
        "detector_on": IntegritySettings(settle_s=0),
        "detector_off": IntegritySettings(settle_s=0, anomaly_threshold=1.0),
        "batches_of_100": IntegritySettings(settle_s=0, batch=100),
        "batches_of_100_20_series_in_memory": IntegritySettings(
            settle_s=0, batch=100, detector_series=20
        ),
    }
    observations = SENSORS * 2 * STEPS_PER_DAY
    key = os.urandom(32)
    runs: dict[str, list[float]] = {name: [] for name in configurations}
    quarantined: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        ingested = Path(tmp) / "ingested.sqlite"
        ingest(ingested, key)
        for repeat in range(args.repeats):
            for name, settings in configurations.items():
                copy = Path(tmp) / f"{name}-{repeat}.sqlite"
                shutil.copyfile(ingested, copy)
                seconds, held = screen(copy, key, settings)
                runs[name].append(observations / seconds)
                quarantined[name] = held
                copy.unlink()
    medians = {name: round(statistics.median(rates)) for name, rates in runs.items()}
    result: dict[str, Any] = {
        "benchmark": "screening",
        "observations": observations,
        "batch": IntegritySettings().batch,
        "repeats": args.repeats,
        "anomaly_threshold": shipped,
        "observations_per_s_median": medians,
        "runs": {name: [round(r) for r in rates] for name, rates in runs.items()},
        "on_over_off": round(medians["detector_on"] / medians["detector_off"], 2),
        "20_in_memory_over_all": round(
            medians["batches_of_100_20_series_in_memory"] / medians["batches_of_100"], 2
        ),
        "readings_quarantined": quarantined,
    }
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "screening.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
