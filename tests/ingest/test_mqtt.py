"""MQTT ingest against the real Mosquitto at OMBUD_TEST_MQTT_URL: QoS 1, shared subscriptions,
idempotent redelivery, refusals acknowledged and logged."""

from __future__ import annotations

import json
import os
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from ombud.deployment import Deployment, init_deployment
from ombud.ingest.fleet import SimulatedSensor, make_fleet
from ombud.ingest.intake import Intake
from ombud.ingest.mqtt import MqttIngest, _Message, parse_broker, topic_for


def broker_url() -> str:
    url = os.environ.get("OMBUD_TEST_MQTT_URL")
    if not url:
        pytest.skip("OMBUD_TEST_MQTT_URL is not set (.ci/run sets it): no MQTT test")
    return url


def now() -> datetime:
    return datetime.now(UTC)


def deployment(tmp_path: Path, database_url: str = "") -> tuple[Intake, list[SimulatedSensor]]:
    data_dir = tmp_path / "city"
    init_deployment(data_dir, "mqtt.example/log", database_url=database_url)
    intake = Deployment.open(data_dir, with_key=False, clock=now).intake
    fleet = list(make_fleet(5, random.Random(7), clock=now, prefix=f"m{secrets.token_hex(3)}"))
    for sensor in fleet:
        intake.registry.add(sensor.device)
    return intake, fleet


class Publisher:
    """A device-side MQTT client publishing with QoS 1 on a persistent session."""

    def __init__(self, url: str) -> None:
        host, port = parse_broker(url)
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"test-pub-{secrets.token_hex(4)}",
            clean_session=False,
        )
        self.client.max_queued_messages_set(0)  # unbounded: queue while the broker is away
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.on_publish = self._on_publish
        self.client.connect(host, port)
        self.client.loop_start()
        self.mids: list[int] = []
        self.acknowledged: set[int] = set()
        self._lock = threading.Lock()

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int, *_: object) -> None:
        with self._lock:
            self.acknowledged.add(mid)  # the broker's PUBACK: now the broker answers for it

    def publish(self, device_id: str, payload: bytes) -> None:
        # While the broker is away, paho queues QoS 1 messages and sends them on reconnecting.
        self.mids.append(self.client.publish(topic_for(device_id), payload, qos=1).mid)

    def wait_acknowledged(self, timeout: float = 60) -> None:
        def done() -> bool:
            with self._lock:
                return self.acknowledged.issuperset(self.mids)

        wait_for(done, timeout, "the broker to acknowledge every message")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def worker_group() -> str:
    return f"test{secrets.token_hex(4)}"


@pytest.fixture
def publisher() -> Iterator[Publisher]:
    pub = Publisher(broker_url())
    yield pub
    pub.close()


def test_observations_are_stored_once_and_refusals_acknowledged(
    tmp_path: Path, publisher: Publisher, worker_group: str
) -> None:
    intake, fleet = deployment(tmp_path)
    worker = MqttIngest(intake, broker_url(), group=worker_group)
    worker.start()
    try:
        sent = []
        for round_ in range(10):
            for sensor in fleet:
                entity = sensor.observe(now())
                payload = json.dumps(entity).encode()
                publisher.publish(sensor.device.id, payload)
                sent.append((sensor.device.id, sensor.signer.counter))
                if round_ == 3:  # QoS 1 may deliver twice: the very same message again
                    publisher.publish(sensor.device.id, payload)
        victim = fleet[0]
        forged = fleet[1].observe(now())  # signed by device 1, sent on device 0's topic
        publisher.publish(victim.device.id, json.dumps(forged).encode())
        publisher.publish(victim.device.id, b'{"id": "urn:x:y", "LAeq": NaN}')
        publisher.publish(victim.device.id, b"[" * 50 + b"]" * 50)
        publisher.wait_acknowledged()
        total = len(sent) + len(fleet) + 3
        wait_for(lambda: worker.stats.received >= total, 30, "every message handled")
    finally:
        worker.stop(forget_session=True)
    stats = worker.stats
    assert (stats.accepted, stats.duplicates, stats.refused) == (50, 5, 3)
    assert intake.store.count() == 50
    stored = {(o.device, o.counter) for o in intake.store}
    assert stored == set(sent)
    for device_id, counter in sent:
        assert intake.store.observation(device_id, counter).ledger_index >= len(fleet)
    intake.log.close()


def test_a_shared_subscription_splits_the_load(
    tmp_path: Path, publisher: Publisher, worker_group: str
) -> None:
    intake, fleet = deployment(tmp_path)
    workers = [
        MqttIngest(intake, broker_url(), group=worker_group, client_id=f"{worker_group}-{i}")
        for i in range(2)
    ]
    for worker in workers:
        worker.start()
    try:
        for _ in range(40):
            for sensor in fleet:
                publisher.publish(sensor.device.id, json.dumps(sensor.observe(now())).encode())
        publisher.wait_acknowledged()
        wait_for(lambda: sum(w.stats.received for w in workers) >= 200, 30, "all messages")
    finally:
        for worker in workers:
            worker.stop(forget_session=True)
    assert all(w.stats.received > 0 for w in workers), "one worker got nothing"
    assert sum(w.stats.accepted for w in workers) == 200
    assert intake.store.count() == 200
    intake.log.close()


def test_an_unreachable_broker_is_a_clear_error(tmp_path: Path) -> None:
    from ombud.errors import UnavailableError
    from ombud.witness.local import free_port

    intake, _ = deployment(tmp_path)
    with pytest.raises(UnavailableError, match="cannot reach the broker"):
        MqttIngest(intake, f"mqtt://127.0.0.1:{free_port()}").start(timeout=2)
    intake.log.close()


def test_messages_wait_for_a_worker_that_was_down(
    tmp_path: Path, publisher: Publisher, worker_group: str
) -> None:
    """A persistent session: what arrives while the worker is stopped is delivered later."""
    intake, fleet = deployment(tmp_path)
    client_id = f"ombud-test-{secrets.token_hex(4)}"
    first = MqttIngest(intake, broker_url(), group=worker_group, client_id=client_id)
    first.start()
    first.stop()
    for sensor in fleet:
        publisher.publish(sensor.device.id, json.dumps(sensor.observe(now())).encode())
    publisher.wait_acknowledged()
    second = MqttIngest(intake, broker_url(), group=worker_group, client_id=client_id)
    second.start()
    try:
        wait_for(lambda: intake.store.count() == len(fleet), 30, "queued messages delivered")
    finally:
        second.stop(forget_session=True)
    intake.log.close()


def test_a_restarted_worker_resumes_its_own_session(tmp_path: Path, worker_group: str) -> None:
    """Without --client-id the id is stable, so a restart does not leave a session behind in
    the group (which would be handed every other message, for nobody)."""
    intake, _ = deployment(tmp_path)
    first = MqttIngest(intake, broker_url(), group=worker_group)
    second = MqttIngest(intake, broker_url(), group=worker_group)
    other_group = MqttIngest(intake, broker_url(), group=worker_group + "x")
    assert first.client_id == second.client_id != other_group.client_id
    intake.log.close()


def test_the_simulator_publishes_signed_observations_over_mqtt(
    tmp_path: Path, worker_group: str
) -> None:
    from tests.conftest import ombud

    url = broker_url()
    data_dir = tmp_path / "city"
    init_deployment(data_dir, "sim.example/log")
    intake = Deployment.open(data_dir, with_key=False, clock=now).intake
    worker = MqttIngest(intake, url, group=worker_group, client_id=f"{worker_group}-w")
    worker.start()
    try:
        result = ombud(
            "simulate", "sensors", "--target", url, "--devices", "4", "--count", "40",
            "--rate", "0", "--data-dir", data_dir, "--seed", "11",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "4 devices: 40 observations published" in result.stdout
        wait_for(lambda: intake.store.count() == 40, 30, "the simulated observations")
    finally:
        worker.stop(forget_session=True)
    assert worker.stats.refused == 0
    assert len({o.device for o in intake.store}) == 4
    intake.log.close()


def test_a_message_carries_at_most_max_entities_and_a_submission_no_more(tmp_path: Path) -> None:
    """One MQTT message of 1 MiB could carry 349,000 entities, each parsed and handed to the
    intake (7 GB of memory for ten, and a minute before the next honest reading): a message
    over the cap is refused whole and acknowledged, and the entities of several messages are
    stored in submissions of at most the cap, as the HTTP API's batches. No broker needed."""
    intake, fleet = deployment(tmp_path)
    worker = MqttIngest(intake, "mqtt://127.0.0.1:1", max_entities=4, watch_broker=False)
    acked: list[int] = []
    worker.client.ack = lambda mid, qos: acked.append(mid)  # type: ignore[method-assign]
    sizes: list[int] = []
    submit = intake.submit

    def counted(entities: list[object], **kwargs: object) -> object:
        sizes.append(len(entities))
        return submit(entities, **kwargs)  # type: ignore[arg-type]

    intake.submit = counted  # type: ignore[method-assign]
    sensor = fleet[0]
    topic = topic_for(sensor.device.id)
    flood = json.dumps([{}] * 5).encode()
    three = json.dumps([sensor.observe(now()) for _ in range(3)]).encode()
    two = json.dumps([sensor.observe(now()) for _ in range(2)]).encode()
    worker._handle(
        [_Message(1, 1, topic, flood), _Message(2, 1, topic, three), _Message(3, 1, topic, two)]
    )
    assert sorted(acked) == [1, 2, 3]  # all acknowledged, the refused one too
    assert sizes == [3, 2]  # 3 + 2 > 4: two submissions; the flood never reached the intake
    assert (worker.stats.accepted, worker.stats.refused) == (5, 1)
    assert worker.stats.refusals == {"MalformedError": 1}
    assert intake.store.count() == 5
    intake.log.close()


def test_refusals_are_counted_by_kind_not_by_what_the_sender_wrote(tmp_path: Path) -> None:
    """A public observation replayed on topics naming made-up devices is refused each time; the
    refusal's text quotes the topic, and counting by that text kept one entry per message (a
    flood grew the worker's memory without bound). No broker needed."""
    intake, fleet = deployment(tmp_path)
    worker = MqttIngest(intake, "mqtt://127.0.0.1:1", watch_broker=False)
    acked: list[int] = []
    worker.client.ack = lambda mid, qos: acked.append(mid)  # type: ignore[method-assign]
    observation = json.dumps(fleet[0].observe(now())).encode()
    worker._handle(
        [_Message(mid, 1, topic_for(f"other{mid:04d}"), observation) for mid in range(1, 51)]
    )
    assert sorted(acked) == list(range(1, 51))
    assert worker.stats.refused == 50
    assert worker.stats.refusals == {"ForbiddenError": 50}
    assert intake.store.count() == 0
    intake.log.close()


def test_a_message_that_fails_unexpectedly_alone_is_refused_and_the_worker_goes_on(
    tmp_path: Path,
) -> None:
    """A batch that fails with an unexpected error is narrowed down entity by entity; a batch of
    one such entity (one message on a quiet broker) raised instead, which ended the worker's
    thread: nothing more was consumed. No broker needed."""
    intake, fleet = deployment(tmp_path)
    worker = MqttIngest(intake, "mqtt://127.0.0.1:1", watch_broker=False)
    acked: list[int] = []
    worker.client.ack = lambda mid, qos: acked.append(mid)  # type: ignore[method-assign]
    submit = intake.submit

    def failing(entities: list[object], **kwargs: object) -> object:
        if any(isinstance(e, dict) and e.get("poison") for e in entities):
            raise RuntimeError("a bug")
        return submit(entities, **kwargs)  # type: ignore[arg-type]

    intake.submit = failing  # type: ignore[method-assign]
    sensor = fleet[0]
    topic = topic_for(sensor.device.id)
    worker._handle([_Message(1, 1, topic, json.dumps({"poison": True}).encode())])
    worker._handle([_Message(2, 1, topic, json.dumps(sensor.observe(now())).encode())])
    assert acked == [1, 2]
    assert (worker.stats.accepted, worker.stats.refused) == (1, 1)
    assert intake.store.count() == 1
    intake.log.close()


def _received(mid: int, qos: int, payload: bytes) -> mqtt.MQTTMessage:
    message = mqtt.MQTTMessage(mid, topic_for("flood").encode())
    message.qos, message.payload = qos, payload
    return message


def test_a_qos0_flood_is_shed_past_the_queue_bound_and_qos1_waits_for_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker bounds the QoS 1 messages in flight to a worker, not QoS 0 ones: a flood of
    1 MB QoS 0 messages grew the worker's queue by about 100 MB a second, without bound, while
    it parsed 50 a second. Past ``MAX_QUEUED_BYTES`` a QoS 0 message is shed, and a QoS 1 one
    (acknowledged only once stored) waits for room instead. No broker needed."""
    import ombud.ingest.mqtt as mqtt_ingest

    monkeypatch.setattr(mqtt_ingest, "MAX_QUEUED_BYTES", 10_000)
    intake, _ = deployment(tmp_path)
    worker = MqttIngest(intake, "mqtt://127.0.0.1:1", watch_broker=False)
    for mid in range(100):
        worker._on_message(worker.client, None, _received(mid, 0, b"x" * 1000))
    assert worker._queue.qsize() == 10
    assert worker.stats.shed == 90
    late = threading.Thread(
        target=worker._on_message, args=(worker.client, None, _received(500, 1, b"y" * 1000))
    )
    late.start()
    late.join(0.5)
    assert late.is_alive() and worker._queue.qsize() == 10  # waiting, not queued over the bound
    taken = worker._queue.get()
    assert taken is not None
    worker._taken(taken)
    late.join(30)
    assert not late.is_alive()
    queued = [worker._queue.get_nowait() for _ in range(worker._queue.qsize())]
    assert [m.mid for m in queued if m is not None][-1] == 500  # waited, not shed
    assert worker.stats.shed == 90
    for message in queued:  # room taken by nobody, and a QoS 1 message waits again...
        worker._taken(message)
    for mid in range(600, 610):
        worker._on_message(worker.client, None, _received(mid, 0, b"z" * 1000))
    blocked = threading.Thread(
        target=worker._on_message, args=(worker.client, None, _received(700, 1, b"w" * 1000))
    )
    blocked.start()
    blocked.join(0.5)
    assert blocked.is_alive()
    worker.stop()  # ...until the worker stops, which releases it
    blocked.join(30)
    assert not blocked.is_alive()
    intake.log.close()
