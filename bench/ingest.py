"""Ingest benchmark: signed observations end to end, over HTTP and MQTT, on SQLite and PostgreSQL.

Measures observations per second accepted end to end — signature verification, Smart Data
Model validation, storage with the ledger index and the ledger append, all committed (fsync'd)
before the answer:
  * HTTP: `ombud serve` (one uvicorn worker) on loopback, clients POSTing batches of B
    pre-signed observations to /ngsi-ld/v1/entityOperations/upsert over C keep-alive
    connections (each connection owns its devices, so counters arrive in order); every answer
    must be 201/204. On SQLite and, when a PostgreSQL URL is given, on PostgreSQL.
  * MQTT: `ombud ingest mqtt` (one worker) subscribed to the broker; the benchmark publishes the
    pre-signed observations with QoS 1 and times until the last one is stored.
  * Baselines in the same run: the same batches through `Intake.submit` in-process (no HTTP,
    the ceiling of the server's work), and bare Ed25519 verification (the cryptographic floor).

Signing happens before any timing (devices sign, the server only verifies). Every figure is a
median over repeats; ratios compare numbers measured in this run.
Usage: python bench/ingest.py [--quick] [--postgres URL] [--mqtt URL]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from ombud.deployment import Deployment, init_deployment
from ombud.ingest.fleet import SimulatedSensor, make_fleet
from ombud.ingest.intake import Accepted
from ombud.process import LocalProcess, free_port

ROOT = Path(__file__).resolve().parent
WORK = ROOT / "work" / "ingest"
RESULTS = ROOT / "results"
WINDOW = 800
"""MQTT observations published but not yet stored, at most (below Mosquitto's queue limit)."""


def now() -> datetime:
    return datetime.now(UTC)


def sign_all(
    devices: int, per_device: int, seed: int
) -> tuple[list[SimulatedSensor], list[list[dict[str, Any]]]]:
    """The fleet, and each device's observations in counter order."""
    fleet = list(make_fleet(devices, random.Random(seed), clock=now, prefix=f"b{seed}"))
    return fleet, [[s.observe(now()) for _ in range(per_device)] for s in fleet]


def batches_for(streams: list[list[dict[str, Any]]], batch: int) -> list[bytes]:
    """Interleave the devices' streams (each device's counters stay in order) into bodies."""
    flat = [obs for round_ in zip(*streams, strict=True) for obs in round_]
    return [json.dumps(flat[i : i + batch]).encode() for i in range(0, len(flat), batch)]


def deployment(name: str, database_url: str, fleet: list[SimulatedSensor]) -> Path:
    data_dir = WORK / name
    shutil.rmtree(data_dir, ignore_errors=True)
    init_deployment(data_dir, f"bench.example/{name}", database_url=database_url)
    intake = Deployment.open(data_dir, with_key=False, clock=now).intake
    for sensor in fleet:
        intake.registry.add(sensor.device)
    intake.log.close()
    return data_dir


def fresh_schema(url: str) -> str:
    import psycopg

    schema = f"ombud_bench_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def drop_schemas(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for (schema,) in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'ombud_bench_%'"
        ).fetchall():
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


# --- measurements --------------------------------------------------------------------------------


def bench_in_process(
    fleet: list[SimulatedSensor], streams: list[list[dict[str, Any]]], batch: int
) -> float:
    data_dir = deployment("inproc", "", fleet)
    intake = Deployment.open(data_dir, with_key=False, clock=now).intake
    flat = [obs for round_ in zip(*streams, strict=True) for obs in round_]
    started = time.perf_counter()
    for i in range(0, len(flat), batch):
        verdicts = intake.submit(flat[i : i + batch])
        assert all(isinstance(v, Accepted) for v in verdicts), verdicts[:1]
    elapsed = time.perf_counter() - started
    intake.log.close()
    return len(flat) / elapsed


def bench_verify_floor(streams: list[list[dict[str, Any]]]) -> float:
    """Bare Ed25519 verification of the same number of 64-byte messages."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    count = sum(map(len, streams))
    message = os.urandom(64)
    signature = key.sign(message)
    public = key.public_key()
    started = time.perf_counter()
    for _ in range(count):
        public.verify(signature, message)
    return count / (time.perf_counter() - started)


def bench_http(
    name: str, database_url: str, fleet: list[SimulatedSensor], streams: list[list[dict[str, Any]]],
    batch: int, connections: int,
) -> float:  # fmt: skip
    data_dir = deployment(name, database_url, fleet)
    port = free_port()
    args = ["serve", "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{port}"]
    # Screening runs after acknowledgement, in the background; it is measured on its own by
    # bench/poisoning.py, so it is off here (it would compete for the cores and the write lock).
    no_screening = {"OMBUD_INTEGRITY_SCREEN_INTERVAL_S": "0"}
    server = LocalProcess(args, port, "/metrics", data_dir / "server.log", env=no_screening)
    server.start(timeout=60)
    try:
        # Each connection owns a slice of the devices, so every device's counters stay in order.
        shares = [batches_for(streams[c::connections], batch) for c in range(connections)]
        statuses: list[int] = []
        lock = threading.Lock()

        def send(bodies: list[bytes]) -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
                for body in bodies:
                    r = client.post(
                        "/ngsi-ld/v1/entityOperations/upsert",
                        content=body,
                        headers={"Content-Type": "application/json"},
                    )
                    with lock:
                        statuses.append(r.status_code)

        threads = [threading.Thread(target=send, args=(share,)) for share in shares]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        bad = [s for s in statuses if s not in (201, 204)]
        if bad:
            raise RuntimeError(f"{name}: {len(bad)} batches not fully accepted: {bad[:5]}")
        return sum(map(len, streams)) / elapsed
    finally:
        server.stop()


def bench_mqtt(
    broker: str, fleet: list[SimulatedSensor], streams: list[list[dict[str, Any]]]
) -> float:
    import paho.mqtt.client as mqtt

    from ombud.database import open_database
    from ombud.ingest.mqtt import parse_broker, topic_for
    from ombud.ledger.logdir import LOG_DB

    data_dir = deployment("mqtt", "", fleet)
    group = f"bench{secrets.token_hex(3)}"
    command = [sys.executable, "-m", "ombud", "ingest", "mqtt", "--data-dir", str(data_dir),
               "--broker", broker, "--group", group, "--client-id", group]  # fmt: skip
    worker = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    db = open_database(data_dir / LOG_DB)
    log: list[str] = []
    try:
        assert worker.stderr is not None
        for line in worker.stderr:  # what is sent before it subscribes would go nowhere
            log.append(line)
            if "subscribed" in line:
                break
        else:
            raise RuntimeError("the MQTT worker exited before subscribing: " + "".join(log))
        threading.Thread(target=lambda: log.extend(worker.stderr or ()), daemon=True).start()
        host, port = parse_broker(broker)
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{group}-pub")
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.connect(host, port)
        client.loop_start()
        total = sum(map(len, streams))
        messages = [
            (topic_for(s.device.id), json.dumps(obs).encode())
            for round_ in zip(*streams, strict=True)
            for s, obs in zip(fleet, round_, strict=True)
        ]
        # Mosquitto queues at most max_queued_messages (1000 by default) for a subscriber and
        # drops the rest, so publishers are paced: at most WINDOW observations not yet stored.
        started = time.perf_counter()
        deadline = time.monotonic() + 120

        def stored() -> int:
            return int(db.read("SELECT count(*) FROM observations")[0][0])

        for start in range(0, total, WINDOW // 2):
            while start - stored() > WINDOW // 2:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"MQTT ingest stalled at {stored()} of {total}")
                time.sleep(0.005)
            for topic, payload in messages[start : start + WINDOW // 2]:
                client.publish(topic, payload, qos=1)
        while stored() < total:
            if time.monotonic() > deadline or worker.poll() is not None:
                stored = db.read("SELECT count(*) FROM observations")[0][0]
                raise RuntimeError(
                    f"MQTT ingest stored {stored} of {total} (worker exit code {worker.poll()}): "
                    + "".join(log[-5:])
                )
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        client.disconnect()
        client.loop_stop()
        return total / elapsed
    finally:
        db.close()
        worker.terminate()
        worker.wait(30)
        forget_session(broker, group)


def forget_session(broker: str, client_id: str) -> None:
    """Remove the worker's persistent session, so no stale member stays in its group."""
    import paho.mqtt.client as mqtt

    from ombud.ingest.mqtt import parse_broker

    cleaner = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    cleaner.connect(*parse_broker(broker))
    cleaner.loop(1.0)
    cleaner.disconnect()


def median_of(repeats: int, run: Callable[[], float]) -> tuple[float, list[float]]:
    values = [run() for _ in range(repeats)]
    return statistics.median(values), values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--postgres", default=os.environ.get("OMBUD_TEST_POSTGRES_URL"))
    parser.add_argument("--mqtt", default=os.environ.get("OMBUD_TEST_MQTT_URL"))
    args = parser.parse_args()
    devices, per_device = (100, 30) if args.quick else (200, 100)
    repeats = 1 if args.quick else 3
    batch, connections = 500, 2
    WORK.mkdir(parents=True, exist_ok=True)
    print(f"signing {devices * per_device} observations …", flush=True)
    fleet, streams = sign_all(devices, per_device, seed=2026)

    result: dict[str, Any] = {
        "benchmark": "ingest",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "observations_per_run": devices * per_device,
        "devices": devices,
        "batch": batch,
        "http_connections": connections,
        "repeats": repeats,
    }
    floor, _ = median_of(repeats, lambda: bench_verify_floor(streams))
    result["ed25519_verify_per_s"] = round(floor)
    inproc, runs = median_of(repeats, lambda: bench_in_process(fleet, streams, batch))
    result["in_process_sqlite_per_s"] = round(inproc)
    print(json.dumps({"in_process": runs, "verify_floor": floor}), flush=True)
    http, runs = median_of(
        repeats, lambda: bench_http("http-sqlite", "", fleet, streams, batch, connections)
    )
    result["http_sqlite_per_s"] = round(http)
    result["http_sqlite_runs"] = [round(r) for r in runs]
    result["http_over_in_process"] = round(http / inproc, 2)
    print(json.dumps({"http_sqlite": runs}), flush=True)
    if args.postgres:
        try:
            pg, runs = median_of(
                repeats,
                lambda: bench_http(
                    "http-pg", fresh_schema(args.postgres), fleet, streams, batch, connections
                ),
            )
        finally:
            drop_schemas(args.postgres)
        result["http_postgres_per_s"] = round(pg)
        result["http_postgres_runs"] = [round(r) for r in runs]
        result["postgres_over_sqlite"] = round(pg / http, 2)
        print(json.dumps({"http_postgres": runs}), flush=True)
    if args.mqtt:
        mq, runs = median_of(repeats, lambda: bench_mqtt(args.mqtt, fleet, streams))
        result["mqtt_sqlite_per_s"] = round(mq)
        result["mqtt_sqlite_runs"] = [round(r) for r in runs]
        print(json.dumps({"mqtt_sqlite": runs}), flush=True)
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    name = "ingest-quick.json" if args.quick else "ingest.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
