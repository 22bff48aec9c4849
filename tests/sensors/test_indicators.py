"""District indicators: the readings they rest on, capped (``MAX_READINGS``) so that no request
makes the server hold an unbounded period in memory, and periods that run backward refused."""

from __future__ import annotations

import pytest

from ombud.errors import MalformedError
from ombud.sensors import indicators
from ombud.sensors.indicators import MAX_READINGS, district_indicator, district_readings
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
