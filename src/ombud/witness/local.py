"""Witness processes on this machine, for the demo, the benchmarks and the tests.

Threat model: these are real ``ombud witness serve`` processes bound to 127.0.0.1 on a free
port, each with its own key and state directory; nothing here weakens what a witness checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ombud.process import LocalProcess, free_port
from ombud.witness.statedir import WITNESS_VKEY, init_witness

__all__ = ["LocalWitness", "free_port"]


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
        args = ["witness", "serve", "--state", str(state)]
        for vkey in self.log_vkeys:
            args += ["--log", vkey]
        args += ["--listen", f"127.0.0.1:{self.port}"]
        self._process = LocalProcess(args, self.port, "/openapi.json", state / "server.log")

    def start(self, *, timeout: float = 30.0) -> None:
        self._process.start(timeout=timeout)

    def launch(self) -> None:
        self._process.launch()

    def wait_ready(self, *, timeout: float = 30.0) -> None:
        self._process.wait_ready(timeout=timeout)

    def stop(self) -> None:
        self._process.stop()

    def server_log(self) -> str:
        return self._process.output()

    def __enter__(self) -> LocalWitness:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
