"""A deployment's data directory: settings file, the log (origin and key) and its database.

Threat model: initialising must never clobber an existing deployment or key, and every command
that takes ``--data-dir`` refuses a directory this did not create (``Settings.load``). A log is
opened with its deployment's settings, so a log with a witness policy is never opened as one
that may publish unwitnessed. Changing whose cosignatures publishing waits for is itself
recorded on the ledger, so a quietly weakened witness policy shows in the log.

``open_log`` is on the hot path of ``ombud log append`` (timed with process start): what only
creating, migrating or re-configuring a deployment needs is imported there.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import replace
from pathlib import Path

from ombud.clock import Clock, utc_now
from ombud.config import SETTINGS_FILE, Settings, StorageSettings
from ombud.database import Database
from ombud.errors import ConfigError
from ombud.ledger.log import Log
from ombud.ledger.logdir import init_log, is_log_dir, open_database_at, open_log_dir
from ombud.witness.policy import WitnessPolicy

__all__ = [
    "default_origin",
    "init_deployment",
    "migrate_deployment",
    "open_database_of",
    "open_log",
    "set_witness_policy",
]


def default_origin() -> str:
    """A unique placeholder origin; production deployments pass their own URL-like name."""
    return f"ombud.localhost/{secrets.token_hex(4)}"


def init_deployment(data_dir: Path, origin: str | None = None, *, database_url: str = "") -> str:
    """Create ``data_dir`` as a deployment; returns the log's verifier key.

    Its database is a SQLite file in ``data_dir``, or the PostgreSQL database (schema) at
    ``database_url``, which must not hold a deployment yet.
    """
    if (data_dir / SETTINGS_FILE).exists() or is_log_dir(data_dir):
        raise ConfigError(f"{data_dir} is already initialised")
    if data_dir.exists() and any(data_dir.iterdir()):
        raise ConfigError(f"{data_dir} is not empty; initialise an empty or new directory")
    settings = Settings(data_dir, storage=StorageSettings(database_url))
    settings.to_toml()  # refused (a password in the URL, say) before anything is created
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    from ombud import migrations
    from ombud.privacy.master_key import create_master_key  # only a new deployment needs it

    vkey = init_log(data_dir, origin or default_origin(), database_url=database_url).vkey
    settings.save()
    create_master_key(data_dir / settings.privacy.master_key_file)
    # Last: should the schema fail to apply, this is a deployment `ombud migrate` completes.
    db = open_database_of(data_dir, settings)
    try:
        migrations.upgrade(db)  # every domain table, at the newest revision of the history
    finally:
        db.close()
    return vkey


def migrate_deployment(data_dir: Path) -> tuple[str | None, str]:
    """Apply the schema revisions ``data_dir``'s database lacks, in one transaction; returns
    the revision it was at (None: from before versioned migrations) and the one it is at now.
    A database a newer ombud wrote is refused, untouched."""
    from ombud import migrations

    db = open_database_of(data_dir, Settings.load(data_dir))
    try:
        before = migrations.current(db)
        if before is not None and before not in migrations.REVISIONS:
            migrations.check(db)  # raises: a newer ombud wrote this database
        if before != migrations.HEAD:
            migrations.upgrade(db)
        return before, migrations.HEAD
    finally:
        db.close()


def open_database_of(directory: Path, settings: Settings | None = None) -> Database:
    """The deployment's database: ``storage.url`` if set, else ``DIR/log.sqlite``."""
    settings = settings or Settings.for_directory(directory)
    return open_database_at(directory, settings.storage.url)


def open_log(directory: Path, settings: Settings | None = None, *, with_key: bool = True) -> Log:
    """Open the log in ``directory`` with the deployment's settings (its database, its tile
    cache, and whether witnesses must cosign), defaulting to the directory's own settings
    file; ``with_key=False`` opens it read-only (no signing)."""
    settings = settings or Settings.for_directory(directory)
    return open_log_dir(
        directory,
        database_url=settings.storage.url,
        tile_cache=settings.log.tile_cache,
        witnessed=settings.witnesses.quorum > 0,
        with_key=with_key,
    )


def set_witness_policy(directory: Path, policy: WitnessPolicy, *, clock: Clock = utc_now) -> bool:
    """Save ``policy``; where its quorum or its witnesses' keys change, record the change on
    the ledger itself first (``witness.policy_changed``) and return True.

    The event goes first: if it cannot be appended, the policy is not changed. Where only the
    witnesses' URLs change (a witness moved, or the demo's restarted on new ports), the
    policy is the same (which keys must cosign, and how many: what the event records and the
    roster governs), so the file is saved and nothing is appended. A serving process picks
    the new policy up when it restarts.
    """
    from ombud.events import Event

    settings = Settings.for_directory(directory)
    written = Settings.as_written(directory)
    saved = replace(written, witnesses=policy)
    saved.to_toml()  # a file that could not be saved is refused before the event
    keys = [w.vkey for w in policy.witness]
    before = written.witnesses  # the file's, not an environment override's
    if (policy.quorum, keys) == (before.quorum, [w.vkey for w in before.witness]):
        saved.save()
        return False
    event = Event(
        "witness.policy_changed",
        clock(),
        "operator",
        {"v": 1, "quorum": policy.quorum, "witnesses": keys},
    )
    log = open_log(directory, settings)
    try:
        log.append_batch([event.to_bytes()])
    finally:
        log.close()
    saved.save()
    return True
