"""Sensor figures as the EU Environmental Noise Directive and the WHO define them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ombud.insight.sensors import district_weeks, energy_average, l_den
from ombud.sensors.indicators import SensorReading


def test_decibels_are_averaged_by_energy() -> None:
    assert energy_average([60, 60]) == pytest.approx(60)
    assert energy_average([50, 60]) == pytest.approx(57.4, abs=0.05)  # not 55
    # equal levels all day: L_den weighs the evening by 5 dB and the night by 10 dB
    assert l_den(60, 60, 60) == pytest.approx(
        10 * __import__("math").log10((12 + 4 * 10**0.5 + 8 * 10) / 24) + 60
    )


def test_quarantined_readings_and_devices_are_left_out_and_named() -> None:
    monday = datetime(2026, 11, 2, tzinfo=UTC)
    readings = []
    for hour in range(24 * 7):
        at = monday + timedelta(hours=hour)
        for device, level, held in (("a", 50.0, False), ("b", 52.0, False), ("c", 90.0, True)):
            readings.append(
                SensorReading(
                    "north", "NoiseLevelObserved", device, at, {"LAeq": level}, None, held
                )
            )
    (week,) = district_weeks(readings, [("2026-W45", monday, monday + timedelta(days=7))], UTC)
    assert week.devices_left_out == ("c",) and week.devices_used == ("a", "b")
    assert week.readings_left_out == 168 and week.readings_used == 336
    assert 50 <= week.figures["Lnight"] <= 52  # the loud quarantined device does not count
    assert "Lnight" in week.past_guideline  # 45 dB is the WHO night guideline
