"""The broker's dropped-message counter, read right: restarts reset it, late readings add
nothing, and what the workers record is what /metrics shows. No broker needed."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ombud.database import Database, SqliteDatabase
from ombud.ingest.broker_health import (
    MOSQUITTO_CONFIG,
    RESTART_TOLERANCE_S,
    SYS_DROPPED,
    SYS_UPTIME,
    BrokerHealthStore,
    BrokerWatch,
    Reading,
    WatchFigures,
    broker_figures,
    merge_reading,
    metrics_lines,
    new_drops,
)
from tests.conftest import migrated

T = 1_800_000_000.0  # a broker's start, UNIX seconds
LATER = T + 10 * RESTART_TOLERANCE_S


def test_the_first_reading_is_the_baseline() -> None:
    assert new_drops(None, Reading(1234, T)) == 0


def test_an_increase_is_what_was_dropped() -> None:
    assert new_drops(Reading(10, T), Reading(10, T)) == 0
    assert new_drops(Reading(10, T), Reading(17, T + 5)) == 7  # start estimates jitter


def test_a_decrease_is_a_restart_after_which_the_whole_counter_is_new() -> None:
    assert new_drops(Reading(500, T), Reading(30, None)) == 30
    assert new_drops(Reading(500, T), Reading(0, T + 1)) == 0


def test_a_later_start_is_a_restart_even_when_the_counter_grew_past_the_old_one() -> None:
    assert new_drops(Reading(5, T), Reading(30, LATER)) == 30


@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=30))
def test_increases_within_a_run_add_up_to_the_counter(steps: list[int]) -> None:
    counters = [sum(steps[: i + 1]) for i in range(len(steps))]
    previous, seen = Reading(0, T), 0
    for counter in counters:
        current = Reading(counter, T)
        seen += new_drops(previous, current)
        previous = current
    assert seen == counters[-1]


def test_merging_adds_each_drop_once_whichever_worker_records_it() -> None:
    recorded = Reading(100, T)
    added, recorded = merge_reading(recorded, Reading(150, T + 1))  # worker A
    assert (added, recorded.counter) == (50, 150)
    added, recorded = merge_reading(recorded, Reading(150, T + 3))  # worker B, same news
    assert (added, recorded.counter) == (0, 150)
    added, kept = merge_reading(recorded, Reading(120, T + 2))  # B, late: not a restart
    assert (added, kept) == (0, recorded)
    added, kept = merge_reading(recorded, Reading(90, T - 10 * RESTART_TOLERANCE_S))  # old run
    assert (added, kept) == (0, recorded)


def test_merging_a_restart() -> None:
    recorded = Reading(500, T)
    added, recorded = merge_reading(recorded, Reading(30, LATER))
    assert (added, recorded) == (30, Reading(30, LATER))
    # The other worker saw the same restart and records a little more of the new run.
    added, recorded = merge_reading(recorded, Reading(35, LATER + 2), restarted=True)
    assert (added, recorded.counter) == (5, 35)
    # A quick restart (start times too close to tell) that its worker saw happen.
    added, recorded = merge_reading(Reading(500, T), Reading(30, T + 5), restarted=True)
    assert (added, recorded.counter) == (30, 30)
    # Start times unknown: a lower counter can only be a restart.
    assert merge_reading(Reading(500, None), Reading(30, None))[0] == 30


def test_the_first_record_of_a_broker_keeps_what_its_worker_saw_before_it() -> None:
    assert merge_reading(None, Reading(25, T), unrecorded=25) == (25, Reading(25, T))
    assert merge_reading(None, Reading(25, T)) == (0, Reading(25, T))


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return migrated(SqliteDatabase.create(tmp_path / "ombud.sqlite"))


def _clock(at: list[float]) -> float:
    return at[0]


def test_a_watch_logs_drops_and_records_them_for_metrics(
    db: SqliteDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    at = [T + 100]
    watch = BrokerWatch("broker.example:1883", "w1", db, clock=lambda: _clock(at))
    watch.begin()
    watch.subscribed(True)
    watch.on_message(SYS_UPTIME, b"100 seconds", retained=True)
    watch.on_message(SYS_DROPPED, b"0", retained=True)
    watch.tick()
    with caplog.at_level(logging.INFO, "ombud.ingest.mqtt"):
        at[0] += 1
        watch.on_message(SYS_DROPPED, b"42")
        watch.on_message(SYS_DROPPED, b"not a number")  # ignored
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "dropped 42 message(s)" in errors[0].getMessage()
    assert watch.figures.dropped_since_start == 42
    watch.tick()
    now = datetime.fromtimestamp(at[0], UTC)
    [figures] = broker_figures(db, now=now)
    assert (figures.dropped_total, figures.dropping, figures.workers, figures.watched) == (
        42,
        True,
        1,
        True,
    )
    assert metrics_lines(db, now=now) == [
        "# HELP ombud_mqtt_broker_dropped_messages_total Messages the MQTT broker dropped after "
        "acknowledging them (its $SYS counter).",
        "# TYPE ombud_mqtt_broker_dropped_messages_total counter",
        'ombud_mqtt_broker_dropped_messages_total{broker="broker.example:1883"} 42',
        "# HELP ombud_mqtt_broker_dropping 1 while the broker dropped acknowledged messages in "
        "the last 900 s.",
        "# TYPE ombud_mqtt_broker_dropping gauge",
        'ombud_mqtt_broker_dropping{broker="broker.example:1883"} 1',
        "# HELP ombud_mqtt_broker_watched 1 when a live ingest worker reads the broker's "
        "dropped-message counter.",
        "# TYPE ombud_mqtt_broker_watched gauge",
        'ombud_mqtt_broker_watched{broker="broker.example:1883"} 1',
        "# HELP ombud_mqtt_workers MQTT ingest workers that reported in the last 60 s.",
        "# TYPE ombud_mqtt_workers gauge",
        'ombud_mqtt_workers{broker="broker.example:1883"} 1',
    ]
    # The alarm clears once no drop was seen for the window; the worker went quiet too.
    later = datetime.fromtimestamp(at[0] + 1000, UTC)
    [figures] = broker_figures(db, now=later)
    assert (figures.dropped_total, figures.dropping, figures.workers, figures.watched) == (
        42,
        False,
        0,
        False,
    )


def test_a_second_worker_and_a_restart_count_each_drop_once(db: SqliteDatabase) -> None:
    at = [T + 100]
    a = BrokerWatch("b:1883", "a", db, clock=lambda: _clock(at))
    b = BrokerWatch("b:1883", "b", db, clock=lambda: _clock(at))
    for watch in (a, b):
        watch.begin()
        watch.on_message(SYS_UPTIME, b"100 seconds", retained=True)
        watch.on_message(SYS_DROPPED, b"7", retained=True)
        watch.tick()
    for watch in (a, b):
        watch.on_message(SYS_DROPPED, b"10")
        watch.tick(force=True)
    at[0] += 5
    for watch in (b, a):  # the broker restarts: uptime back to 1, counter back to 0, then 4
        watch.on_message(SYS_UPTIME, b"1 second")
        watch.on_message(SYS_DROPPED, b"0")
        watch.on_message(SYS_DROPPED, b"4")
        watch.tick(force=True)
    assert a.figures.dropped_since_start == b.figures.dropped_since_start == 3 + 4
    [figures] = broker_figures(db, now=datetime.fromtimestamp(at[0], UTC))
    assert (figures.dropped_total, figures.workers) == (3 + 4, 2)


def test_drops_made_while_no_worker_watched_are_seen_at_the_next_start(
    db: SqliteDatabase,
) -> None:
    at = [T + 100]
    first = BrokerWatch("b:1883", "w", db, clock=lambda: _clock(at))
    first.begin()
    first.on_message(SYS_UPTIME, b"100 seconds", retained=True)
    first.on_message(SYS_DROPPED, b"3", retained=True)
    first.tick()
    at[0] += 60
    again = BrokerWatch("b:1883", "w", db, clock=lambda: _clock(at))
    again.begin()
    again.on_message(SYS_UPTIME, b"160 seconds", retained=True)
    again.on_message(SYS_DROPPED, b"50", retained=True)
    again.tick()
    assert again.figures.dropped_since_start == 47
    [figures] = broker_figures(db, now=datetime.fromtimestamp(at[0], UTC))
    assert figures.dropped_total == 47


def test_a_quiet_broker_publishes_no_counter_and_its_next_move_is_counted(
    db: SqliteDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    """Mosquitto 2.0 publishes its dropped counter only when it changes, and the retained
    value expires after 60 s: a worker that subscribes later gets the uptime alone."""
    at = [T + 5000]
    watch = BrokerWatch("q:1883", "w", db, grace_s=30, clock=lambda: _clock(at))
    watch.begin()
    watch.subscribed(True)
    watch.on_message(SYS_UPTIME, b"5000 seconds", retained=True)
    for _ in range(5):
        at[0] += 20
        watch.on_message(SYS_UPTIME, f"{int(at[0] - T)} seconds".encode())
        watch.tick()
    assert watch.figures == WatchFigures(dropped_since_start=0, counter=None, watching=True)
    with caplog.at_level(logging.WARNING, "ombud.ingest.mqtt"):
        watch.on_message(SYS_DROPPED, b"12")  # live: it moved just now, from 0 this run
        watch.tick()
    assert [r.levelname for r in caplog.records] == ["ERROR"]
    assert "dropped 12 message(s)" in caplog.records[0].getMessage()
    [figures] = broker_figures(db, now=datetime.fromtimestamp(at[0], UTC))
    assert (figures.dropped_total, figures.dropping, figures.watched) == (12, True, True)


def test_a_restart_seen_in_the_uptime_counts_the_new_run_from_zero(db: SqliteDatabase) -> None:
    at = [T + 100]
    watch = BrokerWatch("r:1883", "w", db, clock=lambda: _clock(at))
    watch.begin()
    watch.on_message(SYS_UPTIME, b"100 seconds", retained=True)
    watch.on_message(SYS_DROPPED, b"8", retained=True)
    watch.tick()
    at[0] += 200  # down for a while; back with a new run, which dropped 9 before the next drop
    watch.on_message(SYS_UPTIME, b"90 seconds", retained=True)
    watch.on_message(SYS_DROPPED, b"9", retained=True)
    watch.tick()
    assert watch.figures.dropped_since_start == 9
    # Whereas a worker that starts only now reads the same record as a restart too.
    other = BrokerWatch("r:1883", "v", db, clock=lambda: _clock(at))
    other.begin()
    other.on_message(SYS_UPTIME, b"90 seconds", retained=True)
    other.on_message(SYS_DROPPED, b"9", retained=True)
    other.tick()
    assert other.figures.dropped_since_start == 0  # the record already had this run's 9
    [figures] = broker_figures(db, now=datetime.fromtimestamp(at[0], UTC))
    assert figures.dropped_total == 9


def test_a_broker_without_sys_is_reported_once(
    db: SqliteDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    at = [T]
    watch = BrokerWatch("quiet:1883", "w", db, grace_s=30, clock=lambda: _clock(at))
    watch.begin()
    watch.subscribed(True)
    with caplog.at_level(logging.WARNING, "ombud.ingest.mqtt"):
        for _ in range(5):
            at[0] += 20
            watch.tick()
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        "the broker quiet:1883 publishes no $SYS"
    ]
    assert SYS_DROPPED in caplog.records[0].getMessage()
    assert watch.figures.watching is False
    [figures] = broker_figures(db, now=datetime.fromtimestamp(at[0], UTC))
    assert (figures.watched, figures.workers) == (False, 1)


def test_a_refused_sys_subscription_is_reported_at_once(
    db: SqliteDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    watch = BrokerWatch("acl:1883", "w", db)
    with caplog.at_level(logging.WARNING, "ombud.ingest.mqtt"):
        watch.subscribed(False)
        watch.subscribed(False)
    assert len(caplog.records) == 1
    assert "refused the subscription" in caplog.records[0].getMessage()


def test_metrics_before_any_worker_ran_have_no_samples(db: SqliteDatabase) -> None:
    lines = metrics_lines(db, now=datetime.now(UTC))
    assert [line for line in lines if not line.startswith("#")] == []


def test_labels_are_escaped(db: SqliteDatabase) -> None:
    store = BrokerHealthStore(db)
    store.record(
        broker='odd"host\\:1', client_id="w", worker_started=T, now=T, reading=Reading(0, T),
        restarted=False, unrecorded=0, dropped_since_start=0, watching=True,
    )  # fmt: skip
    lines = metrics_lines(db, now=datetime.fromtimestamp(T, UTC))
    assert 'ombud_mqtt_workers{broker="odd\\"host\\\\:1"} 1' in lines


def test_the_shipped_configuration_sizes_queues_and_publishes_sys() -> None:
    options = {}
    for line in MOSQUITTO_CONFIG.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition(" ")
            options.setdefault(name, value)
    assert options["persistence"] == "true"
    assert int(options["max_queued_messages"]) >= 100_000
    assert int(options["max_queued_bytes"]) >= 100_000_000
    assert int(options["max_inflight_messages"]) >= 200  # a worker's batch
    assert 0 < int(options["sys_interval"]) <= 10


def test_the_record_on_each_database(database: Database) -> None:
    store = BrokerHealthStore(database)
    BrokerHealthStore(database)  # created once
    common = {"broker": "b:1883", "worker_started": T, "restarted": False, "watching": True}
    store.record(client_id="a", now=T + 1, reading=Reading(5, T), unrecorded=0,
                 dropped_since_start=0, **common)  # fmt: skip
    added = store.record(client_id="b", now=T + 2, reading=Reading(9, T), unrecorded=4,
                         dropped_since_start=4, **common)  # fmt: skip
    assert added == 4
    assert store.recorded("b:1883") == Reading(9, T)
    [figures] = broker_figures(database, now=datetime.fromtimestamp(T + 3, UTC))
    assert (figures.dropped_total, figures.workers, figures.dropping) == (4, 2, True)


def test_a_database_away_at_start_only_delays_the_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "later" / "ombud.sqlite"
    at = [T + 100]
    watch = BrokerWatch("b:1883", "w", SqliteDatabase(path), clock=lambda: _clock(at))
    with caplog.at_level(logging.WARNING, "ombud.ingest.mqtt"):
        watch.begin()
        watch.on_message(SYS_UPTIME, b"100 seconds", retained=True)
        watch.on_message(SYS_DROPPED, b"3", retained=True)
        watch.tick()
        watch.on_message(SYS_DROPPED, b"5")
        watch.tick()
    assert [r.levelname for r in caplog.records] == ["WARNING", "ERROR"]  # warned once
    assert caplog.records[0].getMessage().startswith("cannot record the broker's health")
    assert "dropped 2 message(s)" in caplog.records[1].getMessage()
    path.parent.mkdir()
    migrated(SqliteDatabase.create(path)).close()
    at[0] += 10
    watch.tick()
    [figures] = broker_figures(SqliteDatabase(path), now=datetime.fromtimestamp(at[0], UTC))
    assert (figures.dropped_total, figures.workers) == (2, 1)
