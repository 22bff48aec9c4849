"""A log's directory on disk: its private key (mode 0600), its public key and — unless it is
given a PostgreSQL database — its SQLite database.

Threat model: the private key is the log's identity; ``keyfile`` creates it with mode 0600 and
refuses it when others can read it; it is never printed. Opening a directory
that holds no log fails with the command that creates one, never by creating one silently.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from ombud.database import Database, SqliteDatabase, open_database
from ombud.errors import ConfigError, MalformedError
from ombud.keyfile import read_private_key, write_private_key
from ombud.ledger import note
from ombud.ledger.log import Log
from ombud.ledger.store_sql import SqlStore

__all__ = [
    "DEFAULT_TILE_CACHE",
    "LOG_DB",
    "LOG_KEY",
    "LOG_VKEY",
    "init_log",
    "is_log_dir",
    "open_database_at",
    "open_log_dir",
    "read_signer",
]

LOG_DB = "log.sqlite"
LOG_KEY = "log.key"
LOG_VKEY = "log.vkey"
DEFAULT_TILE_CACHE = 4096
"""Tiles a log keeps in memory for serving proofs unless told otherwise (``log.tile_cache``)."""


def is_log_dir(directory: Path) -> bool:
    return (directory / LOG_DB).is_file() or (directory / LOG_KEY).is_file()


def open_database_at(directory: Path, database_url: str = "") -> Database:
    """A log's database: the PostgreSQL database at ``database_url`` if given, else
    ``DIR/log.sqlite``."""
    return open_database(database_url or directory / LOG_DB)


def read_signer(path: Path, *, clock: Callable[[], float] = time.time) -> note.Signer:
    """The signer key in ``path``; ``clock`` timestamps its cosignatures (type 0x04 keys)."""
    try:
        return note.Signer.from_skey(read_private_key(path), clock=clock)
    except MalformedError as exc:
        raise ConfigError(f"{path} does not hold a signer key: {exc}") from exc


def init_log(
    directory: Path,
    origin: str,
    *,
    database_url: str = "",
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> note.Verifier:
    """Create a log in ``directory`` (created if missing) and return its verifier key.

    Its tables go into the PostgreSQL database at ``database_url`` when one is given, else
    into a new SQLite file in the directory. The origin doubles as the key name, so it follows
    key-name rules: no spaces, no '+'.
    """
    try:
        note.check_key_name(origin)
    except MalformedError as exc:
        raise ConfigError(f"origin {origin!r} cannot name the log's key: {exc}") from None
    if is_log_dir(directory) or (directory / LOG_KEY).exists():
        raise ConfigError(f"{directory} already holds a log")
    directory.mkdir(parents=True, exist_ok=True)
    db = open_database(database_url) if database_url else SqliteDatabase.create(directory / LOG_DB)
    SqlStore.create(db, origin).close()
    signer = note.Signer.generate(origin, random_bytes=random_bytes)
    write_private_key(directory / LOG_KEY, signer.skey)
    verifier = signer.verifier()
    (directory / LOG_VKEY).write_text(verifier.vkey + "\n", encoding="ascii")
    return verifier


def open_log_dir(
    directory: Path,
    *,
    database_url: str = "",
    tile_cache: int = DEFAULT_TILE_CACHE,
    witnessed: bool = False,
    with_key: bool = True,
) -> Log:
    """Open the log in ``directory``; ``with_key=False`` opens it read-only (no signing).

    ``witnessed``: checkpoints are published only once witnesses cosign them. A deployment's
    log is opened with its settings by ``ombud.deployment.open_log``, so that a log with a
    witness policy is never opened as one that may publish unwitnessed.
    """
    if not is_log_dir(directory):
        raise ConfigError(
            f"{directory} holds no log; create one with "
            f"`ombud log init {directory} --origin ORIGIN` or `ombud init --data-dir {directory}`"
        )
    signer = read_signer(directory / LOG_KEY) if with_key else None
    store = SqlStore(open_database_at(directory, database_url))
    if signer is not None and signer.name != store.origin():
        store.close()
        raise ConfigError(f"{directory / LOG_KEY} is not the key of log {store.origin()!r}")
    return Log(store, signer, tile_cache=tile_cache, witnessed=witnessed)
