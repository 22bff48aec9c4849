"""The streaming detector: quiet on clean daily rhythms, quick on faults, no look-ahead, and a
state that survives a restart exactly."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from ombud.errors import MalformedError
from ombud.integrity.detector import (
    DEFAULT_THRESHOLD,
    AnomalyDetector,
    DetectorSettings,
    detect,
    fit_tail,
    tail_probability,
    to_flags,
)


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


def test_a_rhythm_it_has_seen_is_not_news_but_a_new_shape_is() -> None:
    """A daily rush-hour spike is flagged at most the first time; a spike at an hour it never
    came, of the same height, is flagged."""
    values = clean(288 * 10)
    for day in range(10):
        values[day * 288 + 100 : day * 288 + 106] = [40.0] * 6
    values[9 * 288 + 200 : 9 * 288 + 206] = [40.0] * 6
    _, flags = run(values)
    assert not any(flags[3 * 288 : 9 * 288 + 200])
    assert any(flags[9 * 288 + 200 : 9 * 288 + 216])


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
    s = DetectorSettings()
    assert flags == to_flags(scores, s.threshold, s.refractory, s.learning)
    assert sum(flags) >= 2


def test_nothing_is_scored_before_the_warmup_or_flagged_in_the_learning_period() -> None:
    values = clean(400)
    values[200:] = [90.0] * 200  # a new sensor whose second hour looks nothing like its first
    scores, flags = run(values)
    s = DetectorSettings()
    assert set(scores[: s.scales[0] + 20 + s.smoothing + s.warmup - 2]) == {0.0}
    assert max(scores[200:210]) >= s.threshold  # it is surprised ...
    assert not any(flags[: s.learning])  # ... but a newcomer is not flagged yet


def hourly(rows: int, seed: int = 1) -> tuple[list[float], list[float]]:
    """An hourly sensor's daily rhythm (24 readings a day), and the readings' times."""
    rng = random.Random(seed)
    values = [20 + 5 * math.sin(2 * math.pi * i / 24) + rng.gauss(0, 0.3) for i in range(rows)]
    return values, [1_767_225_600.0 + 3600 * i for i in range(rows)]


def test_a_timed_series_is_new_for_a_day_of_its_own_time() -> None:
    """An hourly sensor may be flagged from its second day on (a day and the longest scale:
    56 readings), where readings without times wait for a day of 5-minute readings."""
    values, times = hourly(500)
    values[200:] = [45.0] * 300
    _, untimed = detect(values)
    _, timed = detect(values, times=times)
    assert not any(untimed) and not any(timed[:200]) and any(timed[200:210])
    detector = AnomalyDetector()
    for value, at in zip(values[:30], times[:30], strict=True):
        detector.update(value, at)
    assert detector.flags_from == 24 + 32
    five_minutes = [1_767_225_600.0 + 300 * i for i in range(3000)]
    stuck = clean(3000)
    stuck[2500:] = [45.0] * 500
    assert detect(stuck, times=five_minutes) == detect(stuck)  # 320 readings either way


@pytest.mark.parametrize("clock", [5.0, 1e300, -1e300])
def test_a_clock_that_never_passes_a_day_keeps_it_quiet_for_its_history_only(
    clock: float,
) -> None:
    """Even where a day is below the clock's precision (a day added to 1e300 is 1e300)."""
    values = clean(3600)
    values[2500:2520] = [45.0] * 20
    values[3100:] = [0.0] * 500
    assert any(detect(values)[1][2500:2510])
    _, flags = detect(values, times=[clock] * len(values))
    assert not any(flags[:3000]) and any(flags[3100:3110])


def test_a_series_is_timed_or_not_from_its_first_reading() -> None:
    """Times that start late are ignored (the series keeps counting readings); times that stop
    do not end the learning day; the day mark is known only from a later reading's time, or
    the first one's where the day is 0."""
    values, times = hourly(500)
    late = [None] * 10 + times[10:]
    _, flags = detect(values[:100], times=late[:100])  # type: ignore[arg-type]
    detector = AnomalyDetector()
    for value, at in zip(values[:100], late[:100], strict=True):
        detector.update(value, at)
    assert detector.flags_from == 320 and not any(flags)
    stopped = times[:10] + [None] * 490
    detector = AnomalyDetector()
    for value, at in zip(values, stopped, strict=True):
        detector.update(value, at)
    assert detector.flags_from == DetectorSettings().history
    detector = AnomalyDetector(DetectorSettings(learning_s=0))
    detector.update(1.0, 7.0)
    assert detector.flags_from == 32


def test_a_restored_snapshot_goes_on_exactly_as_if_it_had_never_stopped() -> None:
    values = clean(4500)
    values[4000:4010] = [45.0] * 10
    whole = detect(values)
    detector = AnomalyDetector()
    first = [detector.update(v) for v in values[:3700]]
    state = detector.snapshot()
    assert len(state) < 110_000  # 3,032 readings and 5 times 3,600 float32 distances
    resumed = AnomalyDetector.restore(state)
    rest = [resumed.update(v) for v in values[3700:]]
    assert [s for s, _ in first + rest] == whole[0]
    assert [f for _, f in first + rest] == whole[1] and any(whole[1][4000:4010])
    assert resumed.seen == len(values)


@pytest.mark.parametrize("stop", [10, 40, 300])
def test_a_timed_series_restored_in_its_first_days_learns_as_if_never_stopped(stop: int) -> None:
    values, times = hourly(400)
    values[150:] = [45.0] * 250
    whole = detect(values, times=times)
    detector = AnomalyDetector()
    first = [detector.update(v, at) for v, at in zip(values[:stop], times[:stop], strict=True)]
    resumed = AnomalyDetector.restore(detector.snapshot())
    rest = [resumed.update(v, at) for v, at in zip(values[stop:], times[stop:], strict=True)]
    assert ([s for s, _ in first + rest], [f for _, f in first + rest]) == whole
    assert any(whole[1][150:160]) and resumed.flags_from == 56


def test_a_snapshot_under_another_threshold_keeps_its_learning() -> None:
    detector = AnomalyDetector()
    for v in clean(600):
        detector.update(v)
    stricter = AnomalyDetector.restore(detector.snapshot(), DetectorSettings(threshold=0.9))
    assert stricter.seen == 600 and stricter.settings.threshold == 0.9


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[:-3],  # truncated
        lambda b: b"x" + b[1:],  # not a snapshot
        lambda b: b[:40] + b"{" + b[41:],  # header not JSON
        lambda b: b[:-8] + np.float64(np.nan).tobytes(),  # a number that is not finite
    ],
)
def test_a_damaged_snapshot_is_refused(damage: object) -> None:
    detector = AnomalyDetector()
    for v in clean(500):
        detector.update(v)
    state = detector.snapshot()
    with pytest.raises(MalformedError, match="detector snapshot"):
        AnomalyDetector.restore(damage(state))  # type: ignore[operator]


def _edited(state: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    """``state`` with its header edited in place by ``edit`` (the arrays kept)."""
    import json
    import struct

    magic = b"ombud-detector\x00"
    (size,) = struct.unpack_from("<I", state, len(magic))
    header = json.loads(state[len(magic) + 4 : len(magic) + 4 + size])
    edit(header)
    head = json.dumps(header).encode()
    return magic + struct.pack("<I", len(head)) + head + state[len(magic) + 4 + size :]


def _tampered(state: bytes, **changes: object) -> bytes:
    """``state`` with header fields replaced."""
    return _edited(state, lambda header: header.update(changes))


def test_a_snapshot_whose_numbers_update_could_not_use_is_refused() -> None:
    """Refused at restore, so a damaged checkpoint can never crash a later ``update``."""
    detector = AnomalyDetector()
    for v in clean(900):
        detector.update(v)
    state = detector.snapshot()
    n = len(detector.settings.scales)
    fit = [1.0, 0.02, 0.1, 0.5]
    for changes in (
        {"fits": [[1.0, 0.02, 0.1, 0.0]] * n},  # sigma 0: a division by zero
        {"fits": [[1.0, 0.02, 0.1, -3.0]] * n},
        {"fits": [[1.0, 2.0, 0.1, 0.5]] * n},
        {"fits": [fit] * (n - 1)},
        {"fits": [["1", 0.02, 0.1, 0.5]] * n},
        {"recent": [[1.0, 2.0, 3.0]] * (n - 1)},
        {"recent": [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]] * n},  # more than it smooths over
        {"recent": [[1.0, -2.0, 3.0]] * n},  # a distance is never negative
        {"recent": [[1.0, True, 3.0]] * n},
        {"recent": "1,2,3"},
        {"seen": -1},
        {"seen": 1.5},
        {"quiet": 10_000},
        {"lengths": [10, -1] + [5000] * (n - 1)},
        {"first_at": "2026-01-01"},
        {"first_at": 10**400},  # beyond any float
        {"fits": [[10**400, 0.02, 0.1, 0.5]] * n},
        {"day_mark": 5},  # a day passed, but no reading had a time
        {"first_at": 0.0, "day_mark": 900},  # not a reading it has seen
        {"first_at": 0.0, "day_mark": -1},
        {"first_at": 0.0, "day_mark": True},
        {"first_at": 0.0, "seen": 0, "lengths": [0] * (n + 1)},  # a time before any reading
        {"format": 2.0},
        {"format": 4},
    ):
        with pytest.raises(MalformedError, match="detector snapshot"):
            AnomalyDetector.restore(_tampered(state, **changes))
    deep = b"[" * 4000
    for damaged in (
        _tampered(state, seen=math.inf),  # "Infinity" in the header
        _tampered(state, first_at=math.nan),
        b"ombud-detector\x00" + len(deep).to_bytes(4, "little") + deep,
        b"ombud-detector\x00" + (10**6).to_bytes(4, "little") + b"{}",
    ):
        with pytest.raises(MalformedError, match="detector snapshot"):
            AnomalyDetector.restore(damaged)
    restored = AnomalyDetector.restore(memoryview(state))  # any bytes-like value
    assert restored.snapshot() == state


def test_a_snapshot_from_before_readings_had_times_restores_as_an_untimed_series() -> None:
    """An upgrade keeps every series' history: a format-2 checkpoint (no times, settings
    without ``learning_s``) goes on counting 320 readings, whatever times it is fed later."""
    values = clean(900)
    values[600:] = [45.0] * 300
    detector = AnomalyDetector()
    first = [detector.update(v) for v in values[:200]]

    def as_format_2(header: dict[str, Any]) -> None:
        header["format"] = 2
        del header["first_at"], header["day_mark"], header["settings"]["learning_s"]

    resumed = AnomalyDetector.restore(_edited(detector.snapshot(), as_format_2))
    rest = [resumed.update(v, 1e9 + 300 * i) for i, v in enumerate(values[200:])]
    assert [f for _, f in first + rest] == detect(values)[1] and resumed.flags_from == 320


def test_numbers_of_every_kind_are_readings() -> None:
    detector = AnomalyDetector()
    for value in (np.float32(1.5), np.int64(3), 4, 2.5):
        assert detector.update(value) == (0.0, False)  # type: ignore[arg-type]
    with pytest.raises(MalformedError, match="within"):
        detector.update(10**400)


def test_a_snapshot_of_the_largest_settings_restores() -> None:
    """Every scale's fit and smoothed distances fit in the snapshot's bounded header."""
    settings = DetectorSettings(
        scales=tuple(range(1, 65)), smoothing=16, history=256, warmup=20, calibration=20
    )
    detector = AnomalyDetector(settings)
    for v in clean(300):
        detector.update(v)
    state = detector.snapshot()
    assert AnomalyDetector.restore(state, settings).snapshot() == state


def test_a_snapshot_under_other_settings_is_refused() -> None:
    state = AnomalyDetector().snapshot()
    with pytest.raises(MalformedError, match="other detector settings"):
        AnomalyDetector.restore(state, DetectorSettings(history=1000))


def test_the_tail_fit_gives_the_rate_it_was_fitted_to() -> None:
    """Exponential distances: the fit's p-value at the 99.9th percentile is about 10^-3."""
    rng = np.random.default_rng(7)
    fit = fit_tail(rng.exponential(2.0, 20_000), 0.98)
    p = tail_probability(2.0 * math.log(1000), fit)
    assert 0.0005 < p < 0.002
    assert tail_probability(fit[0], fit) == 1.0


def test_the_shipped_threshold_is_the_deployments_default() -> None:
    from ombud.config import IntegritySettings

    assert IntegritySettings().anomaly_threshold == DEFAULT_THRESHOLD


def test_bad_readings_and_settings_are_refused() -> None:
    detector = AnomalyDetector()
    for bad in (math.nan, math.inf, True, "3", 1e200, -1e19):
        with pytest.raises(MalformedError):
            detector.update(bad)  # type: ignore[arg-type]
    for at in (math.nan, -math.inf, True, "2026-01-01", 10**400):
        with pytest.raises(MalformedError, match="time"):
            detector.update(1.0, at)  # type: ignore[arg-type]
    assert detector.seen == 0  # nothing refused was taken
    for settings in (
        {"scales": (8, 4)},
        {"scales": ()},
        {"scales": (4, 100)},
        {"history": 10},
        {"warmup": 10},
        {"tail_quantile": 1.0},
        {"threshold": 0.0},
        {"refit": 0},
        {"learning": -1},
        {"learning_s": -1.0},
        {"learning_s": 400 * 86400.0},
        {"smoothing": 0},
        {"smoothing": 17},
    ):
        with pytest.raises(MalformedError):
            DetectorSettings(**settings)  # type: ignore[arg-type]
