"""Hostile but signed values through the whole app: what is accepted reads back everywhere.

Devices may sign anything. What the intake accepts — quotes, scripts, line breaks and any
Unicode inside string values, odd but valid URIs as ids and contexts — and what an older
version stored before ids and contexts were checked, must never make a read fail: every GET
route of the app answers below 500, with header values a server can always send (ASCII, no CR
or LF) and bodies that parse.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Route

from ombud.api import create_app
from ombud.canonical import canonical_json
from ombud.clock import to_micros
from ombud.deployment import Deployment, init_deployment
from ombud.events import Event
from ombud.ingest.fleet import SimulatedSensor, make_fleet, reading
from ombud.ledger.log import Log
from ombud.sensors.observations import NewObservation, ObservationStore
from ombud.tokens import SCOPES, TokenStore

NOW = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
NOISE = "NoiseLevelObserved"
PARKING = "ParkingSpot"
ENTITIES = "/ngsi-ld/v1/entities"
JSON_LD = {"Content-Type": "application/ld+json"}
LEGACY_COUNTER = 1000
ODD_CONTEXT = "https://example.org/ctx;v=1/%E2%82%AC?x=a%20b#frag"

HOSTILE_STRINGS = {
    "quoted": "he said \"stop\" \\ and 'left'",
    "unicode": "café € 🙂 \u202eevil\u202c \u0000 \u2028 \ufeff \U0010ffff",
    "lines": "line one\r\nSet-Cookie: session=stolen\r\n\r\n<html>",
    "markup": "</script><script>alert(1)</script><!--",
    "long": "x" * 100_000,
}


@dataclass
class Stored:
    """What the test stored: ids to read back, and which device and counter each came from."""

    entity_ids: list[str]
    devices: list[str]
    counters: list[int]


def clock() -> datetime:
    return NOW


def signed_with(sensor: SimulatedSensor, context: Any = None, **members: Any) -> dict[str, Any]:
    """A reading of ``sensor`` with ``members`` replaced (and ``@context``, when given)."""
    d = sensor.device
    entity = reading(d.model, d.id, d.district, NOW, random.Random(1)) | members
    return sensor.signer.sign(entity if context is None else {"@context": context, **entity})


def store_unchecked(log: Log, sensor: SimulatedSensor, entity: dict[str, Any]) -> None:
    """Write an observation as a version before this one could have: its row and its
    ``observation.accepted`` event in one transaction, without the intake's checks."""
    d = sensor.device
    counter = int(entity["proof"]["nonce"])
    body = {"v": 1, "device": d.id, "counter": counter, "entity": entity["id"][:256]}
    event = Event("observation.accepted", NOW, f"device:{d.id}", {**body, "type": d.model})

    def record(tx: Any, first: int) -> None:
        row = NewObservation(
            d.id,
            counter,
            entity["id"],
            d.model,
            to_micros(NOW),
            first,
            canonical_json(entity),
            d.district,
        )
        ObservationStore.insert(tx, [row])

    log.append_with(lambda tx: [event.to_bytes()], record)


def post(client: TestClient, entity: Any, headers: dict[str, str] | None = None) -> None:
    response = client.post(
        ENTITIES,
        content=json.dumps(entity),
        headers=headers or {"Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text


@pytest.fixture
def city(tmp_path: Path) -> Iterator[tuple[FastAPI, TestClient, Stored, str]]:
    data_dir = tmp_path / "city"
    init_deployment(data_dir, "hostile.example/log")
    deployment = Deployment.open(data_dir, clock=clock, environ={})
    log = deployment.log
    app = create_app(deployment)
    fleet = list(make_fleet(6, random.Random(7), clock=clock, models=(NOISE, PARKING)))
    for sensor in fleet:
        app.state.deployment.registry.add(sensor.device)
    noise = [s for s in fleet if s.device.model == NOISE]
    parking = [s for s in fleet if s.device.model == PARKING]
    with TestClient(app, raise_server_exceptions=False) as client:
        _, token = TokenStore(log.store.db).create(set(SCOPES), "every scope", now=NOW)
        hostile = {k: {"type": "Property", "value": v} for k, v in HOSTILE_STRINGS.items()}
        accepted = [
            signed_with(noise[0], **hostile),
            signed_with(noise[1], ODD_CONTEXT, id=f"urn:ngsi-ld:{NOISE}:caf%C3%A9"),
            signed_with(
                noise[2],
                id="https://example.org/sensors/noise/3?calibrated=yes#now",
                LAeq={"type": "Property", "value": 500.0},  # out of range: quarantined
            ),
            signed_with(
                parking[0],
                id=f"urn:ngsi-ld:{PARKING}:(a);b=c,d!$&'*+@~",
                refParkingSite={
                    "type": "Relationship",
                    "object": "urn:ngsi-ld:OnStreetParking:caf%C3%A9",
                },
                refNeighbours={
                    "type": "Relationship",
                    "object": ["urn:ngsi-ld:ParkingSpot:a", "http://[2001:db8::7]/spot"],
                },
            ),
            signed_with(parking[1], [ODD_CONTEXT, "urn:x:ctx"]),
        ]
        for entity in accepted:
            post(client, entity, JSON_LD if "@context" in entity else None)
        # Stored by an older version, before ids and contexts were checked as URIs.
        legacy_sensor = parking[2]
        legacy_sensor.signer.counter = LEGACY_COUNTER - 1
        crlf = "https://example.org/c.jsonld\r\nSet-Cookie: session=stolen"
        legacy = [
            signed_with(legacy_sensor, "https://example.org/ctx€.jsonld"),
            signed_with(legacy_sensor, crlf, id=f"urn:ngsi-ld:{PARKING}:x"),
            signed_with(legacy_sensor, id=f"urn:ngsi-ld:{PARKING}:caf€"),
            signed_with(legacy_sensor, id=f"urn:ngsi-ld:{PARKING}:a\r\nb"),
            signed_with(
                legacy_sensor, {"@vocab": "https://example.org/"}, id=f"urn:ngsi-ld:{PARKING}:y"
            ),
        ]
        for entity in legacy:
            store_unchecked(log, legacy_sensor, entity)
        log.checkpoint()
        ids = [e["id"] for e in accepted + legacy]
        devices = [s.device.id for s in fleet]
        counters = [1, LEGACY_COUNTER, LEGACY_COUNTER + 2]
        yield app, client, Stored(ids, devices, counters), token
    deployment.close()


def path_values(name: str, stored: Stored) -> list[str]:
    """Plausible values of a path parameter, encoded for a URL path."""
    if name == "entity_id":
        return [quote(i, safe="") for i in stored.entity_ids] + ["urn:ngsi-ld:x:nobody"]
    if name in ("device_id", "device"):
        return [*stored.devices, "nobody"]
    if name == "counter":
        return [str(c) for c in stored.counters]
    if name == "path":
        return ["0/000", "0/000.p/3", "entries/000.p/3", "1/000.p/1"]
    return ["x", "2026-03", "0"]


QUERY = {
    "type": NOISE,
    "q": 'LAeq>0;lines!="x"',
    "limit": "100",
    "count": "true",
    "timerel": "after",
    "timeAt": "2020-01-01T00:00:00Z",
    "lastN": "5",
    "since": "2020-01-01T00:00:00Z",
    "until": "2030-01-01T00:00:00Z",
    "district": "centre",
    "attribute": "LAeq",
    "index": "0",
    "old": "1",
}


def get_paths(app: FastAPI) -> set[str]:
    """Every GET route's path template: those the OpenAPI document lists (FastAPI may keep
    included routers out of ``app.routes``), and the framework's own (``/docs``…)."""
    documented = {
        path for path, operations in app.openapi()["paths"].items() if "get" in operations
    }
    plain = {r.path for r in app.routes if isinstance(r, Route) and "GET" in (r.methods or ())}
    return documented | plain


def requests_for(template: str, stored: Stored) -> Iterator[tuple[str, dict[str, str]]]:
    names = re.findall(r"\{(\w+)(?::\w+)?\}", template)
    for values in itertools.product(*(path_values(name, stored) for name in names)):
        path = template
        for name, value in zip(names, values, strict=True):
            path = re.sub(r"\{" + name + r"(?::\w+)?\}", lambda _, v=value: v, path)
        yield path, {}
        yield path, QUERY


def assert_servable(response: httpx.Response) -> None:
    where = f"{response.request.method} {response.request.url}"
    assert response.status_code < 500, (where, response.text[:500])
    for name, value in response.headers.raw:
        assert name.isascii() and value.isascii(), (where, name, value)
        assert b"\r" not in value and b"\n" not in value, (where, name, value)
    media = response.headers.get("content-type", "")
    if "json" in media and response.content:
        json.loads(response.content)


def test_every_get_route_serves_hostile_but_signed_values(
    city: tuple[FastAPI, TestClient, Stored, str],
) -> None:
    app, client, stored, token = city
    paths = get_paths(app)
    assert paths >= {
        "/ngsi-ld/v1/entities",
        "/ngsi-ld/v1/entities/{entity_id}",
        "/ngsi-ld/v1/temporal/entities/{entity_id}",
        "/observations/{device_id}/{counter}",
        "/openapi.json",
    }
    asked = 0
    for template in sorted(paths):
        for path, params in requests_for(template, stored):
            for accept in ("application/json", "application/ld+json"):
                headers = {"Accept": accept, "Authorization": f"Bearer {token}"}
                assert_servable(client.get(path, params=params, headers=headers))
                asked += 1
    assert asked > 100


def test_accepted_hostile_values_read_back_exactly(
    city: tuple[FastAPI, TestClient, Stored, str],
) -> None:
    _, client, stored, _ = city
    first = client.get(f"{ENTITIES}/{quote(stored.entity_ids[0], safe='')}")
    assert first.status_code == 200
    for name, value in HOSTILE_STRINGS.items():
        assert first.json()[name]["value"] == value
    odd = client.get(f"{ENTITIES}/{quote(stored.entity_ids[1], safe='')}")
    assert odd.json()["id"] == f"urn:ngsi-ld:{NOISE}:caf%C3%A9"
    assert odd.headers["link"].startswith(f"<{ODD_CONTEXT}>;")
    listed = client.get(ENTITIES, params={"type": PARKING}).json()
    assert {e["id"] for e in listed} >= set(stored.entity_ids[3:])  # legacy ids included


def test_legacy_contexts_are_linked_safely(
    city: tuple[FastAPI, TestClient, Stored, str],
) -> None:
    _, client, stored, _ = city
    links = {}
    for entity_id in stored.entity_ids[5:7]:
        response = client.get(f"{ENTITIES}/{quote(entity_id, safe='')}")
        assert response.status_code == 200
        links[entity_id] = response.headers["link"]
    core = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
    assert list(links.values()) == [
        '<https://example.org/ctx%E2%82%AC.jsonld>; rel="http://www.w3.org/ns/json-ld#context"; '
        'type="application/ld+json"',
        f'<{core}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"',
    ]
    for legacy_id in stored.entity_ids[7:9]:  # ids that are no URI: a 4xx, listed by queries
        response = client.get(f"{ENTITIES}/{quote(legacy_id, safe='')}")
        assert response.status_code in (400, 404)  # a line break matches no route
