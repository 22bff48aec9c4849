"""The NGSI-LD routes through the real app on SQLite: every answer, every refusal of bad input."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ombud.api import create_app, ngsi_ld
from ombud.api.ngsi_ld import CORE_CONTEXT
from ombud.canonical import canonical_json
from ombud.clock import to_micros
from ombud.config import IngestSettings, Settings
from ombud.dataintegrity.eddsa_jcs_2022 import ProofOptions, sign_document
from ombud.dataintegrity.multikey import DidKey
from ombud.deployment import Deployment, init_deployment
from ombud.events import Event
from ombud.ingest.devices import Device
from ombud.ingest.fleet import SimulatedSensor, make_fleet, reading
from ombud.sensors.observations import NewObservation, ObservationStore

NOW = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
NOISE = "NoiseLevelObserved"
PARKING = "ParkingSpot"
ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"
ENTITIES = "/ngsi-ld/v1/entities"
UPSERT = "/ngsi-ld/v1/entityOperations/upsert"
JSON = {"Content-Type": "application/json"}
JSON_LD = {"Content-Type": "application/ld+json"}
CONTEXT = "https://example.org/city-context.jsonld"
MAX_BATCH = 5


def clock() -> datetime:
    return NOW


class DeviceClock:
    """The devices' clock, which a test moves (the server's stays at NOW)."""

    def __init__(self) -> None:
        self.at = NOW

    def __call__(self) -> datetime:
        return self.at


@dataclass
class City:
    client: TestClient
    app: FastAPI
    settings: Settings
    device_clock: DeviceClock
    noise: list[SimulatedSensor]
    parking: list[SimulatedSensor]

    def count(self) -> int:
        return int(self.app.state.deployment.intake.store.count())

    def ledger_size(self) -> int:
        return int(self.app.state.deployment.log.state().size)


@pytest.fixture(params=["sqlite", "postgresql"])
def city(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[City]:
    """A deployment on each database: the API behaves the same on SQLite and PostgreSQL."""
    url = request.getfixturevalue("postgres_schema") if request.param == "postgresql" else ""
    data_dir = tmp_path / "city"
    init_deployment(data_dir, "t.example/log", database_url=url)
    settings = Settings.load(data_dir, environ={})
    settings = replace(settings, ingest=IngestSettings(max_batch=MAX_BATCH))
    deployment = Deployment.open(data_dir, clock=clock, environ={}, settings=settings)
    app = create_app(deployment)
    device_clock = DeviceClock()
    fleet = list(make_fleet(5, random.Random(2026), clock=device_clock, models=(NOISE, PARKING)))
    registry = app.state.deployment.registry
    for sensor in fleet:
        registry.add(sensor.device)
    noise = [s for s in fleet if s.device.model == NOISE]
    parking = [s for s in fleet if s.device.model == PARKING]
    with deployment, TestClient(app, raise_server_exceptions=False) as client:  # a bug: 500
        yield City(client, app, settings, device_clock, noise, parking)


def unsigned(sensor: SimulatedSensor, **values: Any) -> dict[str, Any]:
    """A reading of ``sensor`` with attribute values overridden (or added, as Properties)."""
    d = sensor.device
    entity = reading(d.model, d.id, d.district, NOW, random.Random(1))
    for name, value in values.items():
        if name in entity:
            entity[name] = {**entity[name], "value": value}
        else:
            entity[name] = {"type": "Property", "value": value}
    return entity


def signed(sensor: SimulatedSensor, **values: Any) -> dict[str, Any]:
    return sensor.signer.sign(unsigned(sensor, **values))


def post(city: City, body: Any, path: str = ENTITIES, **kwargs: Any) -> httpx.Response:
    headers = kwargs.pop("headers", JSON)
    response: httpx.Response = city.client.post(
        path, content=json.dumps(body), headers=headers, **kwargs
    )
    return response


def assert_problem(
    response: httpx.Response, status: int, kind: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["type"].startswith(ERRORS)
    if kind is not None:
        assert body["type"] == ERRORS + kind
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def assert_refused(city: City, response: httpx.Response, status: int = 400) -> dict[str, Any]:
    """A 4xx NGSI-LD problem, with nothing stored and nothing on the ledger."""
    assert 400 <= status < 500
    body = assert_problem(response, status)
    assert city.count() == 0, "a refused request stored an observation"
    assert city.ledger_size() == len(city.noise) + len(city.parking)
    return body


# --- create and upsert -------------------------------------------------------------------------


def test_create_answers_201_with_location_and_stores_the_observation(city: City) -> None:
    sensor = city.noise[0]
    entity = signed(sensor, LAeq=61.5)
    response = post(city, entity)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"{ENTITIES}/{entity['id']}"
    assert response.content == b""
    assert city.count() == 1
    got = city.client.get(response.headers["location"])
    assert got.status_code == 200 and got.json() == entity


def test_metrics_count_accepted_duplicate_and_refused_observations(city: City) -> None:
    sensor = city.noise[0]
    first = signed(sensor)
    assert post(city, first).status_code == 201
    post(city, first)  # a replay
    tampered = signed(sensor)
    tampered["LAeq"]["value"] = 10.0
    assert post(city, [tampered], UPSERT).status_code == 207
    metrics = city.client.get("/metrics").text
    assert "ombud_observations_accepted_total 1\n" in metrics
    assert "ombud_observations_duplicate_total 1\n" in metrics
    assert 'ombud_observations_refused_total{reason="SignatureError"} 1\n' in metrics


def test_a_second_create_and_an_exact_replay_are_409_already_exists(city: City) -> None:
    sensor = city.noise[0]
    first = signed(sensor)
    assert post(city, first).status_code == 201
    replay = post(city, first)
    assert_problem(replay, 409, "AlreadyExists")
    assert "replay" in replay.json()["detail"]
    newer = post(city, signed(sensor))  # counter 2: a new observation, but the entity exists
    body = assert_problem(newer, 409, "AlreadyExists")
    assert "entityOperations/upsert" in body["detail"]
    assert city.count() == 1


def test_upsert_of_new_entities_is_201_with_their_ids(city: City) -> None:
    entities = [signed(s) for s in city.noise]
    response = post(city, entities, UPSERT)
    assert response.status_code == 201, response.text
    assert response.json() == [e["id"] for e in entities]
    assert city.count() == len(entities)


def test_upsert_of_existing_entities_is_204(city: City) -> None:
    assert post(city, [signed(s) for s in city.noise], UPSERT).status_code == 201
    updates = [signed(s, LAeq=70.0 + i) for i, s in enumerate(city.noise)]
    response = post(city, updates, UPSERT)
    assert response.status_code == 204 and response.content == b""
    assert city.count() == 2 * len(city.noise)
    latest = city.client.get(f"{ENTITIES}/{updates[1]['id']}").json()
    assert latest["LAeq"]["value"] == 71.0


def test_upsert_mixing_new_and_existing_lists_only_the_created(city: City) -> None:
    a, b = city.noise[0], city.noise[1]
    assert post(city, [signed(a)], UPSERT).status_code == 201
    response = post(city, [signed(a), signed(b)], UPSERT)
    assert response.status_code == 201
    assert response.json() == [f"urn:ngsi-ld:{NOISE}:{b.device.id}"]
    assert city.count() == 3


def test_upsert_with_some_bad_entities_is_207_and_stores_the_good(city: City) -> None:
    a, b, c = city.noise
    good = signed(a)
    tampered = signed(b)
    tampered["LAeq"]["value"] = 99.9
    not_parked = signed(city.parking[0], status="parked")
    good2 = signed(c)
    response = post(city, [good, tampered, not_parked, good2, 7], UPSERT)
    assert response.status_code == 207, response.text
    body = response.json()
    assert body["success"] == [good["id"], good2["id"]]
    assert [e["entityId"] for e in body["errors"]] == [tampered["id"], not_parked["id"], None]
    for error in body["errors"]:
        assert set(error["error"]) == {"type", "title", "status", "detail"}
        assert error["error"]["type"] == ERRORS + "BadRequestData"
        assert error["error"]["status"] == 400
    assert "status" in body["errors"][1]["error"]["detail"]
    assert city.count() == 2
    assert city.client.get(f"{ENTITIES}/{good2['id']}").json() == good2
    assert city.client.get(f"{ENTITIES}/{tampered['id']}").status_code == 404


def test_a_replay_inside_an_upsert_is_reported_not_dropped(city: City) -> None:
    entity = signed(city.noise[0])
    assert post(city, [entity], UPSERT).status_code == 201
    response = post(city, [entity, signed(city.noise[1])], UPSERT)
    assert response.status_code == 207
    body = response.json()
    assert body["success"] == [f"urn:ngsi-ld:{NOISE}:{city.noise[1].device.id}"]
    assert body["errors"][0]["entityId"] == entity["id"]
    assert body["errors"][0]["error"]["type"] == ERRORS + "AlreadyExists"
    assert city.count() == 2


def test_a_batch_over_the_cap_is_refused_whole(city: City) -> None:
    assert city.settings.ingest.max_batch == MAX_BATCH
    entities = [signed(s) for s in city.noise + city.parking]
    entities.append(signed(city.noise[0]))
    assert len(entities) == MAX_BATCH + 1
    body = assert_refused(city, post(city, entities, UPSERT))
    assert body["type"] == ERRORS + "BadRequestData"
    assert str(MAX_BATCH) in body["detail"]
    assert post(city, entities[:MAX_BATCH], UPSERT).status_code == 201


@pytest.mark.parametrize("body", [[], {}, "x", 3, None])
def test_upsert_needs_a_non_empty_array(city: City, body: Any) -> None:
    assert_problem(post(city, body, UPSERT), 400, "BadRequestData")
    assert city.count() == 0


def test_upsert_options_must_be_replace_or_update(city: City) -> None:
    entities = [signed(city.noise[0])]
    assert_refused(city, post(city, entities, UPSERT + "?options=merge"))
    assert post(city, entities, UPSERT + "?options=update").status_code == 201


# --- reading an entity -------------------------------------------------------------------------


def test_get_entity_as_json_moves_the_context_to_a_link_header(city: City) -> None:
    entity = city.noise[0].signer.sign({"@context": CONTEXT, **unsigned(city.noise[0])})
    assert post(city, entity, headers=JSON_LD).status_code == 201
    response = city.client.get(f"{ENTITIES}/{entity['id']}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert "@context" not in response.json()
    assert response.json() == {k: v for k, v in entity.items() if k != "@context"}
    link = response.headers["link"]
    assert link.startswith(f"<{CONTEXT}>") and 'rel="http://www.w3.org/ns/json-ld#context"' in link


def test_get_entity_as_json_ld_is_the_signed_document(city: City) -> None:
    entity = city.noise[0].signer.sign({"@context": CONTEXT, **unsigned(city.noise[0])})
    assert post(city, entity, headers=JSON_LD).status_code == 201
    response = city.client.get(
        f"{ENTITIES}/{entity['id']}", headers={"Accept": "application/ld+json"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/ld+json"
    assert response.json() == entity and response.json()["@context"] == CONTEXT
    assert "link" not in response.headers


def test_get_entity_without_context_gets_the_core_context(city: City) -> None:
    entity = signed(city.noise[0])
    assert post(city, entity).status_code == 201
    as_json = city.client.get(f"{ENTITIES}/{entity['id']}")
    assert as_json.headers["link"].startswith(f"<{CORE_CONTEXT}>")
    as_ld = city.client.get(
        f"{ENTITIES}/{entity['id']}", headers={"Accept": "application/ld+json"}
    ).json()
    assert as_ld == {**entity, "@context": CORE_CONTEXT}


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        ("*/*", "application/json"),
        ("application/*", "application/json"),
        ("text/html, application/ld+json;q=0.5", "application/ld+json"),
        ("application/ld+json;q=0.4, application/json;q=0.9", "application/json"),
        ("application/json;q=0, application/ld+json", "application/ld+json"),
    ],
)
def test_accept_negotiation(city: City, accept: str, media: str) -> None:
    entity = signed(city.noise[0])
    assert post(city, entity).status_code == 201
    response = city.client.get(f"{ENTITIES}/{entity['id']}", headers={"Accept": accept})
    assert response.status_code == 200
    assert response.headers["content-type"] == media


@pytest.mark.parametrize("accept", ["text/html", "application/xml, text/plain;q=0.5"])
def test_an_unacceptable_media_type_is_406(city: City, accept: str) -> None:
    entity = signed(city.noise[0])
    assert post(city, entity).status_code == 201
    response = city.client.get(f"{ENTITIES}/{entity['id']}", headers={"Accept": accept})
    assert_problem(response, 406, "InvalidRequest")


def test_an_unknown_entity_is_404_resource_not_found(city: City) -> None:
    response = city.client.get(f"{ENTITIES}/urn:ngsi-ld:{NOISE}:nobody")
    assert_problem(response, 404, "ResourceNotFound")
    assert_problem(city.client.get(f"{ENTITIES}/not-a-uri"), 400, "BadRequestData")


# --- query -------------------------------------------------------------------------------------


@pytest.fixture
def populated(city: City) -> City:
    a, b, c = city.noise
    p, q = city.parking[0], city.parking[1]
    entities = [signed(a, LAeq=48.5), signed(b, LAeq=55.0), signed(c, LAeq=72.25)]
    entities += [signed(p, status="free"), signed(q, status="occupied")]
    assert post(city, entities, UPSERT).status_code == 201
    return city


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [e["id"].rsplit(":", 1)[1] for e in response.json()]


def query(city: City, **params: str) -> httpx.Response:
    response: httpx.Response = city.client.get(ENTITIES, params=params)
    return response


def test_query_by_type(populated: City) -> None:
    noise = sorted(s.device.id for s in populated.noise)
    assert ids(query(populated, type=NOISE)) == noise
    assert ids(query(populated, type=PARKING)) == sorted(s.device.id for s in populated.parking)
    assert ids(query(populated, type="AirQualityObserved")) == []
    response = query(populated, type=NOISE)
    assert response.headers["content-type"] == "application/json"
    assert all("@context" not in e for e in response.json())
    assert "link" in response.headers


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("LAeq==55", ["b"]),
        ("LAeq==55.0", ["b"]),
        ("LAeq!=55", ["a", "c"]),
        ("LAeq>55", ["c"]),
        ("LAeq>=55", ["b", "c"]),
        ("LAeq<55", ["a"]),
        ("LAeq<=55", ["a", "b"]),
        ("LAeq>50;LAeq<60", ["b"]),
        ("LAeq>50; LAeq<=72.25", ["b", "c"]),
        ("LAeq>1e2", []),
        ('status=="free"', ["p"]),
        ('status!="free"', ["q"]),
        ('LAeq=="55"', []),
        ("LAeq==true", []),
        ("LAeq!=true", ["a", "b", "c"]),  # §4.9: a value of another type is unequal
        ("nothing==1", []),
        ('category=="onStreet"', ["p", "q"]),  # an array holds the value
        ('category!="onStreet"', []),
        ('category=="onStreet;x"', []),  # ; inside quotes is no separator
        ("refParkingSite==urn:ngsi-ld:OnStreetParking:centre-street", ["p"]),  # a URI, unquoted
        ('refParkingSite=="urn:ngsi-ld:OnStreetParking:centre-street"', ["p"]),
        ("LAeq>=48.5;LAeq<=55", ["a", "b"]),
        ("LAeq>-1e1", ["a", "b", "c"]),
    ],
)
def test_query_by_q(populated: City, q: str, expected: list[str]) -> None:
    a, b, c = (s.device.id for s in populated.noise)
    p, q_ = (s.device.id for s in populated.parking)
    names = {"a": a, "b": b, "c": c, "p": p, "q": q_}
    assert ids(query(populated, q=q)) == sorted(names[n] for n in expected)


def test_q_combines_with_type(populated: City) -> None:
    assert ids(query(populated, type=PARKING, q="LAeq>0")) == []
    assert len(ids(query(populated, type=NOISE, q="LAeq>0"))) == 3


def test_query_count_limit_and_offset(populated: City) -> None:
    noise = sorted(s.device.id for s in populated.noise)
    response = query(populated, type=NOISE, count="true", limit="1", offset="1")
    assert ids(response) == noise[1:2]
    assert response.headers["NGSILD-Results-Count"] == "3"
    response = query(populated, type=NOISE, count="true", limit="0")
    assert response.json() == [] and response.headers["NGSILD-Results-Count"] == "3"
    response = query(populated, q="LAeq>50", count="true", offset="1")
    assert ids(response) == noise[2:] and response.headers["NGSILD-Results-Count"] == "2"
    assert "NGSILD-Results-Count" not in query(populated, type=NOISE).headers
    assert ids(query(populated, type=NOISE, offset="5")) == []


def test_the_bounds_are_the_ones_the_readme_names() -> None:
    """README, HTTP API: a query "reads at most 20,000 entities" and "a range of more than
    1,000 instances is 206 with its first 1,000"; the tests around shrink both to show them."""
    assert ngsi_ld.MAX_SCAN == 20_000
    assert ngsi_ld.MAX_LIMIT == 1000


def test_a_query_reads_no_further_than_its_page_unless_counting(
    populated: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An anonymous query for one entity must not cost a read of every entity (a device can
    report thousands): without count, the scan stops at the page's last match."""
    judged: list[str] = []
    matches = ngsi_ld._matches

    def counted(entity: dict[str, Any], terms: Any) -> bool:
        judged.append(entity["id"])
        return matches(entity, terms)

    monkeypatch.setattr(ngsi_ld, "_matches", counted)
    assert len(ids(query(populated, type=NOISE, limit="1"))) == 1 and len(judged) == 1
    judged.clear()
    assert ids(query(populated, type=NOISE, limit="0")) == [] and judged == []
    judged.clear()
    counted_response = query(populated, type=NOISE, limit="1", count="true")
    assert counted_response.headers["NGSILD-Results-Count"] == "3" and len(judged) == 3
    # and no query reads more than MAX_SCAN entities: a count or offset past them is refused
    monkeypatch.setattr(ngsi_ld, "_PAGE", 2)
    monkeypatch.setattr(ngsi_ld, "MAX_SCAN", 2)
    assert len(ids(query(populated, type=NOISE, limit="1"))) == 1
    for params in ({"count": "true"}, {"offset": "2"}):
        refused = query(populated, type=NOISE, **params)
        assert refused.status_code == 400 and "more than 2 entities" in refused.json()["detail"]


def test_query_as_json_ld_carries_each_context(populated: City) -> None:
    response = populated.client.get(
        ENTITIES, params={"type": NOISE}, headers={"Accept": "application/ld+json"}
    )
    assert response.headers["content-type"] == "application/ld+json"
    assert [e["@context"] for e in response.json()] == [CORE_CONTEXT] * 3


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"limit": "3"},
        {"q": "LAeq"},
        {"q": "LAeq~5"},
        {"q": "LAeq>5;"},
        {"q": 'status=="free'},
        {"q": '"LAeq"==5'},
        {"type": NOISE, "limit": "x"},
        {"type": NOISE, "limit": "-1"},
        {"type": NOISE, "limit": "1001"},
        {"type": NOISE, "offset": "1.5"},
    ],
)
def test_bad_queries_are_400(populated: City, params: dict[str, str]) -> None:
    assert_problem(query(populated, **params), 400, "BadRequestData")


@pytest.mark.parametrize(
    ("q", "why"),
    [
        ("no2>50|pm10>10", "OR"),
        ('status=="free"|status=="occupied"', "OR"),
        ("no2==50..60", "ranges"),
        ('status=="a".."b"', "ranges"),
        ("no2>abc", "not a number"),
        ("LAeq<loud", "not a number"),
        ("status==free", "quoted"),  # §4.9: strings are quoted; a bare word is no URI either
        ("status!=free", "quoted"),
        ("LAeq==1,2", "value lists"),
        ("(LAeq>50;LAeq<60)", "parentheses"),
        ("LAeq>50;(LAeq<60)", "parentheses"),
        ('status~="fr.*"', "pattern"),
        ('status!~="fr.*"', "pattern"),
        ("location.type==1", "paths"),
        ("location[type]==1", "paths"),
        ("LAeq", "bare attribute"),
        ("LAeq>true", "true and false"),
        ("refParkingSite>urn:ngsi-ld:x:y", "URI"),
        ("dateObservedTo>2026-03-14T09:00:00Z", "date and time"),
        ("LAeq>007", "not a number"),
        ("LAeq>+5", "not a number"),
        ("LAeq>1e999", "out of range"),
        ("LAeq>" + "9" * 5000, "too long"),
        ('status=="fr\\qee"', "JSON string"),
        ("LAeq > 50", "followed by"),
        ("LAeq>50 LAeq<60", "joined by ;"),
        ("_LAeq>1", "attribute name"),
        ("", "empty"),
        (";", "empty"),
    ],
)
def test_a_query_ombud_cannot_answer_is_400(populated: City, q: str, why: str) -> None:
    """Finding: OR, ranges and unquoted words once answered ``200 []``: a silently wrong answer.
    Whatever ombud's q cannot answer exactly is refused, saying what it does answer."""
    body = assert_problem(query(populated, q=q), 400, "BadRequestData")
    assert why in body["detail"]
    assert "ombud answers q as terms joined by ;" in body["detail"]
    assert_problem(query(populated, type=NOISE, q=q), 400, "BadRequestData")


@pytest.mark.parametrize(
    ("path", "params", "why"),
    [
        ("/ngsi-ld/v1/entities", {"type": NOISE, "attrs": "LAeq"}, "not supported"),
        ("/ngsi-ld/v1/entities", {"type": NOISE, "options": "keyValues"}, "not supported"),
        ("/ngsi-ld/v1/entities", {"type": NOISE, "georel": "near"}, "not supported"),
        ("/ngsi-ld/v1/entities", {"type": NOISE, "pick": "id"}, "not supported"),
        ("/ngsi-ld/v1/entities", {"type": f"{NOISE},ParkingSpot"}, "type lists"),
        ("/ngsi-ld/v1/entities", {"type": f"{NOISE}|ParkingSpot"}, "type lists"),
        ("/ngsi-ld/v1/entities", {"type": NOISE, "count": "yes"}, "count must be"),
        ("/ngsi-ld/v1/entities", [("type", NOISE), ("type", "ParkingSpot")], "more than once"),
        ("/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:X:1", {"aggrMethods": "avg"}, "not supported"),
        ("/ngsi-ld/v1/entities/urn:ngsi-ld:X:1", {"attrs": "LAeq"}, "not supported"),
    ],
)
def test_a_parameter_ombud_does_not_implement_is_400(
    populated: City, path: str, params: Any, why: str
) -> None:
    """A parameter ombud ignored would filter nothing while the client believes it did: the
    same silently wrong answer as a q ombud cannot parse, so it is refused too."""
    body = assert_problem(populated.client.get(path, params=params), 400, "BadRequestData")
    assert why in body["detail"]


# --- temporal ----------------------------------------------------------------------------------

T1, T2, T3 = NOW - timedelta(hours=3), NOW - timedelta(hours=2), NOW - timedelta(hours=1)


@pytest.fixture
def history(city: City) -> tuple[City, str, list[int]]:
    """Three observations of one entity signed at T1, T2 and T3; their ledger indexes."""
    sensor = city.noise[0]
    indexes = []
    for at, laeq in ((T1, 50.0), (T2, 60.0), (T3, 70.0)):
        city.device_clock.at = at
        response = post(city, [signed(sensor, LAeq=laeq)], UPSERT)
        assert response.status_code in (201, 204), response.text
        counter = sensor.signer.counter
        indexes.append(city.client.get(f"/observations/{sensor.device.id}/{counter}").json()[
            "ledgerIndex"
        ])  # fmt: skip
    return city, f"urn:ngsi-ld:{NOISE}:{sensor.device.id}", indexes


def temporal(city: City, entity_id: str, **params: str) -> httpx.Response:
    path = f"/ngsi-ld/v1/temporal/entities/{entity_id}"
    response: httpx.Response = city.client.get(path, params=params)
    return response


def laeq(response: httpx.Response) -> list[float]:
    assert response.status_code == 200, response.text
    return [i["value"] for i in response.json()["LAeq"]]


def test_temporal_returns_every_instance_with_its_ledger_index(
    history: tuple[City, str, list[int]],
) -> None:
    city, entity_id, indexes = history
    response = temporal(city, entity_id)
    body = response.json()
    assert body["id"] == entity_id and body["type"] == NOISE
    assert laeq(response) == [50.0, 60.0, 70.0]
    instances = body["LAeq"]
    assert [i["instanceId"] for i in instances] == [
        f"urn:ngsi-ld:ombud:ledger:{index}" for index in indexes
    ]
    assert [i["observedAt"] for i in instances] == [
        "2026-03-14T06:30:00Z",
        "2026-03-14T07:30:00Z",
        "2026-03-14T08:30:00Z",
    ]
    assert set(body) == {"id", "type", "LAeq", "location", "dateObservedFrom", "dateObservedTo"}
    assert all(len(body[name]) == 3 for name in ("location", "dateObservedTo"))
    assert response.headers["content-type"] == "application/json" and "link" in response.headers
    as_ld = city.client.get(
        f"/ngsi-ld/v1/temporal/entities/{entity_id}", headers={"Accept": "application/ld+json"}
    )
    assert as_ld.headers["content-type"] == "application/ld+json"
    assert as_ld.json()["@context"] == CORE_CONTEXT


def test_temporal_filters_by_the_proofs_created_time(
    history: tuple[City, str, list[int]],
) -> None:
    city, entity_id, _ = history
    t2 = "2026-03-14T07:30:00Z"
    assert laeq(temporal(city, entity_id, timerel="before", timeAt=t2)) == [50.0]
    assert laeq(temporal(city, entity_id, timerel="after", timeAt=t2)) == [60.0, 70.0]
    assert laeq(
        temporal(city, entity_id, timerel="between", timeAt=T1.isoformat(), endTimeAt=t2)
    ) == [50.0]
    assert laeq(
        temporal(
            city,
            entity_id,
            timerel="between",
            timeAt="2026-03-14T06:00:00+00:00",
            endTimeAt="2026-03-14T10:30:00+02:00",  # 08:30Z: the end is exclusive
        )
    ) == [50.0, 60.0]
    after_all = temporal(city, entity_id, timerel="after", timeAt=NOW.isoformat())
    assert after_all.status_code == 200 and after_all.json() == {"id": entity_id}


def test_temporal_last_n(history: tuple[City, str, list[int]]) -> None:
    city, entity_id, _ = history
    assert laeq(temporal(city, entity_id, lastN="2")) == [60.0, 70.0]
    assert laeq(temporal(city, entity_id, lastN="1")) == [70.0]
    assert laeq(temporal(city, entity_id, lastN="10")) == [50.0, 60.0, 70.0]
    t3 = T3.isoformat()
    assert laeq(temporal(city, entity_id, timerel="before", timeAt=t3, lastN="1")) == [60.0]


def test_a_range_longer_than_one_answer_is_206_never_silently_cut(
    history: tuple[City, str, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The oldest instances of a longer range, with the range they cover; asking again from
    its end gives the rest (and repeats that very time rather than skipping any)."""
    city, entity_id, _ = history
    monkeypatch.setattr(ngsi_ld, "MAX_LIMIT", 2)
    first = temporal(city, entity_id)
    assert first.status_code == 206 and [i["value"] for i in first.json()["LAeq"]] == [50.0, 60.0]
    assert first.headers["content-range"] == (
        "date-time 2026-03-14T06:30:00Z-2026-03-14T07:30:00Z/2"
    )
    rest = temporal(city, entity_id, timerel="after", timeAt="2026-03-14T07:30:00Z")
    assert laeq(rest) == [60.0, 70.0]
    assert laeq(temporal(city, entity_id, lastN="2")) == [60.0, 70.0]


@pytest.mark.parametrize(
    "params",
    [
        {"timerel": "before"},
        {"timerel": "between", "timeAt": "2026-03-14T06:00:00Z"},
        {"timerel": "between", "timeAt": "2026-03-14T08:00:00Z", "endTimeAt": "2026-03-14T08:00Z"},
        {"timerel": "during", "timeAt": "2026-03-14T06:00:00Z"},
        {"timerel": "after", "timeAt": "yesterday"},
        {"timerel": "after", "timeAt": "2026-03-14T06:00:00"},
        {"timeAt": "2026-03-14T06:00:00Z"},
        {"lastN": "0"},
        {"lastN": "many"},
    ],
)
def test_bad_temporal_queries_are_400(
    history: tuple[City, str, list[int]], params: dict[str, str]
) -> None:
    city, entity_id, _ = history
    assert_problem(temporal(city, entity_id, **params), 400, "BadRequestData")


def test_temporal_of_an_unknown_entity_is_404(city: City) -> None:
    assert_problem(temporal(city, f"urn:ngsi-ld:{NOISE}:nobody"), 404, "ResourceNotFound")
    assert_problem(temporal(city, "nobody"), 400, "BadRequestData")


# --- the observation with its ledger event -----------------------------------------------------


def test_observations_route_returns_the_entity_its_index_and_event(city: City) -> None:
    sensor = city.noise[0]
    entity = signed(sensor, LAeq=58.0)
    size = city.ledger_size()
    assert post(city, entity).status_code == 201
    response = city.client.get(f"/observations/{sensor.device.id}/1")
    assert response.status_code == 200
    body = response.json()
    assert body["entity"] == entity
    assert (body["device"], body["counter"], body["ledgerIndex"]) == (sensor.device.id, 1, size)
    assert body["created"] == "2026-03-14T09:30:00Z"
    assert body["published"] is False  # no checkpoint yet
    event = Event.from_bytes(body["event"].encode())
    assert event.kind == "observation.accepted"
    assert event.body["entity"] == entity["id"] and event.body["counter"] == 1
    assert body["event"].encode() == city.app.state.deployment.log.entry(size)
    missing = city.client.get(f"/observations/{sensor.device.id}/2")
    assert missing.status_code == 404


# --- hostile input -----------------------------------------------------------------------------


def test_a_body_over_the_cap_with_content_length_is_413(city: City) -> None:
    cap = city.settings.server.max_request_bytes
    entity = signed(city.noise[0], padding="x" * cap)
    data = json.dumps(entity).encode()
    assert len(data) > cap
    response = city.client.post(ENTITIES, content=data, headers=JSON)
    assert_refused(city, response, 413)
    upsert = city.client.post(UPSERT, content=b"[" + data + b"]", headers=JSON)
    assert_refused(city, upsert, 413)


def test_a_streamed_body_over_the_cap_without_content_length_is_413(city: City) -> None:
    cap = city.settings.server.max_request_bytes
    chunk = b" " * 65536

    def body() -> Iterator[bytes]:
        yield b"["
        for _ in range(cap // len(chunk) + 2):
            yield chunk
        yield b"]"

    request = city.client.build_request("POST", UPSERT, content=body(), headers=JSON)
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    assert_refused(city, city.client.send(request), 413)


def test_a_streamed_body_under_the_cap_is_read(city: City) -> None:
    data = json.dumps(signed(city.noise[0])).encode()

    def body() -> Iterator[bytes]:
        yield data[:100]
        yield data[100:]

    request = city.client.build_request("POST", ENTITIES, content=body(), headers=JSON)
    assert "content-length" not in request.headers
    assert city.client.send(request).status_code == 201


def test_a_non_numeric_content_length_is_refused(city: City) -> None:
    data = json.dumps(signed(city.noise[0])).encode()
    response = city.client.post(ENTITIES, content=data, headers={**JSON, "Content-Length": "1e3"})
    assert_refused(city, response, 413)


def test_deep_nesting_is_refused(city: City) -> None:
    deep: Any = 1
    for _ in range(50):
        deep = [deep]
    entity = signed(city.noise[0], extra=deep)
    body = assert_refused(city, post(city, entity))
    assert "deeper" in body["detail"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_a_wrong_content_type_is_415(city: City, content_type: str) -> None:
    data = json.dumps(signed(city.noise[0])).encode()
    headers = {"Content-Type": content_type} if content_type else {}
    response = city.client.post(ENTITIES, content=data, headers=headers)
    assert_refused(city, response, 415)
    upsert = city.client.post(UPSERT, content=b"[" + data + b"]", headers=headers)
    assert_refused(city, upsert, 415)


def test_content_type_parameters_are_allowed(city: City) -> None:
    data = json.dumps(signed(city.noise[0])).encode()
    headers = {"Content-Type": "Application/JSON; charset=utf-8"}
    assert city.client.post(ENTITIES, content=data, headers=headers).status_code == 201


@pytest.mark.parametrize(
    "data",
    [
        b'{"id": "urn:ngsi-ld:x:\xff", "type": "NoiseLevelObserved"}',
        b'\xef\xbb\xbf{"id": "urn:ngsi-ld:x:y"}',
        b'{"id": "urn:ngsi-ld:x:y", "LAeq": {"type": "Property", "value": NaN}}',
        b'{"id": "urn:ngsi-ld:x:y", "LAeq": {"type": "Property", "value": Infinity}}',
        b'{"id": "urn:ngsi-ld:x:y", "LAeq": {"type": "Property", "value": -Infinity}}',
        b'{"id": "urn:ngsi-ld:x:y", "id": "urn:ngsi-ld:x:z"}',
        b'{"id": "urn:ngsi-ld:x:y", "LAeq": {"value": 1, "value": 2}}',
        b'{"id": "urn:ngsi-ld:x:y"',
        b"",
        b"   ",
    ],
)
def test_json_that_is_not_strict_json_is_refused(city: City, data: bytes) -> None:
    assert_refused(city, city.client.post(ENTITIES, content=data, headers=JSON))
    assert_refused(city, city.client.post(UPSERT, content=b"[" + data + b"]", headers=JSON))


def test_json_with_a_context_in_the_body_is_refused(city: City) -> None:
    entity = city.noise[0].signer.sign({"@context": CONTEXT, **unsigned(city.noise[0])})
    body = assert_refused(city, post(city, entity))
    assert "Link" in body["detail"]
    assert_refused(city, post(city, [entity], UPSERT))


def test_json_ld_without_a_context_is_refused(city: City) -> None:
    entity = signed(city.noise[0])
    body = assert_refused(city, post(city, entity, headers=JSON_LD))
    assert "@context" in body["detail"]
    assert_refused(city, post(city, [entity], UPSERT, headers=JSON_LD))


def test_json_ld_with_a_context_link_header_is_refused(city: City) -> None:
    entity = city.noise[0].signer.sign({"@context": CONTEXT, **unsigned(city.noise[0])})
    link = f'<{CONTEXT}>; rel="http://www.w3.org/ns/json-ld#context"'
    assert_refused(city, post(city, entity, headers={**JSON_LD, "Link": link}))


def test_json_with_a_context_link_header_is_accepted(city: City) -> None:
    link = f'<{CONTEXT}>; rel="http://www.w3.org/ns/json-ld#context"'
    response = post(city, signed(city.noise[0]), headers={**JSON, "Link": link})
    assert response.status_code == 201


@pytest.mark.parametrize("body", [[1], 42, "urn:ngsi-ld:x:y", None, True, [{}], {}])
def test_a_non_object_or_empty_entity_is_refused(city: City, body: Any) -> None:
    assert_refused(city, post(city, body))


def test_a_tampered_value_fails_the_signature(city: City) -> None:
    entity = signed(city.noise[0], LAeq=61.5)
    entity["LAeq"]["value"] = 41.5
    body = assert_refused(city, post(city, entity))
    assert body["title"] == "Invalid signature"


def test_a_tampered_context_fails_the_signature(city: City) -> None:
    entity = city.noise[0].signer.sign({"@context": CONTEXT, **unsigned(city.noise[0])})
    entity["@context"] = "https://evil.example/context.jsonld"
    assert_refused(city, post(city, entity, headers=JSON_LD))


def test_a_schema_violation_is_refused(city: City) -> None:
    body = assert_refused(city, post(city, signed(city.parking[0], status="parked")))
    assert "status" in body["detail"] and "parked" in body["detail"]
    assert_refused(city, post(city, signed(city.noise[0], LAeq="loud")))


def test_a_device_sending_another_model_is_refused(city: City) -> None:
    sensor = city.noise[0]
    d = sensor.device
    parking = reading(PARKING, d.id, d.district, NOW, random.Random(1))
    body = assert_refused(city, post(city, sensor.signer.sign(parking)))
    assert NOISE in body["detail"]


def test_a_proof_from_too_far_in_the_future_is_refused(city: City) -> None:
    skew = timedelta(seconds=city.settings.ingest.max_clock_skew_s)
    city.device_clock.at = NOW + skew + timedelta(seconds=1)
    body = assert_refused(city, post(city, signed(city.noise[0])))
    assert "future" in body["detail"]
    city.device_clock.at = NOW + skew  # right at the limit: a drifting but honest clock
    assert post(city, signed(city.noise[0])).status_code == 201


def test_an_unknown_device_is_refused(city: City) -> None:
    (stranger,) = make_fleet(1, random.Random(404), clock=clock, models=(NOISE,), prefix="x")
    body = assert_refused(city, post(city, signed(stranger)))
    assert body["title"] == "Unknown device"


def test_a_revoked_device_is_refused(city: City) -> None:
    sensor = city.noise[0]
    city.app.state.deployment.registry.revoke(sensor.device.id, "stolen")
    size = city.ledger_size()
    response = post(city, signed(sensor))
    assert_problem(response, 400, "BadRequestData")
    assert "revoked" in response.json()["detail"]
    assert city.count() == 0 and city.ledger_size() == size


def test_a_hostile_proof_is_a_400_never_a_500(city: City) -> None:
    good = signed(city.noise[0])
    proofs: list[Any] = [
        "x",
        [good["proof"]],
        {**good["proof"], "type": "Ed25519Signature2020"},
        {**good["proof"], "cryptosuite": "ecdsa-rdfc-2019"},
        {**good["proof"], "nonce": "007"},
        {**good["proof"], "nonce": str(1 << 63)},
        {**good["proof"], "nonce": 1},
        {k: v for k, v in good["proof"].items() if k != "nonce"},
        {**good["proof"], "created": "2026-03-14"},
        {**good["proof"], "created": "2026-03-14T09:00:00"},
        {**good["proof"], "created": "2026-13-14T09:00:00Z"},
        {**good["proof"], "proofPurpose": "authentication"},
        {**good["proof"], "proofValue": "z0OIl"},
        {**good["proof"], "proofValue": "zabc"},
        {
            **good["proof"],
            "verificationMethod": "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme",
        },
        {**good["proof"], "verificationMethod": "did:web:example.com#key-1"},
        {**good["proof"], "verificationMethod": good["proof"]["verificationMethod"].split("#")[0]},
    ]
    for proof in proofs:
        entity = {**copy.deepcopy(good), "proof": proof}
        response = post(city, entity)
        assert_refused(city, response)


def test_an_unknown_extra_attribute_is_kept(city: City) -> None:
    entity = signed(city.noise[0], pole="P-12", calibration={"lab": "L3", "factor": 1.02})
    assert post(city, entity).status_code == 201
    got = city.client.get(f"{ENTITIES}/{entity['id']}").json()
    assert got["pole"] == {"type": "Property", "value": "P-12"}
    assert got["calibration"]["value"] == {"lab": "L3", "factor": 1.02}
    stored = city.app.state.deployment.intake.store.observation(city.noise[0].device.id, 1)
    assert b'"pole"' in stored.canonical


def test_unknown_routes_and_methods_are_ngsi_ld_problems(city: City) -> None:
    assert_problem(city.client.get("/ngsi-ld/v1/nothing"), 404, "ResourceNotFound")
    assert_problem(city.client.delete(f"{ENTITIES}/urn:ngsi-ld:x:y"), 405, "InvalidRequest")


# --- bugs found in review, fixed: each once gave a 500 or stored what cannot be served ---------


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (ENTITIES, {"type": NOISE, "limit": "\u00b2"}),
        (ENTITIES, {"type": NOISE, "offset": "\u00b2"}),
        (f"/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:{NOISE}:x", {"lastN": "\u00b2"}),
    ],
)
def test_a_superscript_digit_in_an_integer_parameter_is_400(
    city: City, path: str, params: dict[str, str]
) -> None:
    assert_problem(city.client.get(path, params=params), 400, "BadRequestData")


@pytest.mark.parametrize(
    ("timerel", "at"),
    [("after", "0001-01-01T00:00:00+14:00"), ("before", "9999-12-31T23:59-14:00")],
)
def test_a_time_at_the_edge_of_the_calendar_is_400(
    history: tuple[City, str, list[int]], timerel: str, at: str
) -> None:
    city, entity_id, _ = history
    assert_problem(temporal(city, entity_id, timerel=timerel, timeAt=at), 400, "BadRequestData")


def test_a_proof_created_before_year_one_in_utc_is_refused_alone(city: City) -> None:
    key = Ed25519PrivateKey.from_private_bytes(random.Random(11).randbytes(32))
    did = DidKey.from_key(key.public_key())
    city.app.state.deployment.registry.add(Device("odd-clock", did, NOISE, "centre", "city"))
    entity = reading(NOISE, "odd-clock", "centre", NOW, random.Random(1))
    options = ProofOptions(did.verification_method, "0001-01-01T00:00:00+14:00", nonce="1")
    good = signed(city.noise[0])
    response = post(city, [good, sign_document(entity, key, options)], UPSERT)
    assert response.status_code == 207, response.text
    assert response.json()["success"] == [good["id"]]
    assert city.count() == 1


def test_an_entity_id_the_api_cannot_serve_is_refused_at_create(city: City) -> None:
    sensor = city.noise[0]
    entity = sensor.signer.sign({**unsigned(sensor), "id": f"urn:ngsi-ld:{NOISE}:pole 12"})
    response = post(city, entity)
    if response.status_code == 201:  # then it must at least be readable where it says
        assert city.client.get(response.headers["location"]).status_code == 200
    assert_refused(city, response)


# --- hostile but signed values: findings #3 (contexts) and #4 (entity ids) -------------------


def with_context(sensor: SimulatedSensor, context: Any) -> dict[str, Any]:
    return sensor.signer.sign({"@context": context, **unsigned(sensor)})


def with_id(sensor: SimulatedSensor, entity_id: str) -> dict[str, Any]:
    return sensor.signer.sign({**unsigned(sensor), "id": entity_id})


def last_counter(city: City, sensor: SimulatedSensor) -> int | None:
    counter: int | None = city.app.state.deployment.registry.get(sensor.device.id).last_counter
    return counter


def assert_safe_headers(response: httpx.Response) -> None:
    """Every header ASCII (so Latin-1 too), without CR or LF: what a server can always send."""
    for name, value in response.headers.raw:
        assert name.isascii() and value.isascii(), (name, value)
        assert b"\r" not in value and b"\n" not in value, (name, value)


def temporal_path(location: str) -> str:
    """The temporal resource of the entity at ``location`` (its id is one path segment)."""
    return "/ngsi-ld/v1/temporal/entities/" + location.rsplit("/", 1)[1]


def store_unchecked(city: City, sensor: SimulatedSensor, entity: dict[str, Any]) -> None:
    """Store a signed observation as the intake did before ids and contexts were checked: its
    row and its ``observation.accepted`` event, in one transaction, with no validation."""
    d = sensor.device
    canonical = canonical_json(entity)
    counter = int(entity["proof"]["nonce"])
    body = {"v": 1, "device": d.id, "counter": counter, "entity": entity["id"][:256]}
    event = Event("observation.accepted", NOW, f"device:{d.id}", {**body, "type": d.model})

    def record(tx: Any, first: int) -> None:
        row = NewObservation(
            d.id, counter, entity["id"], d.model, to_micros(NOW), first, canonical, d.district
        )
        ObservationStore.insert(tx, [row])

    city.app.state.deployment.log.append_with(lambda tx: [event.to_bytes()], record)


BAD_CONTEXTS: list[Any] = [
    "https://example.org/ctx€.jsonld",
    "https://example.org/ctx.jsonld\r\nSet-Cookie: session=stolen",
    "https://example.org/ctx.jsonld\n",
    "https://example.org/my ctx.jsonld",
    "https://example.org/<ctx>.jsonld",
    'https://example.org/"ctx".jsonld',
    "https://example.org/ctx\x00.jsonld",
    "https://example.org/ctx\u2028.jsonld",
    "city-context.jsonld",  # relative: no scheme
    "",
    "https://example.org/" + "c" * 2100,
    [CONTEXT, "https://example.org/ctx€.jsonld"],
    ["https://example.org/a\r\nb"],
    [],
    {"@vocab": "https://example.org/"},
    [CONTEXT, {"LAeq": "https://example.org/LAeq"}],
    [[CONTEXT]],
    None,
    42,
]


@pytest.mark.parametrize("context", BAD_CONTEXTS, ids=range(len(BAD_CONTEXTS)))
def test_a_context_that_is_no_uri_is_refused_and_leaves_nothing(city: City, context: Any) -> None:
    """Finding #3: such a context was stored, and every public read of its type then failed
    (a Link header that cannot be encoded, or that splits the response)."""
    sensor = city.noise[0]
    response = post(city, with_context(sensor, context), headers=JSON_LD)
    body = assert_refused(city, response)
    assert body["type"] == ERRORS + "BadRequestData" and "@context" in body["detail"]
    assert_safe_headers(response)
    assert last_counter(city, sensor) is None
    upsert = post(city, [with_context(sensor, context)], UPSERT, headers=JSON_LD)
    assert upsert.status_code == 207
    assert upsert.json()["errors"][0]["error"]["status"] == 400
    assert city.count() == 0 and last_counter(city, sensor) is None
    retry = post(city, with_context(sensor, CONTEXT), headers=JSON_LD)  # not blocked
    assert retry.status_code == 201, retry.text
    assert city.client.get(retry.headers["location"]).headers["link"].startswith(f"<{CONTEXT}>")


def test_a_list_of_context_uris_is_accepted_and_the_first_is_linked(city: City) -> None:
    """As in the Smart Data Models' own examples: the core context, then the model's."""
    contexts = [
        CORE_CONTEXT,
        "https://raw.githubusercontent.com/smart-data-models/x/context.jsonld",
    ]
    entity = with_context(city.noise[0], contexts)
    response = post(city, entity, headers=JSON_LD)
    assert response.status_code == 201, response.text
    got = city.client.get(response.headers["location"])
    assert got.headers["link"].startswith(f"<{CORE_CONTEXT}>")
    as_ld = city.client.get(
        response.headers["location"], headers={"Accept": JSON_LD["Content-Type"]}
    )
    assert as_ld.json() == entity


@pytest.mark.parametrize(
    ("context", "linked"),
    [
        ("https://example.org/ctx€.jsonld", "https://example.org/ctx%E2%82%AC.jsonld"),
        ("https://example.org/ctx.jsonld\r\nSet-Cookie: session=stolen", CORE_CONTEXT),
        ("https://example.org/ctx.jsonld\r\n", CORE_CONTEXT),
        ({"@vocab": "https://example.org/"}, CORE_CONTEXT),
        (["https://example.org/a b", CONTEXT], CONTEXT),
        ("https://example.org/" + "c" * 5000, CORE_CONTEXT),
        (None, CORE_CONTEXT),
    ],
)
def test_a_stored_context_cannot_break_public_reads(city: City, context: Any, linked: str) -> None:
    """Finding #3, for data stored before contexts were checked: every read still answers,
    linking the context as a URI (an IRI percent-encoded, RFC 3987 §3.1) or the core one."""
    sensor = city.noise[0]
    sensor.signer.counter = 999
    legacy = with_context(sensor, context)
    store_unchecked(city, sensor, legacy)
    good = signed(city.noise[1])
    assert post(city, good).status_code == 201
    entity_path = f"{ENTITIES}/{legacy['id']}"
    for accept in ("application/json", "application/ld+json"):
        headers = {"Accept": accept}
        reads = [
            city.client.get(entity_path, headers=headers),
            city.client.get(ENTITIES, params={"type": NOISE}, headers=headers),
            city.client.get(ENTITIES, params={"q": "LAeq>0"}, headers=headers),
            city.client.get(temporal_path(entity_path), headers=headers),
            city.client.get(f"/observations/{sensor.device.id}/1000", headers=headers),
        ]
        for response in reads:
            assert response.status_code == 200, (response.request.url, response.text)
            assert_safe_headers(response)
            response.json()
        if accept == "application/json":
            for response in reads[:4]:
                assert response.headers["link"].startswith(f"<{linked}>;")
        else:
            assert reads[0].json() == legacy  # the signed document, exactly as stored
    listed = city.client.get(ENTITIES, params={"type": NOISE}).json()
    assert [e["id"] for e in listed] == sorted([legacy["id"], good["id"]])


BAD_IDS = [
    f"urn:ngsi-ld:{NOISE}:caf€",
    f"urn:ngsi-ld:{NOISE}:café",
    f"urn:ngsi-ld:{NOISE}:pole 12",
    f"urn:ngsi-ld:{NOISE}:a\r\nSet-Cookie: session=stolen",
    f"urn:ngsi-ld:{NOISE}:a\n",
    f"urn:ngsi-ld:{NOISE}:a\tb",
    f"urn:ngsi-ld:{NOISE}:a\x7fb",
    f"urn:ngsi-ld:{NOISE}:a\u2028b",
    f"urn:ngsi-ld:{NOISE}:<script>",
    f'urn:ngsi-ld:{NOISE}:"x"',
    f"urn:ngsi-ld:{NOISE}:a{{b}}",
    f"urn:ngsi-ld:{NOISE}:a|b",
    f"urn:ngsi-ld:{NOISE}:a\\b",
    f"urn:ngsi-ld:{NOISE}:a^b",
    f"urn:ngsi-ld:{NOISE}:a`b",
    f"urn:ngsi-ld:{NOISE}:[x]",
    f"urn:ngsi-ld:{NOISE}:50%",
    f"urn:ngsi-ld:{NOISE}:%zz",
    f"urn:ngsi-ld:{NOISE}:" + "x" * 300,
    "urn:" + "x" * 10_000,
    "urn:",
    "1urn:x",
    "",
]


@pytest.mark.parametrize("bad_id", BAD_IDS, ids=range(len(BAD_IDS)))
def test_a_non_ascii_entity_id_is_refused_and_leaves_nothing(city: City, bad_id: str) -> None:
    """Finding #4: ``…:caf€`` was stored, then answered 500 (its Location header could not be
    encoded), and a retry got 409. Now it is a 400 before anything is stored."""
    sensor = city.noise[0]
    response = post(city, with_id(sensor, bad_id))
    body = assert_refused(city, response)
    assert body["type"] == ERRORS + "BadRequestData" and "entity id" in body["detail"]
    assert "location" not in response.headers
    assert_safe_headers(response)
    assert last_counter(city, sensor) is None
    upsert = post(city, [with_id(sensor, bad_id)], UPSERT)
    assert upsert.status_code == 207 and upsert.json()["errors"][0]["error"]["status"] == 400
    assert city.count() == 0 and last_counter(city, sensor) is None
    retry = post(city, signed(sensor))  # the device is not blocked
    assert retry.status_code == 201, retry.text
    assert city.client.get(retry.headers["location"]).status_code == 200


@pytest.mark.parametrize(
    "target",
    [
        "urn:ngsi-ld:OnStreetParking:caf€",
        "urn:ngsi-ld:OnStreetParking:a\r\nb",
        "urn:ngsi-ld:OnStreetParking:a b",
        "<urn:ngsi-ld:OnStreetParking:x>",
        "street",
        ["urn:ngsi-ld:OnStreetParking:a", "urn:ngsi-ld:OnStreetParking:é"],
    ],
)
def test_a_relationship_object_that_is_no_uri_is_refused(city: City, target: Any) -> None:
    """A Relationship's object is the id a client asks for next: it is checked like one."""
    sensor = city.parking[0]
    entity = unsigned(sensor)
    entity["refParkingSite"] = {"type": "Relationship", "object": target}
    body = assert_refused(city, post(city, sensor.signer.sign(entity)))
    assert "refParkingSite" in body["detail"]


@pytest.mark.parametrize(
    "path_id",
    [
        f"urn:ngsi-ld:{NOISE}:caf€",
        f"urn:ngsi-ld:{NOISE}:a%0D%0ASet-Cookie:%20x",
        f"urn:ngsi-ld:{NOISE}:%FF",
        f"urn:ngsi-ld:{NOISE}:a b",
        f"urn:ngsi-ld:{NOISE}:" + "x" * 5000,
        "",
    ],
)
def test_an_entity_path_that_is_no_uri_is_a_4xx_not_a_500(city: City, path_id: str) -> None:
    """400 BadRequestData; a path with a line break matches no route at all (404)."""
    for path in (f"{ENTITIES}/{path_id}", f"/ngsi-ld/v1/temporal/entities/{path_id}"):
        response = city.client.get(path)
        expected = (404, "ResourceNotFound") if "%0A" in path_id else (400, "BadRequestData")
        assert_problem(response, *expected)
        assert_safe_headers(response)


@pytest.mark.parametrize(
    "odd_id",
    [
        f"urn:ngsi-ld:{NOISE}:caf%C3%A9",
        f"urn:ngsi-ld:{NOISE}:50%25",
        "https://example.org/sensors/noise/1?calibrated=yes#now",
        f"urn:ngsi-ld:{NOISE}:(a);b=c,d!$&'*+@~",
        f"urn:ngsi-ld:{NOISE}:a/../b",
        "http://[2001:db8::7]/noise",
        "urn:ngsi-ld:" + "x" * 244,  # 256 characters: the longest id
    ],
)
def test_an_odd_but_valid_id_is_served_where_location_says(city: City, odd_id: str) -> None:
    entity = with_id(city.noise[0], odd_id)
    response = post(city, entity)
    assert response.status_code == 201, response.text
    location = response.headers["location"]
    assert_safe_headers(response)
    assert location == f"{ENTITIES}/{quote(odd_id, safe=PCHAR)}"
    got = city.client.get(location)
    assert got.status_code == 200 and got.json() == entity
    history = city.client.get(temporal_path(location))
    assert history.status_code == 200 and history.json()["id"] == odd_id
    assert [e["id"] for e in query(city, type=NOISE).json()] == [odd_id]


PCHAR = "!$&'()*+,;=:@"
"""What a path segment keeps of an id besides the unreserved characters (RFC 3986 pchar)."""

_PIECES = [
    *"aZ09-._~:/?#[]@!$&'()*+,;=%",
    "%41",
    "%c3%a9",
    "..",
    " ",
    "\r\n",
    "\t",
    "\x00",
    "\x7f",
    "€",
    "é",
    "\u2028",
    "<",
    ">",
    '"',
    "\\",
    "^",
    "`",
    "{",
    "}",
    "|",
]
_PREFIXES = [f"urn:ngsi-ld:{NOISE}:", "https://example.org/", "http://[::1]:80/", "urn:", "x:", ""]
URI_LIKE = st.builds(
    lambda prefix, pieces: prefix + "".join(pieces),
    st.sampled_from(_PREFIXES),
    st.lists(st.sampled_from(_PIECES), max_size=24),
)
ANY_TEXT = st.one_of(URI_LIKE, st.text(max_size=300))
PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def assert_readable(city: City, entity: dict[str, Any], location: str) -> None:
    """``entity`` reads back through every NGSI-LD read route, with safe headers."""
    for accept in ("application/json", "application/ld+json"):
        headers = {"Accept": accept}
        got = city.client.get(location, headers=headers)
        assert got.status_code == 200, got.text
        expected = {k: v for k, v in entity.items() if k != "@context"}
        if accept == "application/ld+json":
            expected["@context"] = entity.get("@context", CORE_CONTEXT)
        assert got.json() == expected
        for response in (
            got,
            city.client.get(temporal_path(location), headers=headers),
            city.client.get(ENTITIES, params={"type": NOISE, "limit": "1000"}, headers=headers),
        ):
            assert response.status_code == 200, response.text
            assert_safe_headers(response)


@PROPERTY
@given(entity_id=ANY_TEXT)
def test_any_text_as_an_entity_id_is_served_or_refused_never_a_500(
    city: City, entity_id: str
) -> None:
    count, size = city.count(), city.ledger_size()
    entity = with_id(city.noise[0], entity_id)
    response = post(city, entity)
    assert_safe_headers(response)
    if response.status_code == 201:
        assert city.count() == count + 1
        assert_readable(city, entity, response.headers["location"])
    else:
        assert_problem(response, response.status_code)
        assert 400 <= response.status_code < 500
        assert (city.count(), city.ledger_size()) == (count, size)
    for path in (
        f"{ENTITIES}/{quote(entity_id, safe='')}",
        temporal_path(f"/{quote(entity_id, safe='')}"),
    ):
        read = city.client.get(path)
        assert read.status_code in (200, 400, 404), read.text
        assert_safe_headers(read)


@PROPERTY
@given(context=st.one_of(ANY_TEXT, st.lists(ANY_TEXT, max_size=3)))
def test_any_text_as_a_context_is_linked_or_refused_never_a_500(city: City, context: Any) -> None:
    count = city.count()
    entity = with_context(city.noise[1], context)
    response = post(city, [entity], UPSERT, headers=JSON_LD)
    assert_safe_headers(response)
    if response.status_code in (201, 204):
        location = f"{ENTITIES}/{quote(entity['id'], safe='')}"
        assert_readable(city, entity, location)
        first = context[0] if isinstance(context, list) else context
        assert city.client.get(location).headers["link"].startswith(f"<{first}>;")
    else:
        assert response.status_code == 207, response.text
        assert 400 <= response.json()["errors"][0]["error"]["status"] < 500
        assert city.count() == count
