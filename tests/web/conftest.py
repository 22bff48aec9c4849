"""The portal's fixtures: one quick demo city for the whole session (``ombud demo --quick``,
about a minute), served by a real uvicorn server on loopback."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ombud.deployment import Deployment


@dataclass(frozen=True)
class City:
    data_dir: Path
    resident_key: str


@pytest.fixture(scope="session")
def quick_city(tmp_path_factory: pytest.TempPathFactory) -> City:
    data_dir = tmp_path_factory.mktemp("portal") / "city"
    run = [sys.executable, "-m", "ombud", "demo", "--quick", "--no-serve", "--data-dir", data_dir]
    result = subprocess.run([str(a) for a in run], capture_output=True, timeout=600)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    key = (data_dir / "demo-resident.key").read_text().strip()
    return City(data_dir, key)


@pytest.fixture
def city_copy(quick_city: City, tmp_path: Path) -> City:
    """A copy of the quick city that a test may change (erase a resident, say)."""
    copy = tmp_path / "city"
    shutil.copytree(quick_city.data_dir, copy)
    return City(copy, quick_city.resident_key)


class Portal:
    """``create_portal`` over a deployment, served by uvicorn in a thread on a free port."""

    def __init__(self, data_dir: Path) -> None:
        import uvicorn

        from ombud.web import create_portal

        self.deployment = Deployment.open(data_dir, with_key=False)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(create_portal(self.deployment), log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert time.monotonic() < deadline, "the portal did not start"
            time.sleep(0.05)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()
        self.deployment.close()


@pytest.fixture(scope="session")
def portal(quick_city: City) -> Iterator[Portal]:
    served = Portal(quick_city.data_dir)
    yield served
    served.close()


@pytest.fixture
def own_portal(city_copy: City) -> Iterator[Portal]:
    served = Portal(city_copy.data_dir)
    yield served
    served.close()
