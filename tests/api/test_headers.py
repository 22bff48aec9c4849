"""Security headers on every response; no-store on personal data."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from ombud.api.headers import API_POLICY, PAGE_POLICY

from .conftest import Api, follow_up_consent

SECURITY = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def assert_secure(response: object, policy: str = API_POLICY) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    for name, value in SECURITY.items():
        assert headers.get(name) == value, (name, response)
    csp = headers["content-security-policy"]
    assert csp == policy and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp


def _fill(path: str) -> str:
    return (
        path.replace("{path:path}", "0/000")
        .replace("{post_id}", "0" * 32)
        .replace("{record_id}", "0" * 32)
        .replace("{release_id}", "0" * 32)
        .replace("{period}", "2026-12")
        .replace("{entity_id}", "urn:ngsi-ld:X:1")
        .replace("{device_id}", "noise-1")
        .replace("{device}", "noise-1")
        .replace("{counter}", "1")
        .replace("{name}", "docs.js")
    )


def test_every_response_carries_the_security_headers(api: Api) -> None:
    """Finding 7: no response carried nosniff, frame denial, a referrer policy or a CSP. Now
    every route's every answer does — success, refusal, unknown route, wrong method, 500."""
    seen = 0
    for route in iter_route_contexts(api.client.app.routes):  # type: ignore[attr-defined]
        if not isinstance(route.original_route, APIRoute) or route.path is None:
            continue
        for method in route.methods or ():
            for headers in ({}, api.bearer):
                response = api.client.request(method, _fill(route.path), headers=headers)
                policy = PAGE_POLICY if route.path.startswith("/docs") else API_POLICY
                assert_secure(response, policy)
                seen += 1
    assert seen > 80
    assert_secure(api.client.get("/no/such/route"))
    assert_secure(api.client.delete("/checkpoint"))
    assert_secure(api.client.post("/voice/posts", content=b"x" * (2 << 20)))


def test_a_server_error_carries_them_too(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**_: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(api.client.app.state.deployment.flags, "list", broken)  # type: ignore[attr-defined]
    response = api.client.get("/voice/flags")
    assert response.status_code == 500 and "a bug" not in response.text
    assert_secure(response)


NO_STORE = [
    ("GET", "/voice/posts"),
    ("GET", "/voice/posts/" + "0" * 32),
    ("GET", "/voice/sentiment"),
]


def test_personal_data_is_never_cached(api: Api) -> None:
    """Finding 7: /me/data and staff reads of posts need Cache-Control: no-store."""
    for method, path in NO_STORE:
        response = api.client.request(method, path, headers=api.bearer)
        assert response.status_code in (200, 404)
        if response.status_code == 200:
            assert response.headers["cache-control"] == "no-store", path
    granted = api.client.post(
        "/privacy/consents",
        json=follow_up_consent("resident-h1"),
        headers=api.bearer,
    )
    assert granted.status_code == 201 and granted.headers["cache-control"] == "no-store"
    me = {"Authorization": f"Bearer {granted.json()['residentKey']}"}
    for method, path in (("GET", "/me/data"), ("GET", "/me/consents")):
        response = api.client.request(method, path, headers=me)
        assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    record = granted.json()["recordId"]
    withdrawn = api.client.delete(f"/me/consents/{record}", headers=me)
    assert withdrawn.headers["cache-control"] == "no-store"
    erased = api.client.delete("/me/data", headers=me)
    assert erased.status_code == 200 and erased.headers["cache-control"] == "no-store"
