"""``/tenders`` and ``/ocds``: bidders commit and reveal over HTTP with their own keys (no
token); a bad signature, a late or second bid, a reveal without a commitment are refused; the
OCDS release package and record are served; hostile input changes nothing."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ombud.api import create_app
from ombud.deployment import Deployment
from tests.api.conftest import Api
from tests.governance.test_procurement import City, Clock, _publish, witnessed
from tests.governance.test_roster import GENESIS
from tests.governance.test_tenders import ORIGIN, TENDER, bid, committed, revealed


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def city(tmp_path: Path) -> Iterator[tuple[City, TestClient]]:
    data_dir = tmp_path / "city"
    _, witnesses = witnessed(data_dir)
    clock = Clock()
    deployment = Deployment.open(data_dir, clock=clock, environ={})
    deployment.establish_roster(GENESIS, actor="clerk")
    _publish(deployment)
    app = create_app(deployment)
    with deployment, TestClient(app, raise_server_exceptions=False) as client:
        yield City(deployment, clock, witnesses), client


def test_bidders_commit_and_reveal_over_http(city: tuple[City, TestClient]) -> None:
    town, client = city
    url = f"/tenders/{TENDER.ocid}"
    assert client.get("/tenders").json()[0]["stage"] == "open"
    document, salt = bid("lumen-co", 198_000)
    made = committed("lumen-co", document, salt).to_json()
    body = {k: v for k, v in made.items() if k != "ocid"}
    answer = client.post(f"{url}/commitments", json=body)
    assert answer.status_code == 201, answer.text
    assert client.post(f"{url}/commitments", json=body).status_code == 409  # twice
    forged = {**body, "bidder": "bright-ltd"}
    size = town.deployment.log.size
    assert client.post(f"{url}/commitments", json=forged).status_code == 422  # not its key
    assert town.deployment.log.size == size  # an unsigned bid leaves nothing behind
    receipt = client.get(f"{url}/bids/lumen-co").json()
    assert receipt["tlogProof"] is None  # no witnessed checkpoint covers it yet
    town.publish_checkpoint(TENDER.deadline - timedelta(minutes=1))
    town.deployment.tenders.observe()
    receipt = client.get(f"{url}/bids/lumen-co").json()
    assert receipt["tlogProof"] is not None  # the proof that the bid existed before
    town.publish_checkpoint(TENDER.deadline + timedelta(seconds=5))
    late = committed("quiet", *bid("quiet", 100_000)).to_json()
    late_body = {k: v for k, v in late.items() if k != "ocid"}
    assert client.post(f"{url}/commitments", json=late_body).status_code == 403  # closed
    signed = revealed("lumen-co", document, salt).to_json()
    spoiler = {**signed, "signature": _b64(b"\1" * 64)}
    spoiler.pop("ocid")
    assert client.post(f"{url}/reveals", json=spoiler).status_code == 422  # not the bidder's
    reveal = {k: v for k, v in signed.items() if k != "ocid"}
    assert client.post(f"{url}/reveals", json=reveal).status_code == 201
    stranger = {**reveal, "bidder": "nobody"}
    assert client.post(f"{url}/reveals", json=stranger).status_code == 404
    town.deployment.tenders.award(TENDER.ocid, actor="ombud")
    package = client.get(f"/ocds/releases/{TENDER.ocid}").json()
    assert [r["tag"] for r in package["releases"]] == [["tender"], ["award", "contract"]]
    record = client.get(f"/ocds/records/{TENDER.ocid}").json()
    compiled = record["records"][0]["compiledRelease"]
    assert compiled["awards"][0]["suppliers"][0]["id"] == "lumen-co"


def test_hostile_bids_are_refused(city: tuple[City, TestClient]) -> None:
    town, client = city
    url = f"/tenders/{TENDER.ocid}"
    size = town.deployment.log.size
    for body in (
        {},
        {"bidder": "X", "name": "n", "key": "k", "commitment": "c", "signature": "s"},
        {"bidder": "a", "name": "n", "key": "A" * 43, "commitment": "0" * 64, "signature": "B"},
        [1],
    ):
        assert client.post(f"{url}/commitments", json=body).status_code == 400, body
    assert client.post("/tenders/not-an-ocid/commitments", json={}).status_code in (400, 404)
    assert client.get("/ocds/releases/ocds-0mbud0-unknown").status_code == 404
    early = {
        "v": 2,
        "origin": ORIGIN,
        "bidder": "lumen-co",
        "document": _b64(b"{}"),
        "salt": _b64(b"\0" * 32),
        "signature": _b64(b"\0" * 64),
    }
    assert client.post(f"{url}/reveals", json=early).status_code == 404  # no such bid
    assert town.deployment.log.size == size  # nothing anyone could attribute was recorded


def test_a_bid_or_reveal_for_another_deployment_is_403_with_nothing_written(
    city: tuple[City, TestClient],
) -> None:
    town, client = city
    url = f"/tenders/{TENDER.ocid}"
    document, salt = bid("lumen-co", 198_000)
    size = town.deployment.log.size
    for origin, says in (("staging.example/log", "signed for deployment"), (None, "names no")):
        made = committed("lumen-co", document, salt, origin=origin).to_json()
        made.pop("ocid")
        refused = client.post(f"{url}/commitments", json=made)
        assert refused.status_code == 403 and says in refused.json()["detail"]
        assert town.deployment.log.size == size
    made = committed("lumen-co", document, salt).to_json()
    made.pop("ocid")
    assert client.post(f"{url}/commitments", json=made).status_code == 201
    town.publish_checkpoint(TENDER.deadline - timedelta(minutes=1))
    town.deployment.tenders.observe()
    town.publish_checkpoint(TENDER.deadline + timedelta(seconds=5))
    assert town.deployment.tenders.close(TENDER.ocid, actor="ombud") is not None
    size = town.deployment.log.size
    for origin, says in (("staging.example/log", "signed for deployment"), (None, "names no")):
        opened = revealed("lumen-co", document, salt, origin=origin).to_json()
        opened.pop("ocid")
        refused = client.post(f"{url}/reveals", json=opened)
        assert refused.status_code == 403 and says in refused.json()["detail"]
        assert town.deployment.log.size == size
    opened = revealed("lumen-co", document, salt).to_json()
    opened.pop("ocid")
    assert client.post(f"{url}/reveals", json=opened).status_code == 201
    assert client.post(f"{url}/reveals", json={**opened, "v": 1}).status_code == 400


def test_the_openapi_document_lists_what_commit_and_reveal_answer(api: Api) -> None:
    # A reveal whose signature is not the committed key's, or whose document and salt do not
    # open the commitment, is a 422 (above): the description must say so, like a commitment's.
    paths = api.client.get("/openapi.json").json()["paths"]
    for route in ("/tenders/{ocid}/commitments", "/tenders/{ocid}/reveals"):
        answers = paths[route]["post"]["responses"]
        assert {"201", "400", "403", "404", "409", "413", "415", "422"} <= set(answers), route
        assert "application/problem+json" in answers["422"]["content"], route
