"""``/access``: a request recorded through the API, approved only through the roster's
actions with two officers' signatures, read within its scope and with the requester's signature
of each read (each read, refused ones too, on the ledger), denied, sealed and reported — and
what the public sees names no subject."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ombud.access.book import APPROVE
from ombud.access.reads import sign_read
from ombud.events import Event
from ombud.governance.roster import ActionRequest, sign_request
from ombud.privacy.consent import Grant
from tests.access.test_book import REQUESTER, ROSTER, SUBJECT, _request
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


def _signed(
    request_id: str,
    commitment: str,
    category: str = "contact",
    *,
    key: Ed25519PrivateKey = REQUESTER,
    origin: str = "api.city.example/log",
) -> dict[str, Any]:
    """The requester's signed read, as ``ombud access sign-read`` writes it."""
    return sign_read(
        request_id, commitment, category, key, origin=origin, at=NOW, nonce=secrets.token_hex(16)
    ).to_json()


def test_a_request_approved_by_two_officers_reads_only_its_scope(api: Api) -> None:
    _city(api)
    made = _request(until=NOW + timedelta(days=1), expires=NOW + timedelta(days=7))
    recorded = api.client.post("/access/requests", json=made.to_json(), headers=api.bearer)
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["status"] == "pending"
    (commitment,) = recorded.json()["commitments"]  # what the requester's reads name
    assert recorded.json()["subjects"] == [commitment]
    reads = f"/access/requests/{made.id}/reads"
    read = {"subject": SUBJECT, "category": "contact", "signed": _signed(made.id, commitment)}
    assert api.client.post(reads, json=read, headers=api.bearer).status_code == 403  # pending
    assert _approve(api, made.id, made.requester.person, "officer-a") == 403
    assert _approve(api, made.id, made.requester.person, "officer-a", "officer-b") == 200
    assert api.client.get(f"/access/requests/{made.id}").json()["status"] == "approved"
    answer = api.client.post(reads, json=read, headers=api.bearer)
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    assert [json.loads(base64.b64decode(i)) for i in answer.json()["items"]] == [
        {"email": "someone@example.org"}
    ]
    signed_outside = _signed(made.id, commitment, "location")
    outside = {"subject": SUBJECT, "category": "location", "signed": signed_outside}
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


def _last(api: Api) -> dict[str, Any]:
    return dict(Event.from_bytes(api.log.entries(api.log.size - 1, api.log.size)[0]).body)


def test_a_read_without_the_requesters_signature_of_it_is_refused(api: Api) -> None:
    """Each refusal is a problem document naming what is wrong, and no data; each is on the
    ledger but a read signed for another deployment, and a malformed statement."""
    _city(api)
    made = _request(until=NOW + timedelta(days=1), expires=NOW + timedelta(days=7))
    recorded = api.client.post("/access/requests", json=made.to_json(), headers=api.bearer)
    (commitment,) = recorded.json()["commitments"]
    assert _approve(api, made.id, made.requester.person, "officer-a", "officer-b") == 200
    reads = f"/access/requests/{made.id}/reads"
    body = {"subject": SUBJECT, "category": "contact"}
    good = _signed(made.id, commitment)
    assert api.client.post(reads, json={**body, "signed": good}, headers=api.bearer).json()["items"]
    cases = [
        ({}, 403, "needs its requester's signed statement", "unsigned"),
        ({"signed": _signed(made.id, commitment, key=Ed25519PrivateKey.generate())}, 422,
         "not signed by the key", "bad-signature"),
        ({"signed": _signed(made.id, "0" * 64)}, 422, "another subject", "bad-signature"),
        ({"signed": good}, 409, "used before", "replayed"),
        ({"signed": {**good, "at": "2026-12-04T09:10:01Z"}}, 422, "not signed", "bad-signature"),
    ]  # fmt: skip
    for extra, status, detail, code in cases:
        size = api.log.size
        answer = api.client.post(reads, json={**body, **extra}, headers=api.bearer)
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert detail in answer.json()["detail"] and "items" not in answer.json()
        assert api.log.size == size + 1 and _last(api)["outcome"] == code
    stale = sign_read(
        made.id, commitment, "contact", REQUESTER, origin="api.city.example/log",
        at=NOW - timedelta(minutes=11), nonce=secrets.token_hex(16),
    ).to_json()  # fmt: skip
    answer = api.client.post(reads, json={**body, "signed": stale}, headers=api.bearer)
    assert answer.status_code == 403 and "minutes from the server's clock" in answer.text
    assert _last(api)["outcome"] == "stale"
    size = api.log.size
    foreign = {**body, "signed": _signed(made.id, commitment, origin="staging.city/log")}
    answer = api.client.post(reads, json=foreign, headers=api.bearer)
    assert answer.status_code == 403 and "staging.city/log" in answer.json()["detail"]
    for malformed in ({**good, "v": 2}, {**good, "subject": SUBJECT}, {**good, "x": 1}, "s"):
        answer = api.client.post(reads, json={**body, "signed": malformed}, headers=api.bearer)
        assert answer.status_code in (400, 422), answer.text
    assert api.log.size == size  # neither is this log's to record
    report = api.client.get("/access/report").json()
    assert report["refusedReads"] == len(cases) + 1
