"""A witness's memory: for each log origin, the latest checkpoint it cosigned.

Threat model: this state is what stops a log from rolling a witness back or forking it, so it
must never move backwards. Every update runs ``check`` against the row read inside the same
``BEGIN IMMEDIATE`` transaction it is written in (SQLite's write lock, so two processes sharing
the file also serialise), and the transaction is fsync'd (WAL, ``synchronous=FULL``) before any
caller is told it succeeded (c2sp.org/tlog-witness §add-checkpoint, last paragraph).

Updates are group-committed: requests that arrive while a transaction is being fsync'd wait for
the next one and are checked one after another inside it, in arrival order, so each still sees
every update before it.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from ombud.errors import ConfigError, StorageError

__all__ = ["CosignedCheckpoint", "WitnessState"]

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
_MAX_GROUP = 512


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
    """The SQLite file of one witness; thread-safe, with a single committing thread."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise ConfigError(f"{path} does not exist; create it with `ombud witness init`")
        self.path = path
        self._conn = self._connect()
        try:
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{path} is not a witness state database: {exc}") from exc
        if row is None or row[0] != SCHEMA_VERSION:
            raise ConfigError(f"{path} has witness schema {row and row[0]!r}, not {SCHEMA_VERSION}")
        self._read_lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[str, Check, Future[CosignedCheckpoint]] | None]
        self._queue = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._run, name="witness-state", daemon=True)
        self._writer_conn = self._connect()
        self._writer.start()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA busy_timeout = 10000")
        return conn

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
        with self._read_lock:
            row = self._conn.execute(
                "SELECT origin, size, root, note, updated_at FROM logs WHERE origin = ?", (origin,)
            ).fetchone()
        return CosignedCheckpoint(*row) if row else None

    def records(self) -> Iterator[CosignedCheckpoint]:
        with self._read_lock:
            rows = self._conn.execute(
                "SELECT origin, size, root, note, updated_at FROM logs ORDER BY origin"
            ).fetchall()
        for row in rows:
            yield CosignedCheckpoint(*row)

    def update(self, origin: str, check: Check) -> Future[CosignedCheckpoint]:
        """Queue ``check`` for ``origin``; the future resolves once its result is durable.

        The future raises whatever ``check`` raised (nothing was written for it), or
        ``StorageError`` if the transaction failed (nothing of its group was written).
        """
        future: Future[CosignedCheckpoint] = Future()
        self._queue.put((origin, check, future))
        return future

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            group = [item]
            while len(group) < _MAX_GROUP:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                group.append(more)
            self._commit(group)

    def _commit(self, group: list[tuple[str, Check, Future[CosignedCheckpoint]]]) -> None:
        conn = self._writer_conn
        outcomes: list[tuple[Future[CosignedCheckpoint], CosignedCheckpoint | BaseException]]
        outcomes = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for origin, check, future in group:
                    row = conn.execute(
                        "SELECT origin, size, root, note, updated_at FROM logs WHERE origin = ?",
                        (origin,),
                    ).fetchone()
                    try:
                        new = check(CosignedCheckpoint(*row) if row else None)
                    except Exception as exc:  # the refusal goes to its own caller only
                        outcomes.append((future, exc))
                        continue
                    conn.execute(
                        "INSERT OR REPLACE INTO logs VALUES (?, ?, ?, ?, ?)",
                        (new.origin, new.size, new.root, new.note, new.updated_at),
                    )
                    outcomes.append((future, new))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            error = StorageError(f"cannot write the witness state: {exc}")
            for _, _, future in group:
                future.set_exception(error)
            return
        for future, outcome in outcomes:
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    def close(self) -> None:
        self._queue.put(None)
        self._writer.join()
        self._writer_conn.close()
        self._conn.close()
