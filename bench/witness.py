"""Witness benchmark: add-checkpoint throughput and witnessed publishing latency, on loopback.

Measures:
  * add-checkpoint requests/s handled by one `ombud witness serve` process (uvicorn, one
    worker), each request a real checkpoint with its RFC 9162 consistency proof from the previous
    one, from C concurrent keep-alive clients each advancing its own log (every answer must be a
    200 cosignature). Baseline in the same run: the same clients against a minimal FastAPI app
    under the same uvicorn that answers every POST with a fixed line (the HTTP floor).
  * publishing latency with 3 witness processes and quorum 2: the time from the start of a
    publishing round (sign a checkpoint of the new batch) to the checkpoint being stored as
    published, over R rounds of B appended entries. Baseline: the same rounds with no witness
    policy (sign and publish locally).

Every figure is a median over repeats, or a percentile over all rounds; ratios compare numbers
measured in this run. Usage: python bench/witness.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pickle
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ombud.config import Settings
from ombud.deployment import init_deployment, open_log, set_witness_policy
from ombud.ledger.logdir import LOG_VKEY, init_log
from ombud.witness.local import LocalWitness, free_port
from ombud.witness.policy import WitnessEndpoint, WitnessPolicy
from ombud.witness.protocol import AddCheckpoint
from ombud.witness.publisher import Publisher

ROOT = Path(__file__).resolve().parent
WORK = ROOT / "work" / "witness"
RESULTS = ROOT / "results"

_FLOOR_APP = """
import sys, uvicorn
from fastapi import FastAPI, Request, Response
app = FastAPI()
@app.post("/add-checkpoint")
async def add(request: Request) -> Response:
    await request.body()
    return Response(b"\\xe2\\x80\\x94 floor.example/w AAAA\\n", media_type="text/plain")
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False)
"""


# --- request chains -----------------------------------------------------------------------------


def build_chains(logs: int, per_log: int, seed: int) -> tuple[list[str], list[list[bytes]]]:
    """For each of ``logs`` logs, ``per_log`` add-checkpoint bodies that advance it in turn."""
    rng = random.Random(seed)
    vkeys, chains = [], []
    for j in range(logs):
        directory = WORK / "logs" / f"log{j}"
        vkey = init_log(directory, f"bench.example/log{j}")
        log = open_log(directory)
        try:
            bodies = []
            old = 0
            for _ in range(per_log):
                log.append_batch([rng.randbytes(32) for _ in range(rng.randint(1, 64))])
                signed = log.checkpoint()
                size = signed.checkpoint.size
                proof = log.consistency_proof(old, size) if old else []
                bodies.append(AddCheckpoint.build(old, proof, signed.to_bytes()).to_bytes())
                old = size
        finally:
            log.close()
        vkeys.append(vkey.vkey)
        chains.append(bodies)
    return vkeys, chains


def http_request(port: int, body: bytes) -> bytes:
    head = (
        f"POST /add-checkpoint HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _client(port: int, requests: list[bytes], statuses: list[int]) -> None:
    """One keep-alive connection sending its requests in order (raw HTTP/1.1, minimal parser)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for request in requests:
            writer.write(request)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            statuses.append(int(status_line.split()[1]))
    finally:
        writer.close()


def load(port: int, chains: list[list[bytes]]) -> tuple[float, list[int]]:
    """Send every chain concurrently (one connection per chain); return (seconds, statuses)."""
    requests = [[http_request(port, body) for body in chain] for chain in chains]
    statuses: list[int] = []

    async def run() -> float:
        t0 = time.perf_counter()
        await asyncio.gather(*(_client(port, r, statuses) for r in requests))
        return time.perf_counter() - t0

    return asyncio.run(run()), statuses


def load_in_child(port: int, chains_file: Path) -> tuple[float, list[int]]:
    """``load`` in a fresh interpreter: the client is another program, as it would be."""
    script = (
        "import json, pickle, sys; sys.path.insert(0, sys.argv[1]); import witness; "
        "chains = pickle.loads(open(sys.argv[2], 'rb').read()); "
        "print(json.dumps(witness.load(int(sys.argv[3]), chains)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(ROOT), str(chains_file), str(port)],
        check=True,
        capture_output=True,
        text=True,
    )
    seconds, statuses = json.loads(out.stdout)
    return seconds, statuses


def bench_throughput(logs: int, per_log: int, repeats: int) -> dict[str, Any]:
    vkeys, chains = build_chains(logs, per_log, seed=7)
    chains_file = WORK / "chains.pickle"
    chains_file.write_bytes(pickle.dumps(chains))
    total = logs * per_log
    witness_rates, floor_rates = [], []
    for r in range(repeats):
        # A fresh witness each repeat: the chains start from old size 0.
        w = LocalWitness(WORK / f"tp-witness-{r}", "bench.example/w", vkeys)
        with w:
            seconds, statuses = load_in_child(w.port, chains_file)
        bad = [s for s in statuses if s != 200]
        if bad or len(statuses) != total:
            raise SystemExit(f"witness answered {len(bad)} non-200 of {len(statuses)}: {bad[:5]}")
        witness_rates.append(total / seconds)

        port = free_port()
        floor = subprocess.Popen([sys.executable, "-c", _FLOOR_APP, str(port)])
        try:
            _wait_port(port)
            seconds, statuses = load_in_child(port, chains_file)
        finally:
            floor.terminate()
            floor.wait()
        floor_rates.append(total / seconds)
    ours, baseline = statistics.median(witness_rates), statistics.median(floor_rates)
    return {
        "logs": logs,
        "requests_per_repeat": total,
        "concurrent_connections": logs,
        "witness_requests_per_s": witness_rates,
        "http_floor_requests_per_s": floor_rates,
        "witness_median_per_s": ours,
        "http_floor_median_per_s": baseline,
        "ratio_to_floor": ours / baseline,
    }


def _wait_port(port: int) -> None:
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


# --- publishing latency -------------------------------------------------------------------------


def _rounds(data_dir: Path, policy: WitnessPolicy, rounds: int, batch: int) -> list[float]:
    settings = Settings.load(data_dir)
    log = open_log(data_dir, settings)
    rng = random.Random(3)
    latencies = []

    async def run() -> None:
        async with Publisher(log, policy) as publisher:
            for _ in range(rounds):
                await asyncio.to_thread(log.append_batch, [rng.randbytes(32) for _ in range(batch)])
                outcome = await publisher.publish()
                if not outcome.published:
                    raise SystemExit(outcome.summary())
                latencies.append(outcome.latency)

    try:
        asyncio.run(run())
    finally:
        log.close()
    return latencies


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_publishing(rounds: int, batch: int) -> dict[str, Any]:
    data_dir = WORK / "city"
    init_deployment(data_dir, "bench.example/city")
    log_vkey = (data_dir / LOG_VKEY).read_text().strip()
    witnesses = [
        LocalWitness(WORK / f"pub-witness-{i}", f"w{i}.bench.example", [log_vkey]) for i in range(3)
    ]
    local = _rounds(data_dir, WitnessPolicy(), rounds, batch)  # baseline: no witnesses
    for w in witnesses:
        w.start()
    try:
        policy = WitnessPolicy(
            quorum=2, witness=tuple(WitnessEndpoint(w.vkey, w.url) for w in witnesses)
        )
        set_witness_policy(data_dir, policy)
        _rounds(data_dir, policy, 5, batch)  # warm up: connections, first proofs
        witnessed = _rounds(data_dir, policy, rounds, batch)
    finally:
        for w in witnesses:
            w.stop()
    ms = 1000.0
    return {
        "rounds": rounds,
        "entries_per_round": batch,
        "witnesses": 3,
        "quorum": 2,
        "witnessed_ms": {
            "p50": _percentile(witnessed, 0.5) * ms,
            "p99": _percentile(witnessed, 0.99) * ms,
            "max": max(witnessed) * ms,
        },
        "unwitnessed_ms": {
            "p50": _percentile(local, 0.5) * ms,
            "p99": _percentile(local, 0.99) * ms,
        },
        "witness_overhead_p99_ms": (_percentile(witnessed, 0.99) - _percentile(local, 0.99)) * ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args()
    logs, per_log, repeats, rounds = (8, 50, 1, 50) if args.quick else (32, 200, 5, 500)
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    try:
        print(f"throughput: {logs} logs x {per_log} checkpoints, {repeats} repeats", flush=True)
        throughput = bench_throughput(logs, per_log, repeats)
        print(json.dumps(throughput, indent=2), flush=True)
        print(f"publishing: {rounds} rounds", flush=True)
        publishing = bench_publishing(rounds, 100)
        print(json.dumps(publishing, indent=2), flush=True)
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    result = {
        "benchmark": "witness",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": __import__("os").cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "add_checkpoint": throughput,
        "publishing": publishing,
    }
    RESULTS.mkdir(exist_ok=True)
    name = "witness-quick.json" if args.quick else "witness.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
