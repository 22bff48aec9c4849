"""Demo benchmark: how long `ombud demo` takes, and how honest its answer is.

Runs `ombud demo --quick` (--runs times) and the default `ombud demo` (once, or --default-runs
times) in fresh directories, each a new process, and records the wall time and what the demo
measured against its own truth (``demo-truth.json``): the share of non-suppressed cells whose
95% interval holds the true satisfaction, the event weeks reported as changes, and the share of
the other cells reported as changed. Medians over runs; seeds differ per run.
Usage: python bench/demo.py [--runs N] [--default-runs N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ombud.cli.demo_city import summarise

ROOT = Path(__file__).resolve().parent
WORK = ROOT / "work" / "demo"
RESULTS = ROOT / "results"


def run(quick: bool, seed: int) -> dict[str, Any]:
    data_dir = WORK / f"{'quick' if quick else 'default'}-{seed}"
    shutil.rmtree(data_dir, ignore_errors=True)
    command = [sys.executable, "-m", "ombud", "demo", "--no-serve", "--seed", str(seed),
               "--data-dir", str(data_dir), *(["--quick"] if quick else [])]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    elapsed = time.perf_counter() - started
    insight = json.loads((data_dir / "insight.json").read_text(encoding="utf-8"))
    truth = json.loads((data_dir / "demo-truth.json").read_text(encoding="utf-8"))
    return {"seconds": round(elapsed, 1), "seed": seed, **summarise(insight, truth)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--default-runs", type=int, default=1)
    args = parser.parse_args()
    quick = [run(True, 2026 + i) for i in range(args.runs)]
    default = [run(False, 2026 + i) for i in range(args.default_runs)]

    def medians(rows: list[dict[str, Any]]) -> dict[str, Any]:
        keys = ("seconds", "coverage", "falseChangeRate")
        out: dict[str, Any] = {k: statistics.median(r[k] for r in rows) for k in keys}
        out["eventWeeksFound"] = f"{sum(r['eventCellsFound'] for r in rows)} of " + str(
            sum(r["eventCells"] for r in rows)
        )
        return out

    result = {
        "benchmark": "demo",
        "quick": medians(quick),
        "default": medians(default),
        "runs": {"quick": quick, "default": default},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "demo.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
