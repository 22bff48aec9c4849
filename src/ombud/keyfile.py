"""Private and public key files of logs and witnesses.

Threat model: a private key file is an identity. It is created with O_EXCL and mode 0600 (never
overwriting another key), refused when group- or world-readable (as ssh does), and its contents
never appear in errors or logs.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

from ombud.errors import ConfigError, MalformedError
from ombud.ledger import note

__all__ = ["read_signer", "read_verifier", "write_private_key"]


def write_private_key(path: Path, skey: str) -> None:
    """Create ``path`` with mode 0600 holding ``skey``; never overwrites an existing file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(skey + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_signer(path: Path, *, clock: Callable[[], float] = time.time) -> note.Signer:
    """The signer key in ``path``; ``clock`` timestamps its cosignatures (type 0x04 keys)."""
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"{path} is readable by others (mode {mode & 0o777:o}); chmod 600 it")
        return note.Signer.from_skey(path.read_text(encoding="ascii"), clock=clock)
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the key in {path}: {exc}") from exc
    except MalformedError as exc:
        raise ConfigError(f"{path} does not hold a signer key: {exc}") from exc


def read_verifier(path: Path) -> note.Verifier:
    try:
        return note.Verifier.from_vkey(path.read_text(encoding="ascii"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the verifier key in {path}: {exc}") from exc
