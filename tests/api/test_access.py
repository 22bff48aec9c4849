"""``/access``: a request recorded through the API, approved only through the roster's
actions with two officers' signatures, read within its scope (each read, refused ones too, on
the ledger), denied, sealed and reported — and what the public sees names no subject."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

from ombud.access.book import APPROVE
from ombud.governance.roster import ActionRequest, sign_request
from ombud.privacy.consent import Grant
from tests.access.test_book import ROSTER, SUBJECT, _request
from tests.api.conftest import NOW, Api
from tests.api.test_governance import _deployment
from tests.governance.test_roster import KEYS


def _city(api: Api) -> None:
    deployment = _deployment(api)
    deployment.establish_roster(ROSTER, actor="clerk")
    office = deployment.privacy()
    office.consents.grant(Grant(SUBJECT, ("follow-up",), ("contact",), "the city"), actor="c")
    office.vault.seal(
        deployment.log,
        office.vault.ref(SUBJECT),
        "contact",
        json.dumps({"email": "someone@example.org"}).encode(),
        expires=None,
        event=lambda sealed: office.vault.stored_event(sealed, "voice"),
    )


def _approve(api: Api, request_id: str, requester: str, *officers: str) -> int:
    draft = {
        "action": APPROVE,
        "params": _deployment(api).access.approval_params(request_id),
        "requester": requester,
    }
    proposal: dict[str, Any] = api.client.post(
        "/roster/actions", json=draft, headers=api.bearer
    ).json()
    action = ActionRequest.from_json(proposal["request"])
    url = f"/roster/actions/{proposal['digest']}"
    for officer in officers:
        signature = sign_request(action, officer, KEYS[officer]).to_json()
        api.client.post(f"{url}/signatures", json=signature, headers=api.bearer)
    return api.client.post(f"{url}/carry-out", headers=api.bearer).status_code


def test_a_request_approved_by_two_officers_reads_only_its_scope(api: Api) -> None:
    _city(api)
    made = _request(until=NOW + timedelta(days=1), expires=NOW + timedelta(days=7))
    recorded = api.client.post("/access/requests", json=made.to_json(), headers=api.bearer)
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["status"] == "pending"
    reads = f"/access/requests/{made.id}/reads"
    read = {"subject": SUBJECT, "category": "contact"}
    assert api.client.post(reads, json=read, headers=api.bearer).status_code == 403  # pending
    assert _approve(api, made.id, made.requester.person, "officer-a") == 403
    assert _approve(api, made.id, made.requester.person, "officer-a", "officer-b") == 200
    assert api.client.get(f"/access/requests/{made.id}").json()["status"] == "approved"
    answer = api.client.post(reads, json=read, headers=api.bearer)
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    assert [json.loads(base64.b64decode(i)) for i in answer.json()["items"]] == [
        {"email": "someone@example.org"}
    ]
    outside = {"subject": SUBJECT, "category": "location"}
    assert api.client.post(reads, json=outside, headers=api.bearer).status_code == 403
    report = api.client.get("/access/report").json()  # the read while pending, and this one
    assert report["refusedReads"] == 2 and report["statuses"] == {"approved": 1}
    public = api.client.get("/access/requests").text + api.client.get("/roster/actions").text
    assert SUBJECT not in public and "someone@example.org" not in public
    assert made.digest not in public  # an unsalted digest would let anyone test a guess


def test_denials_seals_and_scopes(api: Api) -> None:
    _city(api)
    sealed = _request(
        until=NOW + timedelta(days=1),
        expires=NOW + timedelta(days=7),
        sealed_until=NOW + timedelta(days=30),
    )
    assert api.client.post("/access/requests", json=sealed.to_json()).status_code == 401
    api.client.post("/access/requests", json=sealed.to_json(), headers=api.bearer)
    shown = api.client.get(f"/access/requests/{sealed.id}").json()
    assert shown["sealed"] is True and set(shown) >= {"commitment", "sealedUntil"}
    assert "purpose" not in shown and "requester" not in shown
    denial = {"officer": "officer-a", "reason": "no warrant attached"}
    denied = api.client.post(
        f"/access/requests/{sealed.id}/denial", json=denial, headers=api.bearer
    )
    assert denied.status_code == 200 and denied.json()["status"] == "denied"
    not_officer = {"officer": "council-1", "reason": "x"}
    other = _request(until=NOW + timedelta(days=1), expires=NOW + timedelta(days=7))
    api.client.post("/access/requests", json=other.to_json(), headers=api.bearer)
    refused = api.client.post(
        f"/access/requests/{other.id}/denial", json=not_officer, headers=api.bearer
    )
    assert refused.status_code == 403
    assert api.client.post("/access/unseal", headers=api.bearer).json() == {"disclosed": 0}
    lone = {**other.to_json(), "id": "ab" * 16, "subjects": ["s\ud800"]}  # a lone surrogate
    answer = api.client.post(
        "/access/requests",
        content=json.dumps(lone).encode(),  # ASCII JSON with a \ud800 escape
        headers={**api.bearer, "content-type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    for body in ({"v": 1}, {"id": "x" * 5000}, [1, 2]):
        answer = api.client.post("/access/requests", json=body, headers=api.bearer)
        assert answer.status_code == 400, answer.text
