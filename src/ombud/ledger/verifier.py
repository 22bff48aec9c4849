"""Offline audit of a tiled log: recompute every tile and the root from the entries.

Threat model: the source (a directory copied from anywhere, or the log's own HTTP server) is
untrusted. Its checkpoint must be signed by the log key given on the command line (and cosigned
by a quorum of witnesses when asked); every entry bundle, every tile at every level and the
root are recomputed and compared; and a checkpoint trusted earlier must be provably consistent
(RFC 9162 §2.1.4) with the new one, so a rollback or a fork is caught across runs. The first
failure is reported with the tile path and entry index it concerns.
"""

from __future__ import annotations

import collections
import concurrent.futures
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ombud.errors import (
    MalformedError,
    NotFoundError,
    StorageError,
    VerificationError,
)
from ombud.ledger import merkle, note
from ombud.ledger.checkpoint import (
    Checkpoint,
    SignedCheckpoint,
    open_checkpoint,
    verify_extends,
    verify_quorum,
)
from ombud.ledger.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    TileNodes,
    TileRef,
    decode_bundle,
    tiles_for_size,
)
from ombud.storage import read_capped

__all__ = [
    "AuditReport",
    "DirectorySource",
    "HttpSource",
    "TileSource",
    "audit_log",
    "open_source",
    "resource_limit",
    "served_consistency",
]


class TileSource(Protocol):
    """Where a tiled log is read from. ``fetch`` returns None for a resource that is absent."""

    description: str

    def fetch(self, path: str) -> bytes | None: ...

    def close(self) -> None: ...


def resource_limit(path: str) -> int:
    """The most bytes the resource at ``path`` of a tlog-tiles tree can hold: a signed note, an
    entry bundle of 256 entries of up to 65,535 bytes each, or a tile of 256 hashes. A source
    stops reading past it, so a hostile one cannot fill the verifier's memory."""
    if path == "checkpoint":
        return note.MAX_NOTE_SIZE
    if path.startswith("tile/entries/"):
        return TILE_WIDTH * (2 + 0xFFFF)
    return TILE_WIDTH * merkle.HASH_SIZE


def _over(where: str, limit: int) -> VerificationError:
    return VerificationError(f"{where} is larger than the {limit} bytes it can hold")


class DirectorySource:
    """A static tlog-tiles tree on disk (what ``ombud log export`` writes): regular files only,
    each read up to its ``resource_limit``."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise NotFoundError(f"{root} is not a directory")
        self.root = root
        self.description = str(root)

    def fetch(self, path: str) -> bytes | None:
        where, limit = self.root / path, resource_limit(path)
        try:
            if not stat.S_ISREG(where.stat().st_mode):  # a FIFO would block, a device not end
                raise VerificationError(f"{where} is not a regular file")
            return read_capped(where, limit)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except MalformedError:
            raise _over(str(where), limit) from None
        except OSError as exc:
            raise StorageError(f"cannot read {where}: {exc}") from exc

    def close(self) -> None:
        pass


class HttpSource:
    """A log served over HTTP(S) with the tlog-tiles read API: no redirects, no compression,
    each response read up to its ``resource_limit`` and within ``deadline`` seconds whole (a
    server that drips bytes is cut off too)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        deadline: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        import httpx  # only the HTTP source needs it; keep the offline path light

        self.base = url.rstrip("/") + "/"
        self.description = url
        self.deadline = deadline
        self._clock = clock
        self._httpx = httpx
        self._client = httpx.Client(
            timeout=timeout, follow_redirects=False, headers={"Accept-Encoding": "identity"}
        )

    def fetch(self, path: str) -> bytes | None:
        url, limit = self.base + path, resource_limit(path)
        started = self._clock()
        try:
            with self._client.stream("GET", url) as response:
                if response.status_code == 404:
                    return None
                if response.status_code != 200:
                    raise StorageError(f"{url} answered HTTP {response.status_code}")
                encoding = response.headers.get("content-encoding", "identity").lower()
                if encoding != "identity":
                    raise StorageError(f"{url} answered in {encoding[:20]!r}, not as it is")
                body = bytearray()
                for chunk in response.iter_raw():
                    body += chunk
                    if len(body) > limit:
                        raise _over(url, limit)
                    if self._clock() - started > self.deadline:
                        raise StorageError(f"{url} took over {self.deadline:.0f} s to answer")
        except self._httpx.HTTPError as exc:
            raise StorageError(f"cannot fetch {url}: {exc}") from exc
        return bytes(body)

    def close(self) -> None:
        self._client.close()


def open_source(source: str) -> TileSource:
    """A URL (http:// or https://) or a directory path."""
    if source.startswith(("http://", "https://")):
        return HttpSource(source)
    return DirectorySource(Path(source))


@dataclass(frozen=True)
class AuditReport:
    """What a successful audit established."""

    checkpoint: SignedCheckpoint
    entries: int
    tiles: int
    previous: Checkpoint | None
    """The checkpoint trusted before this audit, now proven consistent with the new one."""


_Fetched = tuple[TileRef, bytes | None, bytes | None]


def _prefetch(source: TileSource, refs: Iterable[TileRef], workers: int) -> Iterator[_Fetched]:
    """Each level-0 tile with its entry bundle and its served hashes, fetched with a bounded
    window of parallel requests, in order."""
    window: collections.deque[concurrent.futures.Future[_Fetched]] = collections.deque()

    def both(ref: TileRef) -> _Fetched:
        bundle = source.fetch(TileRef.entries(ref.index, ref.width).path)
        return ref, bundle, source.fetch(ref.path)

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for ref in refs:
            window.append(pool.submit(both, ref))
            if len(window) >= workers * 4:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


class _Recomputer:
    """Rebuilds the tree level by level from entries, checking each served tile as it closes."""

    def __init__(self, source: TileSource) -> None:
        self.source = source
        self.pending: list[list[bytes]] = []
        self.closed: list[int] = []
        """Full tiles checked so far at each level (so the index of the next one)."""
        self.tiles_checked = 0
        self.partial0: TileNodes | None = None

    def _served(self, ref: TileRef) -> bytes:
        data = self.source.fetch(ref.path)
        if data is None:
            raise VerificationError(f"{ref.path} is missing from {self.source.description}")
        return data

    def _compare(self, ref: TileRef, computed: Sequence[bytes], served: bytes) -> None:
        self.tiles_checked += 1
        if len(served) != ref.width * merkle.HASH_SIZE:
            raise VerificationError(f"{ref.path} is {len(served)} bytes, not {ref.width} hashes")
        if b"".join(computed) == served:
            return
        for i, h in enumerate(computed):
            if served[i * 32 : (i + 1) * 32] != h:
                first = (ref.index * TILE_WIDTH + i) << (TILE_HEIGHT * ref.level)
                if ref.level == 0:
                    bundle = TileRef.entries(ref.index, ref.width).path
                    what = f"entry {first} of {bundle}"
                else:
                    what = f"the subtree from entry {first} recomputed from the entry bundles"
                raise VerificationError(f"{ref.path}: hash {i} does not match {what}")

    def add_level0(self, ref: TileRef, bundle: bytes | None, served: bytes | None) -> None:
        bundle_ref = TileRef.entries(ref.index, ref.width)
        if bundle is None:
            raise VerificationError(f"{bundle_ref.path} is missing from {self.source.description}")
        if served is None:
            raise VerificationError(f"{ref.path} is missing from {self.source.description}")
        try:
            entries = decode_bundle(bundle, ref.width)
        except MalformedError as exc:
            raise VerificationError(f"{bundle_ref.path}: {exc}") from None
        hashes = [merkle.leaf_hash(e) for e in entries]
        self._compare(ref, hashes, served)
        tile = TileNodes.build(hashes)
        if ref.width == TILE_WIDTH:
            self._push(1, tile.root())
        else:
            self.partial0 = tile

    def _push(self, level: int, h: bytes) -> None:
        while len(self.pending) <= level:
            self.pending.append([])
            self.closed.append(0)
        row = self.pending[level]
        row.append(h)
        if len(row) == TILE_WIDTH:
            ref = TileRef(level, self.closed[level])
            self._compare(ref, row, self._served(ref))
            self.pending[level] = []
            self.closed[level] += 1
            self._push(level + 1, TileNodes.build(row).root())

    def finish(self) -> bytes:
        """Check the partial tiles above level 0 and return the recomputed root."""
        pieces: list[bytes] = []
        for level in range(len(self.pending) - 1, 0, -1):
            row = self.pending[level]
            if row:
                ref = TileRef(level, self.closed[level], len(row))
                self._compare(ref, row, self._served(ref))
                pieces.extend(TileNodes.build(row).edge())
        if self.partial0 is not None:
            pieces.extend(self.partial0.edge())
        return merkle.fold(pieces) if pieces else merkle.EMPTY_ROOT


class _ServedTree:
    """Reads complete nodes from the served tiles of a tree of ``size`` (for proofs)."""

    def __init__(self, source: TileSource, size: int) -> None:
        self.source = source
        self.size = size
        self.tiles: dict[tuple[int, int], TileNodes] = {}

    def node(self, level: int, index: int) -> bytes:
        L, r = divmod(level, TILE_HEIGHT)
        n = index >> (TILE_HEIGHT - r)
        key = (L, n)
        tile = self.tiles.get(key)
        if tile is None:
            count = self.size >> (TILE_HEIGHT * L)
            width = min(TILE_WIDTH, count - n * TILE_WIDTH)
            ref = TileRef(L, n, width)
            data = self.source.fetch(ref.path)
            if data is None or len(data) != width * merkle.HASH_SIZE:
                raise VerificationError(f"{ref.path} is missing or malformed")
            tile = TileNodes.build([data[i : i + 32] for i in range(0, len(data), 32)])
            self.tiles[key] = tile
        return tile.node(r, index & ((TILE_WIDTH >> r) - 1))


def audit_log(
    source: TileSource,
    log_keys: Sequence[note.Verifier],
    *,
    origin: str | None = None,
    witnesses: Sequence[note.Verifier] = (),
    quorum: int = 0,
    trusted: bytes | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 4,
) -> AuditReport:
    """Verify a tiled log end to end; raise a ``VerificationError`` naming the first failure.

    ``trusted`` is a signed checkpoint accepted by an earlier audit; the new checkpoint must be
    at least as large and consistent with it.
    """
    raw = source.fetch("checkpoint")
    if raw is None:
        raise NotFoundError(f"no checkpoint at {source.description}")
    try:
        signed = open_checkpoint(raw, log_keys, origin=origin, witnesses=witnesses)
    except MalformedError as exc:
        raise VerificationError(f"checkpoint: {exc}") from exc
    if quorum:
        verify_quorum(signed, witnesses, quorum)
    cp = signed.checkpoint
    previous = None
    if trusted is not None:
        previous = open_checkpoint(trusted, log_keys, origin=origin, witnesses=witnesses).checkpoint
        if previous.size > cp.size:
            verify_extends(previous, cp, [])  # raises: the log rolled back

    recompute = _Recomputer(source)
    done = 0
    # Tile by tile, never a list of them all: a signed size of 2^63 must fail at the first
    # missing tile, not allocate 2^55 references first.
    for ref, bundle, tile in _prefetch(source, tiles_for_size(cp.size, 0), workers):
        recompute.add_level0(ref, bundle, tile)
        done += ref.width
        if progress is not None:
            progress(done, cp.size)
    root = recompute.finish()
    if root != cp.root:
        raise VerificationError(
            f"the tree recomputed from {cp.size} entries has a different root than the checkpoint"
        )

    if previous is not None:
        proof, _ = served_consistency(source, previous.size, cp.size)
        verify_extends(previous, cp, proof)
    return AuditReport(signed, cp.size, recompute.tiles_checked, previous)


def served_consistency(
    source: TileSource, old_size: int, new_size: int
) -> tuple[list[bytes], bytes]:
    """Read from the served tree of ``new_size`` the consistency proof from ``old_size`` and
    the root that tree has at ``old_size`` (what a fork's evidence needs)."""
    tree = _ServedTree(source, new_size)
    proof = merkle.resolve(merkle.consistency_plan(old_size, new_size), tree.node)
    if old_size == 0:
        return proof, merkle.EMPTY_ROOT
    return proof, merkle.fold([tree.node(*n) for n in merkle.subtree_nodes(0, old_size)])
