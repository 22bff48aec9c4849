"""District indicators: the readings they rest on, capped (``MAX_READINGS``) so that no request
makes the server hold an unbounded period in memory, and periods that run backward refused."""

from __future__ import annotations

import pytest

from ombud.errors import MalformedError
from ombud.sensors import indicators
from ombud.sensors.indicators import (
    MAX_READINGS,
    district_indicator,
    district_readings,
    readings_between,
)
from tests.sensors.test_screening import NOISE, SENSORS, START, STEP, City, city  # noqa: F401


def test_the_documented_cap_is_200_000_readings() -> None:
    assert MAX_READINGS == 200_000  # README: "An indicator rests on at most 200,000 readings"


def test_a_period_over_the_cap_is_refused_and_one_at_it_is_read(
    city: City,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    city.run(3)
    until = START + 3 * STEP
    monkeypatch.setattr(indicators, "MAX_READINGS", 3 * SENSORS)
    readings = district_readings(city.db, "centre", NOISE, "LAeq", START, until)
    assert len(readings) == 3 * SENSORS and not any(r.quarantined for r in readings)
    monkeypatch.setattr(indicators, "MAX_READINGS", 3 * SENSORS - 1)
    with pytest.raises(MalformedError, match="ask for a shorter one"):
        district_indicator(city.db, "centre", NOISE, "LAeq", START, until)
    with pytest.raises(MalformedError, match="ends after it starts"):
        district_readings(city.db, "centre", NOISE, "LAeq", until, START)


def test_a_period_is_read_a_page_at_a_time_each_reading_once_in_order(
    city: City,  # noqa: F811
) -> None:
    """The insight reads whole weeks this way: however the ties in time (8 sensors each
    step) fall across pages, every reading comes once, in (time, device) order, and the pages
    stand at the log size given."""
    city.run(5)
    until = START + 5 * STEP
    size = city.log.state().size
    whole = list(readings_between(city.db, START, until, log_size=size, page=10_000))
    assert len(whole) == 5 * SENSORS
    assert [(r.at, r.device) for r in whole] == sorted((r.at, r.device) for r in whole)
    for page in (1, 3, 7, 8, 39, 40):
        assert list(readings_between(city.db, START, until, log_size=size, page=page)) == whole
    city.run(1)  # appended after that size
    later = list(readings_between(city.db, START, until + STEP, log_size=size, page=3))
    assert later == whole
