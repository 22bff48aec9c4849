"""Sensor figures as the EU Environmental Noise Directive and the WHO define them."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
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


def test_a_week_of_readings_is_summed_as_it_streams_not_kept() -> None:
    """A city of 1,000 sensors reporting every five minutes sends 2 million readings a week:
    a report keeps each device's sums, not its readings."""
    monday = datetime(2026, 11, 2, tzinfo=UTC)
    models = ("NoiseLevelObserved", "AirQualityObserved", "TrafficFlowObserved")
    values = ({"LAeq": 55.0}, {"pm25": 12.0, "no2": 20.0}, {"intensity": 300.0})

    def stream() -> Iterator[SensorReading]:
        for i in range(100_000):
            at = monday + timedelta(seconds=6 * i)
            kind = i % 3
            yield SensorReading(
                "north", models[kind], f"d{i % 30}", at, dict(values[kind]), None, i % 50 == 0
            )

    tracemalloc.start()
    try:
        weeks = district_weeks(stream(), [("2026-W45", monday, monday + timedelta(days=7))], UTC)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    (week,) = weeks
    assert week.readings_used == 98_000 and week.readings_left_out == 2_000
    assert week.figures["Lden"] > 55 and week.figures["flow"] == 300.0
    assert peak < 1 << 20, peak  # 0.08 MiB; keeping the readings, as before, took 41 MiB
