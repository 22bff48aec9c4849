"""The monitor: follows a log's exports and turns a signed fork into evidence."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ombud.deployment import open_log
from ombud.errors import InconsistentTreeError, VerificationError
from ombud.ledger.evidence import verify_evidence
from ombud.ledger.export import export_log
from ombud.ledger.log import Log
from ombud.ledger.verifier import DirectorySource
from ombud.monitor import ForkDetectedError, check_log


def exported(log: Log, out: Path, entries: list[bytes]) -> DirectorySource:
    if entries:
        log.append_batch(entries)
    export_log(log, out)
    return DirectorySource(out)


def test_follows_a_growing_log(log: Log, tmp_path: Path) -> None:
    first = check_log(exported(log, tmp_path / "e1", [b"a"] * 300), [log.verifier()])
    assert first.previous is None and first.entries == 300
    trusted = first.checkpoint.to_bytes()
    same = check_log(DirectorySource(tmp_path / "e1"), [log.verifier()], trusted=trusted)
    assert same.entries == 0
    grown = check_log(
        exported(log, tmp_path / "e2", [b"b"] * 20), [log.verifier()], trusted=trusted
    )
    assert grown.previous is not None and grown.previous.size == 300
    assert grown.checkpoint.checkpoint.size == 320


@pytest.fixture
def forked(log: Log, log_dir: Path, tmp_path: Path) -> Log:
    log.append_batch([b"shared"] * 10)
    other = open_log(shutil.copytree(log_dir, tmp_path / "fork"))
    yield other  # type: ignore[misc]
    other.close()


@pytest.mark.parametrize(
    ("forked_entries", "split"),
    [(5, False), (300, True)],  # the same size as the trusted tree; a larger one
)
def test_a_fork_gives_evidence(
    log: Log, forked: Log, tmp_path: Path, forked_entries: int, split: bool
) -> None:
    trusted = check_log(
        exported(log, tmp_path / "honest", [b"x"] * 5), [log.verifier()]
    ).checkpoint.to_bytes()
    with pytest.raises(ForkDetectedError) as caught:
        check_log(
            exported(forked, tmp_path / "fork-e", [b"y"] * forked_entries),
            [log.verifier()],
            trusted=trusted,
        )
    evidence = caught.value.evidence
    assert (evidence.root_at_first_size is not None) == split
    verify_evidence(evidence, [log.verifier()])


def test_rollback_is_refused_without_accusing(log: Log, tmp_path: Path) -> None:
    old = exported(log, tmp_path / "old", [b"x"] * 5)
    trusted = check_log(
        exported(log, tmp_path / "new", [b"y"] * 5), [log.verifier()]
    ).checkpoint.to_bytes()
    with pytest.raises(InconsistentTreeError, match="rollback") as caught:
        check_log(old, [log.verifier()], trusted=trusted)
    assert not isinstance(caught.value, ForkDetectedError)


def test_tampered_tiles_are_not_evidence(log: Log, tmp_path: Path) -> None:
    trusted = check_log(
        exported(log, tmp_path / "e1", [b"x"] * 5), [log.verifier()]
    ).checkpoint.to_bytes()
    source = exported(log, tmp_path / "e2", [b"y"] * 5)
    bundle = tmp_path / "e2" / "tile" / "entries" / "000.p" / "10"
    bundle.write_bytes(bundle.read_bytes()[:-1] + b"z")
    with pytest.raises(VerificationError) as caught:
        check_log(source, [log.verifier()], trusted=trusted)
    assert not isinstance(caught.value, ForkDetectedError)


def test_a_malformed_served_checkpoint_did_not_verify(log: Log, tmp_path: Path) -> None:
    """After a first round, the log serves garbage as its checkpoint: that is a failure to
    verify (exit 1, an alert under --watch), not bad input that stops the watch."""
    first = check_log(exported(log, tmp_path / "e1", [b"a"] * 3), [log.verifier()])
    (tmp_path / "e1" / "checkpoint").write_bytes(b"garbage")
    with pytest.raises(VerificationError, match="checkpoint: note"):
        check_log(
            DirectorySource(tmp_path / "e1"),
            [log.verifier()],
            trusted=first.checkpoint.to_bytes(),
        )
