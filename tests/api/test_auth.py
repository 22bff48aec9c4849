"""Route authorisation (``ombud.api.auth``): every route's guard is declared on the route, and
this table is the policy — a new route fails here until it is placed in it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from ombud.api import create_app
from ombud.deployment import Deployment, init_deployment

SCOPED = {
    ("POST", "/admin/devices"): "devices:write",
    ("POST", "/admin/devices/{device_id}/revoke"): "devices:write",
    ("POST", "/integrity/quarantine/{device}/{counter}/release"): "quarantine:release",
    ("POST", "/integrity/devices/{device}/release"): "quarantine:release",
    ("POST", "/voice/flags/{post_id}/release"): "quarantine:release",
    ("GET", "/voice/posts"): "voice:read",
    ("GET", "/voice/posts/{post_id}"): "voice:read",
    ("GET", "/voice/sentiment"): "voice:read",
    ("POST", "/voice/issuer-keys"): "voice:publish",
    ("POST", "/privacy/consents"): "privacy:consent",
    ("PUT", "/privacy/consents/{record_id}"): "privacy:consent",
    ("POST", "/privacy/consents/{record_id}/withdraw"): "privacy:consent",
    ("POST", "/privacy/releases"): "privacy:release",
    ("POST", "/roster/actions"): "roster:act",
    ("POST", "/roster/actions/{digest}/signatures"): "roster:act",
    ("POST", "/roster/actions/{digest}/carry-out"): "roster:act",
    ("POST", "/access/requests"): "access:request",
    ("POST", "/access/requests/{request_id}/denial"): "access:decide",
    ("POST", "/access/unseal"): "access:decide",
    ("POST", "/access/requests/{request_id}/reads"): "access:read",
    ("POST", "/decisions/{motion_id}/votes"): "decisions:vote",
    ("POST", "/results/updates"): "results:write",
}
"""Routes for the city's staff and services: a bearer token with this scope."""
RESIDENTS = {
    ("POST", "/voice/posts"),  # an anonymous token (RFC 9577 PrivateToken)
    ("POST", "/open311/v2/requests.json"),  # the same, plus the resident key for contacts
    ("POST", "/voice/receipts"),  # the writer's receipt (post id and salt)
    ("GET", "/me/data"),  # the resident's own access key, for everything below
    ("DELETE", "/me/data"),
    ("GET", "/me/consents"),
    ("DELETE", "/me/consents/{record_id}"),
}
"""Routes a resident calls with a credential of their own (checked by the route)."""
PUBLIC_WRITES = {
    ("POST", "/ngsi-ld/v1/entities"),  # readings signed by registered devices
    ("POST", "/ngsi-ld/v1/entityOperations/upsert"),
    ("POST", "/tenders/{ocid}/commitments"),  # sealed bids signed by the bidder's key
    ("POST", "/tenders/{ocid}/reveals"),  # after the deadline, opening a commitment
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    data_dir = tmp_path_factory.mktemp("auth") / "city"
    init_deployment(data_dir, "auth.example/log")
    with Deployment.open(data_dir, environ={}) as deployment:
        yield create_app(deployment)


def _scopes(route: APIRoute) -> list[str]:
    def walk(dependencies: list[Any]) -> Iterator[str]:
        for dependency in dependencies:
            yield dependency.call.__name__
            yield from walk(dependency.dependencies)

    names = walk(route.dependant.dependencies)
    return [n.removeprefix("require_").replace("_", ":", 1) for n in names if "require_" in n]


def _routes(app: FastAPI) -> dict[tuple[str, str], list[str]]:
    found = {}
    for context in iter_route_contexts(app.router.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            for method in route.methods:
                found[(method, route.path)] = _scopes(route)
    return found


def test_each_staff_route_declares_its_one_scope(app: FastAPI) -> None:
    routes = _routes(app)
    assert {k: v for k, v in routes.items() if v} == {k: [v] for k, v in SCOPED.items()}


def test_every_other_write_is_a_residents_or_a_signed_reading(app: FastAPI) -> None:
    writes = {k for k, v in _routes(app).items() if k[0] not in ("GET", "HEAD") and not v}
    assert writes == {r for r in RESIDENTS | PUBLIC_WRITES if r[0] != "GET"}


@pytest.mark.parametrize(("method", "path"), sorted(SCOPED))
def test_a_scoped_route_refuses_a_request_without_a_token(
    app: FastAPI, method: str, path: str
) -> None:
    concrete = path.format(
        device_id="d-1",
        device="d-1",
        counter=1,
        post_id="0" * 32,
        record_id="0" * 32,
        digest="0" * 64,
        request_id="r-1",
        motion_id="m-1",
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        refused = client.request(method, concrete, json={})
    assert refused.status_code == 401, refused.text
    assert refused.headers["WWW-Authenticate"] == "Bearer"


def test_the_scope_is_checked_before_the_request_is_read(app: FastAPI) -> None:
    """Declared as a dependency, the scope is checked before the body and parameters are
    validated: a caller without the scope learns nothing about what a valid request is."""
    invalid = {"id": "", "type": 7}
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/admin/devices", json=invalid).status_code == 401
        deployment = app.state.deployment
        _, reader = deployment.tokens.create({"voice:read"}, "test", now=deployment.clock())
        wrong = {"Authorization": f"Bearer {reader}"}
        assert client.post("/admin/devices", json=invalid, headers=wrong).status_code == 403
        _, writer = deployment.tokens.create({"devices:write"}, "test", now=deployment.clock())
        right = {"Authorization": f"Bearer {writer}"}
        assert client.post("/admin/devices", json=invalid, headers=right).status_code == 400
