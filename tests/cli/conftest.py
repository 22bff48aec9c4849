"""What the command tests share: a deployment made with `ombud init`, and the one-line errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ..conftest import ombud


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """Exit status 2 with one ``ombud: …`` line on stderr and no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ombud: "), result.stderr
    return lines[0]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "city"
    result = ombud("init", "--data-dir", directory, "--origin", "cli.example/city")
    assert result.returncode == 0, result.stderr
    assert f"initialised {directory}" in result.stdout
    return directory
