"""Coverage: a device's sampling gaps listed as "no data", never filled in."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ombud.errors import MalformedError
from ombud.sensors.coverage import device_coverage
from tests.sensors.test_screening import START, STEP, City, city  # noqa: F401


def test_a_silent_hour_is_a_gap(city: City) -> None:  # noqa: F811
    city.silent[2] = range(10, 22)
    city.run(30)
    device = city.sensors[2].device.id
    coverage = device_coverage(city.db, device, START, START + 30 * STEP)
    assert coverage.readings == 18 and coverage.interval == STEP
    (gap,) = coverage.gaps
    assert (gap.start, gap.end, gap.missing) == (START + 9 * STEP, START + 22 * STEP, 12)
    assert coverage.to_json()["gaps"] == [
        {"start": "2026-11-24T07:45:00Z", "end": "2026-11-24T08:50:00Z", "missing": 12}
    ]
    whole = device_coverage(city.db, city.sensors[0].device.id, START, START + 30 * STEP)
    assert (whole.readings, whole.gaps) == (30, ())


def test_coverage_of_an_unheard_device_is_empty_and_backward_periods_are_refused(
    city: City,  # noqa: F811
) -> None:
    city.run(1)
    # whether a device is registered is the registry's to say (the API asks it first: 404)
    empty = device_coverage(city.db, "no-such-device", START, START + STEP)
    assert (empty.readings, empty.gaps) == (0, ())
    with pytest.raises(MalformedError):
        device_coverage(city.db, city.sensors[0].device.id, START, START - timedelta(1))
    lone = device_coverage(city.db, city.sensors[0].device.id, START, START + STEP)
    assert (lone.readings, lone.interval, lone.gaps) == (1, None, ())
