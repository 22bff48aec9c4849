"""The log: a sequencer that makes appends durable in batches, an integrator that grows the tiled
Merkle tree, checkpoint signing, and proofs served from stored tiles.

Threat model: the process may be killed at any instant and the operator may be dishonest. An
append is acknowledged only after the batch holding it is committed; sequencing and integration
of a batch are one transaction, so the stored tree never lags or leads its entries; and a
checkpoint is signed only over integrated state that is provably consistent (RFC 9162 §2.1.4)
with the last checkpoint this log signed, so the log cannot be made to sign a fork.

Integration is a pure function (``integrate``) from the tree's right edge and a batch of
entries to the tiles and bundles to write; it could run in its own process if a PostgreSQL
store ever needs that. Proofs are computed from the interior nodes stored with each tile: an
inclusion proof reads at most one tile per 8 tree levels (three reads at a million entries).
"""

from __future__ import annotations

import hashlib
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from ombud.database import Tx
from ombud.errors import (
    InconsistentTreeError,
    MalformedError,
    NotFoundError,
    StaleStateError,
    StorageError,
)
from ombud.ledger import merkle, note
from ombud.ledger.checkpoint import Checkpoint, SignedCheckpoint, open_checkpoint, verify_extends
from ombud.ledger.proof_bundle import ProofBundle
from ombud.ledger.store import Batch, LogStore, StoredCheckpoint, TreeState
from ombud.ledger.tiles import (
    MAX_ENTRY_SIZE,
    TILE_HEIGHT,
    TILE_WIDTH,
    TileNodes,
    check_entry,
    decode_bundle,
    encode_bundle,
    encode_entries,
)

__all__ = ["Attachment", "BatchPolicy", "Edge", "Log", "Sequencer", "integrate"]

Attachment = Callable[[Tx, Any], tuple[list[bytes], Callable[[Tx, int], None]]]
"""Entries and rows another record adds to an ``append_with`` transaction: given the
transaction and the record (a post, a device), the entries to append after the record's own and
a function that writes their rows once the first of their indexes is known. The vault seals a
resident's personal payload this way, in the same commit as what it belongs to."""

_sha256 = hashlib.sha256
_PIPELINE_SWITCH_INTERVAL = 0.0002  # seconds; see Log.append_stream
_RANGE_CACHE = 4096  # right-edge node hashes remembered; see Log._range_hash


# --- integration (pure) ------------------------------------------------------------------------


@dataclass(frozen=True)
class Edge:
    """The right edge of the tree: the partial tile of each level and the partial bundle.

    Everything left of the edge is immutable and lives only in the store; this is all the
    integrator needs in memory (a few kilobytes at any size).
    """

    size: int
    root: bytes
    tiles: tuple[TileNodes | None, ...]
    """The partial tile (with interior) at each level; None where the level has no partial tile."""
    bundle: tuple[bytes, ...]
    """Encoded (length-prefixed) entries of the partial entry bundle."""

    @classmethod
    def empty(cls) -> Edge:
        return cls(0, merkle.EMPTY_ROOT, (), ())


def _root(tiles: Sequence[TileNodes | None]) -> bytes:
    pieces = [h for tile in reversed(tiles) if tile is not None for h in tile.edge()]
    return merkle.fold(pieces) if pieces else merkle.EMPTY_ROOT


def _leaf_hashes(entries: Sequence[bytes]) -> list[bytes]:
    """RFC 9162 leaf hashes of a batch, refusing it whole if any entry is too large."""
    if max(map(len, entries)) > MAX_ENTRY_SIZE:
        for entry in entries:
            check_entry(entry)
    return [_sha256(b"\x00" + e).digest() for e in entries]


@dataclass(frozen=True)
class Integration:
    """What integrating one batch produced: the new right edge and the writes to commit."""

    edge: Edge
    batch: Batch


def integrate(edge: Edge, entries: Sequence[bytes], leaf_hashes: Sequence[bytes]) -> Integration:
    """Append ``entries`` (with their precomputed leaf hashes) to the tree at ``edge``.

    Returns the new edge and the batch to write: every tile and bundle that became full, and the
    new version of every partial one that changed.
    """
    if len(entries) != len(leaf_hashes):
        raise MalformedError("entries and leaf hashes differ in number")
    size = edge.size
    new_size = size + len(entries)
    written: list[tuple[int, int, TileNodes]] = []
    tiles = list(edge.tiles)
    carry = list(leaf_hashes)
    level = 0
    while carry:
        if level == len(tiles):
            tiles.append(None)
        old = tiles[level]
        row = (old.hashes() if old is not None else []) + carry
        first = size >> (TILE_HEIGHT * (level + 1))
        carry = []
        full = len(row) // TILE_WIDTH
        for t in range(full):
            tile = TileNodes.build(row[t * TILE_WIDTH : (t + 1) * TILE_WIDTH])
            written.append((level, first + t, tile))
            carry.append(tile.root())
        rest = row[full * TILE_WIDTH :]
        partial = TileNodes.build(rest) if rest else None
        tiles[level] = partial
        if partial is not None:
            written.append((level, first + full, partial))
        level += 1

    encoded = encode_entries(entries)
    row_entries = list(edge.bundle) + encoded
    first_bundle = size >> TILE_HEIGHT
    bundles: list[tuple[int, int, bytes]] = []
    full = len(row_entries) // TILE_WIDTH
    for t in range(full):
        chunk = row_entries[t * TILE_WIDTH : (t + 1) * TILE_WIDTH]
        bundles.append((first_bundle + t, TILE_WIDTH, b"".join(chunk)))
    rest_entries = tuple(row_entries[full * TILE_WIDTH :])
    if rest_entries:
        bundles.append((first_bundle + full, len(rest_entries), b"".join(rest_entries)))

    root = _root(tiles)
    new_edge = Edge(new_size, root, tuple(tiles), rest_entries)
    return Integration(new_edge, Batch(TreeState(new_size, root), written, bundles))


# --- the log -----------------------------------------------------------------------------------


class _TileCache:
    """Recently read tiles. Full tiles never change and a partial tile only grows, so a cached
    tile is good for every request it is wide enough for."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(capacity, 16)
        self.tiles: dict[tuple[int, int], TileNodes] = {}

    def get(self, key: tuple[int, int], width: int) -> TileNodes | None:
        tile = self.tiles.get(key)
        return tile if tile is not None and tile.width >= width else None

    def put(self, key: tuple[int, int], tile: TileNodes) -> None:
        if len(self.tiles) >= self.capacity and key not in self.tiles:
            self.tiles.pop(next(iter(self.tiles)), None)
        self.tiles[key] = tile


class Log:
    """One append-only log over a ``LogStore``, signing with ``signer``.

    ``signer`` may be None for a read-only log (a server that only serves proofs and tiles).
    A ``witnessed`` log publishes a checkpoint only once a quorum of witnesses cosigned it
    (``publish``, driven by ``ombud.witness.publisher``); an unwitnessed one publishes every
    checkpoint it signs. Thread-safe: appends are serialised, reads run concurrently.
    """

    def __init__(
        self,
        store: LogStore,
        signer: note.Signer | None,
        *,
        tile_cache: int = 4096,
        witnessed: bool = False,
    ) -> None:
        self.store = store
        self.witnessed = witnessed
        self.origin = store.origin()
        self.signer = signer
        if signer is not None and signer.sig_type != note.ALG_ED25519:
            raise MalformedError("a log signs its checkpoints with an Ed25519 (type 0x01) key")
        self._cache = _TileCache(tile_cache)
        self._ranges: dict[tuple[int, int], bytes] = {}
        self._write_lock = threading.Lock()
        self._edge = self._load_edge()

    # --- state ---------------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """The integrated size as this process last wrote or loaded it."""
        return self._edge.size

    def state(self) -> TreeState:
        """The integrated state in the store (which another process may have grown)."""
        return self.store.state()

    def _load_edge(self) -> Edge:
        """The edge of the stored tree.

        The store keeps only the latest version of each partial tile and bundle, and reads them
        one by one: another process appending between the read of the state and theirs makes
        them newer than that state. Then the state has moved, and it is read again; an edge
        that does not match a state that has not moved is a corrupt store.
        """
        for _attempt in range(10):
            state = self.store.state()
            try:
                return self._edge_at(state)
            except StorageError:
                if self.store.state() == state:
                    raise
        raise StorageError("another writer kept appending while the log's edge was read")

    def _edge_at(self, state: TreeState) -> Edge:
        tiles: list[TileNodes | None] = []
        level = 0
        while state.size >> (TILE_HEIGHT * level):
            width = (state.size >> (TILE_HEIGHT * level)) % TILE_WIDTH
            tile = None
            if width:
                index = state.size >> (TILE_HEIGHT * (level + 1))
                stored = self.store.read_tile(level, index)
                if stored is None or stored.width != width:
                    raise StorageError(
                        f"stored tile {level}/{index} does not match the tree size {state.size}"
                    )
                tile = stored
            tiles.append(tile)
            level += 1
        count = state.size % TILE_WIDTH
        bundle: tuple[bytes, ...] = ()
        if count:
            stored_bundle = self.store.read_bundle(state.size >> TILE_HEIGHT)
            if stored_bundle is None or stored_bundle[0] != count:
                raise StorageError(f"stored entry bundle does not match the tree size {state.size}")
            entries = decode_bundle(stored_bundle[1], count)
            bundle = tuple(encode_entries(entries))
        if _root(tiles) != state.root:
            raise StorageError(f"stored tiles do not hash to the stored root at size {state.size}")
        return Edge(state.size, state.root, tuple(tiles), bundle)

    # --- appending -----------------------------------------------------------------------------

    def append_batch(self, entries: Sequence[bytes]) -> int:
        """Append ``entries`` in one durable transaction; returns the index of the first.

        When this returns, every entry is committed and integrated. On error nothing is written.
        """
        if not entries:
            return self.size
        hashes = _leaf_hashes(entries)
        with self._write_lock:
            for _attempt in range(10):
                edge = self._edge
                result = integrate(edge, entries, hashes)
                try:
                    self.store.write(edge.size, result.batch)
                except StaleStateError:
                    self._edge = self._load_edge()  # another process appended; rebase on it
                    continue
                self._edge = result.edge
                return edge.size
            raise StorageError("another writer keeps appending to this log; gave up after 10 tries")

    def append_with(
        self,
        build: Callable[[Tx], Sequence[bytes]],
        record: Callable[[Tx, int], None],
    ) -> int:
        """Append entries and the rows that point at them in one durable transaction.

        Inside one write transaction of the store: ``build(tx)`` reads what it needs (a device's
        last counter, say) and returns the entries to append; they are integrated;
        ``record(tx, first_index)`` writes the rows that carry their indexes. Everything commits
        together, or nothing does. Returns the index of the first entry (the size when ``build``
        returned none).
        """
        with self._write_lock:
            with self.store.transaction() as tx:
                if self.store.size_in(tx) != self._edge.size:
                    self._edge = self._load_edge()  # another process appended
                edge = self._edge
                entries = build(tx)
                if not entries:
                    return edge.size
                result = integrate(edge, entries, _leaf_hashes(entries))
                self.store.write_in(tx, edge.size, result.batch)
                record(tx, edge.size)
            self._edge = result.edge
            return edge.size

    def append_group(
        self,
        jobs: Sequence[tuple[Callable[[Tx], Sequence[bytes]], Callable[[Tx, int], None]]],
    ) -> list[int | Exception]:
        """Group commit: many ``append_with`` jobs in one durable transaction (one fsync).

        Each job runs in a savepoint of its own: a job whose ``build`` or ``record`` raises
        (a token already spent, say) is rolled back alone and its exception is returned in
        its place; the others commit together. Returns each job's first index, or its error.
        If the commit itself fails, it raises and nothing of any job was written.
        """
        outcomes: list[int | Exception] = []
        with self._write_lock:
            with self.store.transaction() as tx:
                if self.store.size_in(tx) != self._edge.size:
                    self._edge = self._load_edge()  # another process appended
                edge = self._edge
                entries: list[bytes] = []
                for number, (build, record) in enumerate(jobs):
                    tx.execute(f"SAVEPOINT job{number}")
                    try:
                        built = list(build(tx))
                        record(tx, edge.size + len(entries))
                    except Exception as exc:  # this job only: roll it back, keep the rest
                        tx.execute(f"ROLLBACK TO SAVEPOINT job{number}")
                        tx.execute(f"RELEASE SAVEPOINT job{number}")
                        outcomes.append(exc)
                        continue
                    tx.execute(f"RELEASE SAVEPOINT job{number}")
                    outcomes.append(edge.size + len(entries))
                    entries += built
                if not entries:
                    return outcomes
                result = integrate(edge, entries, _leaf_hashes(entries))
                self.store.write_in(tx, edge.size, result.batch)
            self._edge = result.edge
            return outcomes

    def append_stream(
        self,
        batches: Iterable[Sequence[bytes]],
        on_durable: Callable[[int, int], None],
        *,
        depth: int = 2,
    ) -> int:
        """Append a stream of batches as the log's one sequencer; returns how many were appended.

        Each batch is hashed and integrated in the calling thread while the batch before it is
        committed (and fsync'd) by a writer thread, so the CPU and the disk work at once.
        ``on_durable(first_index, count)`` is called, in order, once a batch is committed. The
        store's sequencer lock is held throughout, so other appenders wait rather than race.
        If a batch fails — or the ``batches`` iterator raises — everything queued before it is
        still committed and acknowledged, and nothing after it is written.
        """
        with self._write_lock, self.store.sequencer_lock():
            self._edge = self._load_edge()  # another sequencer may have appended before the lock
            pending: queue.Queue[tuple[int, Batch, int] | None] = queue.Queue(maxsize=depth)
            failures: list[BaseException] = []

            def write() -> None:
                while (item := pending.get()) is not None:
                    if failures:
                        continue  # drain: nothing after a failed batch may be written
                    expected, batch, count = item
                    try:
                        self.store.write(expected, batch)
                        on_durable(expected, count)
                    except BaseException as exc:  # handed to the caller's thread below
                        failures.append(exc)

            writer = threading.Thread(target=write, name="ombud-log-writer", daemon=True)
            # The writer spends its time in SQLite and fsync with the GIL released; when the
            # disk returns, it must get the GIL back promptly or the pipeline stalls for the
            # default 5 ms switch interval each time (measured: 11% slower on 1M appends).
            switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(_PIPELINE_SWITCH_INTERVAL)
            writer.start()
            edge = self._edge
            appended = 0
            try:
                for entries in batches:
                    if failures:
                        break
                    if not entries:
                        continue
                    result = integrate(edge, entries, _leaf_hashes(entries))
                    pending.put((edge.size, result.batch, len(entries)))
                    edge = result.edge
                    appended += len(entries)
            finally:
                pending.put(None)
                writer.join()
                sys.setswitchinterval(switch_interval)
                self._edge = self._load_edge() if failures else edge
            if failures:
                raise failures[0]
            return appended

    # --- reading -------------------------------------------------------------------------------

    def _tile(self, level: int, index: int, width: int) -> TileNodes:
        key = (level, index)
        tile = self._cache.get(key, width)
        if tile is None:
            tile = self.store.read_tile(level, index)
            if tile is None or tile.width < width:
                raise NotFoundError(f"tile {level}/{index} of width {width} is not in the log")
            self._cache.put(key, tile)
        return tile

    def node(self, level: int, index: int) -> bytes:
        """The complete node ``(level, index)``; it must lie within the integrated tree."""
        r = level & 7
        j = index & ((TILE_WIDTH >> r) - 1)
        key = (level >> 3, index >> (TILE_HEIGHT - r))
        need = (j + 1) << r
        tile = self._cache.tiles.get(key)  # inlined _tile(): every proof starts here
        if tile is None or tile.width < need:
            tile = self._tile(key[0], key[1], need)
        start = tile.offsets[r] + j * 32
        return tile.data[start : start + 32]

    def _check_size(self, size: int) -> None:
        if size < 0 or (size > self._edge.size and size > self.store.state().size):
            raise NotFoundError(f"tree size {size} is larger than the log")

    def root_at(self, size: int) -> bytes:
        """The root of the tree's first ``size`` leaves."""
        self._check_size(size)
        if size == 0:
            return merkle.EMPTY_ROOT
        return merkle.fold([self.node(lv, ix) for lv, ix in merkle.subtree_nodes(0, size)])

    def _path(self, level: int, index: int, size: int) -> list[bytes]:
        """Siblings of node ``(level, index)`` up to the root of the tree of ``size``.

        The walk of ``merkle._path_plan`` (tests hold the two to the same output), reading the
        nodes of one tile level from one tile fetched once: proofs are the log's hot read path.
        """
        last = (size - 1) >> level
        inner = (index ^ last).bit_length()  # levels below the fork from the last leaf's path
        top = max(inner, index.bit_length())
        proof: list[bytes] = []
        add = proof.append
        h = 0
        while h < top:
            lvl = level + h
            r = lvl & 7  # literals, not TILE_HEIGHT/TILE_WIDTH: this loop is the hot path
            node = index >> h
            if h + 8 - r < inner:
                # Every level left in this tile is below the fork: a complete sibling at each,
                # all in one full tile, read by table lookup.
                tile = self._tile(lvl >> 3, node >> (8 - r), TILE_WIDTH)
                proof.extend(tile.path(r, node & ((256 >> r) - 1)))
                h += 8 - r
                continue
            h += 1
            if h > inner and not node & 1:
                continue  # on the right edge with no left sibling: promoted, nothing to add
            sibling = node ^ 1
            if h == inner and (sibling + 1) << lvl > size:  # the one ephemeral node
                add(self._range_hash(sibling << lvl, size))
                continue
            j = sibling & ((256 >> r) - 1)
            tile = self._tile(lvl >> 3, sibling >> (8 - r), (j + 1) << r)
            start = tile.offsets[r] + (j << 5)
            add(tile.data[start : start + 32])
        return proof

    def _range_hash(self, begin: int, end: int) -> bytes:
        """MTH of leaves ``[begin, end)``: folded from complete subtrees, then remembered.

        Such right-edge nodes recur in every proof against the same tree size, and a range
        of an append-only tree never changes, so caching them is always safe.
        """
        key = (begin, end)
        cached = self._ranges.get(key)
        if cached is None:
            nodes = merkle.subtree_nodes(begin, end)
            cached = merkle.fold([self.node(level, index) for level, index in nodes])
            if len(self._ranges) >= _RANGE_CACHE:
                self._ranges.clear()
            self._ranges[key] = cached
        return cached

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """PATH(index, D[size]) (RFC 9162 §2.1.3.1), from stored tiles."""
        merkle.check_inclusion(index, size)
        self._check_size(size)
        return self._path(0, index, size)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """PROOF(size1, D[size2]) (RFC 9162 §2.1.4.1), from stored tiles."""
        subtree = merkle.consistency_subtree(size1, size2)
        self._check_size(size2)
        if subtree is None:
            return []
        level, index = subtree
        proof = self._path(level, index, size2)
        if index:
            proof.insert(0, self.node(level, index))
        return proof

    def tile(self, level: int, index: int, width: int = TILE_WIDTH) -> bytes:
        """A hash tile as tlog-tiles serves it (``width`` < 256 for a partial tile)."""
        return self._tile(level, index, width).row(width)

    def bundle(self, index: int, width: int = TILE_WIDTH) -> bytes:
        """An entry bundle as tlog-tiles serves it, or its prefix of ``width`` entries."""
        stored = self.store.read_bundle(index)
        if stored is None or stored[0] < width:
            raise NotFoundError(f"entry bundle {index} of width {width} is not in the log")
        count, data = stored
        if count == width:
            return data
        return encode_bundle(decode_bundle(data, count)[:width])

    def entry(self, index: int) -> bytes:
        return self.entries(index, index + 1)[0]

    def entries(self, start: int, stop: int) -> list[bytes]:
        """Entries ``[start, stop)``, read bundle by bundle."""
        if not 0 <= start < stop <= self.store.state().size:
            raise NotFoundError(f"entries [{start}, {stop}) are not in the log")
        out: list[bytes] = []
        for n in range(start >> TILE_HEIGHT, ((stop - 1) >> TILE_HEIGHT) + 1):
            stored = self.store.read_bundle(n)
            if stored is None:
                raise StorageError(f"entry bundle {n} is missing")
            bundle = decode_bundle(stored[1], stored[0])
            base = n << TILE_HEIGHT
            out.extend(bundle[max(start - base, 0) : stop - base])
        return out

    # --- checkpoints ---------------------------------------------------------------------------

    def _signer(self) -> note.Signer:
        if self.signer is None:
            raise MalformedError("this log was opened without its signing key")
        return self.signer

    def verifier(self) -> note.Verifier:
        return self._signer().verifier()

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The latest checkpoint signed, whether or not it was published."""
        return self.store.latest_checkpoint()

    def published_checkpoint(self) -> StoredCheckpoint | None:
        """The latest published checkpoint, with its cosignatures: what readers are served."""
        return self.store.published_checkpoint()

    def prove(self, index: int, *, with_entry: bool = False) -> ProofBundle | None:
        """A c2sp.org/tlog-proof of entry ``index`` against the published checkpoint (the entry
        itself in ``extra`` when asked), or None while no published checkpoint covers it."""
        published = self.published_checkpoint()
        if published is None or index >= published.size:
            return None
        return ProofBundle(
            index,
            tuple(self.inclusion_proof(index, published.size)),
            published.note,
            extra=self.entry(index) if with_entry else None,
        )

    def catch_up(self) -> None:
        """Bring the published checkpoint up to the integrated tree, where the log may do so
        alone: an unwitnessed log signs (and so publishes) one; a witnessed log publishes only
        what its witnesses cosign, so nothing happens here."""
        if not self.witnessed:
            self.checkpoint()

    def publish(self, cosigned: bytes) -> SignedCheckpoint:
        """Publish a checkpoint this log signed, as ``cosigned`` (the note with cosignatures).

        The caller has checked the witness quorum; this checks the note is this log's own
        signed checkpoint.
        """
        opened = open_checkpoint(cosigned, [self.verifier()], origin=self.origin)
        cp = opened.checkpoint
        signed = self.store.latest_checkpoint()
        if signed is None or signed.size < cp.size:
            raise NotFoundError(f"this log never signed a checkpoint of size {cp.size}")
        self.store.publish(cp.size, cosigned)
        return opened

    def checkpoint(self) -> SignedCheckpoint:
        """Sign a checkpoint of the integrated tree (or return the latest if nothing changed).

        Before signing, the new tree is proven consistent with the latest checkpoint this log
        signed; a store that shrank or whose tiles changed is refused, not signed. An
        unwitnessed log publishes it at once.
        """
        signer = self._signer()
        verifier = signer.verifier()
        state = self.store.state()
        latest = self.store.latest_checkpoint()
        if latest is not None:
            if (latest.size, latest.root) == (state.size, state.root):
                return open_checkpoint(latest.note, [verifier], origin=self.origin)
            grown = latest.size < state.size
            proof = self.consistency_proof(latest.size, state.size) if grown else []
            verify_extends(latest, state, proof)  # a shrunk or rewritten store raises here
        if self.root_at(state.size) != state.root:
            raise InconsistentTreeError(f"stored tiles do not hash to the root of {state.size}")
        text = Checkpoint(self.origin, state.size, state.root).to_text()
        signed = note.sign(text, signer)
        self.store.add_checkpoint(StoredCheckpoint(state.size, state.root, signed))
        if not self.witnessed:
            self.store.publish(state.size, signed)
        return open_checkpoint(signed, [verifier], origin=self.origin)

    def close(self) -> None:
        self.store.close()


# --- the sequencer -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchPolicy:
    """When a batch is committed: at ``max_entries`` entries or ``max_age`` seconds after its
    first entry arrived, whichever comes first."""

    max_entries: int = 4096
    max_age: float = 0.05

    def __post_init__(self) -> None:
        if self.max_entries < 1:
            raise MalformedError("a batch holds at least one entry")
        if not 0 <= self.max_age <= 60:
            raise MalformedError("batch age limit must be between 0 and 60 seconds")


class Sequencer:
    """Batches appends from many threads into ``Log.append_batch`` transactions.

    ``submit`` returns a future that resolves to the entry's index once it is durable, or fails
    with the error that kept its batch from committing (then nothing of the batch was written).
    """

    def __init__(
        self,
        log: Log,
        policy: BatchPolicy = BatchPolicy(),
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = log
        self.policy = policy
        self._clock = clock
        self._queue: queue.SimpleQueue[tuple[bytes, Future[int]] | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="ombud-sequencer", daemon=True)
        self._thread.start()

    def submit(self, entry: bytes) -> Future[int]:
        if self._closed:
            raise MalformedError("the sequencer is closed")
        check_entry(entry)
        future: Future[int] = Future()
        self._queue.put((entry, future))
        return future

    def append(self, entry: bytes, timeout: float | None = None) -> int:
        """Append one entry and wait until it is durable; returns its index."""
        return self.submit(entry).result(timeout)

    def close(self) -> None:
        """Commit what was submitted, then stop."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            deadline = self._clock() + self.policy.max_age
            while len(batch) < self.policy.max_entries:
                remaining = deadline - self._clock()
                try:
                    item = (
                        self._queue.get(timeout=remaining)
                        if remaining > 0
                        else self._queue.get_nowait()
                    )
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[tuple[bytes, Future[int]]]) -> None:
        try:
            first = self.log.append_batch([entry for entry, _ in batch])
        except Exception as exc:  # every waiter learns why its entry was not appended
            for _, future in batch:
                future.set_exception(exc)
            return
        for offset, (_, future) in enumerate(batch):
            future.set_result(first + offset)
