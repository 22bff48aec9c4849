"""District indicators over the stored observations: what a district's sensors say, robustly.

Threat model: the figure a council reads may be what an attacker wants it to read. Readings
are taken from the observation store as signed, quarantined ones (and every reading of a device
quarantined as a whole, from the moment it turned suspect) are left out, and the robust,
weight-capped estimators of ``integrity.aggregate`` do the rest; the answer says how many
readings and devices went in and how many were left out. Sensor readings hold no personal data,
so indicators are public.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ombud.canonical import parse_json
from ombud.clock import format_time, from_micros, to_micros
from ombud.database import Database
from ombud.errors import MalformedError, NotFoundError
from ombud.integrity.aggregate import Estimator, Indicator, Reading, indicator
from ombud.integrity.checks import numeric_properties

__all__ = [
    "MAX_READINGS",
    "READINGS_PAGE",
    "DistrictIndicator",
    "SensorReading",
    "district_indicator",
    "district_readings",
    "readings_between",
]

MAX_READINGS = 200_000
"""Readings one indicator may rest on; a longer period is refused rather than served slowly."""


@dataclass(frozen=True)
class DistrictIndicator:
    district: str
    model: str
    attribute: str
    since: datetime
    until: datetime
    indicator: Indicator

    def to_json(self) -> dict[str, Any]:
        return {
            "district": self.district,
            "type": self.model,
            "attribute": self.attribute,
            "since": format_time(self.since),
            "until": format_time(self.until),
            **self.indicator.to_json(),
        }


def district_readings(
    db: Database, district: str, model: str, attribute: str, since: datetime, until: datetime
) -> list[Reading]:
    """Every reading of ``attribute`` by ``model`` devices of ``district`` signed in
    ``[since, until)``, each marked quarantined or not (each observation carries the model and
    district of its device)."""
    if until <= since:
        raise MalformedError("an indicator's period ends after it starts")
    rows = db.read(
        "SELECT o.device, o.entity, "
        "EXISTS (SELECT 1 FROM quarantine q WHERE q.device = o.device "
        "AND q.counter = o.counter AND q.released_index IS NULL) "
        "OR EXISTS (SELECT 1 FROM device_quarantine h WHERE h.device = o.device "
        "AND h.released_index IS NULL AND o.created_us >= h.since_us) "
        "FROM observations o "
        "WHERE o.district = ? AND o.model = ? AND o.created_us >= ? AND o.created_us < ? "
        "LIMIT ?",
        (district, model, to_micros(since), to_micros(until), MAX_READINGS + 1),
    )
    if len(rows) > MAX_READINGS:
        raise MalformedError(
            f"more than {MAX_READINGS:,} readings in the period: ask for a shorter one"
        )
    readings = []
    for device, entity, held in rows:
        value = numeric_properties(parse_json(bytes(entity), "a stored observation")).get(attribute)
        if value is not None:
            readings.append(Reading(device, value, quarantined=bool(held)))
    return readings


def district_indicator(
    db: Database,
    district: str,
    model: str,
    attribute: str,
    since: datetime,
    until: datetime,
    estimator: Estimator = Estimator.MEDIAN,
    *,
    cap: float = 0.1,
) -> DistrictIndicator:
    """The district's figure for the period, over its non-quarantined readings."""
    readings = district_readings(db, district, model, attribute, since, until)
    if not readings:
        raise NotFoundError(
            f"no {model} readings of {attribute!r} in district {district!r} in that period"
        )
    return DistrictIndicator(
        district, model, attribute, since, until, indicator(readings, estimator, cap=cap)
    )


@dataclass(frozen=True)
class SensorReading:
    """One stored observation, as public figures use it: where, what, when, its numbers, and
    whether it is held in quarantine."""

    district: str
    model: str
    device: str
    at: datetime
    values: dict[str, float]
    status: str | None
    """A parking spot's ``free``/``occupied``, the one non-numeric figure read."""
    quarantined: bool


READINGS_PAGE = 2000
"""Observations ``readings_between`` reads at a time."""


def readings_between(
    db: Database,
    since: datetime,
    until: datetime,
    *,
    log_size: int,
    page: int = READINGS_PAGE,
) -> Iterator[SensorReading]:
    """Every observation signed in ``[since, until)`` and on the log before entry ``log_size``,
    each marked quarantined or not as it stood at that size (a quarantined reading, or any
    reading of a device quarantined from that moment on, not released before it): figures
    computed at a checkpoint are the same whenever they are recomputed.

    In the order (time, device, counter), read ``page`` at a time as the caller takes them
    (``observations_by_time``), so that a week of a city's readings is never in memory at once;
    each page stands at ``log_size`` like the first, whatever was appended meanwhile."""
    if until <= since:
        raise MalformedError("a period ends after it starts")
    held = "(x.released_index IS NULL OR x.released_index >= ?) AND x.ledger_index < ?"
    select = (
        "SELECT o.district, o.model, o.device, o.counter, o.created_us, o.entity, "
        "EXISTS (SELECT 1 FROM quarantine x WHERE x.device = o.device "
        f"AND x.counter = o.counter AND {held}) "
        "OR EXISTS (SELECT 1 FROM device_quarantine x WHERE x.device = o.device "
        f"AND o.created_us >= x.since_us AND {held}) "
        "FROM observations o WHERE o.created_us >= ? AND o.created_us < ? AND o.ledger_index < ? "
    )
    held_args = (log_size, log_size, log_size, log_size)
    end_us = to_micros(until)
    rows = db.read(
        select + "ORDER BY o.created_us, o.device, o.counter LIMIT ?",
        (*held_args, to_micros(since), end_us, log_size, page),
    )
    while rows:
        for district, model, device, _, created_us, entity, quarantined in rows:
            parsed = parse_json(bytes(entity), "a stored observation")
            status = parsed.get("status", {})
            yield SensorReading(
                str(district),
                str(model),
                str(device),
                from_micros(int(created_us)),
                numeric_properties(parsed),
                status.get("value") if isinstance(status, dict) else None,
                bool(quarantined),
            )
        if len(rows) < page:
            return
        _, _, device, counter, created_us, _, _ = rows[-1]
        rows = db.read(
            select
            + "AND (o.created_us > ? OR (o.created_us = ? AND (o.device > ? "
            "OR (o.device = ? AND o.counter > ?)))) "
            "ORDER BY o.created_us, o.device, o.counter LIMIT ?",
            (*held_args, created_us, end_us, log_size, created_us, created_us, device, device,
             counter, page),
        )  # fmt: skip
