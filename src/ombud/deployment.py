"""A deployment's data directory: settings file, the log (origin and key) and its databases.

Threat model: initialising must never clobber an existing deployment or key, and every command
that takes ``--data-dir`` refuses a directory this did not create (``Settings.load``).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from ombud.config import SETTINGS_FILE, Settings
from ombud.errors import ConfigError
from ombud.ledger.logdir import init_log, is_log_dir

__all__ = ["default_origin", "init_deployment"]


def default_origin() -> str:
    """A unique placeholder origin; production deployments pass their own URL-like name."""
    return f"ombud.localhost/{secrets.token_hex(4)}"


def init_deployment(data_dir: Path, origin: str | None = None) -> str:
    """Create ``data_dir`` as a deployment; returns the log's verifier key."""
    if (data_dir / SETTINGS_FILE).exists() or is_log_dir(data_dir):
        raise ConfigError(f"{data_dir} is already initialised")
    if data_dir.exists() and any(data_dir.iterdir()):
        raise ConfigError(f"{data_dir} is not empty; initialise an empty or new directory")
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    vkey = init_log(data_dir, origin or default_origin()).vkey
    Settings(data_dir).save()
    return vkey
