"""Witness processes on this machine, for the demo, the benchmarks and the tests.

Threat model: these are real ``ombud witness serve`` processes bound to 127.0.0.1 on a free
port, each with its own key and state directory; nothing here weakens what a witness checks.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from ombud.errors import UnavailableError
from ombud.witness.statedir import WITNESS_VKEY, init_witness

__all__ = ["LocalWitness", "free_port"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the kernel picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalWitness:
    """``ombud witness serve`` for ``log_vkeys`` on a loopback port; restartable from state."""

    def __init__(
        self, state: Path, name: str, log_vkeys: Sequence[str], *, port: int | None = None
    ) -> None:
        self.state = state
        if (state / WITNESS_VKEY).exists():
            self.vkey = (state / WITNESS_VKEY).read_text(encoding="ascii").strip()
        else:
            self.vkey = init_witness(state, name).vkey
        self.log_vkeys = list(log_vkeys)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log_file(self) -> Path:
        return self.state / "server.log"

    def start(self, *, timeout: float = 30.0) -> None:
        command = [sys.executable, "-m", "ombud", "witness", "serve", "--state", str(self.state)]
        for vkey in self.log_vkeys:
            command += ["--log", vkey]
        command += ["--listen", f"127.0.0.1:{self.port}"]
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/openapi.json", timeout=1)
                return
            except httpx.HTTPError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.05)
        self.stop()
        raise UnavailableError(f"witness on {self.url} did not start: {self.server_log()[-500:]}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def server_log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> LocalWitness:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
