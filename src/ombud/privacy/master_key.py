"""The vault's master key: kept outside the database, in a 0600 file or the environment.

Threat model: the master key wraps every resident's data key, so whoever holds it and a copy of
the database reads every sealed payload. It lives in its own file (mode 0600, created once and
never overwritten) or in ``OMBUD_MASTER_KEY``, never in the settings or the database; its id (a
hash) may be shown, the key never. A rotation writes the new key to ``master.key.next`` first,
so a crash at any step is finished by the next open and a second rotation. A process that
opened the vault before a rotation reads the key files again when it needs the new key, and
never wraps a key under the old one (``Vault._current_master``).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ombud.errors import MasterKeyError
from ombud.keyfile import read_private_key, write_private_key

if TYPE_CHECKING:
    from ombud.privacy.vault import Vault

__all__ = [
    "MASTER_KEY_ENV",
    "MasterKey",
    "create_master_key",
    "load_master_keys",
    "rotate_master_key_file",
]

MASTER_KEY_ENV = "OMBUD_MASTER_KEY"
_KEY_SIZE = 32
_TEXT_PREFIX = "ombud-master-key-v1 "


@dataclass(frozen=True)
class MasterKey:
    """The key that wraps every subject key. Its id (a hash) may be shown; the key never."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) != _KEY_SIZE:
            raise MasterKeyError(f"a master key is {_KEY_SIZE} bytes")

    @property
    def key_id(self) -> str:
        return hashlib.sha256(b"ombud-master-key\0" + self.secret).hexdigest()[:16]

    @classmethod
    def generate(cls, random_bytes: Callable[[int], bytes] = os.urandom) -> MasterKey:
        return cls(random_bytes(_KEY_SIZE))

    def to_text(self) -> str:
        return _TEXT_PREFIX + base64.b64encode(self.secret).decode("ascii")

    @classmethod
    def from_text(cls, text: str, where: str) -> MasterKey:
        value = text.strip().removeprefix(_TEXT_PREFIX)
        try:
            secret = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise MasterKeyError(f"{where} does not hold a base64 master key") from None
        if len(secret) != _KEY_SIZE:
            raise MasterKeyError(f"{where} holds {len(secret)} bytes; a master key is 32")
        return cls(secret)


def create_master_key(path: Path, random_bytes: Callable[[int], bytes] = os.urandom) -> MasterKey:
    """A new master key in ``path`` (mode 0600, never overwriting a file)."""
    key = MasterKey.generate(random_bytes)
    try:
        write_private_key(path, key.to_text())
    except FileExistsError:
        raise MasterKeyError(f"{path} already exists; a master key is never overwritten") from None
    return key


def load_master_keys(path: Path, environ: Mapping[str, str]) -> list[MasterKey]:
    """The master keys to open the vault with: ``OMBUD_MASTER_KEY`` when set, else ``path``;
    then ``path.next`` when a rotation to it did not finish (the vault completes it)."""
    keys: list[MasterKey] = []
    if environ.get(MASTER_KEY_ENV):
        keys.append(MasterKey.from_text(environ[MASTER_KEY_ENV], MASTER_KEY_ENV))
    elif path.exists():
        keys.append(MasterKey.from_text(read_private_key(path), str(path)))
    else:
        raise MasterKeyError(
            f"no master key: {path} does not exist and {MASTER_KEY_ENV} is not set "
            "(`ombud privacy init-key` creates one)"
        )
    pending = _next_path(path)
    if pending.exists():
        keys.append(MasterKey.from_text(read_private_key(pending), str(pending)))
    return keys


def _next_path(path: Path) -> Path:
    return path.with_name(path.name + ".next")


def rotate_master_key_file(
    vault: Vault, path: Path, random_bytes: Callable[[int], bytes] = os.urandom
) -> tuple[MasterKey, int]:
    """Rotate the master key kept in ``path``: write the new key to ``path.next`` (0600),
    re-wrap under it, then rename it over ``path``. A crash at any step is finished by the next
    open (``load_master_keys`` offers ``path.next``) and a second rotation."""
    pending = _next_path(path)
    with _rotating(path):
        if pending.exists():
            new = MasterKey.from_text(read_private_key(pending), str(pending))
        else:
            new = create_master_key(pending, random_bytes)
        if new.key_id not in {k.key_id for k in vault.keys}:
            vault.keys = [*vault.keys, new]
        moved = vault.rewrap(new)
        os.replace(pending, path)
    return new, moved


@contextlib.contextmanager
def _rotating(path: Path) -> Iterator[None]:
    """One rotation of ``path`` at a time: another, begun meanwhile, is refused before it
    reads ``path.next`` (two would each create it, or both rename it over ``path``)."""
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MasterKeyError(
                f"another rotation of {path} is under way; run this one once it has finished"
            ) from None
        yield
    finally:
        os.close(fd)  # and with it the lock
