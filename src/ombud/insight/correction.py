"""Satisfaction from a DP release's noisy label counts, corrected for the classifier's errors.

Threat model: a published figure must not be more certain than its data. The counts of a
release carry Gaussian noise of a known scale, and the labels come from a model that errs; the
share of each true sentiment is recovered by adjusted classify-and-count (Forman 2008; Saerens
et al. 2002) — solve ``observed = C · true`` on the simplex, with ``C`` the model's confusion
measured on held-out data — and the 95% interval adds, by the delta method, the DP noise, the
randomness of the classifier's errors on the cell's posts, and the uncertainty of ``C`` itself.
It assumes the held-out data stands in for a city's posts (the model errs on them alike).
Pure: numbers in, numbers out.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np

from ombud.canonical import canonical_json
from ombud.errors import ConfigError, MalformedError

__all__ = ["LABELS", "WEIGHTS", "Confusion", "Corrected", "correct", "shipped_confusion"]

LABELS = ("negative", "neutral", "positive")
WEIGHTS = np.array([-1.0, 0.0, 1.0])
"""Satisfaction is the share positive minus the share negative: the mean on a -1..1 scale."""
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Confusion:
    """Counts of held-out posts by true label (rows) and predicted label (columns)."""

    counts: tuple[tuple[int, ...], ...]
    source: str = ""

    def __post_init__(self) -> None:
        if len(self.counts) != 3 or any(len(r) != 3 for r in self.counts):
            raise MalformedError("a confusion matrix is 3 x 3 counts")
        if any(not isinstance(c, int) or c < 0 for r in self.counts for c in r):
            raise MalformedError("a confusion matrix holds counts")
        if any(sum(r) == 0 for r in self.counts):
            raise MalformedError("every true label needs held-out examples")
        if abs(np.linalg.det(self.matrix)) < 1e-6:
            raise MalformedError(
                "the confusion matrix is singular: the labels cannot be told apart"
            )

    @property
    def matrix(self) -> np.ndarray:
        """``C[i, j]`` = P(predicted i | true j): each column sums to 1."""
        counts = np.array(self.counts, dtype=float)
        matrix: np.ndarray = (counts / counts.sum(axis=1, keepdims=True)).T
        return matrix

    @property
    def examples(self) -> np.ndarray:
        """Held-out examples of each true label."""
        examples: np.ndarray = np.array(self.counts, dtype=float).sum(axis=1)
        return examples

    @property
    def digest(self) -> str:
        """SHA-256 of the counts as RFC 8785 JSON: what an insight cites."""
        return hashlib.sha256(
            canonical_json({"counts": [list(r) for r in self.counts]})
        ).hexdigest()

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Confusion:
        counts = data.get("counts")
        if tuple(data.get("labels", ())) != LABELS or not isinstance(counts, Mapping):  # type: ignore[arg-type]
            raise ConfigError("a confusion file lists the labels and counts[true][predicted]")
        try:
            rows = tuple(tuple(int(counts[t][p]) for p in LABELS) for t in LABELS)
        except (KeyError, TypeError, ValueError):
            raise ConfigError("a confusion file holds counts[true][predicted]") from None
        return cls(rows, str(data.get("data", "")))


def shipped_confusion() -> Confusion:
    """The confusion of the model shipped in the package, measured on TweetEval val (read as
    data beside the model: insight imports nothing of voice)."""
    text = (resources.files("ombud.voice") / "models" / "confusion.json").read_text("utf-8")
    return Confusion.from_json(json.loads(text))


@dataclass(frozen=True)
class Corrected:
    """One cell's corrected estimate: true-label shares, satisfaction and their uncertainty."""

    shares: tuple[float, float, float]
    satisfaction: float
    own_variance: float
    """Variance of the satisfaction from the cell's own noise (DP and classifier errors)."""
    total_variance: float
    """``own_variance`` plus the variance from the confusion matrix's estimation."""
    posts: float
    """The noisy number of posts."""

    @property
    def sampling_variance(self) -> float:
        """Variance of the mean of ``posts`` residents drawn at random from a population with
        these shares: how much the week's figure moves with who happened to write. A cell's
        interval is about the posts it counts and leaves this out; a change between weeks is
        about the residents, and adds it."""
        negative, _, positive = self.shares
        return max(negative + positive - (positive - negative) ** 2, 0.0) / max(self.posts, 1.0)

    @property
    def interval(self) -> tuple[float, float]:
        half = Z95 * math.sqrt(self.total_variance)
        return max(-1.0, self.satisfaction - half), min(1.0, self.satisfaction + half)


def _simplex_least_squares(c: np.ndarray, q: np.ndarray) -> np.ndarray:
    """argmin over the probability simplex of |C p - q|^2 (three labels: a vertex, an edge or
    the interior holds the minimum; the interior solution is C^-1 q when it is feasible)."""
    interior: np.ndarray = np.linalg.solve(c, q)
    if (interior >= -1e-12).all():
        p = np.clip(interior, 0.0, None)
        normalised: np.ndarray = p / p.sum()
        return normalised
    best, best_residual = None, math.inf
    for a, b in ((0, 1), (0, 2), (1, 2)):
        d = c[:, a] - c[:, b]
        lam = float(np.clip(np.dot(q - c[:, b], d) / np.dot(d, d), 0.0, 1.0))
        p = np.zeros(3)
        p[a], p[b] = lam, 1.0 - lam
        residual = float(np.sum((c @ p - q) ** 2))
        if residual < best_residual:
            best, best_residual = p, residual
    assert best is not None
    return best


def confusion_variance(confusion: Confusion, direction: np.ndarray) -> float:
    """Variance of ``WEIGHTS · C^-1 q`` that comes from estimating ``C``, for a change of the
    true shares by ``direction`` (the shares themselves, or a difference of two cells' shares:
    errors of ``C`` are shared by every cell, so they partly cancel in a difference)."""
    c = confusion.matrix
    a_w = np.linalg.solve(c.T, WEIGHTS)  # (C^-1)^T w
    total = 0.0
    for j, n_j in enumerate(confusion.examples):
        col = c[:, j]
        cov = (np.diag(col) - np.outer(col, col)) / n_j
        total += direction[j] ** 2 * float(a_w @ cov @ a_w)
    return total


def correct(counts: Sequence[float], count_scale: float, confusion: Confusion) -> Corrected:
    """The corrected estimate from one cell's noisy counts (negative, neutral, positive)."""
    y = np.array(counts, dtype=float)
    n = float(y.sum())
    if y.shape != (3,) or not math.isfinite(n) or n <= 0:
        raise MalformedError("a cell needs three noisy counts with a positive total")
    if not math.isfinite(count_scale) or count_scale < 0:
        raise MalformedError("a release's count scale is a non-negative number")
    c = confusion.matrix
    q = np.clip(y, 0.0, None)
    q = q / q.sum() if q.sum() > 0 else np.full(3, 1 / 3)
    p = _simplex_least_squares(c, q)
    a_w = np.linalg.solve(c.T, WEIGHTS)
    # the classifier's errors on the cell's posts: counts given the true ones are a sum of
    # multinomials; q = y / n moves with the DP noise through J = (I - q 1^T) / n
    errors = sum(n * p[j] * (np.diag(c[:, j]) - np.outer(c[:, j], c[:, j])) for j in range(3))
    jac = (np.eye(3) - np.outer(q, np.ones(3))) / n
    cov_q = errors / n**2 + count_scale**2 * (jac @ jac.T)
    own = float(a_w @ cov_q @ a_w)
    total = own + float(confusion_variance(confusion, p))
    return Corrected(
        (float(p[0]), float(p[1]), float(p[2])),
        float(WEIGHTS @ p),
        own,
        total,
        n,
    )
