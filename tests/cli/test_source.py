"""``read_entries``: a log's entries streamed from an untrusted export, its checkpoint checked
against the log's key before any entry is read, and the entries against its root."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from ombud.cli._source import read_entries, read_verified
from ombud.errors import SignatureError, VerificationError
from ombud.ledger import note
from ombud.ledger.checkpoint import Checkpoint
from ombud.ledger.export import export_log
from ombud.ledger.log import Log


def test_entries_stream_and_are_held_to_the_root(log: Log, tmp_path: Path) -> None:
    entries = [b"event %d" % i for i in range(600)]
    log.append_batch(entries)
    out = tmp_path / "export"
    export_log(log, out)
    assert list(read_entries(str(out), [log.verifier()])) == entries
    assert list(read_entries(str(out))) == entries  # without a key: the root alone
    bundle = out / "tile" / "entries" / "001"
    bundle.write_bytes(bundle.read_bytes().replace(b"event 300", b"event 999"))
    with pytest.raises(VerificationError, match="do not hash to the checkpoint's root"):
        list(read_entries(str(out), [log.verifier()]))


def test_a_checkpoint_not_the_logs_is_refused_before_any_entry(log: Log, tmp_path: Path) -> None:
    """A hostile server claims 2^63 entries under a checkpoint nobody signed: with the log's
    key nothing is read; and one the log did sign fails at the first missing bundle."""
    log.append_batch([b"e"] * 3)
    out = tmp_path / "export"
    export_log(log, out)
    forger = note.Signer(log.origin, bytes(range(32)))
    huge = Checkpoint(log.origin, 2**63 - 1, b"\x01" * 32).to_text()
    (out / "checkpoint").write_bytes(note.sign(huge, forger))
    with pytest.raises(SignatureError):
        next(read_entries(str(out), [log.verifier()]))
    assert log.signer is not None
    (out / "checkpoint").write_bytes(note.sign(huge, log.signer))
    with pytest.raises(VerificationError, match="tile/entries/000 is missing"):
        list(read_entries(str(out), [log.verifier()]))


def test_a_consumers_complaint_about_a_tampered_entry_is_reported_as_the_root(
    log: Log, tmp_path: Path
) -> None:
    """A consumer that fails on entry 300 of a tampered export (a forged roster link, say)
    would blame the log; the entries do not hold to the root, and that is what is said."""
    log.append_batch([b"event %d" % i for i in range(600)])
    out = tmp_path / "export"
    export_log(log, out)

    def picky(entries: Iterable[tuple[int, bytes]], checkpoint: Checkpoint) -> int:
        assert checkpoint.origin == log.origin  # the log the entries are checked against
        for index, entry in entries:
            if entry == b"event 999":
                raise VerificationError(f"entry {index} is not a valid link")
        return index

    assert read_verified(str(out), [log.verifier()], picky) == 599
    bundle = out / "tile" / "entries" / "001"
    bundle.write_bytes(bundle.read_bytes().replace(b"event 300", b"event 999"))
    with pytest.raises(VerificationError, match="do not hash to the checkpoint's root"):
        read_verified(str(out), [log.verifier()], picky)
