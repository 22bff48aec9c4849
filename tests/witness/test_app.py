"""The witness over HTTP: status codes, media types, body cap, monitor path, refusal logs."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from ombud.ledger.checkpoint import open_checkpoint
from ombud.ledger.log import Log
from ombud.witness.app import MAX_BODY, create_witness_app
from ombud.witness.protocol import AddCheckpoint
from ombud.witness.witness import Witness, origin_hash

from .test_witness import grow


@pytest.fixture
def client(witness: Witness) -> TestClient:
    return TestClient(create_witness_app(witness))


def post(client: TestClient, old: int, checkpoint: bytes, proof: list[bytes] | None = None):  # type: ignore[no-untyped-def]
    body = AddCheckpoint.build(old, proof or [], checkpoint).to_bytes()
    return client.post("/add-checkpoint", content=body)


def test_statuses_as_the_spec_names_them(
    client: TestClient, log: Log, caplog: pytest.LogCaptureFixture
) -> None:
    first = grow(log, 4)
    ok = post(client, 0, first)
    assert ok.status_code == 200
    assert ok.content.startswith("\u2014 witness.test/w1 ".encode())

    second = grow(log, 4)
    with caplog.at_level(logging.WARNING, logger="ombud.witness"):
        conflict = post(client, 0, second)
    assert conflict.status_code == 409
    assert conflict.headers["content-type"] == "text/x.tlog.size"
    assert conflict.content == b"4\n"
    assert "refused add-checkpoint from testclient with 409" in caplog.text

    assert post(client, 9, second).status_code == 400  # old size > checkpoint size
    assert post(client, 4, second, [bytes(32)] * 3).status_code == 422
    assert post(client, 4, second, log.consistency_proof(4, 8)).status_code == 200
    assert client.post("/add-checkpoint", content=b"garbage").status_code == 400


def test_unknown_log_and_bad_signature(client: TestClient, log: Log, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ombud.deployment import open_log
    from ombud.ledger.logdir import init_log

    init_log(tmp_path / "other", "other.example/log")
    other = open_log(tmp_path / "other")
    try:
        assert post(client, 0, grow(other, 1)).status_code == 404
    finally:
        other.close()
    tampered = grow(log, 2).replace(b"\n2\n", b"\n3\n")
    assert post(client, 0, tampered).status_code == 403


def test_body_is_capped(client: TestClient) -> None:
    response = client.post("/add-checkpoint", content=b"x" * (MAX_BODY + 1))
    assert response.status_code == 400
    assert b"limited" in response.content


def test_monitor_path(client: TestClient, log: Log, witness: Witness) -> None:
    path = f"/{origin_hash(log.origin)}/checkpoint"
    assert client.get(path).status_code == 404  # never cosigned
    checkpoint = grow(log, 3)
    post(client, 0, checkpoint)
    served = client.get(path)
    assert served.status_code == 200
    opened = open_checkpoint(
        served.content, [log.verifier()], witnesses=[witness.signer.verifier()]
    )
    assert opened.checkpoint.size == 3 and len(opened.cosigners) == 1
    assert client.get("/" + "0" * 64 + "/checkpoint").status_code == 404


def test_openapi_documents_the_protocol(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]["/add-checkpoint"]["post"]["responses"]) >= {
        "200",
        "400",
        "403",
        "404",
        "409",
        "422",
    }


def test_the_fastapi_route_answers_like_the_fast_path(witness: Witness, log: Log) -> None:
    """The route declared for OpenAPI works on its own, for anyone mounting that app."""
    inner = TestClient(create_witness_app(witness).app)
    assert post(inner, 0, grow(log, 2)).status_code == 200
    conflict = post(inner, 0, grow(log, 2))
    assert conflict.status_code == 409
    assert conflict.headers["content-type"] == "text/x.tlog.size"
    assert conflict.content == b"2\n"
    assert inner.post("/add-checkpoint", content=b"x" * (MAX_BODY + 1)).status_code == 400
