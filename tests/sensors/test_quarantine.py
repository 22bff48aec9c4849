"""Quarantine: an implausible reading is stored and quarantined (ledger event, evidence), listed
for auditors, and released only by a token with the scope, as a ledger event too."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ombud.api import create_app
from ombud.deployment import Deployment, init_deployment
from ombud.events import Event
from ombud.ingest.fleet import SimulatedSensor, make_fleet, reading
from tests.conftest import ombud

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
UPSERT = "/ngsi-ld/v1/entityOperations/upsert"


def clock() -> datetime:
    return NOW


@pytest.fixture
def city(tmp_path: Path) -> Iterator[tuple[TestClient, list[SimulatedSensor], Path]]:
    data_dir = tmp_path / "city"
    init_deployment(data_dir, "q.example/log")
    deployment = Deployment.open(data_dir, clock=clock, environ={})
    app = create_app(deployment)
    fleet = list(make_fleet(3, random.Random(4), clock=clock, models=("NoiseLevelObserved",)))
    for sensor in fleet:
        app.state.deployment.registry.add(sensor.device)
    with deployment, TestClient(app) as client:
        yield client, fleet, data_dir


def observe(sensor: SimulatedSensor, laeq: float) -> dict[str, Any]:
    entity = reading(
        "NoiseLevelObserved", sensor.device.id, sensor.device.district, NOW, random.Random(1)
    )
    entity["LAeq"]["value"] = laeq
    return sensor.signer.sign(entity)


def post(client: TestClient, *entities: dict[str, Any]) -> None:
    response = client.post(
        UPSERT, content=json.dumps(list(entities)), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text


def test_an_implausible_reading_is_kept_and_quarantined(
    city: tuple[TestClient, list[SimulatedSensor], Path],
) -> None:
    client, fleet, _ = city
    post(client, observe(fleet[0], 61.0), observe(fleet[1], 181.0), observe(fleet[2], -9999.0))
    log = client.app.state.deployment.log  # type: ignore[attr-defined]
    kinds = [Event.from_bytes(e).kind for e in log.entries(3, log.state().size)]
    assert kinds == [
        "observation.accepted",
        "observation.accepted",
        "observation.quarantined",
        "observation.accepted",
        "observation.quarantined",
    ]
    listed = client.get("/integrity/quarantine").json()
    assert [(q["device"], q["checks"]) for q in listed] == [
        (fleet[1].device.id, ["range"]),
        (fleet[2].device.id, ["sentinel"]),
    ]
    first = listed[0]
    assert first["evidence"][0]["evidence"] == {
        "attribute": "LAeq",
        "value": 181.0,
        "low": 0.0,
        "high": 140.0,
    }
    event = Event.from_bytes(log.entry(first["ledgerIndex"]))
    assert event.body["device"] == fleet[1].device.id and event.body["checks"] == ["range"]
    # Kept: the reading is stored and served as signed.
    stored = client.get(f"/observations/{fleet[1].device.id}/1").json()
    assert stored["entity"]["LAeq"]["value"] == 181.0
    assert (
        client.get("/integrity/quarantine", params={"check": "sentinel"}).json()[0]["device"]
        == fleet[2].device.id
    )
    assert client.get("/integrity/quarantine", params={"device": fleet[0].device.id}).json() == []
    assert (
        client.get("/integrity/quarantine", params={"since": "2027-01-01T00:00:00Z"}).json() == []
    )
    assert (
        client.get("/integrity/quarantine", params={"since": "2027-01-01T00:00:00"}).status_code
        == 400
    )


def test_release_needs_the_scope_and_is_logged(
    city: tuple[TestClient, list[SimulatedSensor], Path],
) -> None:
    client, fleet, data_dir = city
    post(client, observe(fleet[1], 181.0))
    route = f"/integrity/quarantine/{fleet[1].device.id}/1/release"
    assert client.post(route, json={"reason": "calibrated"}).status_code == 401
    tokens = client.app.state.deployment.tokens  # type: ignore[attr-defined]
    _, reader = tokens.create({"voice:read"}, "", now=NOW)
    _, releaser = tokens.create({"quarantine:release"}, "", now=NOW)
    denied = client.post(route, json={"reason": "x"}, headers={"Authorization": f"Bearer {reader}"})
    assert denied.status_code == 403
    ok = client.post(
        route,
        json={"reason": "sensor recalibrated on site"},
        headers={"Authorization": f"Bearer {releaser}"},
    )
    assert ok.status_code == 200, ok.text
    released = ok.json()
    assert released["releaseReason"] == "sensor recalibrated on site"
    event = Event.from_bytes(client.app.state.deployment.log.entry(released["releasedIndex"]))  # type: ignore[attr-defined]
    assert event.kind == "observation.released" and event.actor.startswith("token:")
    again = client.post(
        route, json={"reason": "x"}, headers={"Authorization": f"Bearer {releaser}"}
    )
    assert again.status_code == 409  # one rule for every release: counted already
    held = client.get("/integrity/quarantine", params={"released": "false"}).json()
    assert held == []
    report = ombud("integrity", "report", "--data-dir", data_dir, "--json")
    assert report.returncode == 0, report.stderr
    assert (
        json.loads(report.stdout)["observations"][0]["releaseReason"]
        == "sensor recalibrated on site"
    )
