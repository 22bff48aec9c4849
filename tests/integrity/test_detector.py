"""The streaming detector: quiet on clean daily rhythms, quick on faults, no look-ahead."""

from __future__ import annotations

import math
import random

import pytest

from ombud.errors import MalformedError
from ombud.integrity.detector import AnomalyDetector, DetectorSettings, detect, to_flags


def clean(rows: int, seed: int = 1) -> list[float]:
    """A sensor's daily rhythm (288 readings a day) with measurement noise."""
    rng = random.Random(seed)
    return [20 + 5 * math.sin(2 * math.pi * i / 288) + rng.gauss(0, 0.3) for i in range(rows)]


def run(values: list[float]) -> tuple[list[float], list[bool]]:
    return detect(values)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_clean_daily_rhythms_are_not_flagged(seed: int) -> None:
    _, flags = run(clean(288 * 14, seed))
    assert not any(flags)


def test_a_stuck_high_fault_is_flagged_soon() -> None:
    values = clean(3000)
    values[2500:] = [45.0] * 500  # the sensor jumps and sticks far above its range
    _, flags = run(values)
    assert not any(flags[:2500])
    assert any(flags[2500:2510])


def test_a_drift_out_of_the_usual_range_is_flagged() -> None:
    """-20 over 100 readings (the daily swing is ±5). Slower drifts are the neighbours' job:
    one series cannot tell them from a change of season (the spatial checks compare sensors)."""
    values = clean(4000)
    values[3000:] = [v - 0.2 * min(i + 1, 100) for i, v in enumerate(values[3000:])]
    _, flags = run(values)
    assert not any(flags[:3000]) and any(flags[3000:3200])


def test_scores_never_look_ahead() -> None:
    values = clean(2000)
    values[1500] = 60.0
    full, _ = run(values)
    prefix, _ = run(values[:1600])
    assert full[:1600] == prefix


def test_the_flags_are_the_thresholded_scores_with_the_refractory_period() -> None:
    values = clean(3000)
    values[1000:1010] = [50.0] * 10
    values[2500:] = [0.0] * 500
    scores, flags = run(values)
    settings = DetectorSettings()
    assert flags == to_flags(scores, settings.threshold, settings.refractory)
    assert sum(flags) >= 2


def test_the_learning_period_scores_zero() -> None:
    scores, flags = run([float(i % 7) for i in range(DetectorSettings().learning)])
    assert set(scores) == {0.0} and not any(flags)


def test_bad_readings_and_settings_are_refused() -> None:
    detector = AnomalyDetector()
    for bad in (math.nan, math.inf):
        with pytest.raises(MalformedError):
            detector.update(bad)
    with pytest.raises(MalformedError):
        DetectorSettings(short=10, long=5)
    with pytest.raises(MalformedError):
        DetectorSettings(fast=0)
