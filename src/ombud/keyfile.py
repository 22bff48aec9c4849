"""Private key files: of logs, witnesses and devices.

Threat model: a private key file is an identity. It is created with O_EXCL and mode 0600 (never
overwriting another key), refused when group- or world-readable (as ssh does), and its contents
never appear in errors or logs.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ombud.errors import ConfigError

__all__ = ["read_private_key", "write_private_key"]


def write_private_key(path: Path, skey: str) -> None:
    """Create ``path`` with mode 0600 holding ``skey``; never overwrites an existing file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(skey + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_private_key(path: Path) -> str:
    """The text of a private key file, refused when others can read it."""
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"{path} is readable by others (mode {mode & 0o777:o}); chmod 600 it")
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the key in {path}: {exc}") from exc
