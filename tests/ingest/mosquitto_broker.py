"""A private Mosquitto for one test: the configuration ombud ships, on a free port, with its
persistence in the test's folder, so that the machine's own broker is left alone.

Test helper (no tests here). Skips, with the reason, where ``mosquitto`` is not installed.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from ombud.ingest.broker_health import MOSQUITTO_CONFIG
from ombud.witness.local import free_port

_SEARCH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto", path=_SEARCH)
    if found is None:
        pytest.skip("mosquitto is not installed (Debian: apt-get install mosquitto): no test")
    return found


def shipped_config(port: int, persistence: Path, overrides: dict[str, str]) -> str:
    """The shipped configuration with this test's listener, persistence folder and
    ``overrides`` (option -> value; an option the file does not set is added)."""
    text = MOSQUITTO_CONFIG.read_text(encoding="utf-8")
    settings = {
        "listener": f"{port} 127.0.0.1",
        "persistence_location": f"{persistence}/",
        **overrides,
    }
    for option, value in settings.items():
        text, found = re.subn(rf"(?m)^{option} .*$", f"{option} {value}", text)
        if not found:
            text += f"\n{option} {value}\n"
    # Run as whoever runs the tests (as root, Mosquitto would switch to its own user, which
    # cannot write the test's folder).
    return text + f"\nuser {getpass.getuser()}\n"


def terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL if the process has not exited within 30 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class PrivateBroker:
    def __init__(self, folder: Path, overrides: dict[str, str] | None = None) -> None:
        self.binary = mosquitto_binary()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.config = folder / "mosquitto.conf"
        self.config.write_text(shipped_config(self.port, folder, overrides or {}))
        self.log = folder / "mosquitto.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "-c", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"mosquitto did not start: {self.log.read_text(errors='replace')[-2000:]}"
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM: Mosquitto saves its sessions and queues, then exits."""
        if self.process is not None:
            terminate(self.process)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")
