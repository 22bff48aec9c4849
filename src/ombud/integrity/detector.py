"""A streaming anomaly detector for one sensor's series: a score per reading, from the past alone.

Threat model: a sensor that breaks, drifts or is tampered with still signs what it sends, so
its series itself must betray it — but a detector that cries wolf on ordinary weather would get
honest sensors quarantined. The detector sees each reading once, in order, and scores it from
the past alone, so a live deployment gets exactly the scores a replay would; its whole state is
a few arrays that ``snapshot`` turns into bytes and ``restore`` reads back (bounded in size).

Design (measured on the 51 labelled series of the NAB corpus by ``bench/nab.py``):

1. *Novelty.* At each of a few scales ``m`` (2, 4, 8, 16 and 32 readings), the Euclidean distance
   from the latest ``m`` readings to the nearest ``m`` consecutive readings among the last
   ``history`` (those overlapping the latest by half or more left out) — the "left discord" of
   the matrix-profile literature (Yeh et al. 2016). A shape the series has shown before,
   however large — a daily peak, the weekly rush hour — lies near something past; a new shape
   or a new level lies far from everything. Each scale's distance is the median of its latest
   ``smoothing`` (5) such distances: one or two odd subsequences, a single burst of noise, are
   less news than three in five (on NAB this cut the false alarms by a sixth).
2. *Tail probability.* Each scale's distance is judged against that scale's own last
   ``calibration`` distances by peaks over threshold (SPOT, Siffer et al. 2017): a generalised
   Pareto distribution fitted by the method of moments to the excesses over their
   ``tail_quantile``, refitted every ``refit`` readings. The reading's p-value is the smallest
   over the scales, and the score is ``s/(1+s)`` with ``s = -log10 p``: one threshold means
   about one false-alarm rate on every series, whatever its units, noise and rhythm.
3. *One event, one alarm.* After a flag the detector stays quiet for ``refractory`` readings.

The first readings only fill the history: a scale gives p-values once ``warmup`` of its
distances are known, so scores are 0 for about ``scales[0] + 20 + smoothing + warmup``
readings. Nothing is flagged while the series is new: until ``scales[-1]`` readings after the
first reading a day (``learning_s``) later than the first, by the readings' own times — the
first day of a 5-minute sensor and of an hourly one alike — or, for readings given without
times, in the first ``learning`` readings.
"""

from __future__ import annotations

import json
import math
import numbers
import statistics
import struct
from dataclasses import asdict, dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ombud.errors import MalformedError

__all__ = [
    "DEFAULT_THRESHOLD",
    "AnomalyDetector",
    "DetectorSettings",
    "detect",
    "tail_probability",
    "to_flags",
]

DEFAULT_THRESHOLD = 0.68
"""The shipped threshold: a p-value of about 10^-2.1 at the most surprised scale. NAB's sweep
over its corpus puts the optimum of all three cost profiles at 0.683; the score falls by 2
points just past it (detections lost) and by half a point at 0.68 (a few more false alarms),
so the default stays on the safer side."""

_MIN_CANDIDATES = 10
"""Past subsequences a distance needs before it means anything."""
_LARGEST = 1e18
"""Readings beyond this size are refused: distances between them would overflow the float32
in which they are kept."""
_SNAPSHOT_MAGIC = b"ombud-detector\x00"
_SNAPSHOT_FORMAT = 3
_UNTIMED_FORMAT = 2
"""Snapshots taken before readings had times: restored as untimed series, so an upgrade keeps
every series' history."""
_HEADER_LIMIT = 65536
"""Bytes of a snapshot's JSON header, at most (the largest settings need about 27 kB)."""


@dataclass(frozen=True)
class DetectorSettings:
    scales: tuple[int, ...] = (2, 4, 8, 16, 32)
    """Lengths of the subsequences compared, in readings."""
    smoothing: int = 5
    """Nearest-neighbour distances per scale (the latest and those just before it) whose median
    is judged."""
    history: int = 3000
    """Past subsequences searched for the nearest one (about ten days of 5-minute readings)."""
    calibration: int = 5000
    """Past distances per scale that the tail is fitted to."""
    tail_quantile: float = 0.98
    """Where the tail begins: the excesses over this quantile are fitted."""
    refit: int = 10
    """Readings between refits of the tail."""
    warmup: int = 100
    """Distances per scale known before a p-value is computed."""
    learning: int = 320
    """Readings before the first flag when readings come without times: a day of 5-minute
    readings and the longest scale. A new sensor's first day is new in every way — its first
    midnight too, until a day and the longest scale have passed — and flagging it would only
    quarantine honest readings."""
    learning_s: float = 86400.0
    """When readings come with times: the span of the series' own time (seconds) whose end,
    and the longest scale after it, must have passed before the first flag — a day, whatever
    the interval. A clock that never gets there keeps it quiet for ``history`` readings."""
    threshold: float = DEFAULT_THRESHOLD
    refractory: int = 110
    """Readings after a flag during which no new flag is raised."""

    def __post_init__(self) -> None:
        scales = self.scales
        if (
            not scales
            or list(scales) != sorted(set(scales))
            or not 1 <= scales[0] <= scales[-1] <= 64
        ):
            raise MalformedError("detector scales must be distinct, increasing, within 1..64")
        if not 4 * scales[-1] <= self.history <= 100_000:
            raise MalformedError("detector history must be 4·max(scales)..100000 readings")
        if not 20 <= self.warmup <= self.calibration <= 100_000:
            raise MalformedError("detector windows: 20 ≤ warmup ≤ calibration ≤ 100000")
        if not 0.5 <= self.tail_quantile < 1:
            raise MalformedError("detector tail_quantile must be in [0.5, 1)")
        if not 1 <= self.refit <= 1000 or not 0 <= self.refractory <= 100_000:
            raise MalformedError("detector refit must be 1..1000 and refractory 0..100000")
        if not 1 <= self.smoothing <= 16:
            raise MalformedError("detector smoothing must be 1..16 distances")
        if not 0 <= self.learning <= 100_000:
            raise MalformedError("detector learning must be 0..100000 readings")
        if not 0 <= self.learning_s <= 366 * 86400:
            raise MalformedError("detector learning_s must be 0..31622400 seconds (a year)")
        if not 0 < self.threshold < 1:
            raise MalformedError("detector threshold must be in (0, 1)")


def tail_probability(distance: float, fit: tuple[float, float, float, float]) -> float:
    """P(a distance ≥ ``distance``) under a peaks-over-threshold fit ``(u, share, xi, sigma)``:
    1 at or below the threshold ``u``, else ``share·(1 + xi·z)^(-1/xi)`` with
    ``z = (distance - u)/sigma`` (``share·e^(-z)`` when ``xi`` is 0)."""
    u, share, xi, sigma = fit
    if distance <= u:
        return 1.0
    z = (distance - u) / sigma
    if abs(xi) < 1e-6:
        return share * math.exp(-min(z, 745.0))
    base = 1.0 + xi * z
    return 0.0 if base <= 0 else share * base ** (-1.0 / xi)


def fit_tail(distances: np.ndarray, quantile: float) -> tuple[float, float, float, float]:
    """A generalised Pareto fit (method of moments) to the excesses of ``distances`` over their
    ``quantile``: ``(u, share of distances above u, xi, sigma)``; the shape ``xi`` is kept in
    [-0.5, 0.9] (beyond that the moment estimates are too noisy to trust)."""
    u = float(np.quantile(distances, quantile))
    excess = distances[distances > u] - u
    share = len(excess) / len(distances)
    if len(excess) < 5:
        return u, share, 0.0, max(u, 1e-12)
    mean = float(excess.mean())
    ratio = mean * mean / (float(excess.var()) + 1e-18)
    xi = min(max(0.5 * (1.0 - ratio), -0.5), 0.9)
    return u, share, xi, max(0.5 * mean * (ratio + 1.0), 1e-12)


class _Ring:
    """The newest ``size`` numbers appended, in order, in a buffer a quarter larger (an append
    is O(1) amortised: the kept numbers move to the front when the buffer is full; ``view`` is
    a slice, no copy)."""

    def __init__(self, size: int, dtype: type[np.floating]) -> None:
        self.size = size
        self._buffer = np.zeros(size + max(size // 4, 16), dtype=dtype)
        self._end = 0

    @property
    def itemsize(self) -> int:
        return self._buffer.itemsize

    def append(self, value: float) -> None:
        if self._end == len(self._buffer):
            self._buffer[: self.size] = self._buffer[self._end - self.size : self._end]
            self._end = self.size
        self._buffer[self._end] = value
        self._end += 1

    def view(self) -> np.ndarray:
        return self._buffer[max(0, self._end - self.size) : self._end]

    def load(self, values: np.ndarray) -> None:
        kept = values[-self.size :]
        self._buffer[: len(kept)] = kept
        self._end = len(kept)


class AnomalyDetector:
    """Feed readings in order with ``update``; each returns ``(score, flag)``."""

    def __init__(self, settings: DetectorSettings | None = None) -> None:
        self.settings = s = settings or DetectorSettings()
        self._seen = 0
        self._quiet = 0
        self._first_at: float | None = None
        """The first reading's time: a series whose first reading comes without one is
        untimed for good (it keeps counting ``learning`` readings)."""
        self._day_mark: int | None = None
        """The index of the first reading ``learning_s`` after ``_first_at``."""
        self._values = _Ring(s.history + s.scales[-1], np.float64)
        self._distances = [_Ring(s.calibration, np.float32) for _ in s.scales]
        self._recent: list[list[float]] = [[] for _ in s.scales]
        """Each scale's latest raw distances, at most ``smoothing`` of them."""
        self._fits: list[tuple[float, float, float, float] | None] = [None] * len(s.scales)
        self.evidence: dict[str, float | int] = {}
        """Why the last reading scored as it did: its p-value, the scale that gave it and the
        distance at that scale (empty while the detector is still learning)."""

    @property
    def seen(self) -> int:
        """Readings fed so far."""
        return self._seen

    @property
    def flags_from(self) -> int:
        """The index of the first reading that may be flagged, as far as is known by now (it
        can only come earlier as a timed series' first day passes)."""
        s = self.settings
        if self._first_at is None:
            return s.learning
        if self._day_mark is None:
            return s.history
        return min(self._day_mark + s.scales[-1], s.history)

    def update(self, value: float, at: float | None = None) -> tuple[float, bool]:
        """Score one reading (``at``: its time in seconds, if known) and decide whether it is
        flagged."""
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise MalformedError("a reading must be a number")
        if at is not None:
            at = _seconds(at)
        try:
            value = float(value)
        except OverflowError:
            raise MalformedError(f"a reading must be within ±{_LARGEST:g}") from None
        if not math.isfinite(value):
            raise MalformedError("a reading must be a finite number")
        if abs(value) > _LARGEST:
            raise MalformedError(f"a reading must be within ±{_LARGEST:g}")
        s = self.settings
        if at is not None and self._seen == 0:
            self._first_at = at
        if (
            at is not None
            and self._first_at is not None
            and self._day_mark is None
            and at - self._first_at >= s.learning_s  # a difference: no rounding away of a day
        ):
            self._day_mark = self._seen
        self._seen += 1
        self._values.append(value)
        series = self._values.view()
        p = 1.0
        self.evidence = {}
        for k, m in enumerate(s.scales):
            nearest = _nearest(series, m, s.history)
            if nearest is None:
                continue
            recent = self._recent[k]
            recent.append(nearest)
            if len(recent) > s.smoothing:
                del recent[0]
            if len(recent) < s.smoothing:
                continue
            distance = statistics.median(recent)
            past = self._distances[k].view()
            if len(past) >= s.warmup:
                if self._fits[k] is None or self._seen % s.refit == 0:
                    self._fits[k] = fit_tail(past, s.tail_quantile)
                fit = self._fits[k]
                assert fit is not None
                at_scale = tail_probability(distance, fit)
                if not self.evidence or at_scale < p:
                    p = at_scale
                    self.evidence = {"p_value": p, "scale": m, "distance": distance}
            self._distances[k].append(distance)
        surprise = 0.0 if p >= 1.0 else -math.log10(max(p, 1e-300))
        score = surprise / (1.0 + surprise)
        if self._quiet:
            self._quiet -= 1
            return score, False
        if score >= s.threshold and self._seen > self.flags_from:
            self._quiet = s.refractory
            return score, True
        return score, False

    def snapshot(self) -> bytes:
        """The detector's whole state as bytes (``restore`` reads them back): a JSON header
        with the settings and counters, then the kept readings (float64) and each scale's
        distances (float32, as kept): about 125 kB with the default settings."""
        s = self.settings
        header = {
            "format": _SNAPSHOT_FORMAT,
            "settings": asdict(s),
            "seen": self._seen,
            "quiet": self._quiet,
            "first_at": self._first_at,
            "day_mark": self._day_mark,
            "fits": self._fits,
            "recent": self._recent,
            "lengths": [len(self._values.view())] + [len(d.view()) for d in self._distances],
        }
        head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
        arrays = [self._values.view()] + [d.view() for d in self._distances]
        body = b"".join(a.astype(f"<f{a.itemsize}").tobytes() for a in arrays)
        return _SNAPSHOT_MAGIC + struct.pack("<I", len(head)) + head + body

    @classmethod
    def restore(
        cls, state: bytes | bytearray | memoryview, settings: DetectorSettings | None = None
    ) -> AnomalyDetector:
        """The detector a ``snapshot`` was taken of. Anything else — damaged bytes, numbers out
        of range, a snapshot taken under other settings (but the threshold), whose history would
        not mean what these settings expect — is refused with ``MalformedError``."""
        detector = cls(settings)
        s = detector.settings
        state = bytes(state)
        try:
            if not state.startswith(_SNAPSHOT_MAGIC):
                raise ValueError("not a detector snapshot")
            at = len(_SNAPSHOT_MAGIC)
            (size,) = struct.unpack_from("<I", state, at)
            if size > _HEADER_LIMIT:
                raise ValueError("its header is too long")
            header = json.loads(state[at + 4 : at + 4 + size], parse_constant=_no_constant)
            at += 4 + size
            version = header["format"]
            if version not in (_UNTIMED_FORMAT, _SNAPSHOT_FORMAT) or not _is_int(version):
                raise ValueError(f"snapshot format {version!r} is not known")
            stored = dict(header["settings"], scales=tuple(header["settings"]["scales"]))
            if version == _UNTIMED_FORMAT:  # before readings had times: untimed for good
                header |= {"first_at": None, "day_mark": None}
                stored.setdefault("learning_s", s.learning_s)
            if stored | {"threshold": s.threshold} != asdict(s):  # the threshold may change
                raise ValueError("it was taken under other detector settings")
            lengths = header["lengths"]
            rings = [detector._values, *detector._distances]
            if len(lengths) != len(rings) or not all(
                _is_int(n) and 0 <= n <= ring.size for n, ring in zip(lengths, rings, strict=False)
            ):
                raise ValueError("its array lengths are out of range")
            widths = [r.itemsize for r in rings]
            if len(state) != at + sum(n * w for n, w in zip(lengths, widths, strict=True)):
                raise ValueError("its arrays do not match its header")
            arrays = []
            for n, w in zip(lengths, widths, strict=True):
                arrays.append(np.frombuffer(state, dtype=f"<f{w}", count=n, offset=at))
                at += w * n
            if not all(np.isfinite(a).all() for a in arrays):
                raise ValueError("it holds a number that is not finite")
            if np.abs(arrays[0]).max(initial=0.0) > _LARGEST:
                raise ValueError("it holds a reading out of range")
            seen, quiet, fits = header["seen"], header["quiet"], header["fits"]
            recent = header["recent"]
            if not (_is_int(seen) and _is_int(quiet)) or seen < 0:
                raise ValueError("its counters are not counts")
            if not 0 <= quiet <= s.refractory or len(fits) != len(s.scales):
                raise ValueError("its counters or fits do not match its settings")
            if not isinstance(recent, list) or len(recent) != len(s.scales):
                raise ValueError("its recent distances do not match its settings")
            detector._recent = [_check_recent(r, s.smoothing) for r in recent]
            detector._fits = [None if f is None else _check_fit(f) for f in fits]
            first_at, day_mark = header["first_at"], header["day_mark"]
            if first_at is not None and not (
                _is_number(first_at) and math.isfinite(first_at) and seen > 0
            ):
                raise ValueError("its first time is not a time it has seen")
            if day_mark is not None and not (
                first_at is not None and _is_int(day_mark) and 0 <= day_mark < seen
            ):
                raise ValueError("its day mark is out of range")
            detector._first_at = None if first_at is None else float(first_at)
            detector._day_mark = day_mark
            detector._seen, detector._quiet = seen, quiet
            for ring, values in zip(rings, arrays, strict=True):
                ring.load(values)
        except (
            ValueError,
            KeyError,
            TypeError,
            IndexError,
            OverflowError,
            struct.error,
            RecursionError,
        ) as exc:
            raise MalformedError(f"a detector snapshot cannot be restored: {exc}") from None
        return detector


def _seconds(at: object) -> float:
    """A reading's time as a finite float, or ``MalformedError``."""
    if isinstance(at, bool) or not isinstance(at, numbers.Real):
        raise MalformedError("a reading's time must be a number of seconds")
    try:
        seconds = float(at)
    except OverflowError:
        seconds = math.inf
    if not math.isfinite(seconds):
        raise MalformedError("a reading's time must be a finite number of seconds")
    return seconds


def _no_constant(name: str) -> float:
    raise ValueError(f"its header holds {name}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_fit(fit: object) -> tuple[float, float, float, float]:
    """A stored tail fit, checked to be one ``fit_tail`` could have made."""
    if not isinstance(fit, list) or len(fit) != 4:
        raise ValueError("a tail fit is not four numbers")
    if not all(_is_number(x) for x in fit):
        raise ValueError("a tail fit is not four numbers")
    u, share, xi, sigma = (float(x) for x in fit)
    if not (
        math.isfinite(u) and 0.0 <= share <= 1.0 and -0.5 <= xi <= 0.9 and 1e-12 <= sigma < math.inf
    ):
        raise ValueError("a tail fit is out of range")
    return u, share, xi, sigma


def _check_recent(values: object, smoothing: int) -> list[float]:
    """A scale's stored latest distances, checked to be what ``update`` could have kept."""
    if not isinstance(values, list) or len(values) > smoothing:
        raise ValueError("its recent distances do not match its settings")
    if not all(_is_number(x) and 0.0 <= x < math.inf for x in values):
        raise ValueError("its recent distances are not distances")
    return [float(x) for x in values]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _nearest(series: np.ndarray, m: int, history: int) -> float | None:
    """Distance from the last ``m`` values of ``series`` to the nearest earlier run of ``m``
    values starting at most ``history`` before it and overlapping it by less than half (None
    while fewer than ``_MIN_CANDIDATES`` such runs exist)."""
    n = len(series)
    start = n - m  # where the latest run starts
    if n < m + 20:
        return None
    low, high = max(0, start - history), start - m // 2
    if high - low < _MIN_CANDIDATES:
        return None
    runs = sliding_window_view(series[low : high + m - 1], m)
    difference = runs - series[start:]
    return float(np.sqrt(np.einsum("ij,ij->i", difference, difference).min()))


def to_flags(
    scores: list[float], threshold: float, refractory: int, learning: int = 0
) -> list[bool]:
    """The flags ``AnomalyDetector`` raises for ``scores`` at ``threshold``: after the first
    ``learning`` readings, a score at or above it flags, then ``refractory`` readings stay
    quiet. (The threshold sweep of the NAB benchmark uses this rule, so every threshold is
    judged as the detector would flag.)"""
    flags = [False] * len(scores)
    quiet = 0
    for i, score in enumerate(scores):
        if quiet:
            quiet -= 1
        elif score >= threshold and i >= learning:
            flags[i] = True
            quiet = refractory
    return flags


def detect(
    values: list[float],
    settings: DetectorSettings | None = None,
    times: list[float] | None = None,
) -> tuple[list[float], list[bool]]:
    """A fresh detector run over ``values`` in order (``times``: their times in seconds, if
    known): each reading's score and flag."""
    detector = AnomalyDetector(settings)
    scores, flags = [], []
    for value, at in zip(values, times if times is not None else [None] * len(values), strict=True):
        score, flag = detector.update(value, at)
        scores.append(score)
        flags.append(flag)
    return scores, flags
