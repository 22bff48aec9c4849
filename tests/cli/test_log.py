"""The CLI contract external checks rely on: names, arguments, output formats, exit codes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ombud.ledger import merkle, note
from ombud.ledger.checkpoint import open_checkpoint
from ombud.ledger.proof_bundle import ProofBundle


def ombud(
    *args: str, input: bytes | None = None, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run(
        [sys.executable, "-m", "ombud", *args], input=input, capture_output=True, timeout=120
    )
    if check and result.returncode != 0:
        raise AssertionError(f"ombud {args} failed: {result.stderr.decode()}")
    return result


@pytest.fixture
def cli_log(tmp_path: Path) -> tuple[Path, str]:
    directory = tmp_path / "log"
    out = ombud("log", "init", str(directory), "--origin", "cli.example/log")
    return directory, out.stdout.decode().strip()


def test_log_init_prints_a_vkey_and_protects_the_private_key(cli_log: tuple[Path, str]) -> None:
    directory, vkey = cli_log
    verifier = note.Verifier.from_vkey(vkey)
    assert verifier.name == "cli.example/log"
    key_files = [p for p in directory.iterdir() if p.read_bytes().startswith(b"PRIVATE+KEY+")]
    assert len(key_files) == 1
    assert stat.S_IMODE(key_files[0].stat().st_mode) == 0o600
    again = ombud("log", "init", str(directory), "--origin", "cli.example/log", check=False)
    assert again.returncode != 0 and b"already" in again.stderr
    bad = ombud("log", "init", str(directory.parent / "x"), "--origin", "has space", check=False)
    assert bad.returncode == 2 and b"Traceback" not in bad.stderr


def test_append_checkpoint_prove_verify(cli_log: tuple[Path, str], tmp_path: Path) -> None:
    directory, vkey = cli_log
    lines = [b"first", b"", b"third \xff binary", b"x" * 65535]
    out = ombud("log", "append", str(directory), input=b"\n".join(lines) + b"\n")
    assert out.stdout.decode().split() == ["0", "1", "2", "3"]
    out = ombud("log", "append", str(directory), input=b"no newline at end")
    assert out.stdout.decode().split() == ["4"]

    cp = ombud("log", "checkpoint", str(directory)).stdout
    signed = open_checkpoint(cp, [note.Verifier.from_vkey(vkey)])
    entries = [*lines, b"no newline at end"]
    assert signed.checkpoint.size == 5
    assert signed.checkpoint.root == merkle.root([merkle.leaf_hash(e) for e in entries])

    bundle_bytes = ombud("log", "prove", str(directory), "--index", "2").stdout
    bundle = ProofBundle.from_bytes(bundle_bytes)
    assert bundle.index == 2 and bundle.extra == entries[2]
    path = tmp_path / "2.tlog-proof"
    path.write_bytes(bundle_bytes)
    entry = tmp_path / "entry"
    entry.write_bytes(entries[2])
    ok = ombud("proof", "verify", str(path), "--key", vkey, "--entry", str(entry))
    assert ok.stdout.startswith(b"OK")
    assert ombud("proof", "verify", str(path), "--key", vkey).stdout.startswith(b"OK")
    entry.write_bytes(entries[2] + b"\n")  # as `echo` would write it
    assert ombud("proof", "verify", str(path), "--key", vkey, "--entry", str(entry)).returncode == 0
    entry.write_bytes(b"something else")
    bad = ombud("proof", "verify", str(path), "--key", vkey, "--entry", str(entry), check=False)
    assert bad.returncode == 1 and b"Traceback" not in bad.stderr and b"inclusion" in bad.stderr

    export = tmp_path / "export"
    ombud("log", "export", str(directory), str(export))
    result = ombud("verify", str(export), "--key", vkey)
    assert result.stdout.decode().count("\n") == 1 and result.stdout.startswith(b"OK")


def test_oversized_line_stops_after_committing_what_came_before(cli_log: tuple[Path, str]) -> None:
    directory, _ = cli_log
    data = b"a\nb\n" + b"x" * 65536 + b"\nnever\n"
    result = ombud("log", "append", str(directory), input=data, check=False)
    assert result.returncode == 2
    assert result.stdout.decode().split() == ["0", "1"]
    assert b"line 3" in result.stderr and b"65535" in result.stderr
    assert b"Traceback" not in result.stderr


def test_uninitialised_directories_are_refused_with_the_command_to_fix_it(tmp_path: Path) -> None:
    for args in (
        ["log", "append", str(tmp_path)],
        ["log", "checkpoint", str(tmp_path)],
        ["log", "prove", str(tmp_path), "--index", "0"],
    ):
        result = ombud(*args, check=False)
        assert result.returncode == 2
        assert b"ombud log init" in result.stderr
    result = ombud("serve", "--data-dir", str(tmp_path), check=False)
    assert result.returncode == 2 and b"ombud init --data-dir" in result.stderr


def test_verify_reports_the_first_failure_and_tracks_state(
    cli_log: tuple[Path, str], tmp_path: Path
) -> None:
    directory, vkey = cli_log
    ombud("log", "append", str(directory), input=b"".join(b"e%d\n" % i for i in range(600)))
    export = tmp_path / "export"
    ombud("log", "export", str(directory), str(export))
    state = tmp_path / "state"
    assert ombud("verify", str(export), "--key", vkey, "--state", str(state)).returncode == 0
    assert state.read_bytes() == (export / "checkpoint").read_bytes()

    ombud("log", "append", str(directory), input=b"more\n")
    ombud("log", "export", str(directory), str(export))
    out = ombud("verify", str(export), "--key", vkey, "--state", str(state)).stdout
    assert b"consistent with trusted size 600" in out

    tile = export / "tile/0/001"
    data = bytearray(tile.read_bytes())
    data[100] ^= 0x80
    tile.write_bytes(bytes(data))
    bad = ombud("verify", str(export), "--key", vkey, check=False)
    assert bad.returncode == 1
    assert b"tile/0/001: hash 3" in bad.stderr  # byte 100 is in hash 3 of tile 1 (entry 259)
    assert b"Traceback" not in bad.stderr

    wrong = note.Signer("cli.example/log", os.urandom(32)).verifier().vkey
    bad = ombud("verify", str(export), "--key", wrong, check=False)
    assert bad.returncode == 1 and b"signed" in bad.stderr
    bad = ombud("verify", str(export), "--key", "not a key", check=False)
    assert bad.returncode == 2 and b"Traceback" not in bad.stderr
