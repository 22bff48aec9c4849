"""``ombud demo``: the main job runs end to end and keeps its deployment when asked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    data_dir = tmp_path / "city"
    run = [sys.executable, "-m", "ombud", "demo", "--data-dir", str(data_dir), "--events", "3000"]
    result = subprocess.run(run, capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr.decode()
    out = result.stderr.decode()
    assert "independent verification" in out and "OK" in out
    assert "caught" in out
    assert (data_dir / "export" / "checkpoint").is_file()
    again = subprocess.run(run, capture_output=True, timeout=300)  # the log keeps growing
    assert again.returncode == 0, again.stderr.decode()
    assert b"6,000" in again.stderr
