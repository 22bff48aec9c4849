"""Adjusted classify-and-count on synthetic confusion matrices, and interval coverage."""

from __future__ import annotations

import numpy as np
import pytest

from ombud.errors import MalformedError
from ombud.insight.correction import Confusion, correct, shipped_confusion

SYNTHETIC = [
    Confusion(((80, 15, 5), (20, 60, 20), (5, 15, 80))),
    Confusion(((900, 90, 10), (100, 800, 100), (10, 90, 900))),
    Confusion(((244, 47, 21), (198, 514, 157), (56, 142, 621))),
]


@pytest.mark.parametrize("confusion", SYNTHETIC)
def test_acc_recovers_the_true_shares_from_expected_counts(confusion: Confusion) -> None:
    c = confusion.matrix
    for true in ([0.6, 0.3, 0.1], [0.1, 0.2, 0.7], [0.34, 0.33, 0.33], [1.0, 0.0, 0.0]):
        observed = c @ (np.array(true) * 1000)
        got = correct(observed, 0.0, confusion)
        assert np.allclose(got.shares, true, atol=1e-9)
        assert got.satisfaction == pytest.approx(true[2] - true[0])


def test_shares_stay_on_the_simplex_when_noise_pushes_them_off() -> None:
    got = correct([300, 2, -5], 3.0, SYNTHETIC[0])
    assert min(got.shares) >= 0 and sum(got.shares) == pytest.approx(1)
    assert got.satisfaction == pytest.approx(-1.0)
    low, high = got.interval
    assert -1 <= low <= high <= 1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_intervals_hold_the_truth_about_95_percent_of_the_time(seed: int) -> None:
    """Posts labelled by a model that errs as C says, DP noise of scale 2: the interval holds
    the true mean of the posts in at least 92% of 600 cells (95% expected)."""
    rng = np.random.default_rng(seed)
    confusion = shipped_confusion()
    c = confusion.matrix
    held = 0
    for _ in range(600):
        n = int(rng.integers(40, 600))
        mix = rng.dirichlet([2, 2, 2])
        true = rng.multinomial(n, mix)
        labelled = sum(rng.multinomial(true[j], c[:, j]) for j in range(3))
        noisy = labelled + rng.normal(0, 2.0, 3)
        low, high = correct(noisy, 2.0, confusion).interval
        held += low <= (true[2] - true[0]) / n <= high
    assert held >= 0.92 * 600


def test_a_confusion_matrix_is_checked() -> None:
    with pytest.raises(MalformedError):
        Confusion(((1, 0), (0, 1)))  # type: ignore[arg-type]
    with pytest.raises(MalformedError, match="singular"):
        Confusion(((1, 1, 1), (1, 1, 1), (1, 1, 1)))
    with pytest.raises(MalformedError):
        correct([0, 0, 0], 1.0, SYNTHETIC[0])


def test_the_shipped_confusion_was_measured_on_the_validation_split() -> None:
    confusion = shipped_confusion()
    assert sum(map(sum, confusion.counts)) == 2000 and "val" in confusion.source
