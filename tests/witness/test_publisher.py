"""Publishing under a witness policy, against in-process witnesses behind a mock transport."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from ombud.deployment import open_log
from ombud.errors import OmbudError
from ombud.ledger import note
from ombud.ledger.checkpoint import open_checkpoint, verify_quorum
from ombud.ledger.log import Log
from ombud.witness.app import create_witness_app
from ombud.witness.policy import WitnessEndpoint, WitnessPolicy
from ombud.witness.publisher import Publisher, PublishOutcome
from ombud.witness.state import WitnessState
from ombud.witness.statedir import STATE_DB, init_witness, read_witness_key
from ombud.witness.witness import Witness

from .conftest import Clock


class Cluster:
    """Three witnesses on fake hosts; each can be taken down or made to misbehave."""

    def __init__(self, tmp_path: Path, log: Log) -> None:
        self.witnesses: dict[str, Witness] = {}
        self.down: set[str] = set()
        self.broken: dict[str, Callable[[httpx.Request], httpx.Response]] = {}
        self.repeat: dict[str, int] = {}
        """Hosts that answer with their body that many times over."""
        self.requests: list[tuple[str, bytes]] = []
        endpoints = []
        for i in (1, 2, 3):
            host = f"w{i}.test"
            vkey = init_witness(tmp_path / host, f"{host}/w").vkey
            self.witnesses[host] = Witness(
                read_witness_key(tmp_path / host, clock=Clock()),
                [log.verifier()],
                WitnessState(tmp_path / host / STATE_DB),
                clock=Clock(),
            )
            endpoints.append(WitnessEndpoint(vkey, f"http://{host}"))
        self.endpoints = tuple(endpoints)
        self.apps = {h: create_witness_app(w) for h, w in self.witnesses.items()}

    async def handle(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        self.requests.append((host, request.content))
        if host in self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if host in self.broken:
            return self.broken[host](request)
        transport = httpx.ASGITransport(app=self.apps[host])
        response = await transport.handle_async_request(request)
        if host in self.repeat:
            body = await response.aread()
            return httpx.Response(response.status_code, content=body * self.repeat[host])
        return response

    def policy(self, quorum: int) -> WitnessPolicy:
        return WitnessPolicy(quorum=quorum, timeout_ms=2000, attempts=2, witness=self.endpoints)

    def close(self) -> None:
        for w in self.witnesses.values():
            w.state.close()


@pytest.fixture
def witnessed_log(log_dir: Path) -> Iterator[Log]:
    log = open_log(log_dir)
    log.witnessed = True
    yield log
    log.close()


@pytest.fixture
def cluster(tmp_path: Path, witnessed_log: Log) -> Iterator[Cluster]:
    c = Cluster(tmp_path, witnessed_log)
    yield c
    c.close()


def publish(cluster: Cluster, log: Log, quorum: int) -> PublishOutcome:
    async def run() -> PublishOutcome:
        http = httpx.AsyncClient(transport=httpx.MockTransport(cluster.handle))
        async with Publisher(log, cluster.policy(quorum), http=http) as publisher:
            try:
                return await publisher.publish()
            finally:
                await http.aclose()

    return asyncio.run(run())


def test_publishes_with_the_quorum_and_keeps_late_cosignatures(
    cluster: Cluster, witnessed_log: Log
) -> None:
    witnessed_log.append_batch([b"e"] * 10)
    outcome = publish(cluster, witnessed_log, 2)
    assert outcome.published and outcome.size == 10
    assert outcome.cosigners == ("w1.test/w", "w2.test/w", "w3.test/w")
    published = witnessed_log.published_checkpoint()
    assert published is not None
    keys = [cluster.witnesses[h].signer.verifier() for h in sorted(cluster.witnesses)]
    opened = open_checkpoint(published.note, [witnessed_log.verifier()], witnesses=keys)
    verify_quorum(opened, keys, 3)


def test_one_down_still_publishes_two_down_does_not(cluster: Cluster, witnessed_log: Log) -> None:
    witnessed_log.append_batch([b"e"] * 10)
    cluster.down = {"w3.test"}
    assert publish(cluster, witnessed_log, 2).published
    witnessed_log.append_batch([b"f"] * 10)
    cluster.down = {"w2.test", "w3.test"}
    outcome = publish(cluster, witnessed_log, 2)
    assert not outcome.published
    assert set(outcome.failures) == {"w2.test/w", "w3.test/w"}
    assert "connection refused" in outcome.failures["w2.test/w"]
    assert "NOT published" in outcome.summary()
    published = witnessed_log.published_checkpoint()
    assert published is not None and published.size == 10  # readers keep the witnessed one
    signed = witnessed_log.latest_checkpoint()
    assert signed is not None and signed.size == 20  # sequencing went on
    status = witnessed_log.store.publish_status()
    assert status is not None and PublishOutcome.from_json(status) == outcome

    # They come back: w3 missed two checkpoints and is sent a proof across the gap (409 first).
    witnessed_log.append_batch([b"g"] * 10)
    cluster.down = set()
    cluster.requests.clear()
    outcome = publish(cluster, witnessed_log, 2)
    assert outcome.published and len(outcome.cosigners) == 3
    w3 = [body for host, body in cluster.requests if host == "w3.test"]
    assert w3[-1].startswith(b"old 0\n")  # w3 never cosigned: no proof needed from 0
    w1 = [body for host, body in cluster.requests if host == "w1.test"]
    assert w1[-1].startswith(b"old 20\n") and w1[-1].count(b"\n") > 3  # a real proof


def test_conflict_is_resolved_with_the_witness_size(cluster: Cluster, witnessed_log: Log) -> None:
    witnessed_log.append_batch([b"e"] * 10)
    assert publish(cluster, witnessed_log, 3).published
    witnessed_log.append_batch([b"f"] * 5)
    cluster.down = {"w2.test", "w3.test"}
    assert not publish(cluster, witnessed_log, 2).published  # but w1 cosigned 15
    witnessed_log.append_batch([b"g"] * 5)
    cluster.down = set()
    cluster.requests.clear()
    # Each round uses a fresh publisher: its first guess for w1 is the published size, 10.
    assert publish(cluster, witnessed_log, 3).published
    w1 = [body.split(b"\n", 1)[0] for host, body in cluster.requests if host == "w1.test"]
    assert w1 == [b"old 10", b"old 15"]  # 409 "15\n", then a proof from 15


def test_a_bad_cosignature_does_not_count(cluster: Cluster, witnessed_log: Log) -> None:
    witnessed_log.append_batch([b"e"] * 3)

    key_id = cluster.witnesses["w3.test"].signer.key_id.to_bytes(4, "big")

    def forged(request: httpx.Request) -> httpx.Response:
        blob = base64.b64encode(key_id + bytes(8 + 64)).decode()  # w3's key ID, no valid signature
        return httpx.Response(200, content=f"\u2014 w3.test/w {blob}\n".encode())

    cluster.broken["w3.test"] = forged
    cluster.down = {"w2.test"}
    outcome = publish(cluster, witnessed_log, 2)
    assert not outcome.published
    assert "valid cosignature" in outcome.failures["w3.test/w"]


def test_a_witness_repeating_its_line_or_answering_without_end_is_contained(
    cluster: Cluster, witnessed_log: Log
) -> None:
    """w3 answers with its valid cosignature 100 times: the note keeps one line of it (101 lines
    once made every checkpoint unpublishable). w1 answers with 1 MiB: past 64 KiB it is
    refused and does not count; w2's quorum of one still publishes."""
    witnessed_log.append_batch([b"e"] * 3)
    cluster.repeat["w3.test"] = 100

    def endless(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * (1 << 20))

    cluster.broken["w1.test"] = endless
    outcome = publish(cluster, witnessed_log, 1)
    assert outcome.published
    assert "more than 65536 bytes" in outcome.failures["w1.test/w"]
    published = witnessed_log.published_checkpoint()
    assert published is not None
    names = [s.name for s in note.parse(published.note).signatures]
    assert len(names) == len(set(names)) and "w3.test/w" in names  # w3's line, once


def test_a_witness_reporting_inconsistency_is_named(cluster: Cluster, witnessed_log: Log) -> None:
    witnessed_log.append_batch([b"e"] * 3)
    cluster.broken["w1.test"] = lambda r: httpx.Response(422, text="not consistent")
    outcome = publish(cluster, witnessed_log, 2)
    assert outcome.published
    assert "inconsistent" in outcome.failures["w1.test/w"]


def test_server_errors_are_retried(cluster: Cluster, witnessed_log: Log) -> None:
    witnessed_log.append_batch([b"e"] * 3)
    calls = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(503, text="busy")
        del cluster.broken["w1.test"]
        return httpx.Response(503, text="busy")

    cluster.broken["w1.test"] = flaky
    cluster.down = {"w2.test"}
    # w1 answers 503 twice (attempts=2), so only w3 cosigns: no quorum of 2.
    assert not publish(cluster, witnessed_log, 2).published
    # Now w1 is healthy again.
    assert publish(cluster, witnessed_log, 2).published


def test_unwitnessed_logs_publish_every_checkpoint(log: Log) -> None:
    log.append_batch([b"e"])
    assert log.checkpoint().checkpoint.size == 1
    assert log.published_checkpoint() is not None


def test_witnessed_log_does_not_publish_by_itself(witnessed_log: Log) -> None:
    witnessed_log.append_batch([b"e"])
    witnessed_log.checkpoint()
    assert witnessed_log.published_checkpoint() is None
    with pytest.raises(OmbudError):
        witnessed_log.publish(b"not a note")
