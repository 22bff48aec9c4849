"""Export a log as a static tlog-tiles tree that any web server (or none) can serve.

Threat model: the export is published and may be mirrored by anyone; it holds only what the
log's checkpoint commits to. Files are written atomically and the checkpoint last, so a reader
that sees a checkpoint also finds every tile and bundle it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ombud.errors import NotFoundError, StorageError
from ombud.ledger.checkpoint import SignedCheckpoint, open_checkpoint
from ombud.ledger.log import Log
from ombud.ledger.tiles import TILE_HEIGHT, TileRef, tiles_for_size
from ombud.storage import write_atomically

__all__ = ["ExportReport", "export_log", "tile_refs"]


@dataclass(frozen=True)
class ExportReport:
    checkpoint: SignedCheckpoint
    files: int


def tile_refs(size: int) -> list[TileRef]:
    """Every entry bundle and hash tile a tree of ``size`` serves, partial ones included."""
    refs = list(tiles_for_size(size, -1))
    level = 0
    while size >> (TILE_HEIGHT * level):
        refs.extend(tiles_for_size(size, level))
        level += 1
    return refs


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, data, durable=False)


def export_log(
    log: Log, out: Path, *, progress: Callable[[int, int], None] | None = None
) -> ExportReport:
    """Write the latest published checkpoint, its tiles and its bundles to ``out``.

    An unwitnessed log first signs (and so publishes) a checkpoint of the integrated tree; a
    witnessed one exports what its witnesses last cosigned.
    """
    log.catch_up()
    published = log.published_checkpoint()
    if published is None:
        raise NotFoundError("the log has not published a checkpoint yet (no witness quorum)")
    signed = open_checkpoint(published.note, [log.verifier()], origin=log.origin)
    size = signed.checkpoint.size
    refs = tile_refs(size)
    try:
        for done, ref in enumerate(refs, 1):
            if ref.is_entries:
                data = log.bundle(ref.index, ref.width)
            else:
                data = log.tile(ref.level, ref.index, ref.width)
            _write(out / ref.path, data)
            if progress is not None:
                progress(done, len(refs))
        _write(out / "checkpoint", signed.to_bytes())
    except OSError as exc:
        raise StorageError(f"cannot write the export to {out}: {exc}") from exc
    return ExportReport(signed, len(refs) + 1)
