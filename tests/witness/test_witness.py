"""The witness's checks, in the order and with the outcomes c2sp.org/tlog-witness specifies."""

from __future__ import annotations

import base64
import shutil
import threading
from pathlib import Path

import pytest

from ombud.deployment import open_log
from ombud.errors import (
    ConflictError,
    InconsistentTreeError,
    MalformedError,
    NotFoundError,
    SignatureError,
)
from ombud.ledger import note
from ombud.ledger.checkpoint import Checkpoint, open_checkpoint
from ombud.ledger.evidence import ForkEvidence, verify_evidence
from ombud.ledger.log import Log
from ombud.ledger.merkle import EMPTY_ROOT
from ombud.witness.protocol import AddCheckpoint
from ombud.witness.state import WitnessState
from ombud.witness.statedir import STATE_DB, read_witness_key
from ombud.witness.witness import Witness, origin_hash

from .conftest import Clock


def grow(log: Log, count: int) -> bytes:
    """Append ``count`` entries and return the signed checkpoint of the new size."""
    start = log.size
    log.append_batch([b"entry %d" % i for i in range(start, start + count)])
    return log.checkpoint().to_bytes()


def submit(
    witness: Witness, old: int, checkpoint: bytes, proof: list[bytes] | None = None
) -> bytes:
    return witness.add_checkpoint(
        AddCheckpoint.build(old, proof or [], checkpoint).to_bytes()
    ).result(timeout=10)


def advance(witness: Witness, log: Log, old: int, checkpoint: bytes) -> bytes:
    size = Checkpoint.from_text(note.parse(checkpoint).text).size
    return submit(witness, old, checkpoint, log.consistency_proof(old, size) if old else [])


def test_first_checkpoint_is_cosigned_with_old_zero(witness: Witness, log: Log) -> None:
    checkpoint = grow(log, 10)
    line = submit(witness, 0, checkpoint)
    assert line.startswith("\u2014 witness.test/w1 ".encode()) and line.endswith(b"\n")
    opened = open_checkpoint(
        checkpoint + line, [log.verifier()], witnesses=[witness.signer.verifier()]
    )
    [cosig] = opened.cosigners
    assert cosig.timestamp == 1_790_000_000  # from the witness's clock, never zero
    record = witness.latest(origin_hash(log.origin))
    assert (record.size, record.root) == (10, opened.checkpoint.root)
    # The monitor copy carries the log's signature and the witness's cosignature (§Monitor).
    monitored = open_checkpoint(
        record.note, [log.verifier()], witnesses=[witness.signer.verifier()]
    )
    assert len(monitored.cosigners) == 1


def test_consistent_checkpoints_advance_the_state(witness: Witness, log: Log) -> None:
    submit(witness, 0, grow(log, 10))
    advance(witness, log, 10, grow(log, 300))
    advance(witness, log, 310, grow(log, 1))
    assert witness.state.get(log.origin).size == 311  # type: ignore[union-attr]


def test_same_checkpoint_again_is_cosigned(witness: Witness, log: Log) -> None:
    checkpoint = grow(log, 5)
    submit(witness, 0, checkpoint)
    submit(witness, 5, checkpoint)


def test_unknown_origin_is_404(witness: Witness, tmp_path: Path) -> None:
    other = open_log(_new_log(tmp_path / "other", "other.example/log"))
    try:
        with pytest.raises(NotFoundError, match="does not witness"):
            submit(witness, 0, grow(other, 3))
    finally:
        other.close()


def test_unsigned_or_badly_signed_is_403(witness: Witness, log: Log) -> None:
    checkpoint = grow(log, 3)
    impostor = note.Signer.generate(log.origin)  # same name, another key: ignored, so unsigned
    text = note.parse(checkpoint).text
    with pytest.raises(SignatureError, match="not signed by any trusted key"):
        submit(witness, 0, note.sign(text, impostor))
    sig = bytearray(checkpoint)
    sig[-10] = ord("A") if sig[-10] != ord("A") else ord("B")  # the log's own signature, broken
    with pytest.raises(SignatureError):
        submit(witness, 0, bytes(sig))


def test_old_size_beyond_checkpoint_is_400(witness: Witness, log: Log) -> None:
    with pytest.raises(MalformedError, match="larger than the checkpoint size"):
        submit(witness, 4, grow(log, 3))


def test_wrong_old_size_is_409_with_the_current_size(witness: Witness, log: Log) -> None:
    submit(witness, 0, grow(log, 7))
    checkpoint = grow(log, 3)
    with pytest.raises(ConflictError) as conflict:
        submit(witness, 0, checkpoint)  # a client that does not know the witness's state yet
    assert conflict.value.current == 7
    advance(witness, log, conflict.value.current, checkpoint)


def test_size_zero_must_have_the_empty_root(witness: Witness, log: Log) -> None:
    submit(witness, 0, log.checkpoint().to_bytes())  # the empty tree: fine
    bogus = note.sign(Checkpoint(log.origin, 0, bytes(32)).to_text(), log.signer)  # type: ignore[arg-type]
    with pytest.raises(InconsistentTreeError, match="empty tree"):
        submit(witness, 0, bogus)
    assert bytes(32) != EMPTY_ROOT


def test_the_empty_tree_then_a_real_one(witness: Witness, log: Log) -> None:
    submit(witness, 0, log.checkpoint().to_bytes())
    submit(witness, 0, grow(log, 3))  # from the cosigned size 0: no proof needed
    assert witness.state.get(log.origin).size == 3  # type: ignore[union-attr]


def test_old_zero_takes_an_empty_proof(witness: Witness, log: Log) -> None:
    with pytest.raises(InconsistentTreeError, match="empty proof"):
        submit(witness, 0, grow(log, 4), [bytes(32)])


def test_bad_consistency_proof_is_422(witness: Witness, log: Log) -> None:
    submit(witness, 0, grow(log, 10))
    checkpoint = grow(log, 10)
    proof = log.consistency_proof(10, 20)
    proof[0] = bytes(32)
    with pytest.raises(InconsistentTreeError, match="not consistent"):
        submit(witness, 10, checkpoint, proof)
    assert witness.state.get(log.origin).size == 10  # type: ignore[union-attr]


def test_split_view_same_size_is_422_and_kept_as_evidence(
    witness: Witness, log: Log, log_dir: Path, tmp_path: Path, evidence: list[ForkEvidence]
) -> None:
    grow(log, 5)
    fork = open_log(shutil.copytree(log_dir, tmp_path / "fork"))
    try:
        honest = grow(log, 5)
        fork.append_batch([b"rewritten %d" % i for i in range(5)])
        forged = fork.checkpoint().to_bytes()
    finally:
        fork.close()
    submit(witness, 0, honest)
    with pytest.raises(InconsistentTreeError, match="forked"):
        submit(witness, 10, forged)
    [kept] = evidence
    verify_evidence(kept, [log.verifier()])
    assert (
        witness.state.get(log.origin).root
        == open_checkpoint(honest, [log.verifier()]).checkpoint.root
    )  # type: ignore[union-attr]
    # Anyone can replay the forged note padded with lines of unknown keys: the evidence is
    # the log's note alone, so each replay gives the same evidence (one file, not one each).
    stranger = note.Signer("stranger.example", bytes(range(32)))
    for n in range(3):
        padded = forged + stranger.signature_line(b"junk %d\n" % n)
        with pytest.raises(InconsistentTreeError):
            submit(witness, 10, padded)
    assert len(evidence) == 4 and all(e.to_bytes() == kept.to_bytes() for e in evidence)


def test_a_replay_padded_with_copies_of_the_logs_line_is_stored_as_signed(
    witness: Witness, log: Log
) -> None:
    """The log's line repeated 99 times still verifies, but what the witness stores and serves
    to monitors is the note with one line per key (it was 101 lines, which no parser reads)."""
    checkpoint = grow(log, 5)
    text, line = checkpoint.split(b"\n\n")[0] + b"\n", checkpoint.split(b"\n\n")[1]
    submit(witness, 0, text + b"\n" + line * 99)
    record = witness.latest(origin_hash(log.origin))
    parsed = note.parse(record.note)
    assert len(parsed.signatures) == 2  # the log's line and the witness's cosignature
    open_checkpoint(record.note, [log.verifier()], witnesses=[witness.signer.verifier()])


def test_rollback_is_refused_after_restart(witness: Witness, log: Log, tmp_path: Path) -> None:
    older = grow(log, 5)
    submit(witness, 0, older)
    advance(witness, log, 5, grow(log, 5))
    witness.state.close()
    restarted = Witness(
        read_witness_key(tmp_path / "w"),
        [log.verifier()],
        WitnessState(tmp_path / "w" / STATE_DB),
        clock=Clock(),
    )
    try:
        with pytest.raises(ConflictError) as conflict:
            submit(restarted, 5, older)  # replaying the older request
        assert conflict.value.current == 10
        with pytest.raises(MalformedError):
            submit(restarted, 10, older)  # claiming the current size: old > checkpoint size
    finally:
        restarted.close()
        restarted.state.close()
    witness.state = WitnessState(tmp_path / "w" / STATE_DB)  # for the fixture's teardown


def test_concurrent_requests_never_lose_an_update(witness: Witness, log: Log) -> None:
    """Racing clients (tlog-witness §add-checkpoint, the A/B race): the state only grows."""
    checkpoints = {}
    for _ in range(40):
        note_bytes = grow(log, 3)
        checkpoints[Checkpoint.from_text(note.parse(note_bytes).text).size] = note_bytes
    sizes = sorted(checkpoints)
    accepted: list[int] = []
    lock = threading.Lock()

    def client(offset: int) -> None:
        for size in sizes[offset::4]:
            known = 0
            while True:
                try:
                    advance(witness, log, known, checkpoints[size])
                except ConflictError as exc:
                    if exc.current >= size:
                        break  # someone cosigned a larger tree; this one may no longer go in
                    known = exc.current
                    continue
                with lock:
                    accepted.append(size)
                break

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = witness.state.get(log.origin)
    assert final is not None
    assert final.size == max(accepted) == sizes[-1]


def _new_log(directory: Path, origin: str) -> Path:
    from ombud.ledger.logdir import init_log

    init_log(directory, origin)
    return directory


def test_the_cosignature_verifies_for_exactly_the_checkpoint(witness: Witness, log: Log) -> None:
    checkpoint = grow(log, 2)
    line = submit(witness, 0, checkpoint)
    other = grow(log, 1)
    with pytest.raises(SignatureError):
        open_checkpoint(other + line, [log.verifier()], witnesses=[witness.signer.verifier()])
    blob = base64.b64decode(line.split(b" ")[-1])
    assert blob[:4] == witness.signer.key_id.to_bytes(4, "big") and len(blob) == 4 + 8 + 64
