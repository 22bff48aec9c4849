"""``ombud integrity …``: the streaming anomaly detector on a CSV series.

Threat model: see ``ombud.cli``. The input file may be malformed: a row that is not
``timestamp,value`` with a finite number stops the run with its line number (exit 2), after
the rows before it were written — the detector reads row by row and never looks ahead.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from ombud.errors import MalformedError
from ombud.integrity.detector import AnomalyDetector

__all__ = ["run_detect", "run_release", "run_report"]


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


def _quarantine(data_dir: Path):  # type: ignore[no-untyped-def]
    from ombud.config import Settings
    from ombud.integrity.quarantine import QuarantineStore
    from ombud.ledger.logdir import open_log

    settings = Settings.load(data_dir)
    log = open_log(data_dir, settings, with_key=False)
    return QuarantineStore(log.store.db), log


def run_report(data_dir: Path, as_json: bool) -> None:
    """Every quarantined observation, with the check that caught it and whether it was released."""
    import json

    from rich.console import Console
    from rich.table import Table

    store, log = _quarantine(data_dir)
    try:
        found = store.list(limit=100_000)
    finally:
        log.close()
    if as_json:
        print(json.dumps([q.to_json() for q in found], indent=2))
        return
    table = Table("device", "counter", "district", "checks", "reason", "ledger", "released")
    for q in found:
        table.add_row(
            q.device,
            str(q.counter),
            q.district,
            ", ".join(q.checks),
            q.reason,
            str(q.ledger_index),
            "" if q.released_index is None else f"at {q.released_index}: {q.release_reason}",
        )
    console = Console(emoji=False, markup=False)
    console.print(table)
    held = sum(1 for q in found if q.released_index is None)
    console.print(f"{len(found)} quarantined, {held} still held")


def run_release(data_dir: Path, device: str, counter: int, reason: str) -> None:
    from datetime import UTC, datetime

    store, log = _quarantine(data_dir)
    try:
        released = store.release(
            log, device, counter, reason, actor="operator", clock=lambda: datetime.now(UTC)
        )
    finally:
        log.close()
    print(
        f"released observation {counter} of {device}: observation.released at ledger index "
        f"{released.released_index}"
    )
