"""Databases: one small SQL interface over SQLite (the embedded default) and PostgreSQL.

Threat model: the database holds the ledger and everything indexed by it, so a write must be
all-or-nothing and durable before anything is acknowledged, and two writers (an API worker and
an MQTT ingest worker) must never interleave. Every write runs in ``transaction()``, which
first takes the database's one write lock — SQLite's ``BEGIN IMMEDIATE``, a PostgreSQL
transaction-scoped advisory lock — and commits durably (SQLite ``synchronous=FULL``, PostgreSQL
``synchronous_commit`` as the server sets it, ``on`` by default). Connection URLs may carry a
password, so they are shown only with it removed.

SQL is written once, in the subset both dialects share, with ``?`` placeholders; table
definitions are written for SQLite and translated (``INTEGER`` → ``BIGINT``, ``BLOB`` →
``BYTEA``) for PostgreSQL.
"""

from __future__ import annotations

import abc
import contextlib
import fcntl
import functools
import os
import re
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from ombud.errors import ConfigError, MalformedError, StorageError
from ombud.storage import connect, write_transaction

__all__ = [
    "Database",
    "PostgresDatabase",
    "SqliteDatabase",
    "Tx",
    "open_database",
    "redact",
    "translate_ddl",
]

Row = tuple[Any, ...]
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_LOCK_KEY = 0x6F6D627564  # "ombud": the advisory lock every writer of a PostgreSQL schema takes


def _query_has_password(query: str) -> bool:
    return any(k == "password" for k, _ in urllib.parse.parse_qsl(query, keep_blank_values=True))


def has_password(url: str) -> bool:
    """Whether ``url`` holds a password: ``user:password@`` or libpq's ``?password=``."""
    try:
        parts = urllib.parse.urlsplit(url)
        return parts.password is not None or _query_has_password(parts.query)
    except ValueError:  # a malformed netloc (an unclosed "[") says nothing either way
        return "@" in url or "password" in url


def redact(url: str) -> str:
    """``url`` without its password (``user:password@`` or ``?password=``), for messages and
    logs."""
    try:
        parts = urllib.parse.urlsplit(url)
        password = parts.password
    except ValueError:
        return "a malformed database URL"
    if password is not None:
        netloc = parts.netloc.rsplit("@", 1)[1]
        parts = parts._replace(netloc=f"{parts.username or ''}:***@{netloc}")
    if _query_has_password(parts.query):
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        parts = parts._replace(
            query=urllib.parse.urlencode(
                [(k, "***" if k == "password" else v) for k, v in query], safe="*"
            )
        )
    return urllib.parse.urlunsplit(parts)


class Tx(abc.ABC):
    """The statements of one write transaction."""

    @abc.abstractmethod
    def execute(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """Run one statement; its rows (empty for statements that return none)."""

    @abc.abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None: ...


class Database(abc.ABC):
    """A SQLite file or a PostgreSQL schema. Safe to share between the threads of a process:
    each thread gets its own connection; writes are serialised."""

    dialect: ClassVar[str]

    def __init__(self, name: str) -> None:
        self.name = name
        """Where the data lives, safe to print (no password)."""
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._connections: list[Any] = []
        self._connections_lock = threading.Lock()

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def _drop(self) -> None:
        """Forget this thread's connection (after it broke); the next call reconnects."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            with self._connections_lock:
                if conn in self._connections:
                    self._connections.remove(conn)
            with contextlib.suppress(Exception):
                conn.close()

    @abc.abstractmethod
    def _connect(self) -> Any: ...

    @abc.abstractmethod
    def read(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """Rows of one query, outside any write transaction (sees committed data)."""

    @abc.abstractmethod
    def transaction(self) -> contextlib.AbstractContextManager[Tx]:
        """A write transaction holding the database's write lock; durable once it commits."""

    @abc.abstractmethod
    def sequencer_lock(self) -> contextlib.AbstractContextManager[None]:
        """Exclusive across processes, held for as long as one process sequences a log."""

    @abc.abstractmethod
    def has_table(self, table: str) -> bool: ...

    @abc.abstractmethod
    def scrub(self, tables: Sequence[str]) -> None:
        """Make deleted rows of ``tables`` unrecoverable from the database's own files, as far
        as the engine allows: SQLite zeroes deleted cells (``secure_delete``) and here truncates
        the WAL that still holds earlier page images; PostgreSQL ``VACUUM`` removes dead
        tuples from the tables' pages. Raises ``StorageError`` when it cannot (yet)."""

    def ddl(self, script: str) -> list[str]:
        """The statements of a schema script written for SQLite, in this dialect."""
        return translate_ddl(script, self.dialect)

    @abc.abstractmethod
    def sqlalchemy_url(self) -> str:
        """The same database as a SQLAlchemy URL, for the migration history (Alembic)."""

    def close(self) -> None:
        with self._connections_lock:
            for conn in self._connections:
                with contextlib.suppress(Exception):
                    conn.close()
            self._connections.clear()
        self._local = threading.local()


# --- SQLite ----------------------------------------------------------------------------------


class _SqliteTx(Tx):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        return self._conn.execute(sql, params).fetchall()

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        self._conn.executemany(sql, rows)


class SqliteDatabase(Database):
    """One SQLite file in WAL mode; one writer at a time across every process."""

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        self.path = path

    def sqlalchemy_url(self) -> str:
        return f"sqlite:///{self.path}"

    @classmethod
    def create(cls, path: Path) -> SqliteDatabase:
        """A new, empty database file (8 KiB pages: tiles are 8 KiB); refuses an existing one."""
        if path.exists():
            raise ConfigError(f"{path} already exists")
        try:
            conn = sqlite3.connect(path, isolation_level=None)
            try:
                conn.execute("PRAGMA page_size = 8192")
                conn.execute("PRAGMA journal_mode = WAL")
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot create {path}: {exc}") from exc
        return cls(path)

    def _connect(self) -> sqlite3.Connection:
        return connect(self.path)

    def read(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        try:
            rows: list[Row] = self._conn().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read {self.path}: {exc}") from exc
        return rows

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self._write_lock, write_transaction(self._conn(), str(self.path)) as conn:
            yield _SqliteTx(conn)

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

    def has_table(self, table: str) -> bool:
        rows = self.read("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
        return bool(rows)

    def scrub(self, tables: Sequence[str]) -> None:
        for _ in range(50):
            with self._write_lock:
                busy = self.read("PRAGMA wal_checkpoint(TRUNCATE)")[0][0]
            if not busy:
                return
            time.sleep(0.1)  # a reader of another process holds an old snapshot
        raise StorageError(f"cannot truncate the WAL of {self.path}: readers keep it busy")


# --- PostgreSQL ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def _pg_sql(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (ombud's SQL has no other ``?`` or ``%``)."""
    return sql.replace("?", "%s")


_PG_TYPES = (
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bBLOB\b"), "BYTEA"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
)


def translate_ddl(script: str, dialect: str) -> list[str]:
    """The statements of a schema script written for SQLite (``;``-separated, ``STRICT``
    tables), in ``dialect``: for PostgreSQL, ``INTEGER`` is ``BIGINT``, ``BLOB`` ``BYTEA``,
    ``REAL`` ``DOUBLE PRECISION``, and tables are not ``STRICT``."""
    statements = [s.strip() for s in script.split(";") if s.strip()]
    if dialect == "sqlite":
        return statements
    out = []
    for statement in statements:
        statement = re.sub(r"\)\s*STRICT\s*$", ")", statement)
        for pattern, replacement in _PG_TYPES:
            statement = pattern.sub(replacement, statement)
        out.append(statement)
    return out


class _PostgresTx(Tx):
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        cur = self._conn.execute(_pg_sql(sql), params)
        return cur.fetchall() if cur.description is not None else []

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        with self._conn.cursor() as cur:
            cur.executemany(_pg_sql(sql), list(rows))


class PostgresDatabase(Database):
    """A PostgreSQL database (its schema chosen by the URL, e.g. ``?options=-csearch_path=x``)."""

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        super().__init__(redact(url))
        self.url = url

    def _connect(self) -> Any:
        import psycopg

        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to {self.name}: {exc}") from exc

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        import psycopg

        try:
            yield
        except psycopg.DataError as exc:  # a value the column cannot hold: bad input, not an outage
            raise MalformedError(f"the database refused a value: {exc}") from exc
        except psycopg.Error as exc:
            if isinstance(exc, psycopg.OperationalError):
                self._drop()  # the server went away; reconnect on the next call
            raise StorageError(f"cannot {what} {self.name}: {exc}") from exc

    def read(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        with self._errors("read"):
            cur = self._conn().execute(_pg_sql(sql), params)
            return cur.fetchall() if cur.description is not None else []

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self._write_lock, self._errors("write to"):
            conn = self._conn()
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                yield _PostgresTx(conn)

    @contextlib.contextmanager
    def sequencer_lock(self) -> Iterator[None]:
        """A session advisory lock on a connection of its own, released when it closes."""
        conn = self._connect()
        try:
            with self._errors("lock"):
                conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY + 1,))
            yield
        finally:
            with contextlib.suppress(Exception):
                conn.close()

    def has_table(self, table: str) -> bool:
        return self.read("SELECT to_regclass(?)", (table,))[0][0] is not None

    def scrub(self, tables: Sequence[str]) -> None:
        from psycopg import sql

        for table in tables:
            if not _IDENTIFIER.fullmatch(table):
                raise MalformedError(f"{table!r} is not a table name")
            with self._errors("vacuum"):
                self._conn().execute(sql.SQL("VACUUM {}").format(sql.Identifier(table)))

    def sqlalchemy_url(self) -> str:
        _, _, rest = self.url.partition("://")
        return f"postgresql+psycopg://{rest}"


def open_database(location: str | Path) -> Database:
    """A ``postgresql://`` URL, a ``sqlite:///path`` URL, or a path to a SQLite file."""
    if isinstance(location, Path):
        return SqliteDatabase(location)
    if location.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(location)
    if location.startswith("sqlite:///"):
        return SqliteDatabase(Path(location.removeprefix("sqlite://")))
    raise ConfigError(f"database {redact(location)!r} is neither postgresql://… nor sqlite:///path")
