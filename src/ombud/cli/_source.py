"""A log's entries read from a tlog-tiles export or URL, checked against its checkpoint's root:
what the verifying commands (``roster verify``, ``tender verify``) start from.

Threat model: the source is untrusted. Its checkpoint is checked against the log keys given
before any entry is read (a forged one could claim 2^63 entries), entries are streamed with
the tree's root computed as they pass (memory grows with the log's height, not its size), and
the entries count only once they hash to that root: the generator raises at its end otherwise.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from typing import TypeVar

from ombud.errors import MalformedError, NotFoundError, VerificationError
from ombud.ledger import merkle, note
from ombud.ledger.checkpoint import Checkpoint, open_checkpoint
from ombud.ledger.tiles import TILE_WIDTH, TileRef, decode_bundle
from ombud.ledger.verifier import TileSource, open_source

__all__ = ["read_entries", "read_verified"]

T = TypeVar("T")


def _checkpoint(tiles: TileSource, source: str, log_keys: Sequence[note.Verifier]) -> Checkpoint:
    raw = tiles.fetch("checkpoint")
    if raw is None:
        raise NotFoundError(f"no checkpoint at {source}")
    try:
        if log_keys:
            return open_checkpoint(raw, log_keys).checkpoint
        return Checkpoint.from_text(note.parse(raw).text)
    except MalformedError as exc:
        raise VerificationError(f"checkpoint: {exc}") from None


def _stream(tiles: TileSource, checkpoint: Checkpoint, source: str) -> Generator[bytes, None, None]:
    frontier = merkle.Frontier()
    for n in range(math.ceil(checkpoint.size / TILE_WIDTH)):
        width = min(TILE_WIDTH, checkpoint.size - n * TILE_WIDTH)
        ref = TileRef.entries(n, width)
        bundle = tiles.fetch(ref.path)
        if bundle is None:
            raise VerificationError(f"{ref.path} is missing from {source}")
        try:
            entries = decode_bundle(bundle, width)
        except MalformedError as exc:
            raise VerificationError(f"{ref.path}: {exc}") from None
        for entry in entries:
            frontier.append(merkle.leaf_hash(entry))
            yield entry
    if frontier.root() != checkpoint.root:
        raise VerificationError("the entries do not hash to the checkpoint's root")


@contextlib.contextmanager
def _opened(
    source: str, log_keys: Sequence[note.Verifier]
) -> Iterator[tuple[Checkpoint, Generator[bytes, None, None]]]:
    tiles = open_source(source)
    try:
        checkpoint = _checkpoint(tiles, source, log_keys)
        entries = _stream(tiles, checkpoint, source)
        with contextlib.closing(entries):
            yield checkpoint, entries
    finally:
        tiles.close()


def read_entries(
    source: str, log_keys: Sequence[note.Verifier] = ()
) -> Generator[bytes, None, None]:
    """Every entry the source's checkpoint covers, in order; ``VerificationError`` once they
    are read if they do not hash to its root. With ``log_keys`` the checkpoint must be signed
    by one of them before anything else is read."""
    with _opened(source, log_keys) as (_, entries):
        yield from entries


def read_verified(
    source: str,
    log_keys: Sequence[note.Verifier],
    consume: Callable[[Iterable[tuple[int, bytes]], Checkpoint], T],
) -> T:
    """``consume`` of the numbered entries, as ``read_entries`` streams them, and of the
    checkpoint they are checked against (its origin names the log); where it fails before the
    end, the rest is read to learn whether the entries hold to the root at all, and a source
    whose entries do not is reported as that, not as the consumer's complaint about an entry
    nobody vouched for."""
    with _opened(source, log_keys) as (checkpoint, entries):
        try:
            return consume(enumerate(entries), checkpoint)
        except VerificationError:
            for _ in entries:  # raises VerificationError itself if the root does not hold
                pass
            raise
