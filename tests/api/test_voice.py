"""The voice routes: posting with a PrivateToken, Open311 GeoReport v2, aggregates, flags and
issuer keys."""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import rfc8785
from fastapi.testclient import TestClient

from ombud.api import create_app
from ombud.canonical import canonical_json
from ombud.config import Settings
from ombud.deployment import Deployment, init_deployment, open_log
from ombud.events import Event
from ombud.voice.issuer import Issuer
from ombud.voice.tokens import finalize_token, load_public_key, period_challenge, request_token

from ..voice.conftest import PERIOD

ORIGIN = "api.city.example/log"
_RESIDENTS = itertools.count()
NOW = datetime(2026, 12, 3, 10, 30, tzinfo=UTC)


class City:
    def __init__(self, client: TestClient, issuer: Issuer, key: bytes, admin: str) -> None:
        self.client, self.issuer, self.key, self.admin = client, issuer, key, admin
        self.residents = 0
        self.data_dir: Path | None = None

    def token(self) -> str:
        public = load_public_key(self.key)
        pending = request_token(public, period_challenge(self.issuer.name, PERIOD, ORIGIN))
        self.residents += 1
        # Residents are unique across the session (an object's id() can be reused).
        response = self.issuer.issue(PERIOD, f"api-{next(_RESIDENTS)}", pending.request)
        token = finalize_token(public, pending, response).to_bytes()
        return base64.urlsafe_b64encode(token).decode().rstrip("=")

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f'PrivateToken token="{token or self.token()}"'}


@pytest.fixture
def city(tmp_path: Path, period_issuer: tuple[Issuer, bytes]) -> Iterator[City]:
    data_dir = tmp_path / "city"
    init_deployment(data_dir, ORIGIN)
    settings = Settings.load(data_dir, environ={})
    deployment = Deployment.open(data_dir, clock=lambda: NOW, environ={}, settings=settings)
    app = create_app(deployment)
    issuer, key = period_issuer
    with deployment, TestClient(app) as client:
        _, admin = app.state.deployment.tokens.create(
            {"voice:publish", "voice:read", "quarantine:release"}, "test", now=NOW
        )
        published = client.post(
            "/voice/issuer-keys",
            json={"period": PERIOD, "issuer": issuer.name, "key": base64.b64encode(key).decode()},
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert published.status_code == 201, published.text
        city = City(client, issuer, key, admin)
        city.data_dir = data_dir
        yield city


def test_publishing_an_issuer_key_needs_its_scope_and_lands_on_the_ledger(city: City) -> None:
    body = {
        "period": "2027-01",
        "issuer": city.issuer.name,
        "key": base64.b64encode(city.key).decode(),
    }
    assert city.client.post("/voice/issuer-keys", json=body).status_code == 401
    got = city.client.get(f"/voice/issuer-keys/{PERIOD}").json()
    assert base64.b64decode(got["key"]) == city.key
    log = city.client.app.state.deployment.log  # type: ignore[attr-defined]
    assert Event.from_bytes(log.entry(got["ledgerIndex"])).kind == "issuer.key_published"
    again = city.client.post(
        "/voice/issuer-keys",
        json={**body, "period": PERIOD},
        headers={"Authorization": f"Bearer {city.admin}"},
    )
    assert again.status_code == 409


def test_a_post_is_paid_with_one_token(city: City) -> None:
    token = city.token()
    body = {
        "text": "Thank you for fixing the street lights on Elm Road so fast!",
        "district": "north",
    }
    created = city.client.post("/voice/posts", json=body, headers=city.auth(token))
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"  # it carries the writer's receipt
    post = created.json()
    assert post["sentiment"] == "positive" and post["service"] == "lighting"
    assert post["tokened"] and post["period"] == PERIOD and "text" not in post
    assert set(post["receipt"]) == {"post", "salt"} and post["receipt"]["post"] == post["id"]
    replay = city.client.post("/voice/posts", json=body, headers=city.auth(token))
    assert replay.status_code == 409 and "already used" in replay.json()["detail"]
    assert city.client.post("/voice/posts", json=body).status_code == 401
    assert city.client.get(f"/voice/posts/{post['id']}").status_code == 401  # staff only
    reader = {"Authorization": f"Bearer {city.admin}"}
    staff = city.client.get(f"/voice/posts/{post['id']}", headers=reader)
    assert staff.json()["text"] == body["text"] and staff.headers["cache-control"] == "no-store"
    entity = city.client.get(
        f"/voice/posts/{post['id']}", params={"as": "IssueReporting"}, headers=reader
    ).json()
    assert entity["type"] == "IssueReporting" and entity["wardId"] == "north"
    assert city.client.get(f"/voice/posts/{post['id']}?as=IssueReporting").status_code == 401
    assert city.client.get("/voice/sentiment").status_code == 401  # public: DP releases only
    assert city.client.get("/voice/posts").status_code == 401
    summary = city.client.get(
        "/voice/sentiment", params={"district": "north"}, headers=reader
    ).json()
    assert summary["tokened"]["positive"] == 1 and summary["tokened"]["posts"] == 1


def test_a_writer_opens_their_receipt_and_checks_it_against_the_ledger(city: City) -> None:
    text = "The bins on Quay Street were not collected again, awful"
    created = city.client.post(
        "/voice/posts", json={"text": text, "district": "harbour"}, headers=city.auth()
    ).json()
    receipt = created["receipt"]
    opened = city.client.post("/voice/receipts", json=receipt)
    assert opened.status_code == 200 and opened.headers["cache-control"] == "no-store"
    got = opened.json()
    record = got["record"]
    assert record["text"] == text and record["district"] == "harbour"
    assert record["sentiment"] == created["sentiment"] and record["service"] == "waste"
    salt = base64.urlsafe_b64decode(receipt["salt"] + "=" * (-len(receipt["salt"]) % 4))
    commitment = hashlib.sha256(salt + rfc8785.dumps(record)).hexdigest()
    event = Event.from_bytes(got["event"].encode())
    assert event.kind == "post.accepted" and event.body["commitment"] == commitment
    assert got["commitment"] == commitment and got["ledgerIndex"] == created["ledgerIndex"]
    log = city.client.app.state.deployment.log  # type: ignore[attr-defined]
    assert log.entry(got["ledgerIndex"]).decode() == got["event"]
    # A wrong salt and an unknown id are refused alike, and say nothing more.
    wrong = {**receipt, "salt": base64.urlsafe_b64encode(b"\1" * 32).decode().rstrip("=")}
    unknown = {**receipt, "post": "0" * 32}
    for bad in (wrong, unknown):
        refused = city.client.post("/voice/receipts", json=bad)
        assert refused.status_code == 404, refused.text
        assert refused.json()["detail"] == "no post matches this receipt (its id and salt)"
    for malformed in ({**receipt, "salt": "!!"}, {"post": receipt["post"]}, {**receipt, "x": 1}):
        assert city.client.post("/voice/receipts", json=malformed).status_code == 400


def test_the_public_ledger_gives_away_no_exact_counts(city: City) -> None:
    """Finding 1: post.accepted leaves carried each post's district, service, sentiment and id
    in clear, so anyone could rebuild the exact counts the DP releases protect. Now a post's
    leaf holds its period, its token's nullifier and a commitment; nothing public (entry
    bundles, flags, Open311, posts by id) tells a post's labels without its receipt."""
    texts = [
        ("Thank you for the lovely new playground in the park", "riverside", None),
        ("The bus was late again, useless transport service", "riverside", "transport"),
        ("Street light out on Mill Lane", "quayside", None),
    ]
    posted = []
    for text, district, service in texts:
        body = {"text": text, "district": district} | ({"service": service} if service else {})
        posted.append(city.client.post("/voice/posts", json=body, headers=city.auth()).json())
    form = {"service_code": "roads", "description": "Pothole on Dock Rd", "address_id": "quayside"}
    (request,) = city.client.post(
        "/open311/v2/requests.json", data=form, headers=city.auth()
    ).json()
    assert city.data_dir is not None
    signing = open_log(city.data_dir, Settings.load(city.data_dir, environ={}))
    signing.catch_up()  # an unwitnessed test log: sign and so publish what it holds
    signing.close()
    log = city.client.app.state.deployment.log  # type: ignore[attr-defined]
    entries = log.entries(0, log.state().size)
    leaves = [Event.from_bytes(e) for e in entries]
    posts = [e for e in leaves if e.kind == "post.accepted"]
    assert len(posts) == 4
    for event in posts:
        assert set(event.body) == {"v", "period", "nullifier", "commitment"}
        assert event.body["v"] == 2 and event.body["period"] == PERIOD
    bundle = city.client.get("/tile/entries/000.p/" + str(log.state().size))
    assert bundle.status_code == 200
    public = [
        bundle.content,
        city.client.get("/voice/flags").content,
        city.client.get(f"/open311/v2/requests/{request['service_request_id']}.json").content,
        *(city.client.get(f"/voice/posts/{p['id']}").content for p in posted),
    ]
    labels = {
        "riverside", "quayside", "transport", "lighting", "green_spaces", "roads", "positive",
        "negative", "neutral",
    }  # fmt: skip
    for content in public:
        for word in labels:
            assert word.encode() not in content, word
    for post_id in (*(p["id"] for p in posted), request["service_request_id"]):
        assert post_id.encode() not in public[0] + public[1]  # an id is half a receipt
    (shown,) = city.client.get(f"/open311/v2/requests/{request['service_request_id']}.json").json()
    assert shown == {"service_request_id": request["service_request_id"], "status": "open"}
    staff = {"Authorization": f"Bearer {city.admin}"}
    (full,) = city.client.get(
        f"/open311/v2/requests/{request['service_request_id']}.json", headers=staff
    ).json()
    assert full["address_id"] == "quayside" and full["service_code"] == "roads"
    opened = city.client.post(
        "/voice/receipts",
        json={"post": request["service_request_id"], "salt": request["receipt_salt"]},
    )
    assert opened.json()["record"]["district"] == "quayside"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"lat": 51.5, "long": -0.12}, "point location"),
        ({"name": "Ann"}, "a name"),
        ({"email": "a@b.example"}, "contact details"),
        ({"mood": "angry"}, "unknown field"),
    ],
)
def test_personal_or_unknown_fields_are_refused(
    city: City, extra: dict[str, object], message: str
) -> None:
    body = {"text": "The park gates are locked too early", "district": "north", **extra}
    refused = city.client.post("/voice/posts", json=body, headers=city.auth())
    assert refused.status_code == 400 and message in refused.json()["detail"]
    reader = {"Authorization": f"Bearer {city.admin}"}
    assert city.client.get("/voice/posts", headers=reader).json() == []


def test_open311_services_and_requests(city: City) -> None:
    services = city.client.get("/open311/v2/services.json").json()
    assert [s["service_code"] for s in services][:3] == ["waste", "transport", "roads"]
    assert len(services) == 11 and all(s["metadata"] is False for s in services)
    form = {
        "service_code": "roads",
        "description": "Deep pothole outside number 12",
        "address_id": "harbour",
    }
    created = city.client.post("/open311/v2/requests.json", data=form, headers=city.auth())
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    (receipt,) = created.json()
    request_id = receipt["service_request_id"]
    assert len(receipt["receipt_salt"]) == 43 and "receipt_salt" in receipt["service_notice"]
    reader = {"Authorization": f"Bearer {city.admin}"}
    (shown,) = city.client.get(f"/open311/v2/requests/{request_id}.json", headers=reader).json()
    assert shown["service_code"] == "roads" and shown["address_id"] == "harbour"
    with_token_field = city.client.post(
        "/open311/v2/requests.json", data={**form, "token": city.token()}
    )
    assert with_token_field.status_code == 201

    for extra, message in (
        ({"lat": "51.5", "long": "-0.1"}, "point location"),
        ({"email": "me@example.org", "first_name": "Ann"}, "contact details"),
        ({"media_url": "https://img.example/x.jpg"}, "media"),
    ):
        refused = city.client.post(
            "/open311/v2/requests.json", data={**form, **extra}, headers=city.auth()
        )
        assert refused.status_code == 400
        (error,) = refused.json()
        assert error["code"] == 400 and message in error["description"]
    missing = city.client.post(
        "/open311/v2/requests.json",
        data={"service_code": "roads", "description": "x"},
        headers=city.auth(),
    )
    assert missing.status_code == 400 and "address_id" in missing.json()[0]["description"]
    no_token = city.client.post("/open311/v2/requests.json", data=form)
    assert no_token.status_code == 401
    reader = {"Authorization": f"Bearer {city.admin}"}
    assert len(city.client.get("/voice/posts", headers=reader).json()) == 2


def test_issue_reporting_follows_the_smart_data_model(city: City) -> None:
    from tests.ingest.test_models import schema_validator

    form = {
        "service_code": "water",
        "description": "Water leaking from a pipe on Quay St",
        "address_id": "harbour",
    }
    (receipt,) = city.client.post(
        "/open311/v2/requests.json", data=form, headers=city.auth()
    ).json()
    entity = city.client.get(
        f"/voice/posts/{receipt['service_request_id']}",
        params={"as": "IssueReporting"},
        headers={"Authorization": f"Bearer {city.admin}"},
    ).json()
    assert entity["comments"] == form["description"] and entity["categoryCode"] == "water"
    schema_validator("IssueReporting").validate(entity)


def test_flags_are_public_and_release_needs_the_scope(city: City) -> None:
    base = "The new parking scheme in the centre is a disgrace, scrap it now"
    variants = [
        base,
        base + "!!",
        base.replace("new", "latest"),
        "Honestly " + base.lower(),
        base + " #fail",
    ]
    for text in variants:
        assert (
            city.client.post(
                "/voice/posts", json={"text": text, "district": "centre"}, headers=city.auth()
            ).status_code
            == 201
        )
    assert city.client.app.state.deployment.flags.screen() == 4  # type: ignore[attr-defined]
    flags = city.client.get("/voice/flags").json()
    assert len(flags) == 4 and {f["check"] for f in flags} == {"near_duplicate"}
    assert all(set(f) == PUBLIC_FLAG for f in flags)  # no district, service, sentiment or id
    log = city.client.app.state.deployment.log  # type: ignore[attr-defined]
    for flag in flags:
        accepted = Event.from_bytes(log.entry(flag["postIndex"]))
        flagged = Event.from_bytes(log.entry(flag["flaggedIndex"]))
        assert accepted.body["commitment"] == flag["commitment"] == flagged.body["commitment"]
    staff = {"Authorization": f"Bearer {city.admin}"}
    detailed = city.client.get("/voice/posts", params={"flagged": True}, headers=staff).json()
    assert {p["commitment"] for p in detailed} == {f["commitment"] for f in flags}
    route = f"/voice/flags/{detailed[0]['id']}/release"
    assert city.client.post(route, json={"reason": "real"}).status_code == 401
    releaser = {
        "Authorization": "Bearer "
        + city.client.app.state.deployment.tokens.create(  # type: ignore[attr-defined]
            {"quarantine:release"}, "", now=NOW
        )[1]
    }
    assert city.client.post(route, json={"reason": ""}, headers=releaser).status_code == 400
    too_long = {"reason": "x" * 501}  # was truncated to 500 before: now refused, like the rest
    assert city.client.post(route, json=too_long, headers=releaser).status_code == 400
    released = city.client.post(route, json={"reason": "real"}, headers=releaser)
    assert released.status_code == 200 and released.json()["released"] is True
    assert city.client.post(route, json={"reason": "real"}, headers=releaser).status_code == 409
    assert set(released.json()) == PUBLIC_FLAG  # releasing is no licence to read labels
    # The leaf commits to the evidence with a salt: the evidence is guessable, its hash is not
    # enough. Staff hold both and check the leaf.
    for post in detailed:
        flag = post["flag"]
        flagged = Event.from_bytes(log.entry(next(
            f["flaggedIndex"] for f in flags if f["commitment"] == post["commitment"]
        )))  # fmt: skip
        evidence = canonical_json(flag["evidence"])
        assert flagged.body["evidence"] != hashlib.sha256(evidence).hexdigest()
        salt = bytes.fromhex(flag["evidenceSalt"])
        assert flagged.body["evidence"] == hashlib.sha256(salt + evidence).hexdigest()
    (public,) = [
        f for f in city.client.get("/voice/flags").json()
        if f["commitment"] == detailed[0]["commitment"]
    ]  # fmt: skip
    assert public["released"] and public["releaseReason"] == "real"
    summary = city.client.get(
        "/voice/sentiment", params={"district": "centre"}, headers=staff
    ).json()
    assert summary["flaggedExcluded"] == 3 and summary["tokened"]["posts"] == 2


PUBLIC_FLAG = {
    "commitment", "postIndex", "check", "meaning", "flaggedIndex", "released", "releasedIndex",
    "releaseReason",
}  # fmt: skip


def test_the_cover_policy_is_public(city: City) -> None:
    """An auditor reads how many cover leaves an hour holds: (epsilon, delta), the noise's
    scale and the shift (the mean number of leaves an hour), from the deployment's settings."""
    got = city.client.get("/voice/cover")
    assert got.status_code == 200
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "default-src" in got.headers["content-security-policy"]
    policy = got.json()
    assert {k: policy[k] for k in ("v", "epsilon", "delta", "scale", "shift")} == {
        "v": 1,
        "epsilon": 1.0,
        "delta": 1e-6,
        "scale": 1.0,
        "shift": 14,
    }
    assert "discrete Laplace" in policy["mechanism"]
    paths = city.client.get("/openapi.json").json()["paths"]
    assert "get" in paths["/voice/cover"]
