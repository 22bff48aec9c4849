"""Intake over SQLite and PostgreSQL: verdicts, stored rows, their ledger events and atomicity."""

from __future__ import annotations

import base64
import copy
import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from ombud.canonical import canonical_json
from ombud.database import Database
from ombud.errors import (
    AlreadyExistsError,
    ForbiddenError,
    MalformedError,
    NotFoundError,
    ReplayError,
    StorageError,
    VerificationError,
)
from ombud.events import Event
from ombud.ingest.devices import DeviceRegistry
from ombud.ingest.fleet import SimulatedSensor, make_fleet, reading
from ombud.ingest.intake import Accepted, Duplicate, Intake, Refused
from ombud.ledger import merkle, note
from ombud.ledger.log import Log
from ombud.ledger.store_sql import SqlStore
from ombud.sensors.observations import ObservationStore
from ombud.sensors.quarantine import QuarantineStore

NOW = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
ORIGIN = "t.example/log"
NOISE = "NoiseLevelObserved"


def clock() -> datetime:
    return NOW


@dataclass
class City:
    log: Log
    registry: DeviceRegistry
    store: ObservationStore
    intake: Intake
    sensors: list[SimulatedSensor]

    def submit(self, *entities: object, **kwargs: Any) -> list[Any]:
        return self.intake.submit(list(entities), **kwargs)


def fleet(count: int, seed: int = 7, prefix: str = "sim") -> list[SimulatedSensor]:
    return list(make_fleet(count, random.Random(seed), clock=clock, models=(NOISE,), prefix=prefix))


@pytest.fixture
def city(database: Database) -> Iterator[City]:
    log = Log(SqlStore.create(database, ORIGIN), note.Signer.generate(ORIGIN))
    registry = DeviceRegistry(database, log, clock=clock)
    store = ObservationStore(database)
    sensors = fleet(3)
    for sensor in sensors:
        registry.add(sensor.device)
    intake = Intake(log, registry, store, quarantine=QuarantineStore(database), clock=clock)
    yield City(log, registry, store, intake, sensors)


def digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")


def refused_with(verdict: object, kind: type[Exception]) -> Exception:
    assert isinstance(verdict, Refused), verdict
    assert isinstance(verdict.error, kind), verdict.error
    return verdict.error


def test_an_accepted_observation_is_stored_with_its_ledger_event(city: City) -> None:
    sensor = city.sensors[0]
    entity = sensor.observe(NOW)
    size = city.log.size
    (verdict,) = city.submit(entity)
    assert isinstance(verdict, Accepted)
    assert verdict == Accepted(entity["id"], sensor.device.id, 1, size, True)
    stored = city.store.observation(sensor.device.id, 1)
    assert stored.ledger_index == verdict.ledger_index
    assert stored.canonical == canonical_json(entity)
    assert stored.entity() == entity
    assert stored.created == NOW
    assert city.store.latest(entity["id"]) == stored
    assert city.log.size == size + 1
    assert city.registry.get(sensor.device.id).last_counter == 1

    event = Event.from_bytes(city.log.entry(verdict.ledger_index))
    assert event.kind == "observation.accepted"
    assert event.actor == f"device:{sensor.device.id}"
    assert event.at == NOW
    body = dict(event.body)
    assert body["digest"] == digest(stored.canonical)
    assert (body["device"], body["counter"], body["entity"]) == (sensor.device.id, 1, entity["id"])
    assert (body["type"], body["district"]) == (NOISE, sensor.device.district)


def test_the_ledger_entry_of_an_observation_has_a_verifying_inclusion_proof(city: City) -> None:
    for sensor in city.sensors:
        city.submit(sensor.observe(NOW))
    device = city.sensors[1].device.id
    stored = city.store.observation(device, 1)
    size = city.log.size
    root = city.log.root_at(size)
    leaf = merkle.leaf_hash(city.log.entry(stored.ledger_index))
    proof = city.log.inclusion_proof(stored.ledger_index, size)
    merkle.verify_inclusion(leaf, stored.ledger_index, size, proof, root)
    with pytest.raises(VerificationError):  # the proof is of this leaf, not of another one
        other = merkle.leaf_hash(city.log.entry(stored.ledger_index - 1))
        merkle.verify_inclusion(other, stored.ledger_index, size, proof, root)


def test_a_replayed_observation_is_a_duplicate_and_stored_once(city: City) -> None:
    sensor = city.sensors[0]
    entity = sensor.observe(NOW)
    (first,) = city.submit(entity)
    assert isinstance(first, Accepted)
    count, size = city.store.count(), city.log.size
    (again,) = city.submit(copy.deepcopy(entity))
    assert again == Duplicate(entity["id"], sensor.device.id, 1)
    assert (city.store.count(), city.log.size) == (count, size)
    assert city.registry.get(sensor.device.id).last_counter == 1


def test_a_counter_that_goes_back_with_other_content_is_refused(city: City) -> None:
    sensor = city.sensors[0]
    sensor.signer.counter = 4
    city.submit(sensor.observe(NOW))  # counter 5
    count, size = city.store.count(), city.log.size
    sensor.signer.counter = 2
    older = sensor.observe(NOW)  # counter 3, never seen
    error = refused_with(city.submit(older)[0], ReplayError)
    assert "not above 5" in str(error)
    sensor.signer.counter = 4
    same_counter = sensor.observe(NOW)  # counter 5 again, other reading
    refused_with(city.submit(same_counter)[0], ReplayError)
    assert (city.store.count(), city.log.size) == (count, size)
    assert city.registry.get(sensor.device.id).last_counter == 5


def test_an_unknown_device_key_is_refused(city: City) -> None:
    (stranger,) = fleet(1, seed=99, prefix="stranger")
    size = city.log.size
    verdict = city.submit(stranger.observe(NOW))[0]
    refused_with(verdict, NotFoundError)
    assert isinstance(verdict, Refused) and verdict.entity_id == (
        f"urn:ngsi-ld:{NOISE}:{stranger.device.id}"
    )
    assert (city.store.count(), city.log.size) == (0, size)


def test_a_revoked_device_is_refused_and_its_past_stays(city: City) -> None:
    sensor = city.sensors[0]
    (first,) = city.submit(sensor.observe(NOW))
    assert isinstance(first, Accepted)
    city.registry.revoke(sensor.device.id, "stolen")
    size = city.log.size
    refused_with(city.submit(sensor.observe(NOW))[0], ForbiddenError)
    assert city.log.size == size and city.store.count() == 1
    assert city.store.observation(sensor.device.id, 1).ledger_index == first.ledger_index


def test_a_revocation_by_another_process_is_seen_inside_the_transaction(
    city: City, database: Database
) -> None:
    sensor = city.sensors[0]
    city.submit(sensor.observe(NOW))  # the intake's registry now caches the device as active
    other = DeviceRegistry(database, city.log, clock=clock)  # e.g. `ombud device revoke`
    other.revoke(sensor.device.id, "broken")
    error = refused_with(city.submit(sensor.observe(NOW))[0], ForbiddenError)
    assert "revoked" in str(error)
    assert city.store.count() == 1


def test_a_device_cannot_write_another_devices_entity(city: City) -> None:
    a, b = city.sensors[0], city.sensors[1]
    (created,) = city.submit(b.observe(NOW))
    assert isinstance(created, Accepted)
    hijack = a.signer.sign(reading(NOISE, b.device.id, b.device.district, NOW, random.Random(3)))
    assert hijack["id"] == created.entity_id
    error = refused_with(city.submit(hijack)[0], ForbiddenError)
    assert b.device.id in str(error)
    assert city.store.latest(created.entity_id).device == b.device.id
    assert city.store.count() == 1


def test_create_only_refuses_an_existing_entity(city: City) -> None:
    sensor = city.sensors[0]
    (first,) = city.submit(sensor.observe(NOW), create_only=True)
    assert isinstance(first, Accepted) and first.created_entity
    refused_with(city.submit(sensor.observe(NOW), create_only=True)[0], AlreadyExistsError)
    assert city.store.count() == 1
    (update,) = city.submit(sensor.observe(NOW))  # an upsert of the same entity is fine
    assert isinstance(update, Accepted) and not update.created_entity
    assert update.counter == 3


def test_a_batch_gets_one_verdict_per_entity_in_order(city: City) -> None:
    a, b, c = city.sensors
    good1 = a.observe(NOW)
    tampered = b.observe(NOW)
    tampered["LAeq"]["value"] += 1
    good2 = c.observe(NOW)
    (stranger,) = fleet(1, seed=5, prefix="x")
    size = city.log.size
    verdicts = city.submit(good1, tampered, 42, good2, stranger.observe(NOW))
    assert len(verdicts) == 5
    assert isinstance(verdicts[0], Accepted) and verdicts[0].device == a.device.id
    refused_with(verdicts[1], VerificationError)
    refused_with(verdicts[2], MalformedError)
    assert isinstance(verdicts[3], Accepted) and verdicts[3].device == c.device.id
    refused_with(verdicts[4], NotFoundError)
    assert [verdicts[0].ledger_index, verdicts[3].ledger_index] == [size, size + 1]
    assert city.log.size == size + 2
    assert sorted(o.device for o in city.store) == sorted([a.device.id, c.device.id])
    with pytest.raises(NotFoundError):
        city.store.observation(b.device.id, 1)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_a_large_batch_checked_on_threads_keeps_its_order(city: City, threads: int) -> None:
    """Batches of 64 or more are checked on several threads; verdicts stay in input order."""
    quarantine = QuarantineStore(city.store.db)
    intake = Intake(
        city.log, city.registry, city.store, quarantine=quarantine, clock=clock, threads=threads
    )
    entities: list[object] = []
    for i in range(150):
        entity = city.sensors[i % 3].observe(NOW)
        if i % 7 == 3:
            entity["LAeq"]["value"] += 1  # tampered: refused, and the device moves on
        entities.append(entity)
    verdicts = intake.submit(entities)
    assert len(verdicts) == 150
    for i, verdict in enumerate(verdicts):
        if i % 7 == 3:
            refused_with(verdict, VerificationError)
        else:
            assert isinstance(verdict, Accepted), (i, verdict)
            assert verdict.device == city.sensors[i % 3].device.id
    indexes = [v.ledger_index for v in verdicts if isinstance(v, Accepted)]
    assert indexes == sorted(indexes) and len(set(indexes)) == len(indexes)


def test_an_entity_sent_as_another_device_is_refused(city: City) -> None:
    a, b = city.sensors[0], city.sensors[1]
    verdicts = city.submit(a.observe(NOW), b.observe(NOW), sent_by=[a.device.id, a.device.id])
    assert isinstance(verdicts[0], Accepted)
    error = refused_with(verdicts[1], ForbiddenError)
    assert b.device.id in str(error)
    assert city.store.count() == 1


def test_a_failed_record_step_writes_nothing_and_a_retry_succeeds(
    city: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    sensor = city.sensors[0]
    city.submit(sensor.observe(NOW))
    entity = sensor.observe(NOW)  # counter 2
    size, count, root = city.log.size, city.store.count(), city.log.root_at(city.log.size)
    original = ObservationStore.insert

    def fail(tx: object, rows: object) -> None:
        raise StorageError("disk full")

    monkeypatch.setattr(ObservationStore, "insert", staticmethod(fail))
    with pytest.raises(StorageError):
        city.submit(entity)
    assert (city.log.size, city.log.state().size, city.store.count()) == (size, size, count)
    assert city.log.state().root == root
    assert city.registry.get(sensor.device.id).last_counter == 1
    with pytest.raises(NotFoundError):
        city.store.observation(sensor.device.id, 2)

    monkeypatch.setattr(ObservationStore, "insert", staticmethod(original))
    (verdict,) = city.submit(entity)
    assert isinstance(verdict, Accepted) and verdict.ledger_index == size
    assert city.registry.get(sensor.device.id).last_counter == 2
    assert Event.from_bytes(city.log.entry(size)).body["counter"] == 2


def test_the_same_observation_twice_in_one_batch_is_accepted_once(city: City) -> None:
    entity = city.sensors[0].observe(NOW)
    first, second = city.submit(entity, copy.deepcopy(entity))
    assert isinstance(first, Accepted)
    assert second == Duplicate(entity["id"], city.sensors[0].device.id, 1)
    assert city.store.count() == 1 and city.log.size == first.ledger_index + 1


@pytest.mark.parametrize("bad_id", ["urn:ngsi-ld:NoiseLevelObserved:pole 12", "urn:ngsi-ld:x:\0"])
def test_an_entity_id_that_is_not_a_uri_is_refused(city: City, bad_id: str) -> None:
    sensor = city.sensors[0]
    d = sensor.device
    entity = sensor.signer.sign(
        {**reading(NOISE, d.id, d.district, NOW, random.Random(1)), "id": bad_id}
    )
    (verdict,) = city.submit(entity)
    refused_with(verdict, MalformedError)
    assert city.store.count() == 0


HOSTILE = [
    ("id", f"urn:ngsi-ld:{NOISE}:caf€"),
    ("id", f"urn:ngsi-ld:{NOISE}:a\r\nb"),
    ("id", f"urn:ngsi-ld:{NOISE}:<x>"),
    ("id", f"urn:ngsi-ld:{NOISE}:" + "x" * 300),
    ("@context", "https://example.org/ctx€.jsonld"),
    ("@context", "https://example.org/ctx.jsonld\r\nSet-Cookie: a=b"),
    ("@context", ["https://example.org/ctx.jsonld", "https://example.org/a b"]),
    ("@context", {"@vocab": "https://example.org/"}),
    ("@context", []),
]


@pytest.mark.parametrize(("member", "value"), HOSTILE, ids=range(len(HOSTILE)))
def test_over_mqtt_an_id_or_context_that_is_no_uri_is_refused_and_leaves_nothing(
    city: City, member: str, value: object
) -> None:
    """Findings #3 and #4 on MQTT's path: the intake itself refuses what HTTP refuses, so a
    message on ``ombud/v1/<device>/attrs`` cannot store what would break the public reads."""
    sensor = city.sensors[0]
    d = sensor.device
    entity = sensor.signer.sign(
        {**reading(NOISE, d.id, d.district, NOW, random.Random(1)), member: value}
    )
    size = city.log.size
    (verdict,) = city.submit(entity, sent_by=[d.id], reorder_window=64)  # as mqtt.py calls it
    error = refused_with(verdict, MalformedError)
    assert member in str(error) or "entity id" in str(error)
    assert "\r" not in str(error) and "\n" not in str(error)  # safe to log as it is
    assert (city.store.count(), city.log.size) == (0, size)
    assert city.registry.get(d.id).last_counter is None
    (retry,) = city.submit(sensor.observe(NOW), sent_by=[d.id], reorder_window=64)
    assert isinstance(retry, Accepted)
