"""``ombud integrity …``: the streaming anomaly detector on a CSV series, screening, the
quarantine report, releases and district indicators.

Threat model: see ``ombud.cli``. The input file may be malformed: a row that is not
``timestamp,value`` with a finite number stops the run with its line number (exit 2), after
the rows before it were written — the detector reads row by row and never looks ahead.
Releases are an operator's acts on the deployment's own files; they go on the ledger.
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from ombud.clock import format_time
from ombud.config import Settings
from ombud.deployment import Deployment
from ombud.errors import MalformedError
from ombud.integrity.aggregate import Estimator
from ombud.integrity.detector import AnomalyDetector
from ombud.sensors.indicators import district_indicator

__all__ = [
    "run_detect",
    "run_indicator",
    "run_release",
    "run_release_device",
    "run_report",
    "run_screen",
]


def run_detect(path: Path) -> None:
    """Write ``timestamp,value,anomaly_score,flag`` for each row of ``path`` to stdout."""
    detector = AnomalyDetector()
    out = csv.writer(sys.stdout, lineterminator="\n")
    with open(path, newline="", encoding="utf-8") as f:
        out.writerow(["timestamp", "value", "anomaly_score", "flag"])
        for line, row in enumerate(csv.reader(f), 1):
            if line == 1 and row and row[0].strip().lower() == "timestamp":
                continue  # the header
            if len(row) != 2:
                raise MalformedError(f"{path}:{line}: expected timestamp,value")
            timestamp, text = row[0].strip(), row[1].strip()
            try:
                value = float(text)
            except ValueError:
                raise MalformedError(f"{path}:{line}: {text[:40]!r} is not a number") from None
            try:
                score, flag = detector.update(value)
            except MalformedError as exc:
                raise MalformedError(f"{path}:{line}: {exc}") from None
            out.writerow([timestamp, text, f"{score:.6f}", int(flag)])


def _deployment(data_dir: Path, *, settle_s: int | None = None) -> Deployment:
    """The deployment, its log opened without the signing key (releases and screening append
    events, which the server's next checkpoint covers); ``settle_s`` overrides the setting."""
    settings = Settings.load(data_dir)
    if settle_s is not None:
        settings = replace(settings, integrity=replace(settings.integrity, settle_s=settle_s))
    return Deployment.open(data_dir, with_key=False, settings=settings)


def run_screen(data_dir: Path, settle_s: int | None) -> None:
    """Screen every settled observation not yet screened (what ``ombud serve`` does on its own
    every ``integrity.screen_interval_s``)."""
    from rich.progress import Progress

    with _deployment(data_dir, settle_s=settle_s) as deployment, Progress(transient=True) as bar:
        task = bar.add_task("screening", total=None)
        result = deployment.screener.screen_all(lambda r: bar.advance(task, r.screened))
    print(
        f"screened {result.screened} observations: {result.quarantined} quarantined, "
        f"{len(result.devices)} devices quarantined as a whole"
        + (f" ({', '.join(result.devices)})" if result.devices else "")
    )


def run_report(data_dir: Path, as_json: bool) -> None:
    """Every quarantined observation and device, with the checks and whether it was released."""
    from rich.console import Console
    from rich.table import Table

    with _deployment(data_dir) as deployment:
        found = deployment.quarantine.list(limit=100_000)
        devices = deployment.quarantine.devices(limit=100_000)
    if as_json:
        print(
            json.dumps(
                {
                    "observations": [q.to_json() for q in found],
                    "devices": [d.to_json() for d in devices],
                },
                indent=2,
            )
        )
        return
    console = Console(emoji=False, markup=False)
    table = Table("device", "counter", "district", "checks", "reason", "ledger", "released")
    for q in found:
        table.add_row(
            q.device,
            str(q.counter),
            q.district,
            ", ".join(q.checks),
            q.reason,
            str(q.ledger_index),
            _released(q.released_index, q.release_reason),
        )
    console.print(table)
    held = sum(1 for q in found if q.released_index is None)
    console.print(f"{len(found)} observations quarantined, {held} still held")
    if devices:
        table = Table("device", "district", "since", "reason", "ledger", "released")
        for d in devices:
            table.add_row(
                d.device,
                d.district,
                format_time(d.since),
                d.reason,
                str(d.ledger_index),
                _released(d.released_index, d.release_reason),
            )
        console.print(table)
    held = sum(1 for d in devices if d.released_index is None)
    console.print(f"{len(devices)} devices quarantined as a whole, {held} still held")


def _released(index: int | None, reason: str | None) -> str:
    return "" if index is None else f"at {index}: {reason}"


def run_release(data_dir: Path, device: str, counter: int, reason: str) -> None:
    with _deployment(data_dir) as d:
        released = d.quarantine.release(
            d.log, device, counter, reason, actor="operator", clock=d.clock
        )
    print(
        f"released observation {counter} of {device}: observation.released at ledger index "
        f"{released.released_index}"
    )


def run_release_device(data_dir: Path, device: str, reason: str) -> None:
    with _deployment(data_dir) as d:
        released = d.quarantine.release_device(
            d.log, device, reason, actor="operator", clock=d.clock
        )
    print(f"released device {device}: device.released at ledger index {released.released_index}")


def run_indicator(
    data_dir: Path,
    district: str,
    model: str,
    attribute: str,
    since: datetime,
    until: datetime,
    estimator: Estimator,
    as_json: bool,
) -> None:
    """A district's figure over the period, with what went into it and what was left out."""
    with _deployment(data_dir) as deployment:
        found = district_indicator(
            deployment.db, district, model, attribute, since, until, estimator
        )
    if as_json:
        print(json.dumps(found.to_json(), indent=2))
        return
    i = found.indicator
    print(
        f"{district} {model}.{attribute} {format_time(since)} .. {format_time(until)}: "
        f"{i.estimator.value} {i.value:.6g} (p10 {i.p10:.6g}, p90 {i.p90:.6g}) over "
        f"{i.readings} readings of {i.devices} devices; left out as quarantined: "
        f"{i.quarantined_readings} readings, {i.quarantined_devices} devices entirely"
    )
