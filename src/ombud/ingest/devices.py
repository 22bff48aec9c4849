"""Devices: the sensors a city registered, each with its own signing key, and their registry.

Threat model: a device's key is the only thing that makes its observations believable, so the
record binds key, device id, Smart Data Model type, coarse location and owner; a revoked
device stays on record (its past observations remain provable) but its later ones are refused.
Locations are coarse by construction — a district id or a grid cell, never an address — and
the owner is an organisation or account id, not a name. Registration and revocation are ledger
events written in the same transaction as the registry row, so the registry cannot change
without the ledger showing it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from ombud.database import Database, Tx
from ombud.dataintegrity.multikey import DidKey
from ombud.districts import is_district
from ombud.errors import AlreadyExistsError, ForbiddenError, MalformedError, NotFoundError
from ombud.events import Event
from ombud.ingest.models import MODELS
from ombud.ledger.log import Attachment, Log

__all__ = [
    "DEVICE_ID",
    "RESIDENT_OWNER",
    "Device",
    "DeviceRegistry",
    "DeviceStatus",
    "RegisteredDevice",
]

DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
RESIDENT_OWNER = "resident"
"""The owner of a device a resident hosts, in the registry and on the ledger; who the resident
is lives in the vault only, and the device's observations must be coarse
(``observation.check_coarse``)."""
_OWNER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class DeviceStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


@dataclass(frozen=True)
class Device:
    """One registered sensor."""

    id: str
    key: DidKey
    model: str
    """The Smart Data Model its observations are entities of."""
    district: str
    """A district id or a grid cell id: coarse by construction."""
    owner: str
    status: DeviceStatus = DeviceStatus.ACTIVE

    def __post_init__(self) -> None:
        if not DEVICE_ID.fullmatch(self.id):
            raise MalformedError(
                f"device id {self.id[:40]!r} must be 1-128 letters, digits and . _ : -"
            )
        if self.model not in MODELS:
            raise MalformedError(f"device type {self.model!r} is not one of {', '.join(MODELS)}")
        if not is_district(self.district):
            raise MalformedError(
                f"district {self.district[:40]!r} must be a district or grid cell id "
                "(letters, digits, . _ -), never an address"
            )
        if not _OWNER.fullmatch(self.owner):
            raise MalformedError(
                f"device owner {self.owner[:40]!r} must be an organisation or account id "
                "(letters, digits, . _ -), not a person's name"
            )

    def check_active(self) -> None:
        if self.status is not DeviceStatus.ACTIVE:
            raise ForbiddenError(f"device {self.id} is {self.status.value}")


@dataclass(frozen=True)
class RegisteredDevice:
    """A device as the registry holds it: the record, and the ledger events about it."""

    device: Device
    registered_index: int
    revoked_index: int | None
    last_counter: int | None
    """The counter of its last accepted observation."""

    def to_json(self) -> dict[str, Any]:
        d = self.device
        return {
            "id": d.id,
            "type": d.model,
            "key": d.key.did,
            "district": d.district,
            "owner": d.owner,
            "status": d.status.value,
            "registeredIndex": self.registered_index,
            "revokedIndex": self.revoked_index,
            "lastCounter": self.last_counter,
        }


_COLUMNS = "id, did, model, district, owner, status, registered_index, revoked_index, last_counter"


def _row(row: tuple[Any, ...]) -> RegisteredDevice:
    id_, did, model, district, owner, status, registered, revoked, last = row
    device = Device(id_, DidKey.parse(did), model, district, owner, DeviceStatus(status))
    return RegisteredDevice(device, registered, revoked, last)


class DeviceRegistry:
    """The devices of a deployment, in its database, changed only together with the ledger."""

    def __init__(self, db: Database, log: Log, *, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.log = log
        self._clock = clock
        self._by_did: dict[str, Device] = {}
        self._cache_lock = threading.Lock()

    def add(
        self, device: Device, *, actor: str = "operator", attach: Attachment | None = None
    ) -> RegisteredDevice:
        """Register ``device``; ``device.registered`` goes on the ledger in the same commit,
        with what ``attach`` adds (the owner's details sealed in the vault, for a device
        hosted at a resident's home)."""
        if device.status is not DeviceStatus.ACTIVE:
            raise MalformedError("a device is registered active")
        event = Event(
            "device.registered",
            self._clock(),
            actor,
            {
                "v": 1,
                "device": device.id,
                "key": device.key.did,
                "type": device.model,
                "district": device.district,
                "owner": device.owner,
            },
        ).to_bytes()

        def check(tx: Tx) -> list[bytes]:
            rows = tx.execute(
                "SELECT id FROM devices WHERE id = ? OR did = ?", (device.id, device.key.did)
            )
            if rows:
                what = "id" if rows[0][0] == device.id else "key"
                raise AlreadyExistsError(
                    f"a device with this {what} is already registered ({rows[0][0]}); "
                    "a key belongs to one device and a revoked id is never reused"
                )
            if attach is None:
                return [event]
            entries, record_attached = attach(tx, device)
            attached.append(record_attached)
            return [event, *entries]

        attached: list[Callable[[Tx, int], None]] = []

        def record(tx: Tx, index: int) -> None:
            for record_attached in attached:
                record_attached(tx, index + 1)
            tx.execute(
                f"INSERT INTO devices ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
                (
                    device.id,
                    device.key.did,
                    device.model,
                    device.district,
                    device.owner,
                    device.status.value,
                    index,
                ),
            )

        index = self.log.append_with(check, record)
        return RegisteredDevice(device, index, None, None)

    def revoke(self, device_id: str, reason: str, *, actor: str = "operator") -> RegisteredDevice:
        """Revoke a device: its later observations are refused; ``device.revoked`` is logged."""
        if not 0 < len(reason) <= 500:
            raise MalformedError("a revocation carries a reason of 1-500 characters")
        event = Event(
            "device.revoked", self._clock(), actor, {"v": 1, "device": device_id, "reason": reason}
        ).to_bytes()

        def check(tx: Tx) -> list[bytes]:
            rows = tx.execute("SELECT status FROM devices WHERE id = ?", (device_id,))
            if not rows:
                raise NotFoundError(f"no device {device_id!r} is registered")
            if rows[0][0] == DeviceStatus.REVOKED.value:
                raise AlreadyExistsError(f"device {device_id} is already revoked")
            return [event]

        def record(tx: Tx, index: int) -> None:
            tx.execute(
                "UPDATE devices SET status = ?, revoked_index = ? WHERE id = ?",
                (DeviceStatus.REVOKED.value, index, device_id),
            )

        self.log.append_with(check, record)
        with self._cache_lock:
            self._by_did = {k: d for k, d in self._by_did.items() if d.id != device_id}
        return self.get(device_id)

    @staticmethod
    def states_in(tx: Tx, device_ids: Iterable[str]) -> dict[str, tuple[str, int | None]]:
        """Status and last accepted counter of each of ``device_ids`` that is registered, read
        in the caller's transaction (the intake checks and advances counters under one lock)."""
        ids = sorted(set(device_ids))
        if not ids:
            return {}
        marks = ", ".join("?" * len(ids))
        rows = tx.execute(
            f"SELECT id, status, last_counter FROM devices WHERE id IN ({marks})", ids
        )
        return {row[0]: (row[1], row[2]) for row in rows}

    @staticmethod
    def advance_in(tx: Tx, last: Mapping[str, int]) -> None:
        """Record the highest counter accepted of each device (never moving one back)."""
        tx.executemany(
            "UPDATE devices SET last_counter = ? "
            "WHERE id = ? AND (last_counter IS NULL OR last_counter < ?)",
            [(counter, device, counter) for device, counter in last.items()],
        )

    def get(self, device_id: str) -> RegisteredDevice:
        if not DEVICE_ID.fullmatch(device_id):
            raise NotFoundError(f"no device {device_id[:40]!r} is registered")
        rows = self.db.read(f"SELECT {_COLUMNS} FROM devices WHERE id = ?", (device_id,))
        if not rows:
            raise NotFoundError(f"no device {device_id!r} is registered")
        return _row(rows[0])

    def by_key(self, key: DidKey) -> Device | None:
        """The device registered with ``key`` (cached: whether it is still active is checked
        again, inside the transaction that stores its observation)."""
        device = self._by_did.get(key.did)
        if device is None:
            rows = self.db.read(f"SELECT {_COLUMNS} FROM devices WHERE did = ?", (key.did,))
            if not rows:
                return None
            device = _row(rows[0]).device
            with self._cache_lock:
                self._by_did[key.did] = device
        return device

    def list(self) -> Iterator[RegisteredDevice]:
        for row in self.db.read(f"SELECT {_COLUMNS} FROM devices ORDER BY id"):
            yield _row(row)
