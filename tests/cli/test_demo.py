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
    assert "quorum 2" in out and "refused it (HTTP 422)" in out  # witnessed, fork refused
    assert "size 3,001, cosigned by" in out  # 3,000 events and the witness.policy_changed one
    assert (data_dir / "export" / "checkpoint").is_file()
    assert list((data_dir / "witnesses" / "ombudsman" / "evidence").glob("fork-*.json"))
    again = subprocess.run(run, capture_output=True, timeout=300)  # the log keeps growing
    assert again.returncode == 0, again.stderr.decode()
    assert b"size 6,002, cosigned by" in again.stderr  # new ports: the policy changed again
