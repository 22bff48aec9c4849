"""The interface between the log and its storage: what a SQLite or PostgreSQL store provides.

Threat model: storage is where an insider would rewrite history, so a store only ever grows:
tiles and bundles are written in one atomic, durable batch together with the tree size they
belong to, and the log re-checks the stored right edge against the stored root on every open.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from ombud.database import Database, Tx
from ombud.ledger.tiles import TileNodes

__all__ = ["Batch", "LogStore", "StoredCheckpoint", "TreeState"]


@dataclass(frozen=True)
class TreeState:
    """The integrated tree: every entry below ``size`` is durable and hashed into ``root``."""

    size: int
    root: bytes


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: bytes


@dataclass(frozen=True)
class Batch:
    """One integration step: the tiles and bundles it wrote, and the state it leads to."""

    state: TreeState
    tiles: Sequence[tuple[int, int, TileNodes]]
    """``(level, index, tile)``: full tiles, and the new version of each partial tile."""
    bundles: Sequence[tuple[int, int, bytes]]
    """``(index, entry count, encoded bundle)``: full bundles and the new partial bundle."""


class LogStore(Protocol):
    """Durable storage of one log. Implementations must make ``write`` atomic and durable."""

    db: Database
    """The database holding the log, which other tables of the deployment share."""

    def origin(self) -> str: ...

    def state(self) -> TreeState: ...

    def write(self, expected_size: int, batch: Batch) -> None:
        """Write ``batch`` iff the stored size is still ``expected_size``; durable on return.

        Raises ``StaleStateError`` (nothing written) when another writer got there first.
        """
        ...

    def transaction(self) -> AbstractContextManager[Tx]:
        """A write transaction of the store's database (its one write lock, durable commit)."""
        ...

    def size_in(self, tx: Tx) -> int:
        """The stored size, read inside ``tx`` (so no other writer can change it)."""
        ...

    def write_in(self, tx: Tx, expected_size: int, batch: Batch) -> None:
        """``write`` inside ``tx``, which may also write rows of other tables."""
        ...

    def read_tile(self, level: int, index: int) -> TileNodes | None:
        """The latest version of a hash tile (with interior), or None."""
        ...

    def read_bundle(self, index: int) -> tuple[int, bytes] | None:
        """The latest version of an entry bundle as ``(entry count, encoded bundle)``, or None."""
        ...

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None: ...

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The largest checkpoint signed, published or not."""
        ...

    def publish(self, size: int, cosigned: bytes) -> None:
        """Mark the checkpoint of ``size`` published, as ``cosigned`` (with its cosignatures)."""
        ...

    def published_checkpoint(self) -> StoredCheckpoint | None:
        """The largest published checkpoint; its ``note`` carries the cosignatures."""
        ...

    def set_publish_status(self, status: str) -> None:
        """Record the outcome of the last publishing attempt (JSON, for ``ombud log status``)."""
        ...

    def publish_status(self) -> str | None: ...

    def checkpoints(self) -> Iterator[StoredCheckpoint]:
        """Every checkpoint the log signed, by size."""
        ...

    def sequencer_lock(self) -> AbstractContextManager[None]:
        """Exclusive, blocking: held by the one process sequencing into this log."""
        ...

    def close(self) -> None: ...
