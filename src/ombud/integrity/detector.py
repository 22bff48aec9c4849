"""A streaming anomaly detector for one sensor's series: a score per reading, no look-ahead.

Threat model: a sensor that breaks, drifts or is tampered with still signs what it sends, so
its series itself must betray it — but a detector that cries wolf on ordinary weather would get
honest sensors quarantined. The detector sees each reading once, in order, and scores it from
the past alone (so a live deployment gets exactly the scores a replay would), in O(1) time and
memory per reading.

Design, after the NAB leaderboard's lessons (Numenta HTM's *anomaly likelihood*, CAD OSE's
context-plus-surprise, ARTime's fast adaptation):

1. *Surprise*: the reading's distance from two exponentially weighted forecasts (a fast one
   that follows the level, a slow one that remembers it), each in units of its own running mean
   absolute deviation, and from the long window's mean in units of its standard deviation — a
   big jump scores high on the fast forecast, a drift away from the usual range on the others.
2. *Likelihood*: as HTM does, the surprise is not thresholded directly. Its recent average
   (a short window) is compared with its long-run distribution (a long window's mean and standard
   deviation); the score is the Gaussian probability that the recent average is *not* just the
   usual noise. A noisy sensor is thus judged against its own noise, and a sustained change
   scores higher than a single spike.
3. *Learning period*: the first ``learning`` readings only train the statistics (score 0),
   like NAB's probation.

Scores are in [0, 1]; ``flag`` marks scores at or above ``threshold``. After a flag the detector
stays quiet for ``refractory`` readings (one event, one alarm), as NAB rewards.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from ombud.errors import MalformedError

__all__ = ["DEFAULT_THRESHOLD", "AnomalyDetector", "DetectorSettings", "detect", "to_flags"]

DEFAULT_THRESHOLD = 0.93


@dataclass(frozen=True)
class DetectorSettings:
    fast: float = 0.3
    """Weight of a new reading in the fast forecast."""
    slow: float = 0.005
    """Weight of a new reading in the slow forecast."""
    deviation: float = 0.05
    """Weight of a new error in the running mean absolute deviations."""
    short: int = 12
    """Readings in the recent average of surprise."""
    long: int = 2000
    """Readings in the long-run distribution of surprise."""
    learning: int = 300
    """Readings that only train the detector (scored 0)."""
    threshold: float = DEFAULT_THRESHOLD
    refractory: int = 300
    """Readings after a flag during which no new flag is raised."""

    def __post_init__(self) -> None:
        for name in ("fast", "slow", "deviation"):
            if not 0 < getattr(self, name) <= 1:
                raise MalformedError(f"detector {name} weight must be in (0, 1]")
        if not 1 <= self.short < self.long or self.learning < 2:
            raise MalformedError("detector windows: 1 ≤ short < long, learning ≥ 2")
        if not 0 < self.threshold <= 1:
            raise MalformedError("detector threshold must be in (0, 1]")


class AnomalyDetector:
    """Feed readings in order with ``update``; each returns ``(score, flag)``."""

    def __init__(self, settings: DetectorSettings | None = None) -> None:
        self.settings = s = settings or DetectorSettings()
        self._seen = 0
        self._fast = self._slow = 0.0
        self._fast_dev = self._slow_dev = 0.0
        self._recent: deque[float] = deque(maxlen=s.short)
        self._recent_sum = 0.0
        self._history: deque[float] = deque(maxlen=s.long)
        self._sum = self._sum_sq = 0.0
        self._quiet = 0
        self._values: deque[float] = deque(maxlen=s.long)
        self._value_sum = self._value_sum_sq = 0.0

    def update(self, value: float) -> tuple[float, bool]:
        if not math.isfinite(value):
            raise MalformedError("a reading must be a finite number")
        s = self.settings
        self._seen += 1
        if self._seen == 1:
            self._fast = self._slow = value
            return 0.0, False
        fast_error = abs(value - self._fast)
        slow_error = abs(value - self._slow)
        tiny = 1e-9 + 1e-6 * abs(self._slow)
        level = 0.0
        if len(self._values) >= s.short * 4:
            mean = self._value_sum / len(self._values)
            spread = math.sqrt(max(self._value_sum_sq / len(self._values) - mean * mean, 0.0))
            level = 0.5 * abs(value - mean) / (spread + tiny)
        surprise = max(
            fast_error / (self._fast_dev + tiny),
            0.5 * slow_error / (self._slow_dev + tiny),
            level,
        )
        surprise = math.log1p(min(surprise, 1e6))
        # The forecasts and deviations learn after scoring: the reading never predicts itself.
        self._fast_dev += s.deviation * (fast_error - self._fast_dev)
        self._slow_dev += s.deviation * (slow_error - self._slow_dev)
        self._fast += s.fast * (value - self._fast)
        self._slow += s.slow * (value - self._slow)

        score = 0.0
        if len(self._history) >= s.short * 4 and len(self._recent) == s.short:
            mean = self._sum / len(self._history)
            variance = max(self._sum_sq / len(self._history) - mean * mean, 1e-12)
            average = (self._recent_sum + surprise - self._recent[0]) / s.short
            z = (average - mean) / math.sqrt(variance)
            score = 1.0 - 0.5 * math.erfc(z / math.sqrt(2.0))  # P(recent average is not noise)
        self._remember(surprise)
        if len(self._values) == self._values.maxlen:
            old = self._values[0]
            self._value_sum -= old
            self._value_sum_sq -= old * old
        self._values.append(value)
        self._value_sum += value
        self._value_sum_sq += value * value

        if self._seen <= s.learning:
            return 0.0, False
        if self._quiet:
            self._quiet -= 1
            return score, False
        if score >= s.threshold:
            self._quiet = s.refractory
            return score, True
        return score, False

    def _remember(self, surprise: float) -> None:
        if len(self._recent) == self._recent.maxlen:
            self._recent_sum -= self._recent[0]
        self._recent.append(surprise)
        self._recent_sum += surprise
        if len(self._history) == self._history.maxlen:
            old = self._history[0]
            self._sum -= old
            self._sum_sq -= old * old
        self._history.append(surprise)
        self._sum += surprise
        self._sum_sq += surprise * surprise


def to_flags(scores: list[float], threshold: float, refractory: int) -> list[bool]:
    """The flags ``AnomalyDetector`` raises for ``scores`` at ``threshold``: a score at or above
    it flags, then ``refractory`` readings stay quiet. (The threshold sweep of the NAB scorer
    uses this, so every threshold is judged as the detector would flag.)"""
    flags = [False] * len(scores)
    quiet = 0
    for i, score in enumerate(scores):
        if quiet:
            quiet -= 1
        elif score >= threshold:
            flags[i] = True
            quiet = refractory
    return flags


def detect(
    values: list[float], settings: DetectorSettings | None = None
) -> tuple[list[float], list[bool]]:
    """A fresh detector run over ``values`` in order: each reading's score and flag."""
    detector = AnomalyDetector(settings)
    scores, flags = [], []
    for value in values:
        score, flag = detector.update(value)
        scores.append(score)
        flags.append(flag)
    return scores, flags
