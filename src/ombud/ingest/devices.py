"""Devices: the sensors a city registered, each with its own signing key.

Threat model: a device's key is the only thing that makes its observations believable, so the
record binds key, device id, Smart Data Model type, coarse location and owner; a revoked
device stays on record (its past observations remain provable) but its later ones are refused.
Locations are coarse by construction — a district id or a grid cell, never an address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from ombud.errors import ForbiddenError, MalformedError
from ombud.ingest.models import MODELS
from ombud.integrity.multikey import DidKey

__all__ = ["Device", "DeviceStatus"]

_DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_AREA = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


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
        if not _DEVICE_ID.fullmatch(self.id):
            raise MalformedError(
                f"device id {self.id[:40]!r} must be 1-128 letters, digits and . _ : -"
            )
        if self.model not in MODELS:
            raise MalformedError(f"device type {self.model!r} is not one of {', '.join(MODELS)}")
        if not _AREA.fullmatch(self.district):
            raise MalformedError(
                f"district {self.district[:40]!r} must be a district or grid cell id "
                "(letters, digits, . _ -), never an address"
            )
        if not self.owner or len(self.owner) > 128:
            raise MalformedError("device owner must be 1-128 characters")

    def check_active(self) -> None:
        if self.status is not DeviceStatus.ACTIVE:
            raise ForbiddenError(f"device {self.id} is {self.status.value}")
