"""Atomic files and capped reads (``ombud.storage``)."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from ombud.database import SqliteDatabase, open_database
from ombud.errors import MalformedError, StorageError
from ombud.storage import connect, read_capped, write_atomically


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_is_written_whole_and_public(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint"
    write_atomically(path, b"one")
    assert path.read_bytes() == b"one" and _mode(path) == 0o644
    assert os.listdir(tmp_path) == ["checkpoint"]  # no temporary file left


def test_a_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "state"
    path.write_bytes(b"old")
    path.chmod(0o600)
    write_atomically(path, b"new", durable=False)
    assert path.read_bytes() == b"new" and _mode(path) == 0o600


def test_a_link_planted_where_the_temporary_file_was_is_not_followed(tmp_path: Path) -> None:
    """In a shared directory another user could plant ``NAME.tmp`` (the fixed name once used)
    pointing at a victim's file; the write must neither follow nor replace it."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"the victim's data")
    path = tmp_path / "mon.state"
    (tmp_path / "mon.state.tmp").symlink_to(victim)
    write_atomically(path, b"checkpoint")
    assert victim.read_bytes() == b"the victim's data"
    assert not path.is_symlink() and path.read_bytes() == b"checkpoint"


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state"
    path.write_bytes(b"old")

    def failing(src: str, dst: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(StorageError, match=r"cannot write .*state: disk full"):
        write_atomically(path, b"new")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["state"]


def test_read_capped_reads_up_to_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)
    assert read_capped(path, 10) == b"x" * 10
    with pytest.raises(MalformedError, match="larger than 9 bytes"):
        read_capped(path, 9)


_NAMES = ("journal_mode", "synchronous", "secure_delete")


def _pragmas(conn: sqlite3.Connection) -> tuple[object, ...]:
    return tuple(conn.execute(f"PRAGMA {name}").fetchone()[0] for name in _NAMES)


def test_every_sqlite_connection_is_durable_and_zeroes_what_it_deletes(tmp_path: Path) -> None:
    """README: appends are acknowledged after their commit (WAL with ``synchronous=FULL``), and
    for erasure "connections run with ``secure_delete``, so deleted cells are zeroed" — on
    every connection, including each thread's own connection to a deployment's database."""
    conn = connect(tmp_path / "plain.sqlite")
    try:
        assert _pragmas(conn) == ("wal", 2, 1)  # 2: FULL
    finally:
        conn.close()
    SqliteDatabase.create(tmp_path / "ombud.sqlite").close()
    database = open_database(f"sqlite:///{tmp_path / 'ombud.sqlite'}")

    def read() -> None:
        seen.append(tuple(database.read(f"PRAGMA {name}")[0][0] for name in _NAMES))

    seen: list[tuple[object, ...]] = []
    try:
        read()
        worker = threading.Thread(target=read)  # each thread has its own connection
        worker.start()
        worker.join()
    finally:
        database.close()
    assert seen == [("wal", 2, 1)] * 2
