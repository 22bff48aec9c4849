"""The NAB scorer follows NAB v1.1's rules (the worked rules in ../shared/data/nab-sensor-failures/
README.md and NAB's sweeper): earliest detection per window, scaled sigmoid, probation, profiles,
normalisation against the null and perfect detectors."""

from __future__ import annotations

import csv
import json
import math

import pytest
from bench.nab_scorer import (
    PROFILES,
    PUBLISHED,
    PUBLISHED_AS,
    SeriesScore,
    normalised,
    optimise_threshold,
    probation_rows,
    scaled_sigmoid,
    score_series,
)

from ombud.errors import MalformedError
from tests.conftest import SHARED

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


def test_a_detection_at_the_left_edge_is_as_good_as_it_gets() -> None:
    result = score_series(flags_at(400), [WINDOW], STANDARD)
    assert result.score == pytest.approx(scaled_sigmoid(-1.0))
    assert result.perfect == 1.0  # NAB's perfect detector earns A_TP per window
    assert result.null == -1.0
    assert normalised([result]) == pytest.approx(100 * (scaled_sigmoid(-1.0) + 1) / 2)


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
    assert normalised([perfect, null]) == pytest.approx(100 * (scaled_sigmoid(-1.0) + 1) / 4)


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
    assert 0.6 < threshold <= 0.9
    assert best == pytest.approx(100 * (scaled_sigmoid(-1.0) + 1) / 2)


def test_the_published_per_file_scores_give_the_published_normalised_totals() -> None:
    """NAB's own per-file raw scores, normalised by this module, give the totals NAB reports
    for ARTime, CAD OSE, Numenta HTM and the windowed Gaussian on all three profiles."""
    corpus = SHARED / "data" / "nab-corpus"
    if not corpus.is_dir():
        pytest.skip(f"{corpus} is absent (../shared)")
    with open(corpus / "reference" / "published_scores.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["File"] not in ("", "Totals")]
    windows = json.loads((corpus / "labels" / "combined_windows.json").read_text())
    files = {r["File"] for r in rows}
    assert len(files) == 51
    for name, profile in PROFILES.items():
        for shown, expected in PUBLISHED[name].items():
            detector = PUBLISHED_AS[shown]
            scores = [
                SeriesScore(
                    float(r["Score"]), -profile.fn * len(windows[r["File"]]),
                    profile.tp * len(windows[r["File"]]), 0, len(windows[r["File"]]), 0,
                )
                for r in rows
                if r["Detector"] == detector and r["Profile"] == name
            ]  # fmt: skip
            assert len(scores) == 51
            assert round(normalised(scores), 1) == expected, (name, detector)
        nulls = {r["File"]: float(r["Score"]) for r in rows
                 if r["Detector"] == "null" and r["Profile"] == name}  # fmt: skip
        assert all(nulls[f] == -profile.fn * len(windows[f]) for f in files)
