"""Refusals: the right status, the right format per route family, a true Allow header."""

from __future__ import annotations

import pytest

from .conftest import Api


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/voice/posts", "GET, POST"),
        ("PUT", "/checkpoint", "GET, HEAD"),
        ("GET", "/admin/devices", "POST"),
        ("PATCH", "/ngsi-ld/v1/entities", "GET, POST"),
        ("POST", "/me/data", "DELETE, GET"),
    ],
)
def test_a_405_names_every_allowed_method(api: Api, method: str, path: str, allowed: str) -> None:
    """Finding: a 405 listed one method in Allow, the first route's, when a path has several."""
    response = api.client.request(method, path)
    assert response.status_code == 405 and response.headers["allow"] == allowed
    assert allowed in response.json()["detail"]


def test_head_checkpoint_answers_like_get(api: Api) -> None:
    """Finding: HEAD /checkpoint was 405 (tlog clients probe it)."""
    api.log.checkpoint()
    got, head = api.client.get("/checkpoint"), api.client.head("/checkpoint")
    assert got.status_code == head.status_code == 200 and head.content == b""
    assert head.headers["cache-control"] == got.headers["cache-control"]
    assert api.client.head("/tile/0/000.p/1").status_code == 404  # an empty tree has no tile


def test_each_route_family_refuses_in_its_own_format(api: Api) -> None:
    big = b"x" * (2 << 20)
    ngsi = api.client.post("/ngsi-ld/v1/entities", content=big)
    assert ngsi.status_code == 413
    assert ngsi.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"
    open311 = api.client.post("/open311/v2/requests.json", content=big)
    assert open311.status_code == 413 and open311.json()[0]["code"] == 413
    plain = api.client.post("/voice/posts", content=big)
    assert plain.status_code == 413
    assert plain.headers["content-type"] == "application/problem+json"
    assert plain.headers["connection"] == "close"
