"""``ombud serve`` as the network sees it: no client address in its output, request bodies
capped as they stream, header size and arrival time capped by the protocol.

One real server process for the module (uvicorn, the shipped protocol, the shipped logging),
driven over loopback from the address 127.0.0.2, so that any trace of the client in the
server's output can be searched for.
"""

from __future__ import annotations

import base64
import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from ombud.api.server import startup_warnings
from ombud.config import Settings
from ombud.deployment import init_deployment, open_database_of
from ombud.process import LocalProcess, free_port
from ombud.tokens import TokenStore
from ombud.voice.issuer import Issuer
from ombud.voice.tokens import finalize_token, load_public_key, period_challenge, request_token

from ..voice.conftest import PERIOD
from .conftest import follow_up_consent

ORIGIN = "serve.city.example/log"
CLIENT = "127.0.0.2"
FORGED = "203.0.113.77"
EMAIL = "marker.resident.8271@example.org"
SUBJECT = "resident-serve-5512"
TIMEOUT_S = 2
_RESIDENTS = itertools.count()


@dataclass
class Server:
    process: LocalProcess
    data_dir: Path
    staff: str
    consent: str
    issuer: Issuer
    key: bytes

    @property
    def url(self) -> str:
        return self.process.url

    def client(self) -> httpx.Client:
        """A client connecting from 127.0.0.2, claiming to be someone else."""
        return httpx.Client(
            base_url=self.url,
            transport=httpx.HTTPTransport(local_address=CLIENT),
            headers={"X-Forwarded-For": FORGED, "X-Real-IP": FORGED, "Forwarded": f"for={FORGED}"},
            timeout=30,
        )

    def token(self) -> str:
        public = load_public_key(self.key)
        pending = request_token(public, period_challenge(self.issuer.name, PERIOD, ORIGIN))
        response = self.issuer.issue(PERIOD, f"serve-{next(_RESIDENTS)}", pending.request)
        token = finalize_token(public, pending, response).to_bytes()
        return base64.urlsafe_b64encode(token).decode().rstrip("=")

    def output(self) -> str:
        return self.process.output()

    def rss_kib(self) -> int:
        assert self.process.process is not None
        status = Path(f"/proc/{self.process.process.pid}/status").read_text()
        (line,) = [x for x in status.splitlines() if x.startswith("VmRSS:")]
        return int(line.split()[1])

    def growth_mib(self, clients: list[threading.Thread]) -> float:
        """Run ``clients`` at once; how far the server's resident memory rose above where it
        was, sampled every 5 ms while they ran (its high-water mark would show the start-up
        instead)."""
        before, peak, done = self.rss_kib(), [0], threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], self.rss_kib())
                time.sleep(0.005)

        sampler = threading.Thread(target=sample)
        sampler.start()
        for client in clients:
            client.start()
        for client in clients:
            client.join()
        done.set()
        sampler.join()
        return (peak[0] - before) / 1024


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, period_issuer: tuple[Issuer, bytes]
) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("serve") / "city"
    init_deployment(data_dir, ORIGIN)
    db = open_database_of(data_dir, Settings.load(data_dir, environ={}))
    tokens = TokenStore(db)
    now = datetime.now(UTC)
    _, staff = tokens.create({"voice:publish", "voice:read", "devices:write"}, "", now=now)
    _, consent = tokens.create({"privacy:consent"}, "", now=now)
    db.close()
    port = free_port()
    process = LocalProcess(
        ["serve", "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{port}"],
        port,
        "/metrics",
        data_dir.parent / "serve.log",
        env={
            "OMBUD_SERVER_REQUEST_TIMEOUT_S": str(TIMEOUT_S),
            "OMBUD_SERVER_MAX_HEADER_BYTES": "8192",
        },
    )
    process.start(timeout=60)
    issuer, key = period_issuer
    published = httpx.post(
        process.url + "/voice/issuer-keys",
        json={"period": PERIOD, "issuer": issuer.name, "key": base64.b64encode(key).decode()},
        headers={"Authorization": f"Bearer {staff}"},
    )
    assert published.status_code == 201, published.text
    try:
        yield Server(process, data_dir, staff, consent, issuer, key)
    finally:
        process.stop()


def test_no_client_address_reaches_the_log(server: Server) -> None:
    """Finding 2: uvicorn's access log recorded the client IP:port of every post, in ledger
    order, and believed X-Forwarded-For from loopback. Now the log names no client, forwarded
    headers are ignored unless server.trusted_proxies names the proxy, and the request log
    still says what was asked and answered."""
    with server.client() as client:
        posted = client.post(
            "/voice/posts",
            json={"text": "The bins were not collected this week", "district": "north"},
            headers={"Authorization": f'PrivateToken token="{server.token()}"'},
        )
        assert posted.status_code == 201, posted.text
        granted = client.post(
            "/privacy/consents",
            json=follow_up_consent(SUBJECT),
            headers={"Authorization": f"Bearer {server.consent}"},
        )
        assert granted.status_code == 201, granted.text
        me = {"Authorization": f"Bearer {granted.json()['residentKey']}"}
        request = client.post(
            "/open311/v2/requests.json",
            data={
                "service_code": "roads",
                "description": "Pothole outside the school",
                "address_id": "north",
                "account_id": SUBJECT,
                "resident_key": granted.json()["residentKey"],
                "email": EMAIL,
            },
            headers={"Authorization": f'PrivateToken token="{server.token()}"'},
        )
        assert request.status_code == 201, request.text
        request_id = request.json()[0]["service_request_id"]
        assert client.get(f"/open311/v2/requests/{request_id}.json").status_code == 200
        assert client.get("/me/data", headers=me).status_code == 200
        assert client.get("/me/consents", headers=me).status_code == 200
        assert client.get("/me/data", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert client.post("/voice/posts", content=b"{").status_code == 400
    time.sleep(0.5)  # let the server flush its log lines
    output = server.output()
    assert '"POST /voice/posts" 201' in output and '"GET /me/data" 200' in output
    assert '"POST /open311/v2/requests.json" 201' in output
    assert '"GET /open311/v2/requests/{post_id}.json" 200' in output  # the route, not the id
    assert "server.public_url is unset" in output  # this server has none: the operator is told
    receipt = request.json()[0]["receipt_salt"]
    for secret in (CLIENT, FORGED, EMAIL, SUBJECT, granted.json()["residentKey"], request_id,
                   posted.json()["id"], receipt, "bins were not collected"):  # fmt: skip
        assert secret not in output, secret


def test_startup_warns_only_while_the_public_address_is_unset(tmp_path: Path) -> None:
    unset = Settings(data_dir=tmp_path)
    (warning,) = startup_warnings(unset)
    assert "server.public_url" in warning and "OMBUD_SERVER_PUBLIC_URL" in warning
    public = replace(unset, server=replace(unset.server, public_url="https://city.example/"))
    assert startup_warnings(public) == []


def _raw(server: Server, payload: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.process.port), timeout=30)
    sock.sendall(payload)
    return sock


def _answer(sock: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        data += chunk
    sock.close()
    return data


def _chunked_upload(server: Server, path: str, content_type: str, total: int) -> bytes:
    """POST ``total`` bytes to ``path`` in chunked transfer coding, without a token, as fast as
    the server takes them; returns whatever the server answered."""
    sock = _raw(
        server,
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n".encode(),
    )
    chunk = b"[" * 65536
    framed = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    sent = 0
    try:
        while sent < total:
            sock.sendall(framed)
            sent += len(chunk)
        sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # refused mid-stream: the server closed the connection after its answer
    return _answer(sock)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/voice/posts", "application/json"),
        ("/admin/devices", "application/json"),
        ("/privacy/consents", "application/json"),
        ("/privacy/releases", "application/json"),
        ("/open311/v2/requests.json", "application/x-www-form-urlencoded"),
        ("/ngsi-ld/v1/entities", "application/json"),
    ],
)
def test_chunked_uploads_are_capped_as_they_stream(
    server: Server, path: str, content_type: str
) -> None:
    """Finding 6: the 1 MiB cap checked Content-Length only, so a chunked body of any size was
    read and parsed in full. Now it is counted as it arrives and refused at the cap (413): 1 MiB
    for sensor ingest batches, 64 KiB for every other route."""
    answer = _chunked_upload(server, path, content_type, 8 << 20)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    cap = b"1048576" if path.startswith("/ngsi-ld/") else b"65536"
    assert cap + b" bytes" in answer


def _full_upload(server: Server, path: str, body: bytes) -> bytes:
    sock = _raw(
        server,
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body,
    )
    return _answer(sock)


@pytest.mark.parametrize(
    ("path", "size"),
    [("/ngsi-ld/v1/entityOperations/upsert", 1 << 20), ("/voice/receipts", 64 << 10)],
)
def test_many_parsed_bodies_under_the_cap_stay_bounded(
    server: Server, path: str, size: int
) -> None:
    """Attack finding: a parsed JSON body takes ~20 times its size, so 160 concurrent 1 MiB
    bodies of empty objects took a server from 517 MiB to 4 GiB, and parsing on the event loop
    stalled every other request. Now only sensor ingest takes 1 MiB, ingest bodies are parsed
    and checked two at a time, and parsing runs off the event loop."""
    count = (size - 2) // 3
    body = b"[" + b",".join([b"{}"] * count) + b"]"
    answers: list[bytes] = []
    grown_mib = server.growth_mib(
        [
            threading.Thread(target=lambda: answers.append(_full_upload(server, path, body)))
            for _ in range(64)
        ]
    )
    assert len(answers) == 64 and all(a.startswith(b"HTTP/1.1 400 ") for a in answers)
    # 64 MiB of raw bodies may wait in their connections' buffers; parsed, they took ~1.3 GiB
    assert grown_mib < 200, f"the server's memory grew by {grown_mib:.0f} MiB"


def test_parallel_huge_uploads_do_not_grow_the_server(server: Server) -> None:
    """Finding 6, its cost: four parallel 256 MB uploads without a token took the server from
    231 MB to 2.4 GB. Four parallel 64 MiB uploads now leave its peak memory where it was,
    give or take what the uploads the cap lets through take (4 x 1 MiB)."""
    answers: list[bytes] = []
    grown_mib = server.growth_mib(
        [
            threading.Thread(
                target=lambda: answers.append(
                    _chunked_upload(server, "/ngsi-ld/v1/entities", "application/json", 64 << 20)
                )
            )
            for _ in range(4)
        ]
    )
    assert len(answers) == 4 and all(a.startswith(b"HTTP/1.1 413 ") for a in answers)
    assert grown_mib < 64, f"the server's memory grew by {grown_mib:.0f} MiB"


def test_a_declared_oversized_body_is_refused_before_it_is_read(server: Server) -> None:
    sock = _raw(
        server,
        b"POST /voice/posts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1073741824\r\n\r\n",
    )
    assert _answer(sock).startswith(b"HTTP/1.1 413 ")


def test_oversized_headers_are_refused_with_431(server: Server) -> None:
    """Also capped: the size of the request line and headers (server.max_header_bytes)."""
    sock = _raw(
        server, b"GET /checkpoint HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 20000 + b"\r\n\r\n"
    )
    answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"X-Content-Type-Options: nosniff" in answer
    sock = _raw(server, b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert _answer(sock).startswith(b"HTTP/1.1 431 ")


@pytest.mark.parametrize(
    "partial",
    [
        b"",  # a connection that never starts a request
        b"GET /checkpoint HTTP/1.1\r\nHost: x\r\n",  # headers that never end
        b"POST /voice/posts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n{",  # a body that never completes
    ],
)
def test_a_request_that_does_not_arrive_in_time_is_cut_off(server: Server, partial: bytes) -> None:
    """Also capped: how long a request may take to arrive (server.request_timeout_s, 2 s
    here): a slow client cannot hold a connection."""
    sock = _raw(server, partial)
    sock.settimeout(TIMEOUT_S * 10)
    answer = _answer(sock)  # returns when the server closes the connection
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    if partial:
        assert answer.startswith(b"HTTP/1.1 408 ")


def test_a_request_over_the_connection_limit_gets_a_problem_with_the_security_headers(
    tmp_path: Path,
) -> None:
    """uvicorn's own 503 over ``limit_concurrency`` is plain text without them."""
    data_dir = tmp_path / "city"
    init_deployment(data_dir, ORIGIN)
    port = free_port()
    process = LocalProcess(
        ["serve", "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{port}"],
        port,
        "/metrics",
        tmp_path / "serve.log",
        env={"OMBUD_SERVER_MAX_CONNECTIONS": "2"},
    )
    process.start(timeout=60)
    try:
        idle = socket.create_connection(("127.0.0.1", port), timeout=30)  # holds one
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            sock.sendall(b"GET /checkpoint HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = _answer(sock)
        finally:
            idle.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 "), answer[:200]
        assert b"x-content-type-options: nosniff" in head.lower()
        assert b"content-security-policy: default-src 'none'" in head.lower()
        assert b"retry-after: 1" in head.lower()
        assert json.loads(body)["detail"].startswith("the server is at its connection limit")
        assert httpx.get(process.url + "/checkpoint", timeout=30).status_code in (200, 404)
    finally:
        process.stop()


def test_the_server_still_serves_after_the_abuse(server: Server) -> None:
    with server.client() as client:
        assert client.get("/metrics").status_code == 200
        assert client.get("/devices").json() == []
