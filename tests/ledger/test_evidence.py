"""Fork evidence: convincing with the log key alone, and never forgeable from honest history."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ombud.deployment import open_log
from ombud.errors import MalformedError, SignatureError, VerificationError
from ombud.ledger import note
from ombud.ledger.evidence import ForkEvidence, verify_evidence
from ombud.ledger.log import Log


def grow(log: Log, entries: list[bytes]) -> bytes:
    log.append_batch(entries)
    return log.checkpoint().to_bytes()


@pytest.fixture
def fork(log: Log, log_dir: Path, tmp_path: Path) -> tuple[Log, Log]:
    """Two logs under one key that share 8 entries, then diverge."""
    grow(log, [b"shared %d" % i for i in range(8)])
    other = open_log(shutil.copytree(log_dir, tmp_path / "fork"))
    yield log, other  # type: ignore[misc]
    other.close()


def test_same_size_fork(fork: tuple[Log, Log]) -> None:
    honest, forked = fork
    a = grow(honest, [b"a"])
    b = grow(forked, [b"b"])
    evidence = ForkEvidence.same_size(a, b)
    verify_evidence(evidence, [honest.verifier()])
    assert "two checkpoints of size 9" in evidence.describe()
    again = ForkEvidence.from_bytes(evidence.to_bytes())
    assert again == evidence
    verify_evidence(again, [honest.verifier()])


def test_split_fork_of_different_sizes(fork: tuple[Log, Log]) -> None:
    honest, forked = fork
    a = grow(honest, [b"a"])
    b = grow(forked, [b"b", b"c", b"d"])
    root_then = forked.root_at(9)
    evidence = ForkEvidence.split(a, b, root_then, forked.consistency_proof(9, 11))
    verify_evidence(ForkEvidence.from_bytes(evidence.to_bytes()), [honest.verifier()])
    assert "at size 9" in evidence.describe()


def test_honest_history_is_not_evidence(log: Log) -> None:
    a = grow(log, [b"x"] * 4)
    with pytest.raises(VerificationError, match="same root"):
        verify_evidence(ForkEvidence.same_size(a, a), [log.verifier()])
    b = grow(log, [b"y"] * 4)
    honest = ForkEvidence.split(a, b, log.root_at(4), log.consistency_proof(4, 8))
    with pytest.raises(VerificationError, match="same root"):
        verify_evidence(honest, [log.verifier()])
    made_up = ForkEvidence.split(a, b, bytes(32), log.consistency_proof(4, 8))
    with pytest.raises(VerificationError, match="proof"):
        verify_evidence(made_up, [log.verifier()])


def test_evidence_needs_the_logs_signatures(fork: tuple[Log, Log]) -> None:
    honest, forked = fork
    a = grow(honest, [b"a"])
    text = note.parse(grow(forked, [b"b"])).text
    forged = note.sign(text, note.Signer.generate(honest.origin))  # not the log's key
    with pytest.raises(SignatureError):
        verify_evidence(ForkEvidence.same_size(a, forged), [honest.verifier()])
    with pytest.raises(VerificationError, match="none was given"):
        verify_evidence(ForkEvidence.same_size(a, forged), [])


def test_malformed_evidence_files(log: Log) -> None:
    a = grow(log, [b"x"])
    good = json.loads(ForkEvidence.same_size(a, a).to_bytes())
    for broken in (
        b"not json",
        json.dumps({**good, "type": "other"}).encode(),
        json.dumps({**good, "checkpoints": [good["checkpoints"][0]]}).encode(),
        json.dumps({**good, "extra": 1}).encode(),
        json.dumps({**good, "proof": []}).encode(),
        json.dumps({**good, "root_at_first_size": "!!", "proof": []}).encode(),
    ):
        with pytest.raises(MalformedError):
            ForkEvidence.from_bytes(broken)
    with pytest.raises(MalformedError, match="one size"):
        ForkEvidence.same_size(a, grow(log, [b"y"]))
