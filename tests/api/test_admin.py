"""The admin routes and the scopes that guard them (``require_scope``), over HTTP."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from ombud.api import create_app
from ombud.dataintegrity.multikey import DidKey
from ombud.deployment import Deployment, init_deployment
from ombud.events import Event

NOW = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
TOKEN = re.compile(r"ombud_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


def clock() -> datetime:
    return NOW


def did(seed: int) -> str:
    key = Ed25519PrivateKey.from_private_bytes(random.Random(seed).randbytes(32))
    return DidKey.from_key(key.public_key()).did


def bearer(token: str) -> str:
    return f"Bearer {token}"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "city"
    init_deployment(directory, "t.example/log")
    return directory


@pytest.fixture
def client(data_dir: Path) -> Iterator[TestClient]:
    with Deployment.open(data_dir, clock=clock, environ={}) as deployment:
        app = create_app(deployment)
        with TestClient(app, raise_server_exceptions=False) as c:
            yield c


def make_token(client: TestClient, *scopes: str) -> str:
    store = client.app.state.deployment.tokens  # type: ignore[attr-defined]
    return store.create(set(scopes), "test", now=NOW)[1]


def new_device(device_id: str = "noise-7", seed: int = 1, **fields: str) -> dict[str, str]:
    body = {"id": device_id, "type": "NoiseLevelObserved", "key": did(seed), "district": "D7"}
    return {**body, **fields}


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body["status"] == status and body["detail"]
    return body


def test_admin_routes_need_a_bearer_token(client: TestClient) -> None:
    for response in [
        client.post("/admin/devices", json=new_device()),
        client.post("/admin/devices/noise-7/revoke", json={"reason": "x"}),
        client.post("/admin/devices", json=new_device(), headers={"Authorization": "Bearer x"}),
    ]:
        assert_problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"
    assert client.app.state.deployment.log.state().size == 0  # type: ignore[attr-defined]


def test_a_token_without_the_scope_cannot_register(client: TestClient) -> None:
    token = make_token(client, "voice:read")
    response = client.post(
        "/admin/devices", json=new_device(), headers={"Authorization": bearer(token)}
    )
    body = assert_problem(response, 403)
    assert "devices:write" in str(body["detail"])
    assert client.get("/devices").json() == []


def test_the_device_registry_is_public_and_agrees_with_the_ledger(client: TestClient) -> None:
    """Finding: device.registered events are public on the ledger while GET /admin/devices
    needed a token. Which sensors watch a city is public on purpose: the registry is read
    without a token, and says what the ledger says."""
    auth = {"Authorization": bearer(make_token(client, "devices:write"))}
    assert client.post("/admin/devices", json=new_device(owner="acme"), headers=auth).is_success
    (listed,) = client.get("/devices").json()
    assert client.get("/devices/noise-7").json() == listed
    log = client.app.state.deployment.log  # type: ignore[attr-defined]
    event = Event.from_bytes(log.entry(listed["registeredIndex"]))
    assert event.kind == "device.registered"
    for field, member in (("id", "device"), ("key", "key"), ("type", "type"),
                          ("district", "district"), ("owner", "owner")):  # fmt: skip
        assert listed[field] == event.body[member]
    assert client.get("/admin/devices").status_code == 405  # writes only under /admin


def test_register_list_get_and_revoke_over_http(client: TestClient) -> None:
    token = make_token(client, "devices:write")
    auth = {"Authorization": bearer(token)}
    token_id = token.split("_")[1]
    created = client.post("/admin/devices", json=new_device(owner="acme"), headers=auth)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body == {
        "id": "noise-7",
        "type": "NoiseLevelObserved",
        "key": did(1),
        "district": "D7",
        "owner": "acme",
        "status": "active",
        "registeredIndex": 0,
        "revokedIndex": None,
        "lastCounter": None,
    }
    log = client.app.state.deployment.log  # type: ignore[attr-defined]
    event = Event.from_bytes(log.entry(0))
    assert event.kind == "device.registered" and event.actor == f"token:{token_id}"

    duplicate = client.post("/admin/devices", json=new_device(), headers=auth)
    assert_problem(duplicate, 409)
    same_key = client.post("/admin/devices", json=new_device("noise-8"), headers=auth)
    assert_problem(same_key, 409)
    assert client.post("/admin/devices", json=new_device("air-1", 2, type="AirQualityObserved"),
                       headers=auth).status_code == 201  # fmt: skip

    listed = client.get("/devices")
    assert listed.status_code == 200
    assert [d["id"] for d in listed.json()] == ["air-1", "noise-7"]
    one = client.get("/devices/noise-7")
    assert one.status_code == 200 and one.json() == body
    assert_problem(client.get("/devices/ghost"), 404)

    revoked = client.post("/admin/devices/noise-7/revoke", json={"reason": "broken"}, headers=auth)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"
    assert revoked.json()["revokedIndex"] == log.state().size - 1
    event = Event.from_bytes(log.entry(revoked.json()["revokedIndex"]))
    assert event.kind == "device.revoked" and dict(event.body)["reason"] == "broken"
    assert event.actor == f"token:{token_id}"
    again = client.post("/admin/devices/noise-7/revoke", json={"reason": "x"}, headers=auth)
    assert_problem(again, 409)
    ghost = client.post("/admin/devices/ghost/revoke", json={"reason": "x"}, headers=auth)
    assert_problem(ghost, 404)
    empty = client.post("/admin/devices/air-1/revoke", json={"reason": ""}, headers=auth)
    assert_problem(empty, 400)
    statuses = {d["id"]: d["status"] for d in client.get("/devices").json()}
    assert statuses == {"air-1": "active", "noise-7": "revoked"}


@pytest.mark.parametrize(
    "body",
    [
        new_device(key="did:key:z6MkNotAKey"),
        new_device(key="did:web:example.com"),
        new_device(key="did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme"),
        new_device(type="WeatherObserved"),
        new_device(district="12 Main Street, Apt 4"),
        new_device(owner="Jane Doe"),
        new_device(device_id="has space"),
        {**new_device(), "colour": "red"},
        {"id": "noise-7", "type": "NoiseLevelObserved", "district": "D7"},
    ],
)
def test_a_bad_registration_is_a_400_problem(client: TestClient, body: dict[str, str]) -> None:
    token = make_token(client, "devices:write")
    response = client.post("/admin/devices", json=body, headers={"Authorization": bearer(token)})
    assert_problem(response, 400)
    assert client.app.state.deployment.log.state().size == 0  # type: ignore[attr-defined]


def test_an_unknown_type_names_the_allowed_ones(client: TestClient) -> None:
    token = make_token(client, "devices:write")
    response = client.post(
        "/admin/devices",
        json=new_device(type="WeatherObserved"),
        headers={"Authorization": bearer(token)},
    )
    detail = str(assert_problem(response, 400)["detail"])
    assert "NoiseLevelObserved" in detail and "ParkingSpot" in detail


def test_a_revoked_token_is_refused_over_http(client: TestClient) -> None:
    token = make_token(client, "devices:write")
    client.app.state.deployment.tokens.revoke(token.split("_")[1])  # type: ignore[attr-defined]
    response = client.post(
        "/admin/devices", json=new_device(), headers={"Authorization": bearer(token)}
    )
    assert_problem(response, 401)
    assert token not in response.text
