"""Witness fixtures: an in-process witness over a fresh state, and helpers for real processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ombud.ledger import note
from ombud.ledger.evidence import ForkEvidence
from ombud.ledger.log import Log
from ombud.witness.state import WitnessState
from ombud.witness.statedir import STATE_DB, init_witness, read_witness_key
from ombud.witness.witness import Witness


class Clock:
    def __init__(self, now: float = 1_790_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def evidence() -> list[ForkEvidence]:
    return []


@pytest.fixture
def witness(tmp_path: Path, log: Log, evidence: list[ForkEvidence]) -> Iterator[Witness]:
    init_witness(tmp_path / "w", "witness.test/w1")
    state = WitnessState(tmp_path / "w" / STATE_DB)
    clock = Clock()
    yield Witness(
        read_witness_key(tmp_path / "w", clock=clock),
        [log.verifier()],
        state,
        clock=clock,
        on_evidence=evidence.append,
    )
    state.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ombud(*args: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run the ombud CLI in a subprocess and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "ombud", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,  # type: ignore[call-overload]
    )


class WitnessProcess:
    """``ombud witness serve`` on a loopback port, restartable from its state directory."""

    def __init__(self, state: Path, name: str, log_vkeys: list[str]) -> None:
        self.state = state
        self.vkey = init_witness(state, name).vkey
        self.log_vkeys = log_vkeys
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = ["witness", "serve", "--state", str(self.state)]
        for vkey in self.log_vkeys:
            args += ["--log", vkey]
        args += ["--listen", f"127.0.0.1:{self.port}"]
        log = open(self.state / "server.log", "ab")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ombud", *args], stdout=log, stderr=log, env=os.environ.copy()
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/docs", timeout=1)
                return
            except httpx.HTTPError:
                if self.process.poll() is not None:
                    raise RuntimeError(self.server_log()) from None
                time.sleep(0.05)
        raise RuntimeError(f"witness on {self.url} did not start: {self.server_log()}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def server_log(self) -> str:
        return (self.state / "server.log").read_text(errors="replace")


@pytest.fixture
def witness_processes(tmp_path: Path) -> Iterator[list[WitnessProcess]]:
    """A factory's worth of witnesses; every one still running is stopped at the end."""
    started: list[WitnessProcess] = []
    yield started
    for w in started:
        w.stop()


def signed_note(log: Log) -> bytes:
    return log.checkpoint().to_bytes()


def cosigner(vkey: str) -> note.Verifier:
    return note.Verifier.from_vkey(vkey)
