"""ombud processes on this machine — a server, a witness — for the demo, benchmarks and tests.

Threat model: these are the real commands (``ombud serve``, ``ombud witness serve``) bound to
127.0.0.1 on a port the kernel picked; starting them here weakens nothing they check. Their
output goes to a log file next to their data, never to the caller's terminal.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from ombud.errors import UnavailableError

__all__ = ["LocalProcess", "free_port"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the kernel picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalProcess:
    """``python -m ombud ARGS`` serving HTTP on ``port``; started once ``ready_path`` answers."""

    def __init__(
        self,
        args: Sequence[str],
        port: int,
        ready_path: str,
        log_file: Path,
        *,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.args = list(args)
        self.env = {**os.environ, **env} if env is not None else None
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.ready_path = ready_path
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout: float = 30.0) -> None:
        self.launch()
        self.wait_ready(timeout=timeout)

    def launch(self) -> None:
        """Start the process without waiting for it (``wait_ready`` waits): several can then
        start at once."""
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ombud", *self.args], stdout=log, stderr=log, env=self.env
            )

    def wait_ready(self, *, timeout: float = 30.0) -> None:
        """Wait until the process answers on its ready path; stop it and raise if it does not."""
        assert self.process is not None, "launch() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + self.ready_path, timeout=1)
                return
            except httpx.HTTPError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.05)
        self.stop()
        raise UnavailableError(
            f"`ombud {self.args[0]}` on {self.url} did not start: {self.output()[-500:]}"
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def output(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""
