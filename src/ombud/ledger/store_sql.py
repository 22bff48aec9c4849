"""SQL storage for a log — SQLite or PostgreSQL: tiles, entry bundles, tree state, checkpoints.

Threat model: the database may be read by the operator but must not lose or silently alter an
acknowledged entry after a crash. Every batch is one transaction of ``Database.transaction``
(the database's one write lock, durable commit), and the size it extends is checked inside that
transaction, so two processes appending to one log cannot overwrite each other. Other tables
of the deployment (observations, devices) may be written in the same transaction as the
entries they point at (``Log.append_with``), so a row and its ledger event commit together.

Layout: ``tiles`` and ``bundles`` keep only the newest version of each tile (a partial tile is
overwritten as it grows: every older partial version is a prefix of it, so it can still be
served); ``meta`` holds the origin, the integrated size and root and the last publishing
attempt; ``checkpoints`` every checkpoint ever signed, with ``cosigned`` set (the note with its
witnesses' cosignatures) once it was published. SQLite keeps ``meta`` values in an ``ANY``
column; PostgreSQL, which has no such type, keeps them as bytes (numbers in decimal).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, TypeVar

from ombud.database import Database, Tx
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

__all__ = ["SCHEMA_VERSION", "SqlStore"]

SCHEMA_VERSION = 2
_LEVEL_SHIFT = 56  # tile rows are keyed by level << 56 | index
_T = TypeVar("_T", int, str, bytes)

_SCHEMA = {
    "sqlite": "CREATE TABLE meta (key TEXT PRIMARY KEY, value ANY) STRICT",
    "postgresql": "CREATE TABLE meta (key TEXT PRIMARY KEY, value BYTEA)",
}
_TABLES = """
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


class SqlStore:
    """A ``LogStore`` in a ``Database``. Safe to share between threads of one process."""

    def __init__(self, db: Database) -> None:
        if not db.has_table("meta"):
            raise ConfigError(f"{db.name} holds no log; create it with `ombud log init`")
        self.db = db
        version = self._get_meta("schema", int)
        while version in _MIGRATIONS:
            with self.db.transaction() as tx:
                for statement in _MIGRATIONS[version]:
                    tx.execute(statement)
                version += 1
                self._set_meta(tx, "schema", version)
        if version != SCHEMA_VERSION:
            raise ConfigError(
                f"{db.name} has log schema {version!r}; this ombud reads {SCHEMA_VERSION}"
            )

    @classmethod
    def create(cls, db: Database, origin: str) -> SqlStore:
        """Create an empty log in ``db``; refuses a database that already holds one."""
        if db.has_table("meta"):
            raise ConfigError(f"{db.name} already holds a log")
        with db.transaction() as tx:
            for statement in [_SCHEMA[db.dialect], *db.ddl(_TABLES)]:
                tx.execute(statement)
        store = cls.__new__(cls)
        store.db = db
        with db.transaction() as tx:
            for key, value in (
                ("schema", SCHEMA_VERSION),
                ("origin", origin),
                ("size", 0),
                ("root", EMPTY_ROOT),
            ):
                store._set_meta(tx, key, value)
        return cls(db)

    # --- meta values -----------------------------------------------------------------------------

    def _encode(self, value: int | str | bytes) -> object:
        if self.db.dialect == "sqlite" or isinstance(value, bytes):
            return value
        return (str(value) if isinstance(value, int) else value).encode()

    def _decode(self, key: str, raw: Any, kind: type[_T]) -> _T:
        if self.db.dialect != "sqlite" and isinstance(raw, bytes) and kind is not bytes:
            try:
                text = raw.decode()
                raw = int(text) if kind is int else text
            except ValueError:
                raise StorageError(f"{self.db.name}: meta value {key} is corrupt") from None
        if isinstance(raw, bool) or not isinstance(raw, kind):
            raise StorageError(f"{self.db.name} has no valid {key}")
        return raw

    def _get_meta(self, key: str, kind: type[_T]) -> _T:
        rows = self.db.read("SELECT value FROM meta WHERE key = ?", (key,))
        return self._decode(key, rows[0][0] if rows else None, kind)

    def _set_meta(self, tx: Tx, key: str, value: int | str | bytes) -> None:
        tx.execute(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, self._encode(value)),
        )

    # --- LogStore ----------------------------------------------------------------------------

    def sequencer_lock(self) -> contextlib.AbstractContextManager[None]:
        return self.db.sequencer_lock()

    def transaction(self) -> contextlib.AbstractContextManager[Tx]:
        return self.db.transaction()

    def origin(self) -> str:
        return self._get_meta("origin", str)

    def state(self) -> TreeState:
        rows: dict[str, Any] = dict(
            self.db.read("SELECT key, value FROM meta WHERE key IN ('size', 'root')")
        )
        return TreeState(
            self._decode("size", rows.get("size"), int),
            self._decode("root", rows.get("root"), bytes),
        )

    def size_in(self, tx: Tx) -> int:
        rows = tx.execute("SELECT value FROM meta WHERE key = 'size'")
        return self._decode("size", rows[0][0] if rows else None, int)

    def write(self, expected_size: int, batch: Batch) -> None:
        with self.db.transaction() as tx:
            self.write_in(tx, expected_size, batch)

    def write_in(self, tx: Tx, expected_size: int, batch: Batch) -> None:
        size = self.size_in(tx)
        if size != expected_size:
            raise StaleStateError(f"log grew to {size} entries; expected {expected_size}")
        tx.executemany(
            "INSERT INTO tiles VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE "
            "SET width = excluded.width, data = excluded.data",
            [(_tile_id(lv, ix), t.width, t.data) for lv, ix, t in batch.tiles],
        )
        tx.executemany(
            "INSERT INTO bundles VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE "
            "SET count = excluded.count, data = excluded.data",
            batch.bundles,
        )
        self._set_meta(tx, "size", batch.state.size)
        self._set_meta(tx, "root", batch.state.root)

    def read_tile(self, level: int, index: int) -> TileNodes | None:
        rows = self.db.read("SELECT width, data FROM tiles WHERE id = ?", (_tile_id(level, index),))
        if not rows:
            return None
        try:
            return TileNodes(bytes(rows[0][1]), rows[0][0])
        except MalformedError as exc:
            raise StorageError(f"stored tile {level}/{index} is corrupt: {exc}") from exc

    def read_bundle(self, index: int) -> tuple[int, bytes] | None:
        rows = self.db.read("SELECT count, data FROM bundles WHERE id = ?", (index,))
        return (rows[0][0], bytes(rows[0][1])) if rows else None

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        with self.db.transaction() as tx:
            rows = tx.execute("SELECT root FROM checkpoints WHERE size = ?", (checkpoint.size,))
            if rows and bytes(rows[0][0]) != checkpoint.root:
                raise InconsistentTreeError(
                    f"a checkpoint of size {checkpoint.size} with another root exists"
                )
            if not rows:
                tx.execute(
                    "INSERT INTO checkpoints VALUES (?, ?, ?, NULL)",
                    (checkpoint.size, checkpoint.root, checkpoint.note),
                )

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        rows = self.db.read("SELECT size, root, note FROM checkpoints ORDER BY size DESC LIMIT 1")
        return _checkpoint(rows[0]) if rows else None

    def publish(self, size: int, cosigned: bytes) -> None:
        with self.db.transaction() as tx:
            rows = tx.execute("SELECT 1 FROM checkpoints WHERE size = ?", (size,))
            if not rows:
                raise StorageError(f"no checkpoint of size {size} was signed; cannot publish it")
            tx.execute("UPDATE checkpoints SET cosigned = ? WHERE size = ?", (cosigned, size))

    def published_checkpoint(self) -> StoredCheckpoint | None:
        rows = self.db.read(
            "SELECT size, root, cosigned FROM checkpoints WHERE cosigned IS NOT NULL "
            "ORDER BY size DESC LIMIT 1"
        )
        return _checkpoint(rows[0]) if rows else None

    def set_publish_status(self, status: str) -> None:
        with self.db.transaction() as tx:
            self._set_meta(tx, "publish_status", status)

    def publish_status(self) -> str | None:
        rows = self.db.read("SELECT value FROM meta WHERE key = 'publish_status'")
        return self._decode("publish_status", rows[0][0], str) if rows else None

    def checkpoints(self) -> Iterator[StoredCheckpoint]:
        for row in self.db.read("SELECT size, root, note FROM checkpoints ORDER BY size"):
            yield _checkpoint(row)

    def close(self) -> None:
        self.db.close()


def _checkpoint(row: tuple[Any, ...]) -> StoredCheckpoint:
    return StoredCheckpoint(row[0], bytes(row[1]), bytes(row[2]))
