"""The device registry over SQLite and PostgreSQL: its ledger events, refusals and validation."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ombud.database import Database
from ombud.dataintegrity.multikey import DidKey
from ombud.errors import AlreadyExistsError, MalformedError, NotFoundError
from ombud.events import Event
from ombud.ingest.devices import Device, DeviceRegistry, DeviceStatus
from ombud.ledger import note
from ombud.ledger.log import Log
from ombud.ledger.store_sql import SqlStore

NOW = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
ORIGIN = "t.example/log"


def clock() -> datetime:
    return NOW


def did(seed: int) -> DidKey:
    key = Ed25519PrivateKey.from_private_bytes(random.Random(seed).randbytes(32))
    return DidKey.from_key(key.public_key())


def device(device_id: str, seed: int, model: str = "NoiseLevelObserved") -> Device:
    return Device(device_id, did(seed), model, "D7", "city")


@pytest.fixture
def log(database: Database) -> Log:
    return Log(SqlStore.create(database, ORIGIN), note.Signer.generate(ORIGIN))


@pytest.fixture
def registry(database: Database, log: Log) -> Iterator[DeviceRegistry]:
    yield DeviceRegistry(database, log, clock=clock)


def test_add_writes_device_registered_at_the_returned_index(
    registry: DeviceRegistry, log: Log
) -> None:
    log.append_batch([b"something before"])
    noise = Device("noise-7", did(1), "NoiseLevelObserved", "D7", "acme-sensors")
    record = registry.add(noise, actor="token:abc")
    assert record.registered_index == 1 and log.size == 2
    assert record.revoked_index is None and record.last_counter is None
    event = Event.from_bytes(log.entry(record.registered_index))
    assert (event.kind, event.actor, event.at) == ("device.registered", "token:abc", NOW)
    assert dict(event.body) == {
        "v": 1,
        "device": "noise-7",
        "key": noise.key.did,
        "type": "NoiseLevelObserved",
        "district": "D7",
        "owner": "acme-sensors",
    }
    assert registry.get("noise-7") == record
    assert registry.by_key(noise.key) == noise
    assert registry.by_key(did(2)) is None


@pytest.mark.parametrize("clash", ["id", "key"])
def test_a_duplicate_id_or_key_is_refused_and_the_ledger_unchanged(
    registry: DeviceRegistry, log: Log, clash: str
) -> None:
    registry.add(device("noise-1", seed=1))
    size, root = log.size, log.state().root
    again = device("noise-1", seed=2) if clash == "id" else device("noise-2", seed=1)
    with pytest.raises(AlreadyExistsError, match=f"with this {clash}"):
        registry.add(again)
    assert (log.size, log.state().root) == (size, root)
    assert [d.device.id for d in registry.list()] == ["noise-1"]


def test_revoke_writes_device_revoked_and_only_once(registry: DeviceRegistry, log: Log) -> None:
    registry.add(device("noise-1", seed=1))
    record = registry.revoke("noise-1", "sensor stolen from pole 12")
    assert record.device.status is DeviceStatus.REVOKED
    assert record.revoked_index == log.size - 1
    event = Event.from_bytes(log.entry(log.size - 1))
    assert event.kind == "device.revoked" and event.actor == "operator"
    assert dict(event.body) == {"v": 1, "device": "noise-1", "reason": "sensor stolen from pole 12"}
    assert registry.get("noise-1").device.status is DeviceStatus.REVOKED
    assert registry.get("noise-1").registered_index == 0
    size = log.size
    with pytest.raises(AlreadyExistsError, match="already revoked"):
        registry.revoke("noise-1", "again")
    assert log.size == size
    with pytest.raises(AlreadyExistsError):  # a revoked id is never reused
        registry.add(device("noise-1", seed=3))
    with pytest.raises(MalformedError, match="reason"):
        registry.revoke("noise-1", "")


def test_revoking_an_unknown_device_is_not_found(registry: DeviceRegistry, log: Log) -> None:
    with pytest.raises(NotFoundError, match="ghost"):
        registry.revoke("ghost", "never existed")
    with pytest.raises(NotFoundError):
        registry.get("ghost")
    assert log.size == 0


def test_by_key_forgets_a_revoked_device(registry: DeviceRegistry) -> None:
    registry.add(device("noise-1", seed=1))
    cached = registry.by_key(did(1))
    assert cached is not None and cached.status is DeviceStatus.ACTIVE
    registry.revoke("noise-1", "broken")
    again = registry.by_key(did(1))
    assert again is not None and again.status is DeviceStatus.REVOKED


def test_list_is_sorted_by_id(registry: DeviceRegistry) -> None:
    for i, name in enumerate(["park-3", "air-9", "noise-1", "air-10"]):
        registry.add(device(name, seed=i))
    assert [d.device.id for d in registry.list()] == ["air-10", "air-9", "noise-1", "park-3"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("district", "12 Main Street, Apt 4", "never an address"),
        ("district", "Main St", "never an address"),
        ("district", "", "never an address"),
        ("owner", "Jane Doe", "not a person's name"),
        ("owner", "Doe, Jane", "not a person's name"),
        ("id", "has space", "device id"),
        ("model", "WeatherObserved", "not one of"),
    ],
)
def test_device_validation_refuses_addresses_names_and_unknown_types(
    field: str, value: str, message: str
) -> None:
    fields = {"id": "noise-1", "model": "NoiseLevelObserved", "district": "D7", "owner": "city"}
    fields[field] = value
    with pytest.raises(MalformedError, match=message):
        Device(fields["id"], did(1), fields["model"], fields["district"], fields["owner"])


def test_a_revoked_device_cannot_be_registered(registry: DeviceRegistry, log: Log) -> None:
    revoked = Device("noise-1", did(1), "NoiseLevelObserved", "D7", "city", DeviceStatus.REVOKED)
    with pytest.raises(MalformedError, match="registered active"):
        registry.add(revoked)
    assert log.size == 0 and list(registry.list()) == []
