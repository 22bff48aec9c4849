"""Ledger benchmark: ombud's log against pymerkle 7.0.0 SqliteTree, measured in one run.

Measures, on the same 32-byte entries:
  * durable append of N entries through `ombud log append` (the whole process, stdin to
    acknowledged indexes, tiles integrated and fsync'd) vs pymerkle SqliteTree.append_entries;
  * inclusion and consistency proof generation from storage at N leaves, both systems;
  * proof verification (RFC 9162 §2.1.3.2 / §2.1.4.2);
  * `ombud verify` (whole process) of the exported N-entry tlog-tiles tree;
  * peak RSS of `ombud log append` over M entries.

Every figure is a median over repeats; ratios compare numbers measured in this run.
Usage: python bench/ledger.py [--quick] [--entries N] [--memory-entries M]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
WORK = ROOT / "work"
RESULTS = ROOT / "results"
OMBUD = [sys.executable, "-m", "ombud"]


def make_input(path: Path, count: int, seed: int) -> None:
    """``count`` lines of 32 bytes (hex of 16 random bytes), newline-terminated."""
    rng = random.Random(seed)
    with path.open("wb") as f:
        for start in range(0, count, 1_000_000):
            n = min(1_000_000, count - start)
            hexed = rng.randbytes(16 * n).hex().encode()
            f.write(b"\n".join(hexed[i : i + 32] for i in range(0, len(hexed), 32)) + b"\n")


def read_entries(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def _peak_rss_kib(pid: int) -> int:
    """VmHWM of a running process: its peak RSS since exec (0 once it has exited).

    ``ru_maxrss`` from wait4 is no good here: it counts the pages of this (large) benchmark
    process that the child shared between fork and exec.
    """
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_timed(cmd: list[str], stdin: Path | None = None) -> tuple[float, int, bytes]:
    """Wall time, peak RSS (KiB, sampled every 20 ms) and stdout of a whole child process."""
    stdin_f = stdin.open("rb") if stdin else subprocess.DEVNULL
    out_path = WORK / "stdout"
    peak = 0
    with out_path.open("wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=stdin_f, stdout=out, stderr=subprocess.PIPE)
        while True:
            pid, status = os.waitpid(proc.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, _peak_rss_kib(proc.pid))
            time.sleep(0.02)
        elapsed = time.perf_counter() - t0
    if stdin:
        stdin_f.close()  # type: ignore[union-attr]
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return elapsed, peak, out_path.read_bytes()


def bench_ombud_append(inputs: Path, count: int, repeats: int) -> tuple[list[float], Path]:
    times = []
    log_dir = WORK / "ombud-log"
    for _ in range(repeats):
        shutil.rmtree(log_dir, ignore_errors=True)
        subprocess.run([*OMBUD, "log", "init", str(log_dir), "--origin", "bench.ombud/log"],
                       check=True, capture_output=True)  # fmt: skip
        elapsed, _, out = run_timed([*OMBUD, "log", "append", str(log_dir)], inputs)
        lines = out.split(b"\n")
        assert len(lines) == count + 1 and lines[-2] == str(count - 1).encode(), "not all acked"
        times.append(elapsed)
    return times, log_dir


def bench_pymerkle_append(entries: list[bytes], repeats: int) -> tuple[list[float], Path]:
    from pymerkle import SqliteTree

    times = []
    db = WORK / "pymerkle.db"
    for _ in range(repeats):
        for suffix in ("", "-journal", "-wal"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        tree = SqliteTree(str(db))
        t0 = time.perf_counter()
        tree.append_entries(entries)
        times.append(time.perf_counter() - t0)
        tree.close()
    return times, db


def rate(count: int, seconds: float) -> float:
    return count / seconds


def median_rate(fn: Any, count: int, rounds: int) -> float:
    """Median rate of ``fn(start, stop)`` over ``rounds`` rounds of ``count`` calls each.

    Each round gets its own slice of the pre-drawn arguments, so no system is timed answering
    a query it has already answered (pymerkle caches subtree roots per argument).
    """
    rates = []
    for k in range(rounds):
        t0 = time.perf_counter()
        fn(k * count, (k + 1) * count)
        rates.append(count / (time.perf_counter() - t0))
    return statistics.median(rates)


def bench_proofs(
    log_dir: Path, pymerkle_db: Path, size: int, n_ours: int, n_theirs: int
) -> dict[str, float]:
    from pymerkle import SqliteTree

    from ombud.deployment import open_log
    from ombud.ledger import merkle

    rng = random.Random(1)
    log = open_log(log_dir, with_key=False)
    tree = SqliteTree(str(pymerkle_db))
    assert tree.get_size() == size == log.size
    assert tree.get_root(size) == log.root_at(size), "pymerkle and ombud disagree on the root"

    # Random arguments are drawn before the clock starts: only proof generation is timed.
    draws = 6 * n_ours
    indexes = [rng.randrange(size) for _ in range(draws)]
    old_sizes = [rng.randrange(1, size) for _ in range(draws)]

    def ours_inclusion(start: int, stop: int) -> None:
        for index in indexes[start:stop]:
            log.inclusion_proof(index, size)

    def ours_consistency(start: int, stop: int) -> None:
        for old in old_sizes[start:stop]:
            log.consistency_proof(old, size)

    def theirs_inclusion(start: int, stop: int) -> None:  # pymerkle 7 numbers leaves from 1
        for index in indexes[start:stop]:
            tree.prove_inclusion(index + 1, size)

    def theirs_consistency(start: int, stop: int) -> None:
        for old in old_sizes[start:stop]:
            tree.prove_consistency(old, size)

    # verification of real proofs from the log
    root = log.root_at(size)
    cases = []
    for _ in range(2000):
        i = rng.randrange(size)
        cases.append((log.node(0, i), i, log.inclusion_proof(i, size)))
    old_roots = {}
    ccases = []
    for _ in range(2000):
        m = rng.randrange(1, size)
        if m not in old_roots:
            old_roots[m] = log.root_at(m)
        ccases.append((m, log.consistency_proof(m, size), old_roots[m]))

    def verify_inclusion(start: int, stop: int) -> None:
        for k in range(start, stop):
            leaf, i, proof = cases[k % len(cases)]
            merkle.verify_inclusion(leaf, i, size, proof, root)

    def verify_consistency(start: int, stop: int) -> None:
        for k in range(start, stop):
            m, proof, old = ccases[k % len(ccases)]
            merkle.verify_consistency(m, size, proof, old, root)

    # Warm the tile cache as a serving process would be, on arguments not timed below.
    ours_inclusion(5 * n_ours, 6 * n_ours)
    results = {
        "ombud_inclusion_proofs_per_s": median_rate(ours_inclusion, n_ours, 5),
        "ombud_consistency_proofs_per_s": median_rate(ours_consistency, n_ours, 5),
        "pymerkle_inclusion_proofs_per_s": median_rate(theirs_inclusion, n_theirs, 3),
        "pymerkle_consistency_proofs_per_s": median_rate(theirs_consistency, n_theirs, 3),
        "verify_inclusion_per_s": median_rate(verify_inclusion, n_ours, 5),
        "verify_consistency_per_s": median_rate(verify_consistency, n_ours, 5),
    }
    log.close()
    tree.close()
    return results


def bench_verify(log_dir: Path, repeats: int) -> tuple[list[float], float]:
    export = WORK / "export"
    shutil.rmtree(export, ignore_errors=True)
    t0 = time.perf_counter()
    subprocess.run(
        [*OMBUD, "log", "export", str(log_dir), str(export)], check=True, capture_output=True
    )
    export_s = time.perf_counter() - t0
    vkey = (log_dir / "log.vkey").read_text().strip()
    times = []
    for _ in range(repeats):
        elapsed, _, out = run_timed([*OMBUD, "verify", str(export), "--key", vkey])
        assert out.startswith(b"OK"), out
        times.append(elapsed)
    return times, export_s


def bench_memory(count: int) -> dict[str, float]:
    inputs = WORK / "memory-input"
    make_input(inputs, count, seed=2)
    log_dir = WORK / "memory-log"
    shutil.rmtree(log_dir, ignore_errors=True)
    subprocess.run([*OMBUD, "log", "init", str(log_dir), "--origin", "bench.ombud/mem"],
                   check=True, capture_output=True)  # fmt: skip
    elapsed, rss_kib, out = run_timed([*OMBUD, "log", "append", str(log_dir)], inputs)
    assert out.count(b"\n") == count
    inputs.unlink()
    db_bytes = (log_dir / "log.sqlite").stat().st_size
    shutil.rmtree(log_dir)
    return {
        "entries": count,
        "peak_rss_mib": rss_kib / 1024,
        "seconds": elapsed,
        "entries_per_s": count / elapsed,
        "database_mib": db_bytes / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--entries", type=int)
    parser.add_argument("--memory-entries", type=int)
    args = parser.parse_args()
    n = args.entries or (100_000 if args.quick else 1_000_000)
    m = args.memory_entries or (1_000_000 if args.quick else 10_000_000)
    repeats = 3
    WORK.mkdir(exist_ok=True)
    RESULTS.mkdir(exist_ok=True)

    print(f"input: {n:,} entries of 32 bytes", flush=True)
    inputs = WORK / "input"
    make_input(inputs, n, seed=1)
    entries = read_entries(inputs)

    print("append: ombud log append (whole process) ...", flush=True)
    ours, log_dir = bench_ombud_append(inputs, n, repeats)
    print("append: pymerkle SqliteTree.append_entries ...", flush=True)
    theirs, pymerkle_db = bench_pymerkle_append(entries, repeats)
    del entries
    print("proofs ...", flush=True)
    proofs = bench_proofs(log_dir, pymerkle_db, n, 50_000, 1000)
    print("ombud verify (whole process) ...", flush=True)
    verify_times, export_s = bench_verify(log_dir, repeats)
    print(f"memory: {m:,} entries through ombud log append ...", flush=True)
    memory = bench_memory(m)

    ours_rate = rate(n, statistics.median(ours))
    theirs_rate = rate(n, statistics.median(theirs))
    result = {
        "benchmark": "ledger",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "entries": n,
        "entry_bytes": 32,
        "append": {
            "ombud_log_append_seconds": ours,
            "ombud_entries_per_s": ours_rate,
            "pymerkle_sqlitetree_seconds": theirs,
            "pymerkle_entries_per_s": theirs_rate,
            "ratio": ours_rate / theirs_rate,
        },
        "proofs": {
            **proofs,
            "inclusion_ratio": proofs["ombud_inclusion_proofs_per_s"]
            / proofs["pymerkle_inclusion_proofs_per_s"],
            "consistency_ratio": proofs["ombud_consistency_proofs_per_s"]
            / proofs["pymerkle_consistency_proofs_per_s"],
        },
        "verify": {
            "ombud_verify_seconds": verify_times,
            "median_seconds": statistics.median(verify_times),
            "export_seconds": export_s,
        },
        "memory": memory,
    }
    name = "ledger-quick.json" if args.quick else "ledger.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    shutil.rmtree(WORK, ignore_errors=True)

    p = result["proofs"]
    rows = [
        ("append", ours_rate, theirs_rate),
        (
            "inclusion proofs",
            p["ombud_inclusion_proofs_per_s"],
            p["pymerkle_inclusion_proofs_per_s"],
        ),
        (
            "consistency proofs",
            p["ombud_consistency_proofs_per_s"],
            p["pymerkle_consistency_proofs_per_s"],
        ),
    ]
    print(f"\nresults -> bench/results/{name}")
    for what, mine, baseline in rows:
        ratio = mine / baseline
        print(
            f"{what:<20} ombud {mine:>10,.0f}/s  pymerkle {baseline:>10,.0f}/s  ratio {ratio:.2f}"
        )
    print(f"{'verify proofs':<20} inclusion {p['verify_inclusion_per_s']:,.0f}/s, "
          f"consistency {p['verify_consistency_per_s']:,.0f}/s")  # fmt: skip
    print(f"{'ombud verify':<20} {n:,} entries in {statistics.median(verify_times):.2f} s")
    print(f"{'memory':<20} {m:,} entries: peak RSS {memory['peak_rss_mib']:.0f} MiB, "
          f"{memory['entries_per_s']:,.0f}/s")  # fmt: skip


if __name__ == "__main__":
    main()
