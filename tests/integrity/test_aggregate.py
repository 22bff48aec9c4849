"""Robust district indicators: a few devices cannot move them, and they say what they used."""

from __future__ import annotations

import math
import random
import statistics
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ombud.errors import MalformedError
from ombud.integrity.aggregate import Estimator, Reading, indicator, weighted_quantile


def district(devices: int, per_device: int, level: float, seed: int = 1) -> list[Reading]:
    rng = random.Random(seed)
    return [
        Reading(f"d{d}", level + rng.gauss(0, 2)) for d in range(devices) for _ in range(per_device)
    ]


@pytest.mark.parametrize("estimator", list(Estimator))
def test_clean_data_gives_the_true_level(estimator: Estimator) -> None:
    result = indicator(district(40, 20, 55.0), estimator)
    assert result.value == pytest.approx(55.0, abs=0.3)
    assert (result.readings, result.devices, result.quarantined_readings) == (800, 40, 0)
    assert result.p10 < result.p50 < result.p90


@pytest.mark.parametrize("estimator", list(Estimator))
def test_a_fifth_of_biased_sensors_barely_moves_a_robust_figure(estimator: Estimator) -> None:
    clean = district(40, 20, 55.0)
    attacked = clean[: 32 * 20] + [Reading(r.device, r.value + 30) for r in clean[32 * 20 :]]
    mean_error = abs(statistics.fmean(r.value for r in attacked) - 55.0)
    robust_error = abs(indicator(attacked, estimator).value - 55.0)
    assert mean_error > 5.5
    assert robust_error < mean_error / 3


def test_one_chatty_device_is_capped() -> None:
    honest = district(10, 10, 50.0)
    chatty = [Reading("loud", 100.0) for _ in range(1000)]
    assert indicator(honest + chatty, cap=1.0).value == 100.0  # uncapped, it wins
    assert indicator(honest + chatty, cap=0.1).value == pytest.approx(50.0, abs=1.0)


def test_quarantined_readings_are_excluded_and_counted() -> None:
    readings = district(5, 4, 20.0) + [Reading("bad", 500.0, quarantined=True)] * 3
    result = indicator(readings, Estimator.TRIMMED_MEAN)
    assert result.value == pytest.approx(20.0, abs=2)
    assert (result.quarantined_readings, result.quarantined_devices) == (3, 1)
    with pytest.raises(MalformedError, match="no readings left"):
        indicator([Reading("bad", 1.0, quarantined=True)])


def test_weighted_quantiles_and_bad_arguments() -> None:
    assert weighted_quantile([1, 2, 3], [1, 1, 1], 0.5) == 2
    assert weighted_quantile([1, 2, 3], [1, 1, 10], 0.5) == 3
    with pytest.raises(MalformedError):
        weighted_quantile([], [], 0.5)
    with pytest.raises(MalformedError):
        indicator(district(2, 2, 1.0), cap=0)
    with pytest.raises(MalformedError):
        indicator([Reading("x", float("nan"))])


def test_readings_near_the_largest_float_average_without_overflow() -> None:
    """An attribute with no physical range takes any finite value a device signs: Σ w·v of two
    1.7e308 readings overflowed, and the API answered ``"value": null``, the CLI ``Infinity``."""
    huge = [Reading("a", 1.7e308), Reading("b", 1.7e308), Reading("c", 1.6e308)]
    for estimator in Estimator:
        figure = indicator(huge, estimator)
        assert 1.6e308 <= figure.value <= 1.7e308, estimator
    for n in (11, 17, 34):  # the normalised weights' rounding once landed past the top
        top = [Reading(f"d{i}", sys.float_info.max) for i in range(n)]
        assert indicator(top, Estimator.TRIMMED_MEAN).value == sys.float_info.max
    both_ways = [Reading("a", 1.7e308), Reading("b", -1.7e308), Reading("c", 0.0)]
    assert indicator(both_ways, Estimator.TRIMMED_MEAN).value == 0.0


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("abcde"), st.floats(allow_nan=False, allow_infinity=False)),
        min_size=1,
        max_size=30,
    ),
    st.sampled_from(list(Estimator)),
)
def test_an_indicator_is_a_finite_number_or_a_refusal(
    pairs: list[tuple[str, float]], estimator: Estimator
) -> None:
    readings = [Reading(device, value) for device, value in pairs]
    try:
        figure = indicator(readings, estimator)
    except MalformedError as exc:
        assert "overflows" in str(exc)
        return
    assert math.isfinite(figure.value)
    low, high = min(v for _, v in pairs), max(v for _, v in pairs)
    slack = 1e-12 * max(abs(low), abs(high))  # a mean's rounding, a few units in the last place
    assert low - slack <= figure.value <= high + slack
