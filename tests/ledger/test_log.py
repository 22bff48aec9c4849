"""The log: integration equals the RFC 9162 tree, proofs from tiles, checkpoints, sequencer."""

from __future__ import annotations

import random
import sqlite3
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ombud.deployment import open_log
from ombud.errors import EntryTooLargeError, InconsistentTreeError, NotFoundError, StorageError
from ombud.ledger import merkle
from ombud.ledger.checkpoint import open_checkpoint
from ombud.ledger.log import BatchPolicy, Edge, Log, Sequencer, integrate
from ombud.ledger.logdir import LOG_DB
from ombud.ledger.store import TreeState


def entries(start: int, count: int) -> list[bytes]:
    return [b"entry %d" % i for i in range(start, start + count)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 700), min_size=1, max_size=12))
def test_incremental_integration_equals_the_tree_built_at_once(batches: list[int]) -> None:
    edge = Edge.empty()
    all_entries: list[bytes] = []
    for count in batches:
        batch = entries(len(all_entries), count)
        all_entries += batch
        result = integrate(edge, batch, [merkle.leaf_hash(e) for e in batch])
        edge = result.edge
        assert result.batch.state.size == len(all_entries)
    assert edge.root == merkle.root([merkle.leaf_hash(e) for e in all_entries])


def test_proofs_from_stored_tiles_equal_proofs_from_leaves(log: Log) -> None:
    rng = random.Random(7)
    data: list[bytes] = []
    while len(data) < 70_000:
        batch = entries(len(data), rng.randint(1, 5000))
        assert log.append_batch(batch) == len(data)
        data += batch
    hashes = [merkle.leaf_hash(e) for e in data]
    n = len(data)
    assert log.state().root == merkle.root(hashes)
    for size in [1, 2, 255, 256, 257, 65535, 65536, 65537, n]:
        assert log.root_at(size) == merkle.root(hashes[:size])
    for _ in range(50):
        size = rng.randint(1, n)
        index = rng.randrange(size)
        assert log.inclusion_proof(index, size) == merkle.inclusion_proof(hashes, index, size)
        old = rng.randint(0, size)
        assert log.consistency_proof(old, size) == merkle.consistency_proof(hashes, old, size)
    assert log.entry(n - 1) == data[-1] and log.entry(0) == data[0]
    with pytest.raises(NotFoundError):
        log.entry(n)
    with pytest.raises(NotFoundError):
        log.inclusion_proof(0, n + 1)


def test_reopening_recovers_the_edge(log_dir: Path) -> None:
    first = open_log(log_dir)
    first.append_batch(entries(0, 300))
    first.append_batch(entries(300, 33))
    first.close()
    again = open_log(log_dir)
    assert again.size == 333
    again.append_batch(entries(333, 1000))
    assert again.state().root == merkle.root([merkle.leaf_hash(e) for e in entries(0, 1333)])
    again.close()


def test_two_writers_on_one_store_never_overwrite_each_other(log_dir: Path) -> None:
    a, b = open_log(log_dir), open_log(log_dir)
    a.append_batch(entries(0, 10))
    b.append_batch(entries(10, 10))  # b's edge is stale: it must rebase, not overwrite
    a.append_batch(entries(20, 10))
    assert [a.entry(i) for i in range(30)] == entries(0, 30)
    assert a.state().root == merkle.root([merkle.leaf_hash(e) for e in entries(0, 30)])
    a.close()
    b.close()


@pytest.mark.parametrize("rebase", ["opening", "appending"])
def test_a_writer_appending_while_the_edge_is_read_is_not_corruption(
    log_dir: Path, monkeypatch: pytest.MonkeyPatch, rebase: str
) -> None:
    """The store keeps only the latest partial tiles and bundle: a writer appending between a log's
    read of the state and of the bundle once made a restarting worker refuse the store."""
    a, b = open_log(log_dir), open_log(log_dir)
    a.append_batch(entries(0, 10))  # b's edge is stale
    other = open_log(log_dir)  # a third process, opening while a appends
    store = b.store if rebase == "appending" else other.store
    real, reads = store.state, 0

    def state() -> TreeState:
        nonlocal reads
        seen, reads = real(), reads + 1
        if reads == 1:
            a.append_batch(entries(10, 5))  # between this read and the bundle's
        return seen

    monkeypatch.setattr(store, "state", state)
    if rebase == "appending":
        b.append_batch(entries(15, 5))
        assert [a.entry(i) for i in range(20)] == entries(0, 20)
    else:
        assert Log(store, None).size == 15
    assert reads >= 3
    for log in (a, b, other):
        log.close()


def test_oversized_entries_are_refused_and_nothing_is_written(log: Log) -> None:
    log.append_batch([b"ok"])
    with pytest.raises(EntryTooLargeError):
        log.append_batch([b"fine", b"x" * 65536])
    assert log.state().size == 1


def test_checkpoints_are_consistent_and_never_re_signed_for_the_same_size(log: Log) -> None:
    log.append_batch(entries(0, 10))
    first = log.checkpoint()
    assert log.checkpoint().to_bytes() == first.to_bytes()
    log.append_batch(entries(10, 500))
    second = log.checkpoint()
    cp1, cp2 = first.checkpoint, second.checkpoint
    merkle.verify_consistency(
        cp1.size, cp2.size, log.consistency_proof(cp1.size, cp2.size), cp1.root, cp2.root
    )
    assert [c.size for c in log.store.checkpoints()] == [10, 510]
    open_checkpoint(second.to_bytes(), [log.verifier()])


def test_a_store_rolled_back_behind_a_signed_checkpoint_is_not_signed(log_dir: Path) -> None:
    log = open_log(log_dir)
    log.append_batch(entries(0, 300))
    log.checkpoint()
    log.close()
    db = sqlite3.connect(log_dir / LOG_DB)
    with db:
        db.execute("UPDATE meta SET value = 0 WHERE key = 'size'")
        db.execute("UPDATE meta SET value = ? WHERE key = 'root'", (merkle.EMPTY_ROOT,))
        db.execute("DELETE FROM tiles")
        db.execute("DELETE FROM bundles")
    db.close()
    log = open_log(log_dir)
    log.append_batch(entries(1000, 400))  # a different history, longer than the checkpoint
    with pytest.raises(InconsistentTreeError):
        log.checkpoint()
    log.close()


def test_a_store_whose_edge_does_not_match_its_root_is_refused(log_dir: Path) -> None:
    log = open_log(log_dir)
    log.append_batch(entries(0, 300))
    log.close()
    db = sqlite3.connect(log_dir / LOG_DB)
    with db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'root'", (bytes(32),))
    db.close()
    with pytest.raises(StorageError, match="root"):
        open_log(log_dir)


def test_sequencer_batches_concurrent_appends(log: Log) -> None:
    sequencer = Sequencer(log, BatchPolicy(max_entries=64, max_age=0.01))
    results: dict[bytes, int] = {}
    lock = threading.Lock()

    def worker(w: int) -> None:
        for i in range(200):
            entry = b"w%d-%d" % (w, i)
            index = sequencer.append(entry, timeout=30)
            with lock:
                results[entry] = index

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sequencer.close()
    assert sorted(results.values()) == list(range(800))
    for entry, index in results.items():
        assert log.entry(index) == entry
    with pytest.raises(EntryTooLargeError):
        Sequencer(log).submit(b"x" * 70000)


def test_append_stream_acknowledges_in_order_after_commit(log: Log) -> None:
    acknowledged: list[tuple[int, int]] = []

    def on_durable(first: int, count: int) -> None:
        assert log.store.state().size == first + count  # durable before acknowledged
        acknowledged.append((first, count))

    batches = [entries(0, 300), [], entries(300, 5), entries(305, 4000)]
    assert log.append_stream(iter(batches), on_durable) == 4305
    assert acknowledged == [(0, 300), (300, 5), (305, 4000)]
    assert log.state().root == merkle.root([merkle.leaf_hash(e) for e in entries(0, 4305)])


def test_append_stream_keeps_what_came_before_a_failure(log: Log) -> None:
    acknowledged: list[int] = []

    def batches():  # type: ignore[no-untyped-def]
        yield entries(0, 10)
        yield entries(10, 10)
        raise EntryTooLargeError("line 21 is too long")

    with pytest.raises(EntryTooLargeError):
        log.append_stream(batches(), lambda first, count: acknowledged.append(first + count))
    assert acknowledged == [10, 20] and log.state().size == 20
    with pytest.raises(EntryTooLargeError):
        log.append_stream(iter([entries(20, 5), [b"x" * 65536], entries(25, 5)]), lambda f, c: None)
    assert log.state().size == 25 and log.size == 25


def test_concurrent_sequencers_take_turns(log_dir: Path) -> None:
    logs = [open_log(log_dir), open_log(log_dir)]
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            batches = (entries(k * 100_000 + i * 50, 50) for i in range(40))
            logs[k].append_stream(batches, lambda first, count: None)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    stored = logs[0].entries(0, 4000)
    assert sorted(stored) == sorted(entries(0, 2000) + entries(100_000, 2000))
    # one sequencer at a time: each stream's entries are contiguous
    assert stored[:2000] in (entries(0, 2000), entries(100_000, 2000))
    for the_log in logs:
        the_log.close()


def test_cached_partial_tiles_are_refreshed_as_the_tree_grows(log: Log) -> None:
    data: list[bytes] = []
    for step in range(1, 40):
        batch = entries(len(data), step * 7)
        log.append_batch(batch)
        data += batch
        hashes = [merkle.leaf_hash(e) for e in data]
        n = len(data)
        assert log.root_at(n) == merkle.root(hashes)
        for index in (0, n // 2, n - 1):
            merkle.verify_inclusion(
                hashes[index], index, n, log.inclusion_proof(index, n), merkle.root(hashes)
            )
        old = max(1, n - step * 5)
        assert log.consistency_proof(old, n) == merkle.consistency_proof(hashes, old, n)
