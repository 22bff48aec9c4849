"""Crash safety: SIGKILL an appending process at random moments, many times, and check that
every acknowledged entry survives byte for byte and every printed checkpoint stays consistent."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ombud.deployment import open_log
from ombud.ledger import merkle, note
from ombud.ledger.checkpoint import open_checkpoint
from ombud.ledger.export import export_log
from ombud.ledger.logdir import LOG_VKEY, init_log
from ombud.ledger.verifier import DirectorySource, audit_log

RUNS = 30


def _feed(stdin: object, lines: list[bytes]) -> None:
    try:
        for i in range(0, len(lines), 1000):  # paced, so batches close by size and by age
            stdin.write(b"".join(line + b"\n" for line in lines[i : i + 1000]))  # type: ignore[attr-defined]
            stdin.flush()  # type: ignore[attr-defined]
            time.sleep(0.002)
        stdin.close()  # type: ignore[attr-defined]
    except (BrokenPipeError, ValueError, OSError):
        pass  # the process was killed while we wrote


def test_sigkill_loses_no_acknowledged_entry(tmp_path: Path) -> None:
    directory = tmp_path / "log"
    init_log(directory, "crash.example/log")
    vkey = note.Verifier.from_vkey((directory / LOG_VKEY).read_text())
    rng = random.Random(20261125)
    acknowledged: dict[int, bytes] = {}
    checkpoints: list[bytes] = []
    kills = 0
    for run in range(RUNS):
        lines = [
            b"run %d line %d %s" % (run, i, rng.randbytes(rng.randint(0, 40)).hex().encode())
            for i in range(rng.randint(50_000, 150_000))
        ]
        proc = subprocess.Popen(
            [sys.executable, "-m", "ombud", "log", "append", str(directory)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        printed: list[bytes] = []
        reader = threading.Thread(target=printed.extend, args=(proc.stdout,))
        writer = threading.Thread(target=_feed, args=(proc.stdin, lines))
        reader.start()
        writer.start()
        time.sleep(rng.uniform(0.05, 0.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        writer.join()
        reader.join()
        complete = [p for p in printed if p.endswith(b"\n")]  # a torn last line is no ack
        for k, raw in enumerate(complete):
            index = int(raw)
            assert index not in acknowledged
            acknowledged[index] = lines[k]
        if run % 3 == 0:
            cp = subprocess.run(
                [sys.executable, "-m", "ombud", "log", "checkpoint", str(directory)],
                capture_output=True,
                check=True,
            ).stdout
            checkpoints.append(cp)

    assert kills > RUNS // 2, "the test must actually kill appenders mid-stream"
    log = open_log(directory)
    try:
        stored = log.entries(0, log.size)
        for index, entry in acknowledged.items():
            assert stored[index] == entry
        out = tmp_path / "export"
        final = export_log(log, out).checkpoint.checkpoint
        audit_log(DirectorySource(out), [vkey])
        for raw in checkpoints:
            cp = open_checkpoint(raw, [vkey]).checkpoint
            proof = log.consistency_proof(cp.size, final.size)
            merkle.verify_consistency(cp.size, final.size, proof, cp.root, final.root)
    finally:
        log.close()
    assert len(acknowledged) > 0
