"""The NAB scorer follows NAB v1.1's rules (the worked rules in ../shared/data/nab-sensor-failures/
README.md and NAB's sweeper): earliest detection per window, scaled sigmoid, probation, profiles,
normalisation against the null and perfect detectors."""

from __future__ import annotations

import math

import pytest
from bench.nab_scorer import (
    PROFILES,
    normalised,
    optimise_threshold,
    probation_rows,
    scaled_sigmoid,
    score_series,
)

from ombud.errors import MalformedError

STANDARD = PROFILES["standard"]
ROWS = 1000
WINDOW = (400, 499)  # 100 rows


def flags_at(*rows: int) -> list[bool]:
    flags = [False] * ROWS
    for row in rows:
        flags[row] = True
    return flags


def test_the_scaled_sigmoid() -> None:
    assert scaled_sigmoid(-1.0) == pytest.approx(2 / (1 + math.exp(-5)) - 1)  # 0.98661
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(1.0) == pytest.approx(-0.98661, abs=1e-5)
    assert scaled_sigmoid(3.01) == -1.0


def test_probation_is_15_percent_and_at_most_750_rows() -> None:
    assert probation_rows(1000) == 150
    assert probation_rows(7267) == 750
    assert probation_rows(22695) == 750


def test_a_detection_at_the_left_edge_is_perfect() -> None:
    result = score_series(flags_at(400), [WINDOW], STANDARD)
    assert result.score == pytest.approx(scaled_sigmoid(-1.0))
    assert result.perfect == pytest.approx(scaled_sigmoid(-1.0))
    assert result.null == -1.0
    assert normalised([result]) == pytest.approx(100.0)


def test_only_the_earliest_detection_in_a_window_counts() -> None:
    result = score_series(flags_at(450, 460, 499), [WINDOW], STANDARD)
    assert result.score == pytest.approx(scaled_sigmoid(-(499 - 450 + 1) / 100))
    assert result.false_positives == 0 and result.detected == 1


def test_a_missed_window_costs_a_fn_and_scores_like_the_null_detector() -> None:
    result = score_series(flags_at(), [WINDOW], STANDARD)
    assert result.score == -1.0 and normalised([result]) == 0.0
    assert score_series(flags_at(), [WINDOW], PROFILES["reward_low_FN_rate"]).score == -2.0


def test_false_positives_cost_by_their_distance_past_the_previous_window() -> None:
    before_any = score_series(flags_at(200, 400), [WINDOW], STANDARD)
    assert before_any.score == pytest.approx(scaled_sigmoid(-1.0) - 0.11)
    just_after = score_series(flags_at(400, 549), [WINDOW], STANDARD)
    assert just_after.score == pytest.approx(scaled_sigmoid(-1.0) + 0.11 * scaled_sigmoid(50 / 99))
    far_after = score_series(flags_at(400, 900), [WINDOW], STANDARD)
    assert far_after.score == pytest.approx(scaled_sigmoid(-1.0) - 0.11)
    assert far_after.false_positives == 1
    low_fp = score_series(flags_at(200, 400), [WINDOW], PROFILES["reward_low_FP_rate"])
    assert low_fp.score == pytest.approx(scaled_sigmoid(-1.0) - 0.22)


def test_the_probation_period_is_not_scored() -> None:
    assert score_series(flags_at(10, 100, 149), [WINDOW], STANDARD).score == -1.0
    assert score_series(flags_at(150), [WINDOW], STANDARD).false_positives == 1


def test_a_corpus_is_normalised_as_a_whole() -> None:
    perfect = score_series(flags_at(400), [WINDOW], STANDARD)
    null = score_series(flags_at(), [WINDOW], STANDARD)
    assert normalised([perfect, null]) == pytest.approx(50.0)


def test_windows_must_be_ordered_and_inside_the_series() -> None:
    for windows in ([(500, 400)], [(400, 499), (450, 600)], [(900, 1000)]):
        with pytest.raises(MalformedError):
            score_series(flags_at(), windows, STANDARD)
    with pytest.raises(MalformedError):
        normalised([score_series(flags_at(), [], STANDARD)])


def test_the_threshold_sweep_finds_the_best_threshold() -> None:
    scores = [0.0] * ROWS
    scores[300] = 0.6  # a false positive above 0.5 only
    scores[400] = 0.9  # the window's first row
    threshold, best = optimise_threshold([(scores, [WINDOW])], STANDARD)
    assert 0.6 < threshold <= 0.9 and best == pytest.approx(100.0)
