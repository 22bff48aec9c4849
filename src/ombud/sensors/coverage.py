"""Coverage: when a device reported and when it did not — gaps are "no data", never filled in.

Threat model: a figure computed over a period silently missing half its readings looks as solid
as a complete one, and interpolating the hole would invent data. Coverage reads the times of a
device's stored observations, estimates its sampling interval (the median spacing, which a few
gaps cannot move) and lists every span longer than 1.5 intervals as a gap with the number of
readings missing. Reading times are not personal data: coverage is public.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ombud.clock import format_time, to_micros
from ombud.database import Database
from ombud.errors import MalformedError
from ombud.integrity.checks import Gap, find_gaps

__all__ = ["MAX_READINGS", "Coverage", "device_coverage"]

MAX_READINGS = 100_000
"""Readings one coverage answer may rest on; a longer period is refused."""


@dataclass(frozen=True)
class Coverage:
    device: str
    since: datetime
    until: datetime
    readings: int
    interval: timedelta | None
    """The device's usual spacing (None with fewer than 2 readings)."""
    gaps: tuple[Gap, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "since": format_time(self.since),
            "until": format_time(self.until),
            "readings": self.readings,
            "intervalSeconds": None if self.interval is None else self.interval.total_seconds(),
            "gaps": [
                {"start": format_time(g.start), "end": format_time(g.end), "missing": g.missing}
                for g in self.gaps
            ],
        }


def device_coverage(db: Database, device: str, since: datetime, until: datetime) -> Coverage:
    """The gaps in ``device``'s readings signed in ``[since, until)`` (whether ``device`` is
    registered at all is the registry's to say: ask it first)."""
    if until <= since:
        raise MalformedError("a coverage period ends after it starts")
    rows = db.read(
        "SELECT created_us FROM observations WHERE device = ? AND created_us >= ? "
        "AND created_us < ? ORDER BY created_us LIMIT ?",
        (device, to_micros(since), to_micros(until), MAX_READINGS + 1),
    )
    if len(rows) > MAX_READINGS:
        raise MalformedError(f"more than {MAX_READINGS:,} readings in the period: ask for less")
    micros = [r[0] for r in rows]
    spacings = [b - a for a, b in itertools.pairwise(micros) if b > a]
    if not spacings:
        return Coverage(device, since, until, len(micros), None, ())
    interval = timedelta(microseconds=statistics.median_low(spacings))
    start = to_micros(since)
    times = [since + timedelta(microseconds=us - start) for us in micros]
    return Coverage(device, since, until, len(times), interval, tuple(find_gaps(times, interval)))
