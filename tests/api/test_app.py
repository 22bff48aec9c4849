"""The HTTP API: tlog-tiles routes, proofs, problem details; and a real server on loopback."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio.to_thread
import httpx
import pytest
from fastapi.testclient import TestClient

from ombud.api import create_app
from ombud.deployment import Deployment, init_deployment
from ombud.ledger import merkle
from ombud.ledger.tiles import decode_bundle


@pytest.fixture
def deployment(tmp_path: Path) -> tuple[Path, str]:
    data_dir = tmp_path / "city"
    vkey = init_deployment(data_dir, "api.example/log")
    return data_dir, vkey


@pytest.fixture
def client(deployment: tuple[Path, str]) -> Iterator[TestClient]:
    data_dir, _ = deployment
    with Deployment.open(data_dir, environ={}) as served:
        log = served.log
        log.append_batch([b"entry %d" % i for i in range(600)])
        log.checkpoint()
        log.append_batch([b"unpublished"])
        with TestClient(create_app(served)) as c:
            yield c


def test_checkpoint_and_tiles(client: TestClient) -> None:
    cp = client.get("/checkpoint")
    assert cp.status_code == 200
    assert cp.headers["content-type"] == "text/plain; charset=utf-8"
    assert "max-age=2" in cp.headers["cache-control"]
    assert cp.content.split(b"\n")[1] == b"600"
    full = client.get("/tile/0/001")
    assert full.status_code == 200 and len(full.content) == 8192
    assert "immutable" in full.headers["cache-control"]
    assert full.headers["content-type"] == "application/octet-stream"
    partial = client.get("/tile/0/002.p/88")
    assert len(partial.content) == 88 * 32
    assert client.get("/tile/0/002.p/40").content == partial.content[: 40 * 32]
    bundle = client.get("/tile/entries/002.p/88", headers={"Accept-Encoding": "gzip"})
    assert decode_bundle(bundle.content, 88)[0] == b"entry 512"
    assert client.get("/tile/1/000.p/2").status_code == 200


def test_an_entry_bundle_is_gzipped_only_when_asked(client: TestClient) -> None:
    """README: "entry bundle (gzip when asked), immutable caching"."""
    plain = client.get("/tile/entries/000", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    assert int(plain.headers["content-length"]) == len(plain.content)
    zipped = client.get("/tile/entries/000", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["vary"]
    assert int(zipped.headers["content-length"]) < len(plain.content)
    assert zipped.content == plain.content  # as decoded by the client
    assert decode_bundle(zipped.content, 256)[255] == b"entry 255"
    assert "immutable" in zipped.headers["cache-control"]


def test_unpublished_and_malformed_requests_are_refused(client: TestClient) -> None:
    beyond = client.get("/tile/0/002.p/89")  # entry 600 exists but is not in a checkpoint yet
    assert beyond.status_code == 404
    assert beyond.headers["content-type"] == "application/problem+json"
    assert "published" in beyond.json()["detail"]
    assert client.get("/tile/entries/003.p/1").status_code == 404
    # no redirect built from the Host header, which a cache in front could serve to others
    slash = client.get("/checkpoint/", headers={"Host": "evil.example"}, follow_redirects=False)
    assert slash.status_code == 404 and "location" not in slash.headers
    bad = client.get("/tile/0/1")
    assert bad.status_code == 400 and "tlog-tiles path" in bad.json()["detail"]
    assert client.get("/tile/0/x000/001").status_code == 400
    assert client.get("/proof/inclusion", params={"index": 600}).status_code == 404
    assert client.get("/proof/inclusion", params={"index": -1}).status_code == 400
    assert client.get("/proof/inclusion", params={"index": "x"}).status_code == 400
    assert client.get("/proof/consistency", params={"old": 10, "new": 601}).status_code == 404
    big = client.post("/checkpoint", content=b"x" * 10, headers={"content-length": str(1 << 30)})
    assert big.status_code == 413


def test_proofs_verify(client: TestClient) -> None:
    hashes = [merkle.leaf_hash(b"entry %d" % i) for i in range(600)]
    root = merkle.root(hashes)
    body = client.get("/proof/inclusion", params={"index": 300, "size": 600}).json()
    proof = [base64.b64decode(p) for p in body["proof"]]
    merkle.verify_inclusion(hashes[300], 300, 600, proof, root)
    assert base64.b64decode(body["leaf_hash"]) == hashes[300]
    body = client.get("/proof/consistency", params={"old": 77}).json()
    assert body["new"] == 600
    proof = [base64.b64decode(p) for p in body["proof"]]
    merkle.verify_consistency(77, 600, proof, merkle.root(hashes[:77]), root)


def test_openapi_lists_the_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/checkpoint", "/tile/{path}", "/proof/inclusion", "/proof/consistency"} <= set(paths)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_and_verify_over_http(deployment: tuple[Path, str], tmp_path: Path) -> None:
    data_dir, vkey = deployment
    lines = b"".join(b"line %d\n" % i for i in range(1000))
    subprocess.run([sys.executable, "-m", "ombud", "log", "append", str(data_dir)], input=lines,
                   check=True, capture_output=True)  # fmt: skip
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "ombud", "serve", "--data-dir", str(data_dir),
         "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:  # the server signs its first checkpoint within checkpoint_interval_s
            try:
                if httpx.get(url + "/checkpoint").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, server.stderr.read1(4096) if server.stderr else ""
            time.sleep(0.2)
        state = tmp_path / "state"
        result = subprocess.run(
            [sys.executable, "-m", "ombud", "verify", url, "--key", vkey, "--state", str(state)],
            capture_output=True,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(b"OK api.example/log size 1000")
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_metrics_raise_the_alarm_when_the_broker_drops(deployment: tuple[Path, str]) -> None:
    """Finding 8: only the broker's own log said it dropped acknowledged observations. An
    ingest worker records what it sees of the broker's counter; /metrics shows it."""
    import time as clock

    from ombud.ingest.broker_health import BrokerHealthStore, Reading

    data_dir, _ = deployment
    served = Deployment.open(data_dir, environ={})
    with served, TestClient(create_app(served)) as client:
        quiet = client.get("/metrics").text
        assert "ombud_mqtt_broker_dropping{" not in quiet  # no worker ever ran
        store = BrokerHealthStore(client.app.state.deployment.db)  # type: ignore[attr-defined]
        now = clock.time()
        common = {"broker": "127.0.0.1:1883", "client_id": "w1", "worker_started": now - 5}
        store.record(**common, now=now - 2, reading=Reading(10, now - 100), restarted=False,
                     unrecorded=0, dropped_since_start=0, watching=True)  # fmt: skip
        store.record(**common, now=now, reading=Reading(17, now - 100), restarted=False,
                     unrecorded=7, dropped_since_start=7, watching=True)  # fmt: skip
        text = client.get("/metrics").text
    assert 'ombud_mqtt_broker_dropped_messages_total{broker="127.0.0.1:1883"} 7' in text
    assert 'ombud_mqtt_broker_dropping{broker="127.0.0.1:1883"} 1' in text
    assert 'ombud_mqtt_workers{broker="127.0.0.1:1883"} 1' in text


def test_routes_run_on_as_many_threads_as_the_settings_give(deployment: tuple[Path, str]) -> None:
    """Each thread keeps its own database connection (on PostgreSQL, one of the server's
    hundred), so their number is a setting, not anyio's default of 40."""
    data_dir, _ = deployment
    environ = {"OMBUD_SERVER_WORKER_THREADS": "3"}
    with Deployment.open(data_dir, environ=environ) as served, TestClient(create_app(served)) as c:
        assert c.portal is not None
        limiter = c.portal.call(anyio.to_thread.current_default_thread_limiter)
        assert limiter.total_tokens == 3
