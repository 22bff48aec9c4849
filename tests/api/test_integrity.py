"""The integrity routes: devices quarantined as a whole, their release, district indicators."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ombud.api import create_app
from ombud.deployment import Deployment, init_deployment
from ombud.events import Event
from tests.conftest import SIMULATED_START, biased_district

PERIOD = {
    "district": "centre",
    "type": "NoiseLevelObserved",
    "attribute": "LAeq",
    "since": "2026-11-24T09:30:00Z",
    "until": "2026-11-24T10:20:00Z",
}


def clock() -> datetime:
    return SIMULATED_START + timedelta(hours=4)


@pytest.fixture
def city(tmp_path: Path) -> Iterator[tuple[TestClient, list[str]]]:
    data_dir = tmp_path / "city"
    init_deployment(data_dir, "i.example/log")
    devices = biased_district(data_dir)
    deployment = Deployment.open(data_dir, clock=clock, environ={})
    with deployment, TestClient(create_app(deployment)) as client:
        yield client, devices


def test_screening_quarantines_the_biased_device_and_the_indicator_leaves_it_out(
    city: tuple[TestClient, list[str]],
) -> None:
    client, devices = city
    before = client.get("/integrity/indicators", params=PERIOD).json()
    assert (before["readings"], before["devices"], before["quarantinedReadings"]) == (80, 8, 0)
    result = client.app.state.deployment.screener.screen_all()  # type: ignore[attr-defined]
    assert result.devices == (devices[3],)
    (held,) = client.get("/integrity/devices").json()
    assert held["device"] == devices[3] and held["district"] == "centre"
    assert held["since"] == "2026-11-24T09:30:00Z"
    assert held["evidence"][0]["evidence"]["suspects"] == 10
    assert client.get("/integrity/devices", params={"district": "harbour"}).json() == []
    after = client.get("/integrity/indicators", params=PERIOD).json()
    assert (after["readings"], after["devices"]) == (70, 7)
    assert (after["quarantinedReadings"], after["quarantinedDevices"]) == (10, 1)
    assert after["value"] < before["value"] or before["estimator"] == "median"
    huber = client.get("/integrity/indicators", params={**PERIOD, "estimator": "huber"}).json()
    assert huber["estimator"] == "huber" and huber["p10"] <= huber["value"] <= huber["p90"]
    metrics = client.get("/metrics").text
    assert "ombud_devices_quarantined_total 1" in metrics


def test_releasing_a_device_needs_the_scope_and_is_logged(
    city: tuple[TestClient, list[str]],
) -> None:
    client, devices = city
    client.app.state.deployment.screener.screen_all()  # type: ignore[attr-defined]
    route = f"/integrity/devices/{devices[3]}/release"
    assert client.post(route, json={"reason": "inspected"}).status_code == 401
    tokens = client.app.state.deployment.tokens  # type: ignore[attr-defined]
    _, releaser = tokens.create({"quarantine:release"}, "", now=clock())
    auth = {"Authorization": f"Bearer {releaser}"}
    assert client.post(route, json={"reason": ""}, headers=auth).status_code == 400
    ok = client.post(route, json={"reason": "microphone replaced"}, headers=auth)
    assert ok.status_code == 200, ok.text
    event = Event.from_bytes(client.app.state.deployment.log.entry(ok.json()["releasedIndex"]))  # type: ignore[attr-defined]
    assert event.kind == "device.released" and event.body["reason"] == "microphone replaced"
    assert client.post(route, json={"reason": "again"}, headers=auth).status_code == 409
    assert client.get("/integrity/devices", params={"released": "false"}).json() == []


def test_indicator_requests_are_validated(city: tuple[TestClient, list[str]]) -> None:
    client, _ = city
    assert (
        client.get(
            "/integrity/indicators", params={**PERIOD, "since": "2026-11-24T09:30:00"}
        ).status_code
        == 400
    )
    backwards = {**PERIOD, "until": PERIOD["since"]}
    assert client.get("/integrity/indicators", params=backwards).status_code == 400
    assert (
        client.get("/integrity/indicators", params={**PERIOD, "district": "harbour"}).status_code
        == 404
    )
    assert client.get("/integrity/indicators", params={**PERIOD, "cap": "0"}).status_code == 400
    assert client.get("/integrity/indicators", params={"district": "centre"}).status_code == 400


def test_coverage_of_a_device(city: tuple[TestClient, list[str]]) -> None:
    client, devices = city
    period = {"since": "2026-11-24T07:00:00Z", "until": "2026-11-24T11:00:00Z"}
    coverage = client.get(f"/integrity/coverage/{devices[0]}", params=period).json()
    assert (coverage["readings"], coverage["intervalSeconds"], coverage["gaps"]) == (40, 300, [])
    assert client.get("/integrity/coverage/nobody", params=period).status_code == 404
