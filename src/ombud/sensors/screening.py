"""Screening: stored observations checked against their own past and their neighbours.

Threat model: a broken, tampered-with or key-stolen sensor signs valid observations, and one
reading alone rarely betrays it (ingest already quarantines the impossible — out of physical
range, missing-value codes). Screening looks at each stored observation in context: its series
(stuck value, Hampel rate of change, a replay of the day before, and the streaming anomaly
detector of ``ombud.integrity.detector``, whose per-series state is checkpointed with the
cursor in ``screening_detectors`` and brought up to it after a restart by replaying the stored
observations, so it resumes exactly) and the devices of the same
type in the same district at about the same time (robust z-score against their median). It runs
exactly once per observation, in ledger order: a cursor advances in the same transaction that
appends the quarantine events and writes their rows, so nothing is screened twice or skipped
across restarts and concurrent screeners. Readings already quarantined, and devices quarantined
as a whole, do not count as neighbours: once caught, an attacker's sensors cannot vouch for
each other. A device suspect in ``device_suspects`` of its last ``device_window`` readings is
quarantined as a whole and flagged for inspection (``device.quarantined``).

What it cannot see: a majority of a district's sensors lying together, and lies small enough
to sit inside the neighbours' spread (the robust aggregates bound what those can move).
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import json
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from ombud.canonical import parse_json
from ombud.clock import to_micros
from ombud.config import IntegritySettings
from ombud.database import Database, Tx
from ombud.errors import MalformedError
from ombud.integrity.checks import (
    PHYSICAL_RANGES,
    Verdict,
    check_device,
    check_range,
    check_sentinel,
    numeric_properties,
    offset,
    screen_reading,
)
from ombud.integrity.detector import AnomalyDetector, DetectorSettings
from ombud.ledger.log import Log
from ombud.sensors.quarantine import (
    QuarantineStore,
    device_quarantine_event,
    quarantine_event,
)

__all__ = ["HISTORY", "OFFSETS", "REPLAY_RUN", "ScreenResult", "Screener"]

HISTORY = 25
"""Readings of a sensor's own past each reading is compared with (the Hampel window)."""
REPLAY_RUN = 12
"""Latest readings compared with those a day earlier for a replay."""
OFFSETS = 300
"""A device's past offsets from its neighbours kept in view: a day of 5-minute readings, and
the 12 its latest offsets are compared over."""
CHECKPOINT = 100
"""Readings a series' detector takes between two saves of its state (a restart replays at most
these, from the stored observations)."""
CATCH_UP = 2_000
"""Most observations replayed to bring a detector up to the cursor; a series further behind
starts afresh."""
DAY_US = 86_400_000_000
REPLAY_TOLERANCE_US = 300_000_000
"""How far from exactly a day earlier the paired reading may be."""


@dataclass(frozen=True)
class ScreenResult:
    screened: int
    """Observations screened."""
    quarantined: int
    """Of them, quarantined by a check that needs context."""
    devices: tuple[str, ...]
    """Devices quarantined as a whole."""
    cursor: int
    """Ledger index of the last observation screened (-1: none yet)."""
    more: bool
    """Stopped at the batch size; more observations are ready."""


@dataclass(frozen=True)
class _Row:
    device: str
    counter: int
    entity_id: str
    at_us: int
    ledger_index: int
    model: str
    district: str
    values: Mapping[str, float]


@dataclass
class _Series:
    """Timestamped readings of one device (oldest first), for nearest-in-time lookups."""

    times: list[int] = field(default_factory=list)
    values: list[Mapping[str, float]] = field(default_factory=list)

    def nearest(self, at_us: int, window_us: int) -> Mapping[str, float] | None:
        i = bisect.bisect_left(self.times, at_us)
        best: tuple[int, Mapping[str, float]] | None = None
        for j in (i - 1, i):
            if 0 <= j < len(self.times):
                distance = abs(self.times[j] - at_us)
                if distance <= window_us and (best is None or distance < best[0]):
                    best = (distance, self.values[j])
        return None if best is None else best[1]


class _Offsets:
    """Each device's offsets from its neighbours' median, per attribute, with their times: the
    stored ones (the newest ``OFFSETS``) and those of this batch, saved with its verdicts."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str], list[tuple[int, float]]] = {}
        self._new: list[tuple[str, str, int, int, float]] = []

    def of(self, tx: Tx, device: str, attribute: str) -> list[tuple[int, float]]:
        """``(at_us, offset)`` oldest first."""
        key = (device, attribute)
        if key not in self._series:
            rows = tx.execute(
                "SELECT at_us, delta FROM screening_offsets WHERE device = ? AND attribute = ? "
                "ORDER BY ledger_index DESC LIMIT ?",
                (device, attribute, OFFSETS),
            )
            self._series[key] = [(at, delta) for at, delta in reversed(rows)]
        return self._series[key][-OFFSETS:]

    def add(self, row: _Row, attribute: str, delta: float) -> None:
        self._series[(row.device, attribute)].append((row.at_us, delta))
        self._new.append((row.device, attribute, row.ledger_index, row.at_us, delta))

    def save(self, tx: Tx) -> None:
        tx.executemany(
            "INSERT INTO screening_offsets (device, attribute, ledger_index, at_us, delta) "
            "VALUES (?, ?, ?, ?, ?)",
            self._new,
        )


@dataclass
class _Tracked:
    """A series' detector and how far along the device's observations it is."""

    detector: AnomalyDetector
    index: int
    """Ledger index up to which it has taken the device's observations."""
    saved: int
    """``detector.seen`` when its state was last saved (-1: not saved)."""


def _plausible(attribute: str, value: float) -> bool:
    """Whether the detector takes a value: one ingest would not quarantine (in physical range,
    not a missing-value code). A pure rule, so a restart can replay exactly what it took."""
    return not check_sentinel(value).suspect and not check_range(attribute, value).suspect


class _Detectors:
    """Each series' streaming anomaly detector, kept across batches (the most recently used
    ``in_memory``) and saved to ``screening_detectors`` in the batch's transaction once it has
    taken ``CHECKPOINT`` readings since its last save, or when the batch's end pushes it out of
    memory. A detector found behind the cursor — restored from its last save after a restart,
    or left behind by another screener — is brought up to it by replaying the device's
    observations in ledger order, so it always holds exactly what one uninterrupted detector
    would. A series it has never seen (a new device, or an upgrade that brought the detector),
    or one more than ``CATCH_UP`` observations behind, or whose saved state cannot be restored
    (other settings), starts afresh."""

    def __init__(self, settings: DetectorSettings, in_memory: int) -> None:
        self._settings = settings
        self._in_memory = in_memory
        self._cache: OrderedDict[tuple[str, str], _Tracked] = OrderedDict()
        self._touched: dict[tuple[str, str], _Tracked] = {}
        self._saving: list[_Tracked] = []
        self._leaving: list[tuple[str, str]] = []
        """The series the batch's end pushes out of memory (least recently used first)."""

    def begin(self) -> None:
        self._touched, self._saving, self._leaving = {}, [], []

    def update(
        self, tx: Tx, row: _Row, attribute: str, value: float, cursor: int
    ) -> Verdict | None:
        """Feed one reading (the batch's rows in ledger order, after ``cursor``); the suspect
        verdict when the detector flags it."""
        tracked = self._bring(tx, (row.device, attribute), cursor)
        score, flag = tracked.detector.update(value, row.at_us / 1_000_000)
        if not flag:
            return None
        s = self._settings
        return Verdict(
            "anomaly",
            True,
            f"{attribute}: unlike anything in its last {s.history} readings "
            f"(anomaly score {score:.3f} ≥ {s.threshold})",
            {
                "attribute": attribute,
                "score": round(score, 6),
                "threshold": s.threshold,
                "readings_seen": tracked.detector.seen,
                **{
                    k: float(f"{v:.6g}") if isinstance(v, float) else v
                    for k, v in tracked.detector.evidence.items()
                },
            },
        )

    def save(self, tx: Tx, last: int) -> None:
        """At the batch's end (``last``: its last ledger index): save the states due, and those
        of the series that ``commit`` will push out of memory (so that bringing one back costs
        a restore, never a replay)."""
        for tracked in self._touched.values():
            tracked.index = last
        due = {
            key: tracked
            for key, tracked in self._touched.items()
            if tracked.saved < 0 or tracked.detector.seen - tracked.saved >= CHECKPOINT
        }
        order = [*(k for k in self._cache if k not in self._touched), *self._touched]
        self._leaving = order[: max(0, len(order) - self._in_memory)]
        for key in self._leaving:
            tracked = self._touched.get(key) or self._cache[key]
            if tracked.saved != tracked.detector.seen:
                due[key] = tracked
        tx.executemany(  # never over a later state (another screener's, saved meanwhile)
            "INSERT INTO screening_detectors (device, attribute, ledger_index, state) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (device, attribute) DO UPDATE SET "
            "ledger_index = excluded.ledger_index, state = excluded.state "
            "WHERE excluded.ledger_index >= screening_detectors.ledger_index",
            ((*key, tracked.index, tracked.detector.snapshot()) for key, tracked in due.items()),
        )
        self._saving = list(due.values())

    def commit(self) -> None:
        """The batch's transaction committed: keep its detectors, less those ``save`` saved
        as leaving memory."""
        for tracked in self._saving:
            tracked.saved = tracked.detector.seen
        for key, tracked in self._touched.items():
            self._cache[key] = tracked
            self._cache.move_to_end(key)
        for key in self._leaving:
            del self._cache[key]
        self.begin()

    def abandon(self) -> None:
        """The batch's transaction failed: forget what its detectors took."""
        for key in self._touched:
            self._cache.pop(key, None)
        self.begin()

    def _bring(self, tx: Tx, key: tuple[str, str], cursor: int) -> _Tracked:
        tracked = self._touched.get(key)
        if tracked is not None:
            return tracked
        tracked = self._cache.get(key)
        if tracked is None:
            stored = tx.execute(
                "SELECT ledger_index, state FROM screening_detectors "
                "WHERE device = ? AND attribute = ?",
                key,
            )
            if stored:
                with contextlib.suppress(MalformedError):
                    detector = AnomalyDetector.restore(bytes(stored[0][1]), self._settings)
                    tracked = _Tracked(detector, stored[0][0], detector.seen)
        if tracked is None:
            tracked = _Tracked(AnomalyDetector(self._settings), cursor, -1)
        elif tracked.index < cursor:
            self._catch_up(tx, key, tracked, cursor)
        self._touched[key] = tracked
        return tracked

    def _catch_up(self, tx: Tx, key: tuple[str, str], tracked: _Tracked, cursor: int) -> None:
        device, attribute = key
        rows = tx.execute(
            "SELECT entity, created_us FROM observations WHERE device = ? AND ledger_index > ? "
            "AND ledger_index <= ? ORDER BY ledger_index LIMIT ?",
            (device, tracked.index, cursor, CATCH_UP + 1),
        )
        if len(rows) > CATCH_UP:
            tracked.detector, tracked.saved = AnomalyDetector(self._settings), -1
        else:
            for entity, at_us in rows:
                value = _values(bytes(entity)).get(attribute)
                if value is not None and _plausible(attribute, value):
                    tracked.detector.update(value, at_us / 1_000_000)
        tracked.index = cursor


@functools.lru_cache(maxsize=1 << 16)
def _values(entity: bytes) -> Mapping[str, float]:
    """The attributes screening knows the physics of. Cached: a reading is read again as
    history and as a neighbour by the batches after it (the key is the signed bytes, so a
    cached value is exactly what they say)."""
    found = numeric_properties(parse_json(entity, "a stored observation"))
    return MappingProxyType({k: v for k, v in found.items() if k in PHYSICAL_RANGES})


class Screener:
    """Screens a deployment's stored observations, a batch per transaction."""

    def __init__(
        self,
        db: Database,
        log: Log,
        settings: IntegritySettings,
        *,
        quarantine: QuarantineStore,
        clock: Callable[[], datetime],
    ) -> None:
        self.db = db
        self.log = log
        self.settings = settings
        self._clock = clock
        self.quarantine = quarantine
        self.totals = ScreenResult(0, 0, (), -1, False)
        """What this screener did since it was made (for metrics)."""
        self._totals_lock = threading.Lock()
        threshold = settings.anomaly_threshold
        self._detectors = (
            _Detectors(DetectorSettings(threshold=threshold), settings.detector_series)
            if threshold < 1
            else None
        )
        self._detectors_lock = threading.Lock()  # one batch at a time uses them

    def screen_all(self, progress: Callable[[ScreenResult], None] | None = None) -> ScreenResult:
        """Screen every settled observation not yet screened, batch after batch."""
        screened = quarantined = 0
        devices: list[str] = []
        while True:
            result = self.screen()
            screened += result.screened
            quarantined += result.quarantined
            devices += result.devices
            if progress is not None:
                progress(result)
            if not result.more:
                return ScreenResult(screened, quarantined, tuple(devices), result.cursor, False)

    def screen(self) -> ScreenResult:
        """Screen the next batch of settled observations in one transaction."""
        now = self._clock()
        settled_us = to_micros(now - timedelta(seconds=self.settings.settle_s))
        outcome: dict[str, Any] = {}
        suspects: dict[tuple[str, int], list[Verdict]] = {}
        held: list[tuple[str, str, Verdict, int]] = []
        districts: dict[str, str] = {}
        moved: dict[str, int] = {}

        def build(tx: Tx) -> list[bytes]:
            cursor_rows = tx.execute("SELECT ledger_index FROM screening WHERE id = 1")
            cursor = cursor_rows[0][0] if cursor_rows else -1
            rows = self._next(tx, cursor)
            more = len(rows) == self.settings.batch
            ready = []
            for row in rows:
                if row.at_us > settled_us:
                    more = False
                    break
                ready.append(row)
            outcome.update(screened=len(ready), cursor=cursor, more=more)
            if not ready:
                return []
            districts.update((row.device, row.district) for row in ready)
            suspects.update(self._screen_rows(tx, ready, moved, cursor))
            held.extend(self._screen_devices(tx, ready, suspects, moved))
            outcome["cursor"] = ready[-1].ledger_index
            tx.execute(
                "INSERT INTO screening (id, ledger_index) VALUES (1, ?) "
                "ON CONFLICT (id) DO UPDATE SET ledger_index = excluded.ledger_index",
                (outcome["cursor"],),
            )
            events = [
                quarantine_event(device, counter, verdicts, now)
                for (device, counter), verdicts in suspects.items()
            ]
            events += [
                device_quarantine_event(device, verdict, since_us, now)
                for device, _, verdict, since_us in held
            ]
            return events

        def record(tx: Tx, first: int) -> None:
            at_us = to_micros(now)
            index = first
            for (device, counter), verdicts in suspects.items():
                QuarantineStore.insert(
                    tx, device, counter, districts[device], verdicts, at_us, index
                )
                index += 1
            for device, district, verdict, since_us in held:
                QuarantineStore.insert_device(tx, device, district, verdict, since_us, at_us, index)
                index += 1

        with self._detectors_lock:
            if self._detectors is not None:
                self._detectors.begin()
            try:
                self.log.append_with(build, record)
            except BaseException:
                if self._detectors is not None:
                    self._detectors.abandon()
                raise
            if self._detectors is not None:
                self._detectors.commit()
        result = ScreenResult(
            outcome["screened"],
            len(suspects),
            tuple(device for device, *_ in held),
            outcome["cursor"],
            outcome["more"],
        )
        with self._totals_lock:
            t = self.totals
            self.totals = ScreenResult(
                t.screened + result.screened,
                t.quarantined + result.quarantined,
                t.devices + result.devices,
                result.cursor,
                result.more,
            )
        return result

    # --- inside the transaction ----------------------------------------------------------------

    def _next(self, tx: Tx, cursor: int) -> list[_Row]:
        rows = tx.execute(
            "SELECT o.device, o.counter, o.entity_id, o.created_us, o.ledger_index, o.model, "
            "o.district, o.entity FROM observations o "
            "WHERE o.ledger_index > ? ORDER BY o.ledger_index LIMIT ?",
            (cursor, self.settings.batch),
        )
        return [
            _Row(device, counter, entity_id, at_us, index, model, district, _values(bytes(entity)))
            for device, counter, entity_id, at_us, index, model, district, entity in rows
        ]

    def _screen_rows(
        self, tx: Tx, rows: list[_Row], moved: dict[str, int], cursor: int
    ) -> dict[tuple[str, int], list[Verdict]]:
        """Each new observation's suspect verdicts (those already quarantined at ingest are
        not screened again; the anomaly detector still takes their plausible values).
        ``moved`` gets, per device whose offset moved, when the move began (microseconds);
        ``cursor`` is the last observation screened before these."""
        first, last = rows[0].ledger_index, rows[-1].ledger_index
        already = set(
            tx.execute(
                "SELECT q.device, q.counter FROM quarantine q JOIN observations o "
                "ON o.device = q.device AND o.counter = q.counter "
                "WHERE o.ledger_index BETWEEN ? AND ?",
                (first, last),
            )
        )
        histories = self._histories(tx, rows)
        neighbourhoods = self._neighbourhoods(tx, rows)
        days_before = self._days_before(tx, rows)
        window_us = self.settings.neighbour_window_s * 1_000_000
        offsets = _Offsets()
        detectors = self._detectors
        found: dict[tuple[str, int], list[Verdict]] = {}
        for row in rows:
            anomalies = []
            if detectors is not None:
                for attribute, value in row.values.items():
                    if _plausible(attribute, value):
                        verdict = detectors.update(tx, row, attribute, value, cursor)
                        if verdict is not None:
                            anomalies.append(verdict)
            if (row.device, row.counter) in already:
                continue
            history = histories[row.entity_id].get((row.device, row.counter), [])
            around = neighbourhoods[(row.model, row.district)]
            nearby = [
                reading
                for device, series in around.items()
                if device != row.device
                and (reading := series.nearest(row.at_us, window_us)) is not None
            ]
            # The last REPLAY_RUN readings, each paired with the reading a day before it.
            run = [*history[-REPLAY_RUN + 1 :], (row.at_us, row.values)]
            day_before = days_before[row.entity_id]
            before = [day_before.nearest(at - DAY_US, REPLAY_TOLERANCE_US) for at, _ in run]
            verdicts = []
            for attribute, value in row.values.items():
                paired = [v for _, v in run if attribute in v]
                neighbours = [n[attribute] for n in nearby if attribute in n]
                past = offsets.of(tx, row.device, attribute)
                found_now = screen_reading(
                    attribute,
                    value,
                    [v[attribute] for _, v in history if attribute in v],
                    neighbours,
                    earlier=[None if b is None else b.get(attribute) for b in before]
                    if len(paired) == len(run)
                    else (),
                    offsets=[delta for _, delta in past],
                    neighbour_k=self.settings.neighbour_k,
                )
                times = [at for at, _ in past] + [row.at_us]
                for v in found_now:
                    moved_for = v.evidence.get("moved_for", 0) if v.check == "offset" else 0
                    if 0 < moved_for <= len(times):
                        began = times[-moved_for]
                        moved[row.device] = min(moved.get(row.device, began), began)
                verdicts += found_now
                now = offset(value, neighbours)
                if now is not None:
                    offsets.add(row, attribute, now)
            verdicts += anomalies
            if verdicts:
                found[(row.device, row.counter)] = verdicts
        offsets.save(tx)
        if detectors is not None:
            detectors.save(tx, rows[-1].ledger_index)
        return found

    def _histories(
        self, tx: Tx, rows: list[_Row]
    ) -> dict[str, dict[tuple[str, int], list[tuple[int, Mapping[str, float]]]]]:
        """For each new observation, the ``HISTORY`` readings of its entity before it, with
        their times."""
        by_entity: dict[str, list[_Row]] = defaultdict(list)
        for row in rows:
            by_entity[row.entity_id].append(row)
        out: dict[str, dict[tuple[str, int], list[tuple[int, Mapping[str, float]]]]] = {}
        for entity_id, new in by_entity.items():
            latest = max(r.at_us for r in new)
            stored = tx.execute(
                "SELECT device, counter, created_us, entity FROM observations "
                "WHERE entity_id = ? AND created_us <= ? "
                "ORDER BY created_us DESC, ledger_index DESC LIMIT ?",
                (entity_id, latest, len(new) + HISTORY),
            )
            stored.reverse()
            position = {(d, c): i for i, (d, c, _, _) in enumerate(stored)}
            values: list[tuple[int, Mapping[str, float]]] = [
                (at, _values(bytes(e))) for _, _, at, e in stored
            ]
            out[entity_id] = {
                (r.device, r.counter): values[max(0, i - HISTORY) : i]
                for r in new
                if (i := position.get((r.device, r.counter))) is not None
            }
        return out

    def _days_before(self, tx: Tx, rows: list[_Row]) -> dict[str, _Series]:
        """Each entity's readings around a day before its new observations (replay check)."""
        spans: dict[str, tuple[int, int]] = {}
        for row in rows:
            low, high = spans.get(row.entity_id, (row.at_us, row.at_us))
            spans[row.entity_id] = (min(low, row.at_us), max(high, row.at_us))
        out: dict[str, _Series] = {}
        for entity_id, (low, high) in spans.items():
            series = out[entity_id] = _Series()
            for at_us, entity in tx.execute(
                "SELECT created_us, entity FROM observations WHERE entity_id = ? "
                "AND created_us BETWEEN ? AND ? ORDER BY created_us",
                (
                    entity_id,
                    low - DAY_US - REPLAY_TOLERANCE_US * (REPLAY_RUN + 1),
                    high - DAY_US + REPLAY_TOLERANCE_US,
                ),
            ):
                series.times.append(at_us)
                series.values.append(_values(bytes(entity)))
        return out

    def _neighbourhoods(
        self, tx: Tx, rows: list[_Row]
    ) -> dict[tuple[str, str], dict[str, _Series]]:
        """Readings of the devices of each (type, district) around the new observations' times,
        leaving out quarantined readings and devices quarantined as a whole.

        Locations are coarse by design (DESIGN §5): the district is as near as ombud knows a
        sensor to be, so a reading's nearest neighbours are the other devices of its type there.
        """
        window_us = self.settings.neighbour_window_s * 1_000_000
        spans: dict[tuple[str, str], tuple[int, int]] = {}
        for row in rows:
            low, high = spans.get((row.model, row.district), (row.at_us, row.at_us))
            spans[(row.model, row.district)] = (min(low, row.at_us), max(high, row.at_us))
        out: dict[tuple[str, str], dict[str, _Series]] = {}
        for (model, district), (low, high) in spans.items():
            stored = tx.execute(
                "SELECT o.device, o.created_us, o.entity FROM observations o "
                "LEFT JOIN quarantine q ON q.device = o.device AND q.counter = o.counter "
                "AND q.released_index IS NULL "
                "WHERE o.district = ? AND o.model = ? AND o.created_us BETWEEN ? AND ? "
                "AND q.device IS NULL AND NOT EXISTS (SELECT 1 FROM device_quarantine h "
                "WHERE h.device = o.device AND h.released_index IS NULL "
                "AND o.created_us >= h.since_us) "
                "ORDER BY o.created_us",
                (district, model, low - window_us, high + window_us),
            )
            series: dict[str, _Series] = defaultdict(_Series)
            for device, at_us, entity in stored:
                series[device].times.append(at_us)
                series[device].values.append(_values(bytes(entity)))
            out[(model, district)] = series
        return out

    def _screen_devices(
        self,
        tx: Tx,
        rows: list[_Row],
        suspects: Mapping[tuple[str, int], list[Verdict]],
        moved: Mapping[str, int],
    ) -> list[tuple[str, str, Verdict, int]]:
        """Devices with a new suspect reading that are now suspect as a whole:
        ``(device, district, verdict, since_us)``. A device is set aside from its first
        suspect reading, or from when its offset began to move if that was earlier (a drift
        does damage before it is big enough to be seen)."""
        s = self.settings
        last = rows[-1].ledger_index
        candidates = sorted({device for device, _ in suspects})
        already = QuarantineStore.held_devices(tx, candidates)
        district = {row.device: row.district for row in rows}
        out = []
        for device in candidates:
            if device in already:
                continue
            recent = tx.execute(
                "SELECT o.counter, o.created_us, q.checks FROM observations o "
                "LEFT JOIN quarantine q ON q.device = o.device AND q.counter = o.counter "
                "AND q.released_index IS NULL "
                "WHERE o.device = ? AND o.ledger_index <= ? "
                "ORDER BY o.ledger_index DESC LIMIT ?",
                (device, last, s.device_window),
            )
            recent.reverse()
            flags = [checks is not None or (device, c) in suspects for c, _, checks in recent]
            verdict = check_device(flags, minimum=s.device_suspects)
            if not verdict.suspect:
                continue
            counters = [c for (c, _, _), flag in zip(recent, flags, strict=True) if flag]
            checks = sorted(
                {v.check for c in counters for v in suspects.get((device, c), [])}
                | {
                    name
                    for c, _, stored in recent
                    if stored is not None
                    for name in json.loads(stored)
                }
            )
            since_us = min(at for (c, at, _), flag in zip(recent, flags, strict=True) if flag)
            since_us = min(since_us, moved.get(device, since_us))
            evidence = {**verdict.evidence, "counters": counters, "checks": checks}
            out.append(
                (
                    device,
                    district[device],
                    Verdict("device", True, verdict.reason, evidence),
                    since_us,
                )
            )
        return out
