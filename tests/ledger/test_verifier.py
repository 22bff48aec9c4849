"""Offline audit of exported tiles: success, tampering, missing data, rollback and forks."""

from __future__ import annotations

import contextlib
import gzip
import http.server
import os
import random
import threading
from pathlib import Path

import pytest

from ombud.deployment import open_log
from ombud.errors import (
    InconsistentTreeError,
    NotFoundError,
    SignatureError,
    StorageError,
    VerificationError,
)
from ombud.ledger import note
from ombud.ledger.checkpoint import Checkpoint
from ombud.ledger.export import export_log
from ombud.ledger.log import Log
from ombud.ledger.logdir import LOG_KEY, init_log
from ombud.ledger.verifier import DirectorySource, HttpSource, audit_log, resource_limit


def fill(log: Log, start: int, count: int) -> None:
    log.append_batch([b"event %d" % i for i in range(start, start + count)])


def test_audit_recomputes_everything(log: Log, tmp_path: Path) -> None:
    fill(log, 0, 70_000)
    out = tmp_path / "export"
    export_log(log, out)
    seen: list[int] = []
    report = audit_log(DirectorySource(out), [log.verifier()], progress=lambda d, t: seen.append(d))
    assert report.entries == 70_000
    assert report.tiles == 274 + 2 + 1  # level 0, level 1 (full + partial), level 2 partial
    assert seen[-1] == 70_000


def test_audit_of_an_empty_log(log: Log, tmp_path: Path) -> None:
    export_log(log, tmp_path / "export")
    assert audit_log(DirectorySource(tmp_path / "export"), [log.verifier()]).entries == 0


def test_flipped_bytes_anywhere_are_reported(log: Log, tmp_path: Path) -> None:
    fill(log, 0, 3000)
    out = tmp_path / "export"
    export_log(log, out)
    files = sorted(p for p in out.rglob("*") if p.is_file())
    rng = random.Random(3)
    for path in [*rng.sample(files, 12), out / "checkpoint"]:
        original = path.read_bytes()
        data = bytearray(original)
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(data))
        with pytest.raises(VerificationError) as caught:
            audit_log(DirectorySource(out), [log.verifier()])
        if path.name != "checkpoint":
            assert "tile/" in str(caught.value)
        path.write_bytes(original)
    audit_log(DirectorySource(out), [log.verifier()])


def test_missing_tiles_are_named(log: Log, tmp_path: Path) -> None:
    fill(log, 0, 600)
    out = tmp_path / "export"
    export_log(log, out)
    (out / "tile/0/001").unlink()
    with pytest.raises(VerificationError, match="tile/0/001 is missing"):
        audit_log(DirectorySource(out), [log.verifier()])
    with pytest.raises(NotFoundError):
        audit_log(DirectorySource(tmp_path), [log.verifier()])


def test_trusted_state_catches_forks(log_dir: Path, tmp_path: Path) -> None:
    log = open_log(log_dir)
    fill(log, 0, 500)
    out = tmp_path / "export"
    trusted = export_log(log, out).checkpoint.to_bytes()
    fill(log, 500, 500)
    export_log(log, out)
    report = audit_log(DirectorySource(out), [log.verifier()], trusted=trusted)
    assert report.previous is not None and report.previous.size == 500

    # A fork: the operator signs a different, longer history with the same key and shows it
    # to an auditor who trusted the honest checkpoint of size 1000.
    fork_dir = tmp_path / "fork"
    init_log(fork_dir, log.origin)
    (fork_dir / LOG_KEY).unlink()
    (fork_dir / LOG_KEY).write_text((log_dir / LOG_KEY).read_text())
    (fork_dir / LOG_KEY).chmod(0o600)
    fork = open_log(fork_dir)
    fill(fork, 0, 400)
    fill(fork, 10_000, 700)
    export_log(fork, tmp_path / "fork-export")
    honest = report.checkpoint.to_bytes()
    with pytest.raises(
        InconsistentTreeError, match=r"not consistent: tree of size 1100 .* and tree of size 1000"
    ):
        audit_log(DirectorySource(tmp_path / "fork-export"), [log.verifier()], trusted=honest)
    fork.close()
    log.close()


def test_rollback_to_a_smaller_checkpoint_is_refused(log: Log, tmp_path: Path) -> None:
    fill(log, 0, 100)
    small = export_log(log, tmp_path / "small")
    fill(log, 100, 100)
    big = export_log(log, tmp_path / "big")
    with pytest.raises(InconsistentTreeError, match="rollback"):
        audit_log(
            DirectorySource(tmp_path / "small"), [log.verifier()], trusted=big.checkpoint.to_bytes()
        )
    assert small.checkpoint.checkpoint.size == 100


def test_wrong_key_or_missing_quorum_fails(log: Log, tmp_path: Path) -> None:
    fill(log, 0, 10)
    export_log(log, tmp_path / "e")
    from ombud.ledger import note

    stranger = note.Signer(log.origin, bytes([5]) * 32).verifier()
    with pytest.raises(SignatureError):
        audit_log(DirectorySource(tmp_path / "e"), [stranger])
    witness = note.Signer("w.example", bytes([6]) * 32, sig_type=note.ALG_COSIGNATURE_V1).verifier()
    with pytest.raises(SignatureError, match="witness"):
        audit_log(DirectorySource(tmp_path / "e"), [log.verifier()], witnesses=[witness], quorum=1)


def test_tampering_inside_the_store_is_caught_by_auditors(log_dir: Path, tmp_path: Path) -> None:
    import sqlite3

    from ombud.ledger.logdir import LOG_DB

    log = open_log(log_dir)
    fill(log, 0, 1000)
    log.checkpoint()
    log.close()
    db = sqlite3.connect(log_dir / LOG_DB)
    with db:  # an insider rewrites entry 300 in place, leaving the tiles alone
        (data,) = db.execute("SELECT data FROM bundles WHERE id = 1").fetchone()
        db.execute(
            "UPDATE bundles SET data = ? WHERE id = 1", (data.replace(b"event 300", b"event 3o0"),)
        )
    db.close()
    log = open_log(log_dir)
    export_log(log, tmp_path / "export")
    with pytest.raises(VerificationError, match=r"tile/0/001: hash 44 does not match entry 300"):
        audit_log(DirectorySource(tmp_path / "export"), [log.verifier()])
    log.close()


# --- a hostile source: sizes, files and servers that would fill the verifier's memory -------


def test_a_signed_size_of_2_63_fails_at_the_first_missing_tile(log: Log, tmp_path: Path) -> None:
    """A log (its key signs anything) claims 2^63 entries: the audit reads tile by tile and
    stops at the first one missing, instead of listing 2^55 tile references first."""
    out = tmp_path / "export"
    fill(log, 0, 10)
    export_log(log, out)
    assert log.signer is not None
    huge = Checkpoint(log.origin, 2**63 - 1, b"\x01" * 32)
    (out / "checkpoint").write_bytes(note.sign(huge.to_text(), log.signer))
    with pytest.raises(VerificationError, match="tile/entries/000 is missing"):
        audit_log(DirectorySource(out), [log.verifier()])


def test_a_directory_source_reads_regular_files_up_to_their_limit(tmp_path: Path) -> None:
    (tmp_path / "tile" / "0").mkdir(parents=True)
    with (tmp_path / "tile" / "0" / "000").open("wb") as f:  # sparse: 3 GB that cost nothing
        f.truncate(3 << 30)
    os.mkfifo(tmp_path / "checkpoint")  # would block a plain read forever
    source = DirectorySource(tmp_path)
    with pytest.raises(VerificationError, match="larger than the 8192 bytes"):
        source.fetch("tile/0/000")
    with pytest.raises(VerificationError, match="not a regular file"):
        source.fetch("checkpoint")
    assert source.fetch("tile/1/000") is None
    assert resource_limit("checkpoint") == note.MAX_NOTE_SIZE
    assert resource_limit("tile/entries/000") == 256 * 65537


class _Hostile(http.server.BaseHTTPRequestHandler):
    """/gzip: a compressed body; /big: one past the limit; /drip: a byte at a time."""

    def do_GET(self) -> None:
        self.send_response(200)
        if self.path.endswith("/gzip/checkpoint"):
            body = gzip.compress(b"0" * 100_000)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path.endswith("/big/tile/0/000"):
            self.end_headers()
            with contextlib.suppress(OSError):
                for _ in range(16):
                    self.wfile.write(b"x" * 1024)
        else:
            self.end_headers()
            with contextlib.suppress(OSError):
                for _ in range(5):
                    self.wfile.write(b"x")
                    self.wfile.flush()

    def log_message(self, *args: object) -> None:
        pass


def test_an_http_source_refuses_compression_and_stops_at_the_limit_and_the_deadline() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    ticks = iter(range(0, 100_000, 200))  # a clock that moves 200 s each time it is read
    sources = [
        HttpSource(base + "/gzip"),
        HttpSource(base + "/big"),
        HttpSource(base + "/drip", deadline=100.0, clock=lambda: float(next(ticks))),
    ]
    try:
        with pytest.raises(StorageError, match="'gzip', not as it is"):
            sources[0].fetch("checkpoint")
        with pytest.raises(VerificationError, match="larger than the 8192 bytes"):
            sources[1].fetch("tile/0/000")
        with pytest.raises(StorageError, match="took over 100 s"):
            sources[2].fetch("checkpoint")
    finally:
        for source in sources:
            source.close()
        server.shutdown()
        server.server_close()
