"""Finding #8: the broker dropped observations it had acknowledged, and ombud did not notice.

Each test runs its own Mosquitto with the configuration ombud ships (``tests/ingest/
mosquitto_broker.py``), on a free port, and real ``ombud ingest mqtt`` worker processes on an
SQLite deployment; they skip where ``mosquitto`` is not installed.
"""

from __future__ import annotations

import json
import logging
import random
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from ombud.config import Settings
from ombud.deployment import Deployment, init_deployment, open_log
from ombud.events import Event
from ombud.ingest.broker_health import SYS_DROPPED, broker_figures, metrics_lines
from ombud.ingest.devices import DeviceRegistry
from ombud.ingest.fleet import make_fleet
from ombud.ingest.mqtt import MqttIngest, parse_broker
from ombud.ledger import merkle
from ombud.ledger.log import Log
from ombud.sensors.observations import ObservationStore
from tests.ingest.mosquitto_broker import PrivateBroker, mosquitto_binary, terminate
from tests.ingest.test_mqtt import Publisher, wait_for


def now() -> datetime:
    return datetime.now(UTC)


class Worker:
    """One ``ombud ingest mqtt`` process; its log (stderr) goes to a file, across restarts."""

    def __init__(self, data_dir: Path, broker: str, client_id: str, group: str) -> None:
        self.command = [
            sys.executable, "-m", "ombud", "ingest", "mqtt", "--data-dir", str(data_dir),
            "--broker", broker, "--client-id", client_id, "--group", group,
        ]  # fmt: skip
        self.log = data_dir.parent / f"{client_id}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.startup_s: list[float] = []

    def start(self) -> None:
        began = time.monotonic()
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1
        process = self.process

        def up() -> bool:
            return self.text().count("subscribed to") >= self.starts or process.poll() is not None

        wait_for(up, 60, "the worker")
        if process.poll() is not None:  # what this start printed, whole, in the failure
            said = self.log.read_bytes()[offset:].decode(errors="replace")
            raise AssertionError(f"start {self.starts} exited ({process.returncode}):\n{said}")
        self.startup_s.append(time.monotonic() - began)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None:
            terminate(self.process)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()


class SysCounter:
    """The broker's own dropped-message counter, as it publishes it (every ``sys_interval``,
    when it changed; retained). ``value`` is the latest; reconnects after a broker restart."""

    def __init__(self, url: str) -> None:
        host, port = parse_broker(url)
        self.values: list[int] = []
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"sys-{secrets.token_hex(4)}"
        )
        self.client.on_connect = lambda c, *_: c.subscribe(SYS_DROPPED, qos=0)
        self.client.on_message = lambda c, u, m: self.values.append(int(m.payload))
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.connect(host, port)
        self.client.loop_start()
        wait_for(lambda: bool(self.values), 30, "the broker's dropped counter")

    @property
    def value(self) -> int:
        return self.values[-1]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# --- the regression test ---------------------------------------------------------------------


@dataclass
class KillRun:
    sent: list[tuple[str, int]] = field(default_factory=list)
    acknowledged: int = 0
    stored: list[tuple[str, int]] = field(default_factory=list)
    restarts_s: list[float] = field(default_factory=list)
    dropped: int = 0
    """The broker's own counter at the end."""
    recorded: int = -1
    """The drops the workers recorded (what /metrics shows)."""


def run_kills(
    tmp_path: Path,
    workers: list[Worker],
    *,
    overrides: dict[str, str] | None = None,
    count: int = 10_000,
    rate: float = 1_000.0,
    kills: int = 5,
    devices: int = 50,
    pool: int = 2,
    drain_s: float = 120,
) -> KillRun:
    """Publish ``count`` signed observations at ``rate``/s (QoS 1) to ``pool`` workers in a
    shared group, SIGKILL the first ``kills`` times (restarted each time with the same client
    id). ``overrides`` change the shipped broker configuration (``bench``-style experiments)."""
    mosquitto = PrivateBroker(tmp_path / "broker", overrides)
    mosquitto.start()
    try:
        return _run_kills(tmp_path, mosquitto, workers, count, rate, kills, devices, pool, drain_s)
    finally:
        for worker in workers:
            worker.stop()
        mosquitto.stop()


def _run_kills(
    tmp_path: Path,
    mosquitto: PrivateBroker,
    workers: list[Worker],
    count: int,
    rate: float,
    kills: int,
    devices: int,
    pool: int,
    drain_s: float,
) -> KillRun:
    data_dir = tmp_path / "city"
    init_deployment(data_dir, "kills.example/log")
    log = open_log(data_dir, Settings.load(data_dir), with_key=False)
    run = KillRun()
    try:
        registry = DeviceRegistry(log.store.db, log, clock=now)
        fleet = list(make_fleet(devices, random.Random(8), clock=now, prefix="kill"))
        for sensor in fleet:
            registry.add(sensor.device)
        size_before = log.state().size
        messages = []  # signed before the clock starts: the publisher only publishes
        for _ in range(count // devices):
            for sensor in fleet:
                payload = json.dumps(sensor.observe(now())).encode()
                messages.append((sensor.device.id, sensor.signer.counter, payload))
        group = f"kill{secrets.token_hex(3)}"
        for name in "abcdefgh"[:pool]:
            workers.append(Worker(data_dir, mosquitto.url, f"ombud-kill-{name}", group))
            workers[-1].start()
        victim = workers[0]
        publisher = Publisher(mosquitto.url)
        started = time.monotonic()
        spacing = (count / rate) / (kills + 1)
        failure: list[BaseException] = []

        def killer() -> None:
            try:
                for k in range(kills):
                    pause = started + spacing * (k + 1) - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                    victim.kill()
                    victim.start()  # the same client id: it resumes its session
            except BaseException as exc:
                failure.append(exc)

        thread = threading.Thread(target=killer)
        thread.start()
        try:
            for i, (device, counter, payload) in enumerate(messages):
                if i % 10 == 0:
                    pause = started + i / rate - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                publisher.publish(device, payload)
                run.sent.append((device, counter))
        finally:
            thread.join()
        if failure:
            raise failure[0]
        publisher.wait_acknowledged(timeout=60)
        with publisher._lock:
            run.acknowledged = len(publisher.acknowledged & set(publisher.mids))
        publisher.close()
        store = ObservationStore(log.store.db)
        _drain(store, count, drain_s)
        counter = SysCounter(mosquitto.url)
        run.dropped = counter.value
        counter.close()
        for worker in workers:
            worker.stop()
        run.stored = [(o.device, o.counter) for o in store]
        figures = broker_figures(log.store.db, now=now())
        run.recorded = figures[0].dropped_total if figures else -1
        run.restarts_s = victim.startup_s[1:]
        _check_ledger(log, store, size_before, len(run.stored))
    finally:
        log.close()
    return run


def _drain(store: ObservationStore, count: int, timeout: float, still_s: float = 10.0) -> None:
    """Wait until ``count`` observations are stored, or none has arrived for ``still_s`` (then
    the assertions that follow say what is missing)."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        stored = store.count()
        if stored >= count:
            return
        if stored != last:
            last, since = stored, time.monotonic()
        elif time.monotonic() - since > still_s:
            return
        time.sleep(0.1)


def _check_ledger(log: Log, store: ObservationStore, size_before: int, stored: int) -> None:
    """One ``observation.accepted`` entry per stored observation, carrying its digest; the
    tree hashes to the stored root."""
    import base64
    import hashlib

    state = log.state()
    entries = log.entries(0, state.size)
    assert merkle.root([merkle.leaf_hash(e) for e in entries]) == state.root
    events = [Event.from_bytes(e) for e in entries[size_before:]]
    assert [e.kind for e in events] == ["observation.accepted"] * stored
    for observation in store:
        body = Event.from_bytes(entries[observation.ledger_index]).body
        digest = hashlib.sha256(observation.canonical).digest()
        assert (body["device"], body["counter"]) == (observation.device, observation.counter)
        assert body["digest"] == base64.urlsafe_b64encode(digest).decode().rstrip("=")


def test_broker_keeps_what_it_acknowledged_through_worker_kills(
    tmp_path: Path, workers: list[Worker]
) -> None:
    """1,000 observations/s, one of two workers SIGKILLed 5 times: with the shipped broker
    configuration, every observation the broker acknowledged is stored, exactly once."""
    mosquitto_binary()
    run = run_kills(tmp_path, workers)
    print(f"victim restarts (s): {[round(s, 2) for s in run.restarts_s]}")
    assert len(run.sent) == 10_000
    assert run.acknowledged == len(run.sent)
    missing = set(run.sent) - set(run.stored)
    assert not missing, f"{len(missing)} acknowledged observations lost, e.g. {sorted(missing)[:5]}"
    assert sorted(run.stored) == sorted(run.sent)  # each exactly once
    assert run.dropped == run.recorded == 0
    for worker in workers:
        assert " ERROR " not in worker.text(), worker.text()[-3000:]
        assert "watching the broker" in worker.text()
    assert len(run.restarts_s) == 5


# --- the watch, against a broker that drops --------------------------------------------------


def _error_drops(text: str) -> list[int]:
    return [int(n) for n in re.findall(r" ERROR the broker \S+ dropped (\d+) message", text)]


def _provoke_drops(url: str, client_id: str, messages: int) -> None:
    """A subscriber with a persistent session that went away, and ``messages`` for it: the
    broker queues ``max_queued_messages`` of them and drops the rest, after acknowledging."""
    host, port = parse_broker(url)
    subscribed = threading.Event()
    slow = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    slow.on_connect = lambda c, *_: c.subscribe("test/slow", qos=1)
    slow.on_subscribe = lambda *_: subscribed.set()
    slow.connect(host, port)
    slow.loop_start()
    assert subscribed.wait(30)
    slow.disconnect()
    slow.loop_stop()
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"p-{secrets.token_hex(3)}")
    publisher.connect(host, port)
    publisher.loop_start()
    infos = [publisher.publish("test/slow", b"x", qos=1) for _ in range(messages)]
    for info in infos:
        info.wait_for_publish(30)  # the PUBACK: the broker has acknowledged every one
    publisher.disconnect()
    publisher.loop_stop()


def test_a_broker_drop_becomes_an_error_line_and_a_recorded_figure(
    tmp_path: Path, workers: list[Worker]
) -> None:
    mosquitto = PrivateBroker(tmp_path / "broker", {"max_queued_messages": "5"})
    mosquitto.start()
    data_dir = tmp_path / "city"
    init_deployment(data_dir, "drops.example/log")
    db_log = open_log(data_dir, Settings.load(data_dir), with_key=False)
    db = db_log.store.db
    name = f"127.0.0.1:{mosquitto.port}"
    worker = Worker(data_dir, mosquitto.url, "ombud-drop-w", "drops")
    workers.append(worker)
    counter = SysCounter(mosquitto.url)

    def total() -> int:
        figures = broker_figures(db, now=now())
        return figures[0].dropped_total if figures else -1

    def logged() -> int:
        return sum(_error_drops(worker.text()))

    try:
        worker.start()
        wait_for(lambda: "watching the broker" in worker.text(), 30, "the watch")
        wait_for(lambda: total() == 0, 30, "the worker's first record")
        assert counter.value == 0

        # 1. A drop while the worker watches: an ERROR line, and the figure recorded.
        _provoke_drops(mosquitto.url, "slow-1", 30)
        wait_for(lambda: counter.value > 0 and logged() == counter.value, 30, "the error line")
        wait_for(lambda: total() == counter.value, 30, "the recorded figure")
        dropped = counter.value
        lines = metrics_lines(db, now=now())
        assert f'ombud_mqtt_broker_dropped_messages_total{{broker="{name}"}} {dropped}' in lines
        assert f'ombud_mqtt_broker_dropping{{broker="{name}"}} 1' in lines
        assert f'ombud_mqtt_broker_watched{{broker="{name}"}} 1' in lines
        assert f'ombud_mqtt_workers{{broker="{name}"}} 1' in lines

        # 2. Drops while no worker watched are seen when one starts again.
        worker.stop()
        _provoke_drops(mosquitto.url, "slow-2", 20)
        wait_for(lambda: counter.value > dropped, 30, "more drops")
        worker.start()
        wait_for(lambda: logged() == counter.value, 30, "the drops made while away")
        wait_for(lambda: total() == counter.value, 30, "the recorded figure")
        before = counter.value
        assert before > dropped

        # 3. A broker restart resets its counter: only what it drops afterwards is added.
        mosquitto.restart()
        wait_for(lambda: worker.text().count("subscribed to") >= 3, 60, "the worker's return")
        wait_for(lambda: counter.value == 0, 30, "the counter's reset")
        _provoke_drops(mosquitto.url, "slow-3", 10)
        wait_for(lambda: counter.value > 0, 30, "drops after the restart")
        wait_for(lambda: total() == before + counter.value, 30, "the drops after the restart")
        wait_for(lambda: logged() == before + counter.value, 30, "their error lines")
        assert f"the broker {name} restarted" in worker.text()
    finally:
        counter.close()
        worker.stop()
        mosquitto.stop()
        db_log.close()


def test_a_broker_without_sys_is_reported_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Mosquitto with ``sys_interval 0`` publishes no $SYS: the worker says so, once, and
    /metrics shows that nobody watches that broker's drops."""
    mosquitto = PrivateBroker(tmp_path / "broker", {"sys_interval": "0"})
    mosquitto.start()
    data_dir = tmp_path / "city"
    init_deployment(data_dir, "blind.example/log")
    intake = Deployment.open(data_dir, with_key=False, clock=now).intake
    caplog.set_level(logging.INFO, "ombud.ingest.mqtt")
    worker = MqttIngest(intake, mosquitto.url, group="blind", client_id="blind", sys_grace_s=0.5)
    assert worker.watch is not None
    worker.watch.record_every_s = 0.2
    try:
        worker.start()

        def warnings() -> list[str]:
            return [r.getMessage() for r in caplog.records if "publishes no" in r.getMessage()]

        wait_for(lambda: len(warnings()) == 1, 30, "the warning")
        name = f"127.0.0.1:{mosquitto.port}"
        watched = f'ombud_mqtt_broker_watched{{broker="{name}"}} 0'
        db = intake.log.store.db
        wait_for(lambda: watched in metrics_lines(db, now=now()), 30, "the record")

        def seen_at() -> int:
            return int(db.read("SELECT seen_at FROM mqtt_workers")[0][0])

        heartbeat = seen_at()
        wait_for(lambda: seen_at() > heartbeat, 30, "another record")
        assert len(warnings()) == 1
        assert "$SYS/broker/publish/messages/dropped" in warnings()[0]
    finally:
        worker.stop(forget_session=True)
        mosquitto.stop()
        intake.log.close()
