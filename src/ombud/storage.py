"""Files and SQLite as ombud writes them: atomic files, durable connections, write transactions.

Threat model: a file someone else gave (a proof bundle, a report, a saved checkpoint) is read
up to a cap (``read_capped``), not whole. What these files hold (a log's tiles, a witness's
memory, a monitor's trusted checkpoint, evidence) must survive a crash in the state its last
acknowledged write left it.
Files are replaced atomically (a crash leaves the old or the new one, whole). Connections run in
WAL mode with ``synchronous=FULL`` (a commit returns once fsync'd), and a write transaction
takes the write lock first (``BEGIN IMMEDIATE``) so the reads inside it see the state its
writes extend.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ombud.errors import MalformedError, StorageError

__all__ = ["connect", "read_capped", "write_atomically", "write_transaction"]


def read_capped(path: Path, limit: int) -> bytes:
    """The bytes of ``path``, read up to ``limit``: ``MalformedError`` beyond it, the rest never
    read (a sparse file of gigabytes, or a link to /dev/zero, costs nothing)."""
    with path.open("rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise MalformedError(f"{path} is larger than {limit} bytes")
    return data


def write_atomically(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` through a temporary file and a rename.

    The temporary file is created anew beside ``path`` under a random name (``O_EXCL``, so a
    file or link planted in a shared directory is never followed or overwritten); ``path``
    keeps its mode, and a new file is 0644, as these are public records (exports, checkpoints,
    settings; private keys have their own writer, ``ombud.keyfile``). ``durable`` fsyncs the
    data before the rename; bulk writers whose files a later step commits (an export writes
    its checkpoint last) may skip it.
    """
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = 0o644
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc}") from exc
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc}") from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def connect(path: Path, *, timeout: float = 30.0) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, fsync on commit, and
    ``secure_delete``: deleted or overwritten content is zeroed in its page, so an erased
    subject's key or a purged text does not linger in free space (the vault's erasure also
    truncates the WAL, where earlier page images would otherwise remain)."""
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=timeout, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA secure_delete = ON")
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open {path}: {exc}") from exc
    return conn


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection, what: str) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (durable), rolled back if the block raises.

    SQLite errors become ``StorageError`` naming ``what`` could not be written.
    """
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise StorageError(f"cannot write to {what}: {exc}") from exc
