"""Broker health: the messages an MQTT broker drops after acknowledging them, seen and recorded.

A QoS 1 PUBACK tells a device that the *broker* has its message, not that ombud stored it. When
a subscriber's queue is full (Mosquitto: ``max_queued_messages``, 1,000 by default, and
``max_queued_bytes``) the broker drops what it already acknowledged, and says so only in its own
log and in its ``$SYS/broker/publish/messages/dropped`` counter. Every ``ombud ingest mqtt``
worker reads that counter (and ``$SYS/broker/uptime``, to tell a broker restart, which resets
it, from a reading that is merely late), logs every increase as an ERROR, and records what it
saw in two small tables of the deployment's database, so that ``ombud serve`` can show them on
``/metrics`` (``metrics_lines``): drops seen, an alarm while they are recent, how many workers
are alive and whether any of them can see the counter at all. ``MOSQUITTO_CONFIG`` is the broker
configuration ombud ships, with queues sized so that drops do not happen in the first place.

Threat model: these figures are operations data, never evidence — they do not enter the ledger.
Only the broker can publish ``$SYS`` topics (Mosquitto refuses clients' publications there), so
a device cannot fake or hide a drop; a broker that lies or publishes no ``$SYS`` defeats the
watch, and a broker that publishes none is reported once, loudly, rather than read as "no drops".
Payloads are parsed strictly (ASCII digits, bounded length) and anything else is ignored.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ombud.clock import from_micros, to_micros
from ombud.database import Database
from ombud.errors import StorageError, UnavailableError
from ombud.exposition import Exposition, label

__all__ = [
    "MOSQUITTO_CONFIG",
    "RESTART_TOLERANCE_S",
    "SYS_DROPPED",
    "SYS_UPTIME",
    "BrokerFigures",
    "BrokerHealthStore",
    "BrokerWatch",
    "Reading",
    "WatchFigures",
    "broker_figures",
    "merge_reading",
    "metrics_lines",
    "new_drops",
]

logger = logging.getLogger("ombud.ingest.mqtt")

SYS_DROPPED = "$SYS/broker/publish/messages/dropped"
"""Mosquitto's count of messages it dropped since it started (queues full), retained."""
SYS_UPTIME = "$SYS/broker/uptime"
"""``"<n> seconds"``: how long the broker has run; tells a restart from a late reading."""
MOSQUITTO_CONFIG = Path(__file__).resolve().parent / "mosquitto" / "ombud.conf"
"""The Mosquitto configuration ombud ships (queues sized for a fleet, ``$SYS`` every second)."""
RESTART_TOLERANCE_S = 30.0
"""Two estimates of the broker's start time (now - uptime) this close are the same run: the
uptime is whole seconds, published every ``sys_interval`` (10 s by default)."""

_NUMBER = re.compile(rb"[0-9]{1,19}")
_UPTIME = re.compile(rb"([0-9]{1,12}) seconds?")


@dataclass(frozen=True)
class Reading:
    """The broker's dropped-message counter, and when that broker run started (UNIX seconds,
    estimated from its uptime; None when unknown)."""

    counter: int
    started: float | None = None


def _later(a: Reading, b: Reading) -> bool:
    """Whether ``a`` is of a later broker run than ``b`` (as far as their start times tell)."""
    return (
        a.started is not None
        and b.started is not None
        and a.started > b.started + RESTART_TOLERANCE_S
    )


def new_drops(previous: Reading | None, current: Reading) -> int:
    """The drops between two successive readings of one worker's ($SYS messages arrive in
    order on one connection). The counter counts since the broker started: a decrease or a
    later start time means a restart, after which the whole counter is new. The first reading
    of a broker is the baseline (no drops *seen*)."""
    if previous is None:
        return 0
    if current.counter < previous.counter or _later(current, previous):
        return current.counter
    return current.counter - previous.counter


def merge_reading(
    recorded: Reading | None, current: Reading, *, restarted: bool = False, unrecorded: int = 0
) -> tuple[int, Reading]:
    """What ``current`` adds to the reading recorded for a broker (which another worker may
    have written since, so it may be *newer* than ``current``), and the reading to keep.
    ``unrecorded``: the drops the worker saw since its last record, which is what counts when
    nothing is recorded for the broker yet (its first readings came between two records).

    A reading of an earlier broker run, or a lower counter of the same run, is late: it adds
    nothing. A lower counter whose start time is unknown, or that its worker saw follow a
    restart (``restarted``), is a new run. (A broker that restarts within
    ``RESTART_TOLERANCE_S`` of its previous start and whose worker did not see it happen is
    counted from when its counter passes the recorded one: under-counted, never missed.)"""
    if recorded is None:
        return unrecorded, current
    if _later(recorded, current):
        return 0, recorded
    if _later(current, recorded):
        return current.counter, current
    started = recorded.started if recorded.started is not None else current.started
    if current.counter >= recorded.counter:
        return current.counter - recorded.counter, Reading(current.counter, started)
    if restarted or recorded.started is None or current.started is None:
        return current.counter, current
    return 0, recorded


# --- the record ------------------------------------------------------------------------------

# mqtt_brokers: one row per broker (host:port as the workers name it): its counter and start as
#   last recorded, the drops ombud saw summed across its restarts, when one was last seen (µs).
# mqtt_workers: one row per worker client id: its broker, when it started and last reported,
#   whether it sees the counter (NULL: not yet known), the drops it saw since it started.


def _micros(seconds: float) -> int:
    return round(seconds * 1_000_000)


class BrokerHealthStore:
    """The ``mqtt_brokers`` and ``mqtt_workers`` tables (owned by the ingest package)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def recorded(self, broker: str) -> Reading | None:
        rows = self.db.read(
            "SELECT last_counter, started_at FROM mqtt_brokers WHERE broker = ?", (broker,)
        )
        if not rows:
            return None
        counter, started = rows[0]
        return Reading(int(counter), None if started is None else started / 1_000_000)

    def record(
        self,
        *,
        broker: str,
        client_id: str,
        worker_started: float,
        now: float,
        reading: Reading | None,
        restarted: bool,
        unrecorded: int,
        dropped_since_start: int,
        watching: bool | None,
    ) -> int:
        """Record one worker's view in one transaction; returns the drops it added to the
        broker's total (none when another worker recorded them first)."""
        added = 0
        with self.db.transaction() as tx:
            if reading is not None:
                rows = tx.execute(
                    "SELECT last_counter, started_at, dropped_total, last_drop_at "
                    "FROM mqtt_brokers WHERE broker = ?",
                    (broker,),
                )
                recorded = None
                total, last_drop = 0, None
                if rows:
                    counter, started, total, last_drop = rows[0]
                    recorded = Reading(counter, None if started is None else started / 1e6)
                added, keep = merge_reading(
                    recorded, reading, restarted=restarted, unrecorded=unrecorded
                )
                if added:
                    last_drop = _micros(now)
                values = (
                    None if keep.started is None else _micros(keep.started),
                    keep.counter,
                    total + added,
                    last_drop,
                    _micros(now),
                )
                if rows:
                    tx.execute(
                        "UPDATE mqtt_brokers SET started_at = ?, last_counter = ?, "
                        "dropped_total = ?, last_drop_at = ?, updated_at = ? WHERE broker = ?",
                        (*values, broker),
                    )
                else:
                    tx.execute(
                        "INSERT INTO mqtt_brokers VALUES (?, ?, ?, ?, ?, ?)", (broker, *values)
                    )
            tx.execute(
                "INSERT INTO mqtt_workers VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (client_id) "
                "DO UPDATE SET broker = excluded.broker, started_at = excluded.started_at, "
                "seen_at = excluded.seen_at, watching = excluded.watching, "
                "dropped_since_start = excluded.dropped_since_start, "
                "last_counter = excluded.last_counter",
                (
                    client_id,
                    broker,
                    _micros(worker_started),
                    _micros(now),
                    None if watching is None else int(watching),
                    dropped_since_start,
                    None if reading is None else reading.counter,
                ),
            )
        return added


@dataclass(frozen=True)
class BrokerFigures:
    """What the workers recorded about one broker."""

    broker: str
    dropped_total: int
    """Messages the broker dropped after acknowledging them, as ombud's workers saw its counter
    grow (summed across broker restarts; not what it dropped before a worker first watched)."""
    last_drop_at: datetime | None
    dropping: bool
    """A drop was seen within the alarm window."""
    workers: int
    """Workers that reported within the liveness window."""
    watched: bool
    """At least one live worker reads the broker's dropped counter."""


def broker_figures(
    db: Database, *, now: datetime, window_s: float = 900.0, live_s: float = 60.0
) -> list[BrokerFigures]:
    """The figures of every broker ombud's workers recorded, by broker."""
    at = to_micros(now)
    brokers = {
        row[0]: (int(row[1]), row[2])
        for row in db.read("SELECT broker, dropped_total, last_drop_at FROM mqtt_brokers")
    }
    live: dict[str, tuple[int, bool]] = {}
    for broker, watching in db.read(
        "SELECT broker, watching FROM mqtt_workers WHERE seen_at >= ?", (at - _micros(live_s),)
    ):
        count, watched = live.get(broker, (0, False))
        live[broker] = (count + 1, watched or watching == 1)
    figures = []
    for broker in sorted(set(brokers) | set(live)):
        total, last_drop = brokers.get(broker, (0, None))
        workers, watched = live.get(broker, (0, False))
        figures.append(
            BrokerFigures(
                broker=broker,
                dropped_total=total,
                last_drop_at=None if last_drop is None else from_micros(last_drop),
                dropping=last_drop is not None and last_drop >= at - _micros(window_s),
                workers=workers,
                watched=watched,
            )
        )
    return figures


def metrics_lines(
    db: Database, *, now: datetime, window_s: float = 900.0, live_s: float = 60.0
) -> list[str]:
    """Prometheus text exposition lines (0.0.4) of ``broker_figures``, for ``/metrics``."""
    figures = broker_figures(db, now=now, window_s=window_s, live_s=live_s)
    series: list[tuple[str, str, str, Callable[[BrokerFigures], int]]] = [
        (
            "ombud_mqtt_broker_dropped_messages_total",
            "counter",
            "Messages the MQTT broker dropped after acknowledging them (its $SYS counter).",
            lambda f: f.dropped_total,
        ),
        (
            "ombud_mqtt_broker_dropping",
            "gauge",
            f"1 while the broker dropped acknowledged messages in the last {window_s:g} s.",
            lambda f: int(f.dropping),
        ),
        (
            "ombud_mqtt_broker_watched",
            "gauge",
            "1 when a live ingest worker reads the broker's dropped-message counter.",
            lambda f: int(f.watched),
        ),
        (
            "ombud_mqtt_workers",
            "gauge",
            f"MQTT ingest workers that reported in the last {live_s:g} s.",
            lambda f: f.workers,
        ),
    ]
    out = Exposition()
    for name, kind, help_text, value in series:
        out.metric(name, kind, help_text, {label("broker", f.broker): value(f) for f in figures})
    return out.lines


# --- the watch -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WatchFigures:
    """One worker's view, for its periodic stats line."""

    dropped_since_start: int
    counter: int | None
    """The broker's counter as last read; None before the first reading."""
    watching: bool | None
    """Whether the broker publishes its ``$SYS`` tree (uptime, dropped counter); None while
    that is not known yet."""


class BrokerWatch:
    """One worker's watch over its broker's dropped-message counter.

    ``on_message`` and ``subscribed`` are called from the MQTT network thread; ``tick`` from
    the worker's own thread, about once a second: it reports a broker without ``$SYS`` (once)
    and records the view in the database when something changed, or every
    ``record_every_s`` as a heartbeat. A database that is away only delays the record.
    """

    def __init__(
        self,
        broker: str,
        client_id: str,
        db: Database | None,
        *,
        grace_s: float = 30.0,
        record_every_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.broker = broker
        self.client_id = client_id
        self.grace_s = grace_s
        self.record_every_s = record_every_s
        self._db = db
        self._store: BrokerHealthStore | None = None
        self._clock = clock
        self._lock = threading.Lock()
        self.started = clock()
        self._previous: Reading | None = None
        self._from_record = False  # _previous is the recorded reading, not one seen here
        self._reading: Reading | None = None
        self._broker_started: float | None = None
        self._restart_unrecorded = False
        self._unrecorded = 0  # drops seen since the last record
        self._dropped = 0
        self._watching: bool | None = None
        self._subscribed_at: float | None = None
        self._warned_blind = False
        self._dirty = True
        self._recorded_at: float | None = None
        self._record_failing = False
        self._retry_at = 0.0

    def begin(self) -> None:
        """Open the record and take the broker's last recorded reading as the baseline, so
        that what it dropped while no worker watched is seen now. A database that is away
        does not stop the worker: ``tick`` tries again."""
        if self._db is None or self._store is not None:
            return
        try:
            store = BrokerHealthStore(self._db)
            recorded = store.recorded(self.broker)
        except (StorageError, UnavailableError) as exc:
            self._record_failed(exc, self._clock())
            return
        with self._lock:
            self._store = store
            if self._previous is None:  # nothing seen here yet
                self._previous = recorded
                self._from_record = recorded is not None

    @property
    def figures(self) -> WatchFigures:
        with self._lock:
            counter = None if self._reading is None else self._reading.counter
            return WatchFigures(self._dropped, counter, self._watching)

    # --- network thread ----------------------------------------------------------------------

    def subscribed(self, granted: bool) -> None:
        with self._lock:
            self._subscribed_at = self._clock()
            if granted:
                return
            self._watching = False
            self._dirty = True
        self._warn_blind("refused the subscription to it")

    def on_message(self, topic: str, payload: bytes, *, retained: bool = False) -> None:
        """A ``$SYS`` message. ``retained``: sent because this worker subscribed (a value
        published earlier), not because it just changed. Mosquitto 2.0 publishes the dropped
        counter only when it changes and lets that retained value expire after 60 s, so a
        worker that starts on a quiet broker gets its uptime but no counter: it then counts
        from the last recorded reading, or, with none, from 0 when the counter next moves."""
        now = self._clock()
        value = payload.strip()
        if topic == SYS_UPTIME:
            match = _UPTIME.fullmatch(value)
            if match is not None:
                self._on_uptime(now - int(match.group(1)))
            return
        if topic != SYS_DROPPED or _NUMBER.fullmatch(value) is None:
            return
        first = self._first_sys()
        with self._lock:
            current = Reading(int(value), self._broker_started)
            previous, from_record = self._previous, self._from_record
            restart = False
            if previous is None:
                # No earlier reading: a retained value is the baseline; a live one is a change
                # happening now, after a quiet minute at least, from a value never seen.
                added = 0 if retained else current.counter
            elif current.counter < previous.counter:
                # Reset by a restart whose uptime has not arrived yet (or came too soon after
                # the previous start to tell): the next uptime says when this run started.
                restart, added = True, current.counter
                current = Reading(current.counter, None)
            else:
                added = new_drops(previous, current)
            self._restart_unrecorded = self._restart_unrecorded or restart
            self._previous = self._reading = current
            self._from_record = False
            self._dropped += added
            self._unrecorded += added
            self._dirty = True
        if first and previous is None and retained and current.counter:
            logger.warning(
                "the broker %s reports %d messages dropped since it started, before ombud "
                "watched it; drops are counted from now on",
                self.broker, current.counter,
            )  # fmt: skip
        if restart:
            self._log_restart()
        if added:
            logger.error(
                "the broker %s dropped %d message(s) after acknowledging them to their devices "
                "(%s: %s -> %d%s): they are lost. Raise its max_queued_messages and "
                "max_queued_bytes (see %s) and run two or more workers",
                self.broker, added, SYS_DROPPED,
                "?" if previous is None else previous.counter, current.counter,
                ", since the last recorded reading" if from_record else "", MOSQUITTO_CONFIG,
            )  # fmt: skip

    def _on_uptime(self, started: float) -> None:
        self._first_sys()
        restart = False
        with self._lock:
            self._broker_started = started
            previous = self._previous
            if previous is not None and previous.started is None:
                self._previous = Reading(previous.counter, started)  # the run it belongs to
                if self._reading is not None:
                    self._reading = self._previous
            elif previous is not None and _later(Reading(0, started), previous):
                # A later run of the broker: its counter started again from 0.
                restart = True
                self._previous = self._reading = Reading(0, started)
                self._from_record = False
                self._restart_unrecorded = True
                self._dirty = True
        if restart:
            self._log_restart()

    def _first_sys(self) -> bool:
        with self._lock:
            if self._watching is True:
                return False
            self._watching = True
            self._dirty = True
        logger.info("watching the broker %s for dropped messages (%s)", self.broker, SYS_DROPPED)
        return True

    def _log_restart(self) -> None:
        logger.info("the broker %s restarted: its dropped counter starts again from 0", self.broker)

    # --- worker thread -----------------------------------------------------------------------

    def tick(self, *, force: bool = False) -> None:
        now = self._clock()
        with self._lock:
            blind = (
                self._watching is None
                and self._subscribed_at is not None
                and now - self._subscribed_at >= self.grace_s
            )
            if blind:
                self._watching = False
                self._dirty = True
        if blind:
            self._warn_blind(f"sent none within {self.grace_s:g} s of subscribing")
        due = self._recorded_at is None or now - self._recorded_at >= self.record_every_s
        if not (force or self._dirty or due) or now < self._retry_at:
            return
        if self._store is None:
            self.begin()
            if self._store is None:
                return
        with self._lock:
            self._dirty = False
            view = (self._reading, self._restart_unrecorded, self._unrecorded, self._dropped)
            watching = self._watching
            self._restart_unrecorded = False
            self._unrecorded = 0
        reading, restarted, unrecorded, dropped = view
        try:
            self._store.record(
                broker=self.broker,
                client_id=self.client_id,
                worker_started=self.started,
                now=now,
                reading=reading,
                restarted=restarted,
                unrecorded=unrecorded,
                dropped_since_start=dropped,
                watching=watching,
            )
        except Exception as exc:  # a storage outage, or worse: the worker goes on either way
            with self._lock:
                self._dirty = True
                self._restart_unrecorded = self._restart_unrecorded or restarted
                self._unrecorded += unrecorded
            self._record_failed(exc, now)
            return
        self._record_failing = False
        self._recorded_at = now

    def _record_failed(self, exc: Exception, now: float) -> None:
        if not self._record_failing:
            if isinstance(exc, StorageError | UnavailableError):
                logger.warning("cannot record the broker's health (will retry): %s", exc)
            else:
                logger.error("recording the broker's health failed (will retry)", exc_info=exc)
        self._record_failing = True
        self._retry_at = now + min(self.record_every_s, 5.0)

    def _warn_blind(self, why: str) -> None:
        with self._lock:
            if self._warned_blind:
                return
            self._warned_blind = True
        logger.warning(
            "the broker %s publishes no $SYS (%s, %s) to this worker (it %s): messages it "
            "drops after acknowledging them cannot be seen. On Mosquitto, set sys_interval > 0 "
            "and let ombud's workers read $SYS (see %s)",
            self.broker, SYS_UPTIME, SYS_DROPPED, why, MOSQUITTO_CONFIG,
        )  # fmt: skip
