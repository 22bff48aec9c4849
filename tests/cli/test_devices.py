"""The device commands as scripts see them, and a signed observation through `serve`."""

from __future__ import annotations

import json
import random
import re
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from ombud.ingest.fleet import reading
from ombud.ingest.signer import DeviceSigner, read_device_key
from ombud.process import LocalProcess, free_port

from ..conftest import ombud
from .conftest import one_line_error

DID_KEY = re.compile(r"did:key:z6Mk[1-9A-HJ-NP-Za-km-z]{44}")
NOISE = "NoiseLevelObserved"


@pytest.fixture
def device_key(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "noise-1.key"
    result = ombud("device", "keygen", "--out", path)
    assert result.returncode == 0, result.stderr
    return path, result.stdout.strip()


def add(
    data_dir: Path, did: str, device_id: str = "noise-1", model: str = NOISE
) -> subprocess.CompletedProcess[str]:
    return ombud("device", "add", "--data-dir", data_dir, "--id", device_id, "--type", model,
                 "--key", did, "--district", "D7")  # fmt: skip


def listed(data_dir: Path) -> list[dict[str, object]]:
    result = ombud("device", "list", "--data-dir", data_dir, "--json")
    assert result.returncode == 0, result.stderr
    devices: list[dict[str, object]] = json.loads(result.stdout)
    return devices


def test_keygen_prints_the_did_key_and_keeps_the_secret_private(
    tmp_path: Path, device_key: tuple[Path, str]
) -> None:
    path, did = device_key
    assert DID_KEY.fullmatch(did), did
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = path.read_text().strip()
    assert secret not in did
    signer = DeviceSigner(read_device_key(path))
    assert signer.did.did == did
    again = ombud("device", "keygen", "--out", path)
    assert "already exists" in one_line_error(again)
    assert path.read_text().strip() == secret


def test_device_add_and_list(data_dir: Path, device_key: tuple[Path, str]) -> None:
    _, did = device_key
    result = add(data_dir, did)
    assert result.returncode == 0, result.stderr
    assert "registered device noise-1" in result.stdout
    assert "device.registered at ledger index 0" in result.stdout
    (device,) = listed(data_dir)
    assert device == {
        "id": "noise-1",
        "type": NOISE,
        "key": did,
        "district": "D7",
        "owner": "city",
        "status": "active",
        "registeredIndex": 0,
        "revokedIndex": None,
        "lastCounter": None,
    }
    table = ombud("device", "list", "--data-dir", data_dir)
    assert table.returncode == 0 and "noise-1" in table.stdout and "active" in table.stdout


def test_adding_a_device_again_is_a_one_line_error(
    data_dir: Path, device_key: tuple[Path, str]
) -> None:
    _, did = device_key
    assert add(data_dir, did).returncode == 0
    assert "already registered" in one_line_error(add(data_dir, did))
    assert "already registered" in one_line_error(add(data_dir, did, device_id="noise-2"))
    assert [d["id"] for d in listed(data_dir)] == ["noise-1"]


def test_a_bad_type_names_the_allowed_ones(data_dir: Path, device_key: tuple[Path, str]) -> None:
    _, did = device_key
    line = one_line_error(add(data_dir, did, model="WeatherObserved"))
    for model in (NOISE, "AirQualityObserved", "TrafficFlowObserved", "ParkingSpot"):
        assert model in line
    assert listed(data_dir) == []


def test_bad_keys_and_addresses_are_one_line_errors(
    data_dir: Path, device_key: tuple[Path, str]
) -> None:
    _, did = device_key
    one_line_error(add(data_dir, "did:key:z6MkNotAKey"))
    result = ombud("device", "add", "--data-dir", data_dir, "--id", "noise-1", "--type", NOISE,
                   "--key", did, "--district", "12 Main Street, Apt 4")  # fmt: skip
    assert "address" in one_line_error(result)
    assert listed(data_dir) == []


def test_device_commands_refuse_a_directory_that_is_not_a_deployment(
    tmp_path: Path, device_key: tuple[Path, str]
) -> None:
    _, did = device_key
    assert "ombud init" in one_line_error(add(tmp_path / "nowhere", did))


def test_device_revoke(data_dir: Path, device_key: tuple[Path, str]) -> None:
    _, did = device_key
    assert add(data_dir, did).returncode == 0
    result = ombud(
        "device", "revoke", "--data-dir", data_dir, "--id", "noise-1", "--reason", "broken"
    )
    assert result.returncode == 0, result.stderr
    assert "device.revoked at ledger index 1" in result.stdout
    (device,) = listed(data_dir)
    assert device["status"] == "revoked" and device["revokedIndex"] == 1
    again = ombud("device", "revoke", "--data-dir", data_dir, "--id", "noise-1", "--reason", "x")
    assert "already revoked" in one_line_error(again)
    ghost = ombud("device", "revoke", "--data-dir", data_dir, "--id", "ghost", "--reason", "x")
    assert "ghost" in one_line_error(ghost)


def test_a_signed_observation_through_serve(
    data_dir: Path, device_key: tuple[Path, str], tmp_path: Path
) -> None:
    key_file, did = device_key
    assert add(data_dir, did).returncode == 0
    port = free_port()
    args = ["serve", "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{port}"]
    server = LocalProcess(args, port, "/metrics", tmp_path / "serve.log")
    url = server.url
    server.start(timeout=60)  # the server compiles the Smart Data Models at start
    try:
        signer = DeviceSigner(read_device_key(key_file))
        entity = signer.sign(reading(NOISE, "noise-1", "D7", datetime.now(UTC), random.Random(1)))
        response = httpx.post(
            url + "/ngsi-ld/v1/entities",
            content=json.dumps(entity),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        assert response.headers["location"] == f"/ngsi-ld/v1/entities/{entity['id']}"
        got = httpx.get(url + response.headers["location"], timeout=10)
        assert got.status_code == 200, got.text
        assert got.json()["LAeq"] == entity["LAeq"]
        assert got.json() == entity
        replay = httpx.post(
            url + "/ngsi-ld/v1/entities",
            content=json.dumps(entity),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert replay.status_code == 409
        observation = httpx.get(url + "/observations/noise-1/1", timeout=10).json()
        assert observation["ledgerIndex"] == 1 and observation["entity"] == entity

        # The sensor simulator: its devices registered in the deployment, observations over HTTP.
        simulated = ombud(
            "simulate", "sensors", "--target", url, "--devices", "5", "--count", "25",
            "--rate", "0", "--data-dir", data_dir,
        )  # fmt: skip
        assert simulated.returncode == 0, simulated.stderr
        assert "5 devices: 25 observations accepted, 0 refused" in simulated.stdout
        for model in ("AirQualityObserved", "ParkingSpot", "OnStreetParking"):
            found = httpx.get(
                url + "/ngsi-ld/v1/entities", params={"type": model, "count": "true"}, timeout=10
            )
            assert found.headers["NGSILD-Results-Count"] == "1", model
    finally:
        server.stop()
    devices = listed(data_dir)
    assert devices[0]["lastCounter"] == 1
