"""The device's side: sign observations with the device key and a strictly increasing counter.

Threat model: this runs on (or for) the sensor. Its secret key lives in a mode-0600 file as a
Multikey string and is never printed; the counter only grows, so a captured message cannot be
replayed, and the signing time comes from the clock passed in.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ombud.clock import utc_now
from ombud.dataintegrity.eddsa_jcs_2022 import ProofOptions, sign_document
from ombud.dataintegrity.multikey import DidKey, secret_key_from_multibase, secret_key_multibase
from ombud.errors import ConfigError, MalformedError
from ombud.keyfile import read_private_key, write_private_key

__all__ = ["DeviceSigner", "generate_device_key", "read_device_key"]


def generate_device_key(path: Path, *, random_bytes: Callable[[int], bytes] = os.urandom) -> DidKey:
    """Write a new device secret key to ``path`` (mode 0600, never overwritten); its did:key."""
    key = Ed25519PrivateKey.from_private_bytes(random_bytes(32))
    try:
        write_private_key(path, secret_key_multibase(key))
    except FileExistsError:
        raise ConfigError(f"{path} already exists; a device key is never overwritten") from None
    return DidKey.from_key(key.public_key())


def read_device_key(path: Path) -> Ed25519PrivateKey:
    try:
        return secret_key_from_multibase(read_private_key(path))
    except MalformedError as exc:
        raise ConfigError(f"{path} does not hold a device key: {exc}") from exc


class DeviceSigner:
    """Signs a device's observations: eddsa-jcs-2022, its did:key, counter as the nonce."""

    def __init__(
        self,
        key: Ed25519PrivateKey,
        *,
        counter: int = 0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if counter < 0:
            raise MalformedError("a device counter starts at 0 or above")
        self._key = key
        self.did = DidKey.from_key(key.public_key())
        self.counter = counter
        """The counter of the last observation signed."""
        self._clock = clock

    def sign(self, entity: Mapping[str, Any]) -> dict[str, Any]:
        """``entity`` with a proof; each call uses the next counter."""
        self.counter += 1
        created = self._clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        options = ProofOptions(self.did.verification_method, created, nonce=str(self.counter))
        return sign_document(entity, self._key, options)

    def __repr__(self) -> str:
        return f"DeviceSigner(did={self.did.did!r}, counter={self.counter})"
