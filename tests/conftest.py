"""Shared fixtures: public vectors from ../shared (skipped when absent) and fresh logs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ombud.ledger.log import Log
from ombud.ledger.logdir import init_log, open_log

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
VECTORS = SHARED / "vectors"


def ombud(*args: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run the ombud CLI in a subprocess, capturing its output as text."""
    return subprocess.run(
        [sys.executable, "-m", "ombud", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,  # type: ignore[call-overload]
    )


def shared_vectors(relative: str) -> Any:
    """Load a JSON vector file from ../shared/vectors, or skip the test when it is absent."""
    path = VECTORS / relative
    if not path.is_file():
        pytest.skip(f"public vectors not available: {path} (../shared is absent)")
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "log"
    init_log(directory, "test.ombud.localhost/log")
    return directory


@pytest.fixture
def log(log_dir: Path) -> Iterator[Log]:
    the_log = open_log(log_dir)
    yield the_log
    the_log.close()
