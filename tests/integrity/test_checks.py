"""Each plausibility check catches its symptom, says why with its evidence, and leaves clean
data alone."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ombud.errors import MalformedError
from ombud.ingest.fleet import traffic_level
from ombud.integrity.checks import (
    Gap,
    check_device,
    check_flat_line,
    check_neighbours,
    check_offset,
    check_range,
    check_rate,
    check_replay,
    check_sentinel,
    find_gaps,
    mad,
    offset,
    screen_reading,
)

T0 = datetime(2026, 11, 25, tzinfo=UTC)


def daily(rows: int, seed: int = 1, noise: float = 0.8) -> list[float]:
    rng = random.Random(seed)
    return [55 + 8 * math.sin(2 * math.pi * i / 288) + rng.gauss(0, noise) for i in range(rows)]


def test_physical_ranges() -> None:
    assert not check_range("LAeq", 61.5).suspect
    verdict = check_range("LAeq", 181.0)
    assert verdict.suspect and verdict.check == "range"
    assert dict(verdict.evidence) == {
        "attribute": "LAeq",
        "value": 181.0,
        "low": 0.0,
        "high": 140.0,
    }
    assert check_range("occupancyRate", -0.1).suspect
    assert not check_range("somethingElse", 1e9).suspect  # no range known: no verdict against it


def test_sentinels() -> None:
    assert check_sentinel(-9999.0).suspect and check_sentinel(65535).suspect
    assert not check_sentinel(-9998.5).suspect and not check_sentinel(0.0).suspect


def test_a_stuck_sensor_and_a_live_one() -> None:
    assert check_flat_line([3.0] * 12).suspect
    assert not check_flat_line([3.0] * 11 + [3.1]).suspect
    assert not check_flat_line([3.0] * 5).suspect  # too short to say
    assert check_flat_line([1.0, 1.05, 1.0, 1.02] * 3, tolerance=0.1).suspect
    with pytest.raises(MalformedError):
        check_flat_line([1.0], run=1)


@pytest.mark.parametrize("seed", range(5))
def test_clean_series_pass_every_series_check(seed: int) -> None:
    values = daily(288 * 3, seed)
    for end in range(20, len(values)):
        window = values[:end]
        assert not check_rate(window).suspect, end
        assert not check_flat_line(window).suspect, end
        assert not check_range("LAeq", window[-1]).suspect


def test_a_spike_fails_the_hampel_filter() -> None:
    values = [*daily(100), 140.0]
    verdict = check_rate(values)
    assert verdict.suspect and verdict.evidence["window"] == 25
    assert "robust deviations" in verdict.reason


def test_gaps_are_recorded_not_filled() -> None:
    times = [T0 + timedelta(minutes=5 * i) for i in range(10)]
    times = times[:4] + times[7:]  # readings 4, 5 and 6 never came
    assert find_gaps(times, timedelta(minutes=5)) == [Gap(times[3], times[4], 3)]
    assert find_gaps(times[:4], timedelta(minutes=5)) == []
    with pytest.raises(MalformedError):
        find_gaps(list(reversed(times)), timedelta(minutes=5))


def test_a_reading_that_disagrees_with_its_neighbours() -> None:
    neighbours = [41.0, 42.5, 40.2, 43.1, 41.7]
    assert not check_neighbours(42.0, neighbours).suspect
    verdict = check_neighbours(70.0, neighbours)
    assert verdict.suspect and verdict.evidence["median"] == 41.7
    assert not check_neighbours(70.0, neighbours[:2]).suspect  # too few to judge


@settings(max_examples=200)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50))
def test_mad_is_robust_and_non_negative(values: list[float]) -> None:
    assert mad(values) >= 0
    assert mad(values * 3) == pytest.approx(mad(values))


def test_a_replayed_day_is_caught_and_a_similar_day_is_not() -> None:
    yesterday = daily(288, seed=1)
    assert check_replay(yesterday[-12:], yesterday[-12:]).suspect
    today = daily(288, seed=2)  # the same rhythm, other noise: an honest sensor
    for end in range(12, 288):
        verdict = check_replay(today[end - 12 : end], yesterday[end - 12 : end])
        assert not verdict.suspect
    assert verdict.evidence["repeated_share"] < 0.05
    gappy: list[float | None] = [*yesterday[:6], *[None] * 6]
    assert not check_replay(yesterday[:12], gappy).suspect  # too few pairs to judge
    assert not check_replay([50.0] * 12, [50.0] * 12).suspect  # a flat line, not a replay
    with pytest.raises(MalformedError):
        check_replay(yesterday[:12], yesterday[:11])


def test_a_trend_is_not_a_jump() -> None:
    # Traffic rising into the morning rush: a plain Hampel filter (the median of the last two
    # hours) lags the level; the trend line does not.
    rng = random.Random(3)
    rising = [
        900 * traffic_level(T0 + timedelta(hours=5, minutes=5 * i)) + rng.gauss(0, 25)
        for i in range(40)
    ]
    for end in range(27, 40):
        assert not check_rate(rising[:end], floor=25.0).suspect, end
    verdict = check_rate([*rising[:30], rising[29] + 500], floor=25.0)
    assert verdict.suspect and verdict.evidence["slope"] > 0


def test_a_device_is_suspect_by_habit_not_by_accident() -> None:
    assert not check_device([False] * 23 + [True], minimum=6).suspect
    verdict = check_device([True, False] * 6 + [False] * 12, minimum=6)
    assert verdict.suspect and verdict.evidence == {"suspects": 6, "readings": 24, "minimum": 6}
    with pytest.raises(MalformedError):
        check_device([True], minimum=0)


def test_screen_reading_composes_the_checks_and_names_the_attribute() -> None:
    history = daily(40, seed=4)
    neighbours = [history[-1] + d for d in (-1.2, 0.4, 0.9, -0.3, 1.5)]
    assert screen_reading("LAeq", history[-1] + 0.5, history, neighbours) == []
    verdicts = screen_reading("LAeq", history[-1] + 30, history, neighbours)
    assert {v.check for v in verdicts} == {"rate", "neighbours"}
    assert all(
        v.reason.startswith("LAeq: ") and v.evidence["attribute"] == "LAeq" for v in verdicts
    )
    stuck = [50.0] * 30
    assert [v.check for v in screen_reading("LAeq", 50.0, stuck, [])] == ["flat_line"]
    # An empty street at night repeats itself honestly: counts are not checked for it.
    assert screen_reading("availableSpotNumber", 40.0, [40.0] * 30, []) == []
    replayed = daily(12, seed=5)
    verdicts = screen_reading(
        "LAeq", replayed[-1], [*history, *replayed[:-1]], [], earlier=replayed
    )
    assert [v.check for v in verdicts] == ["replay"]


def test_an_offset_that_moves_is_caught_one_that_wobbles_is_not() -> None:
    rng = random.Random(8)
    steady = [2.0 + rng.gauss(0, 1.5) for _ in range(600)]
    for end in range(204, 600):
        assert not check_offset(steady[:end], floor=2.0).suspect, end
    moved = [*steady[:300], *(v + 8.0 for v in steady[300:312])]
    verdict = check_offset(moved, floor=2.0)
    assert verdict.suspect and verdict.evidence["recent"] > verdict.evidence["usual"] + 6
    assert verdict.evidence["moved_for"] == 12  # dated to the first moved reading
    assert not check_offset(moved[-203:], floor=2.0).suspect  # 48 + 144 + 12 are needed
    assert offset(60.0, [55.0, 56.0]) is None and offset(60.0, [55.0, 56.0, 58.0]) == 4.0


def test_a_slow_drift_does_not_drag_its_baseline_along() -> None:
    rng = random.Random(9)
    day = [rng.gauss(0, 1.5) for _ in range(288)]
    drift = [15.0 * i / 288 + rng.gauss(0, 1.5) for i in range(288)]
    offsets = [*day, *drift]

    def kept(end: int) -> list[float]:  # screening keeps a device's last 300 offsets
        return offsets[max(0, end - 300) : end]

    first = next(i for i in range(300, len(offsets)) if check_offset(kept(i), floor=2.0).suspect)
    assert 288 + 100 < first < 288 + 160  # once it has drifted 6 dB or so
    verdict = check_offset(kept(first), floor=2.0)
    assert verdict.evidence["moved_for"] > 60  # dated back towards the drift's start
    # Without the gap the baseline follows the drift, and the same reading passes.
    assert not check_offset(kept(first), floor=2.0, gap=0).suspect
