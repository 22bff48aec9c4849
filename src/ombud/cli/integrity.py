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

__all__ = ["run_detect"]


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
