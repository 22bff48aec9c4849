"""A witness's memory: for each log origin, the latest checkpoint it cosigned.

Threat model: this state is what stops a log from rolling a witness back or forking it, so it
must never move backwards. Every update runs its ``check`` against the row read inside the same
``BEGIN IMMEDIATE`` transaction it is written in (SQLite's write lock, so two processes sharing
the file also serialise), and the transaction is fsync'd (WAL, ``synchronous=FULL``) before
``apply`` returns, so before any caller is told it succeeded (c2sp.org/tlog-witness
§add-checkpoint, last paragraph).

``apply`` takes a group of updates: they are checked one after another in one transaction, so
each sees every update before it, and share one fsync. One process owns the file (an exclusive
``flock``, released when it exits), so the records are also kept in memory, updated only once a
transaction committed.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ombud.errors import ConfigError, StorageError
from ombud.storage import connect, write_transaction

__all__ = ["Check", "CosignedCheckpoint", "WitnessState"]

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value ANY) STRICT;
CREATE TABLE logs (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    root BLOB NOT NULL,
    note BLOB NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
"""
_SELECT_ALL = "SELECT origin, size, root, note, updated_at FROM logs ORDER BY origin"


@dataclass(frozen=True)
class CosignedCheckpoint:
    """The latest checkpoint of ``origin`` this witness cosigned, as served to monitors.

    ``note`` carries the log's signatures the witness verified and the witness's cosignature.
    """

    origin: str
    size: int
    root: bytes
    note: bytes
    updated_at: int


Check = Callable[[CosignedCheckpoint | None], CosignedCheckpoint]
"""Given the stored record (None: never cosigned), return the new one or raise to refuse."""


class WitnessState:
    """The SQLite file of one witness. Thread-safe: reads and group writes may come from any
    thread; writes are serialised."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise ConfigError(f"{path} does not exist; create it with `ombud witness init`")
        self.path = path
        self._lock = threading.Lock()
        self._owner = _lock_exclusively(path.with_name(path.name + ".lock"))
        try:
            self._conn = connect(path)
        except StorageError as exc:
            os.close(self._owner)
            raise ConfigError(str(exc)) from exc
        try:
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if row is None or row[0] != SCHEMA_VERSION:
                raise ConfigError(
                    f"{path} has witness schema {row and row[0]!r}, not {SCHEMA_VERSION}"
                )
            self._records = {r[0]: CosignedCheckpoint(*r) for r in self._conn.execute(_SELECT_ALL)}
        except (sqlite3.DatabaseError, ConfigError) as exc:
            self._conn.close()
            os.close(self._owner)
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"{path} is not a witness state database: {exc}") from exc
        self.commits = 0
        self.updates = 0
        """Transactions and updates committed since opening (their ratio is the group size)."""

    @classmethod
    def create(cls, path: Path) -> None:
        if path.exists():
            raise ConfigError(f"{path} already exists")
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(_SCHEMA)
            conn.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        finally:
            conn.close()

    def get(self, origin: str) -> CosignedCheckpoint | None:
        return self._records.get(origin)

    def apply(self, updates: Sequence[tuple[str, Check]]) -> list[CosignedCheckpoint | Exception]:
        """Run each ``(origin, check)`` in order in one durable transaction.

        Returns, per update, the record written or the exception its check raised (nothing was
        written for it). Raises ``StorageError`` if the transaction failed: then nothing of the
        group was written, in the file or in memory.
        """
        outcomes: list[CosignedCheckpoint | Exception] = []
        with self._lock:
            written: dict[str, CosignedCheckpoint] = {}
            for origin, check in updates:
                try:
                    new = check(written.get(origin) or self._records.get(origin))
                except Exception as exc:  # that update's refusal, not the group's
                    outcomes.append(exc)
                    continue
                if new.origin != origin:
                    raise StorageError(
                        f"an update of {origin!r} returned a record of {new.origin!r}"
                    )
                written[origin] = new
                outcomes.append(new)
            if written:
                self._write(written.values())
                self._records.update(written)
                self.commits += 1
                self.updates += sum(not isinstance(o, Exception) for o in outcomes)
        return outcomes

    def _write(self, records: Iterable[CosignedCheckpoint]) -> None:
        with write_transaction(self._conn, f"the witness state {self.path}") as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO logs VALUES (?, ?, ?, ?, ?)",
                [(r.origin, r.size, r.root, r.note, r.updated_at) for r in records],
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            os.close(self._owner)


def _lock_exclusively(path: Path) -> int:
    """Hold an exclusive ``flock`` on ``path`` for this process's lifetime, or refuse."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(f"another process is using this witness state ({path})") from None
    return fd
