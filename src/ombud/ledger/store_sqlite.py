"""SQLite storage for a log: tiles, entry bundles, tree state and signed checkpoints.

Threat model: the database file may be read by the operator but must not lose or silently alter
an acknowledged entry after a crash. Every batch is one transaction in WAL mode with
``synchronous=FULL``, so a write returns only once it is fsync'd; the size it extends is checked
inside the same transaction, so two processes appending to one log cannot overwrite each other.

Layout: ``tiles`` and ``bundles`` keep only the newest version of each tile (a partial tile is
overwritten as it grows: every older partial version is a prefix of it, so it can still be
served); ``meta`` holds the origin, the integrated size and root and the last publishing
attempt; ``checkpoints`` every checkpoint ever signed, with ``cosigned`` set (the note with its
witnesses' cosignatures) once it was published.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ombud.errors import (
    ConfigError,
    InconsistentTreeError,
    MalformedError,
    StaleStateError,
    StorageError,
)
from ombud.ledger.merkle import EMPTY_ROOT
from ombud.ledger.store import Batch, StoredCheckpoint, TreeState
from ombud.ledger.tiles import TileNodes
from ombud.storage import connect, write_transaction

__all__ = ["SCHEMA_VERSION", "SqliteStore"]

SCHEMA_VERSION = 2
_LEVEL_SHIFT = 56  # tile rows are keyed by level << 56 | index

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value ANY) STRICT;
CREATE TABLE tiles (id INTEGER PRIMARY KEY, width INTEGER NOT NULL, data BLOB NOT NULL) STRICT;
CREATE TABLE bundles (id INTEGER PRIMARY KEY, count INTEGER NOT NULL, data BLOB NOT NULL) STRICT;
CREATE TABLE checkpoints (
    size INTEGER PRIMARY KEY, root BLOB NOT NULL, note BLOB NOT NULL, cosigned BLOB
) STRICT;
"""
_MIGRATIONS = {
    # 1 → 2: publishing waits for witnesses. Schema 1 served every signed checkpoint, so every
    # one of them counts as published.
    1: (
        "ALTER TABLE checkpoints ADD COLUMN cosigned BLOB",
        "UPDATE checkpoints SET cosigned = note",
    ),
}


def _tile_id(level: int, index: int) -> int:
    return (level << _LEVEL_SHIFT) | index


class SqliteStore:
    """A ``LogStore`` in one SQLite file. Safe to share between threads of one process."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise ConfigError(f"{path} does not exist; create the log with `ombud log init`")
        self.path = path
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        version = self._get_meta("schema")
        while isinstance(version, int) and version in _MIGRATIONS:
            with self._transaction() as conn:
                for statement in _MIGRATIONS[version]:
                    conn.execute(statement)
                version += 1
                conn.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (version,))
        if version != SCHEMA_VERSION:
            raise ConfigError(
                f"{path} has log schema {version!r}; this ombud reads {SCHEMA_VERSION}"
            )

    @classmethod
    def create(cls, path: Path, origin: str) -> SqliteStore:
        """Create an empty log database; refuses to touch an existing file."""
        if path.exists():
            raise ConfigError(f"{path} already exists")
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("PRAGMA page_size = 8192")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("BEGIN")
            for statement in filter(str.strip, _SCHEMA.split(";")):
                conn.execute(statement)
            conn.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [("schema", SCHEMA_VERSION), ("origin", origin), ("size", 0), ("root", EMPTY_ROOT)],
            )
            conn.execute("COMMIT")
        finally:
            conn.close()
        return cls(path)

    # --- connections -------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def close(self) -> None:
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    def _read(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read {self.path}: {exc}") from exc

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: ``BEGIN IMMEDIATE`` (the write lock first, so the reads inside
        see the state the writes extend), committed — durably — only if the block succeeds."""
        with self._write_lock, write_transaction(self._conn(), str(self.path)) as conn:
            yield conn

    def _get_meta(self, key: str) -> object:
        rows = self._read("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    # --- LogStore ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def sequencer_lock(self) -> Iterator[None]:
        """An advisory ``flock`` on ``<database>.lock``, released when the process dies."""
        path = self.path.with_name(self.path.name + ".lock")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StorageError(f"cannot open the sequencer lock {path}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def origin(self) -> str:
        origin = self._get_meta("origin")
        if not isinstance(origin, str):
            raise StorageError(f"{self.path} has no origin")
        return origin

    def state(self) -> TreeState:
        rows = dict(self._read("SELECT key, value FROM meta WHERE key IN ('size', 'root')"))
        size, root = rows.get("size"), rows.get("root")
        if not isinstance(size, int) or not isinstance(root, bytes):
            raise StorageError(f"{self.path} has no valid tree state")
        return TreeState(size, root)

    def write(self, expected_size: int, batch: Batch) -> None:
        with self._transaction() as conn:
            (size,) = conn.execute("SELECT value FROM meta WHERE key = 'size'").fetchone()
            if size != expected_size:
                raise StaleStateError(f"log grew to {size} entries; expected {expected_size}")
            conn.executemany(
                "INSERT OR REPLACE INTO tiles VALUES (?, ?, ?)",
                [(_tile_id(lv, ix), t.width, t.data) for lv, ix, t in batch.tiles],
            )
            conn.executemany("INSERT OR REPLACE INTO bundles VALUES (?, ?, ?)", batch.bundles)
            conn.executemany(
                "UPDATE meta SET value = ? WHERE key = ?",
                [(batch.state.size, "size"), (batch.state.root, "root")],
            )

    def read_tile(self, level: int, index: int) -> TileNodes | None:
        rows = self._read("SELECT width, data FROM tiles WHERE id = ?", (_tile_id(level, index),))
        if not rows:
            return None
        try:
            return TileNodes(rows[0][1], rows[0][0])
        except MalformedError as exc:
            raise StorageError(f"stored tile {level}/{index} is corrupt: {exc}") from exc

    def read_bundle(self, index: int) -> tuple[int, bytes] | None:
        rows = self._read("SELECT count, data FROM bundles WHERE id = ?", (index,))
        return (rows[0][0], rows[0][1]) if rows else None

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT root FROM checkpoints WHERE size = ?", (checkpoint.size,)
            ).fetchone()
            if row is not None and row[0] != checkpoint.root:
                raise InconsistentTreeError(
                    f"a checkpoint of size {checkpoint.size} with another root exists"
                )
            if row is None:
                conn.execute(
                    "INSERT INTO checkpoints VALUES (?, ?, ?, NULL)",
                    (checkpoint.size, checkpoint.root, checkpoint.note),
                )

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        rows = self._read("SELECT size, root, note FROM checkpoints ORDER BY size DESC LIMIT 1")
        return StoredCheckpoint(*rows[0]) if rows else None

    def publish(self, size: int, cosigned: bytes) -> None:
        with self._transaction() as conn:
            changed = conn.execute(
                "UPDATE checkpoints SET cosigned = ? WHERE size = ?", (cosigned, size)
            ).rowcount
            if not changed:
                raise StorageError(f"no checkpoint of size {size} was signed; cannot publish it")

    def published_checkpoint(self) -> StoredCheckpoint | None:
        rows = self._read(
            "SELECT size, root, cosigned FROM checkpoints WHERE cosigned IS NOT NULL "
            "ORDER BY size DESC LIMIT 1"
        )
        return StoredCheckpoint(*rows[0]) if rows else None

    def set_publish_status(self, status: str) -> None:
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('publish_status', ?)", (status,))

    def publish_status(self) -> str | None:
        value = self._get_meta("publish_status")
        return value if isinstance(value, str) else None

    def checkpoints(self) -> Iterator[StoredCheckpoint]:
        for row in self._read("SELECT size, root, note FROM checkpoints ORDER BY size"):
            yield StoredCheckpoint(*row)
