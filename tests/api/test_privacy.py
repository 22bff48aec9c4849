"""The privacy routes: consents, a resident's own data (/me), Open311 contact details kept only
under consent, erasure through the API, and differentially private releases."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ombud.api import create_app
from ombud.config import Settings
from ombud.deployment import Deployment, init_deployment
from ombud.errors import NotFoundError
from ombud.events import Event
from ombud.ledger.proof_bundle import ProofBundle, verify_proof_bundle
from ombud.voice.issuer import Issuer

from ..privacy.conftest import MARKER
from .conftest import follow_up_consent
from .test_voice import ORIGIN, City

NOW = datetime(2026, 12, 3, 10, 30, tzinfo=UTC)
SUBJECT = f"resident-{MARKER}"
CONSENT = {
    "subject": SUBJECT,
    "purposes": ["service-request-follow-up"],
    "dataCategories": ["contact-details"],
    "controller": "City of Example",
    "retentionDays": 30,
}


class PrivateCity(City):
    staff: str

    def bearer(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.staff}"}


@pytest.fixture
def city(
    tmp_path: Path, period_issuer: tuple[Issuer, bytes], caplog: pytest.LogCaptureFixture
) -> Iterator[PrivateCity]:
    caplog.set_level(logging.DEBUG)
    data_dir = tmp_path / "city"
    init_deployment(data_dir, ORIGIN)
    settings = Settings.load(data_dir, environ={})
    settings = replace(settings, voice=replace(settings.voice, districts="north,south"))
    deployment = Deployment.open(data_dir, clock=lambda: NOW, environ={}, settings=settings)
    app = create_app(deployment, sign_checkpoints=True)
    issuer, key = period_issuer
    with deployment, TestClient(app) as client:
        _, staff = app.state.deployment.tokens.create(
            {"voice:publish", "privacy:consent", "privacy:release"}, "test", now=NOW
        )
        published = client.post(
            "/voice/issuer-keys",
            json={
                "period": "2026-12",
                "issuer": issuer.name,
                "key": base64.b64encode(key).decode(),
            },
            headers={"Authorization": f"Bearer {staff}"},
        )
        assert published.status_code == 201, published.text
        made = PrivateCity(client, issuer, key, staff)
        made.staff = staff
        yield made


def _resident(city: PrivateCity) -> tuple[str, dict[str, str]]:
    made = city.client.post(
        "/privacy/consents", json={**CONSENT, "issueResidentKey": True}, headers=city.bearer()
    )
    assert made.status_code == 201, made.text
    body = made.json()
    return body["recordId"], {"Authorization": f"Bearer {body['residentKey']}"}


def test_recording_a_consent_needs_its_scope_and_validates(city: PrivateCity) -> None:
    assert city.client.post("/privacy/consents", json=CONSENT).status_code == 401
    bad = city.client.post(
        "/privacy/consents", json={**CONSENT, "legalBasis": "whim"}, headers=city.bearer()
    )
    assert bad.status_code == 400 and "legal basis" in bad.json()["detail"]
    extra = city.client.post(
        "/privacy/consents", json={**CONSENT, "password": "x"}, headers=city.bearer()
    )
    assert extra.status_code == 400


def test_open311_contact_details_need_consent_and_are_sealed_in_the_vault(
    city: PrivateCity,
) -> None:
    record_id, me = _resident(city)
    key = me["Authorization"].removeprefix("Bearer ")
    form = {
        "service_code": "lighting",
        "description": "The lamp at the corner is out.",
        "address_id": "north",
        "account_id": SUBJECT,
        "resident_key": key,
        "email": f"{MARKER}@example.org",
    }
    token = city.token()
    accepted = city.client.post(
        "/open311/v2/requests.json",
        data=form,
        headers={"Authorization": f'PrivateToken token="{token}"'},
    )
    assert accepted.status_code == 201, accepted.text
    request_id = accepted.json()[0]["service_request_id"]
    assert accepted.json()[0]["account_id"] == SUBJECT
    for missing in ("account_id", "resident_key"):
        refused = city.client.post(
            "/open311/v2/requests.json",
            data={k: v for k, v in form.items() if k != missing},
            headers=city.auth(),
        )
        assert refused.status_code == 400 and missing in refused.text

    export = city.client.get("/me/data", headers=me).json()
    (contact,) = [p for p in export["payloads"] if p["kind"] == "contact"]
    assert contact["data"] == {"serviceRequest": request_id, "email": f"{MARKER}@example.org"}
    staff = {"Authorization": f"Bearer {city.admin}"}
    post = city.client.get(f"/voice/posts/{request_id}", headers=staff).json()
    assert MARKER not in str(post)
    # withdrawing the consent stops further processing (the resident learns why)
    assert city.client.delete(f"/me/consents/{record_id}", headers=me).status_code == 200
    again = city.client.post("/open311/v2/requests.json", data=form, headers=city.auth())
    assert again.status_code == 403 and "withdrawn" in again.text


def test_nobody_files_contact_details_under_or_probes_another_account(city: PrivateCity) -> None:
    """Attack finding: contact details were filed under any account_id, and the answer told
    anyone — even with a junk token — whether that account had a consent to follow-up, or had
    withdrawn it. Now the token is checked first, then the resident key of the account; every
    stranger is refused alike and learns nothing of the account's consents."""
    _resident(city)  # SUBJECT has a consent to follow-up
    form = {
        "service_code": "lighting",
        "description": "The lamp at the corner is out.",
        "address_id": "north",
        "account_id": SUBJECT,
        "email": "someone.else@example.org",
    }
    stranger = city.client.post(
        "/privacy/consents",
        json={**CONSENT, "subject": "someone-else", "issueResidentKey": True},
        headers=city.bearer(),
    ).json()["residentKey"]
    answers = set()
    for account in (SUBJECT, "nobody-has-this-id"):
        junk = city.client.post(
            "/open311/v2/requests.json",
            data={**form, "account_id": account, "resident_key": stranger},
            headers={"Authorization": 'PrivateToken token="AAAA"'},
        )
        assert junk.status_code == 400 and "consent" not in junk.text  # the token, first
        token = city.token()
        for key in (stranger, "ombud_resident_" + "A" * 43, "nonsense"):
            refused = city.client.post(
                "/open311/v2/requests.json",
                data={**form, "account_id": account, "resident_key": key},
                headers={"Authorization": f'PrivateToken token="{token}"'},
            )
            assert refused.status_code == 401, refused.text
            answers.add(refused.text)
        # the refusals changed nothing: the same token still pays for a plain request
        plain = {k: v for k, v in form.items() if k not in ("account_id", "email")}
        paid = city.client.post(
            "/open311/v2/requests.json",
            data=plain,
            headers={"Authorization": f'PrivateToken token="{token}"'},
        )
        assert paid.status_code == 201
    assert len(answers) == 1  # one answer, whoever the account is and whatever the key


def test_a_residents_own_request_without_the_consent_is_403_and_spends_no_token(
    city: PrivateCity,
) -> None:
    """README (Open311): "the resident's own request without a consent is refused (403) saying
    why. Either way the token stays unspent" — here the resident's key is their own, but their
    consent covers research, not follow-up by contact details."""
    made = city.client.post(
        "/privacy/consents",
        json={**CONSENT, "purposes": ["research"], "issueResidentKey": True},
        headers=city.bearer(),
    )
    assert made.status_code == 201, made.text
    form = {
        "service_code": "lighting",
        "description": "The lamp at the corner is out.",
        "address_id": "north",
        "account_id": SUBJECT,
        "resident_key": made.json()["residentKey"],
        "email": f"{MARKER}@example.org",
    }
    token = city.token()
    paid_with = {"Authorization": f'PrivateToken token="{token}"'}
    size = city.client.app.state.deployment.log.size  # type: ignore[attr-defined]
    refused = city.client.post("/open311/v2/requests.json", data=form, headers=paid_with)
    assert refused.status_code == 403
    (error,) = refused.json()
    assert error["code"] == 403 and "service-request-follow-up" in error["description"]
    assert city.client.app.state.deployment.log.size == size  # type: ignore[attr-defined]
    plain = {k: v for k, v in form.items() if k not in ("account_id", "resident_key", "email")}
    paid = city.client.post("/open311/v2/requests.json", data=plain, headers=paid_with)
    assert paid.status_code == 201, paid.text  # the token was not spent by the refusal


def test_my_data_is_exported_with_proofs_anyone_can_check(city: PrivateCity) -> None:
    _, me = _resident(city)
    log = city.client.app.state.deployment.log  # type: ignore[attr-defined]
    log.checkpoint()
    export = city.client.get("/me/data", headers=me).json()
    assert export["consents"][0]["subject"] == SUBJECT
    (payload,) = export["payloads"]
    data, salt = base64.b64decode(payload["bytes"]), base64.b64decode(payload["salt"])
    assert hashlib.sha256(salt + data).hexdigest() == payload["commitment"]
    (event,) = export["events"]
    assert event["event"]["body"]["commitment"] == payload["commitment"]
    bundle = ProofBundle.from_bytes(base64.b64decode(event["tlogProof"]))
    verify_proof_bundle(bundle, log.entry(event["ledgerIndex"]), [log.verifier()], origin=ORIGIN)
    assert city.client.get("/me/data").status_code == 401


def test_an_unknown_resident_key_is_401_not_404(city: PrivateCity) -> None:
    """Finding: an unknown resident key got 404, as if the key were a resource; it is a
    credential that is not valid (401), and says nothing about who has data here."""
    wrong = {"Authorization": "Bearer ombud_resident_" + "A" * 43}
    for method, path in (("GET", "/me/data"), ("DELETE", "/me/data"), ("GET", "/me/consents")):
        refused = city.client.request(method, path, headers=wrong)
        assert refused.status_code == 401, (method, path)
        assert refused.headers["WWW-Authenticate"] == "Bearer"
        assert refused.headers["content-type"] == "application/problem+json"


def test_a_resident_erases_their_data_and_no_log_line_names_them(
    city: PrivateCity, caplog: pytest.LogCaptureFixture
) -> None:
    _, me = _resident(city)
    erased = city.client.delete("/me/data", headers=me)
    assert erased.status_code == 200 and erased.json()["payloadsDestroyed"] == 1
    log = city.client.app.state.deployment.log  # type: ignore[attr-defined]
    assert Event.from_bytes(log.entry(erased.json()["ledgerIndex"])).kind == "subject.erased"
    assert city.client.get("/me/data", headers=me).status_code == 401  # the key went with it
    assert MARKER not in caplog.text


def test_releases_spend_a_budget_anyone_can_audit(city: PrivateCity) -> None:
    for district in ("north", "south") * 3:
        posted = city.client.post(
            "/voice/posts",
            json={"text": "The buses are late again.", "district": district},
            headers=city.auth(),
        )
        assert posted.status_code == 201
    body = {"dataset": "satisfaction", "period": "2026-12"}
    assert city.client.post("/privacy/releases", json=body).status_code == 401
    first = city.client.post("/privacy/releases", json=body, headers=city.bearer())
    assert first.status_code == 201, first.text
    release = first.json()
    assert {c["district"] for c in release["cells"]} == {"north", "south"}
    assert all(c["suppressed"] for c in release["cells"])  # 3 residents a cell < k = 20
    assert release["rho"] <= 0.5
    city.client.post("/privacy/releases", json=body, headers=city.bearer())
    over = city.client.post("/privacy/releases", json=body, headers=city.bearer())
    assert over.status_code == 403 and "budget" in over.json()["detail"]
    (spent,) = city.client.get("/privacy/budget").json()
    assert spent["rhoSpent"] == pytest.approx(1.0) and spent["releases"] == 2
    assert city.client.get(f"/privacy/releases/{release['id']}").json()["cells"] == release["cells"]


def test_a_week_that_is_not_one_or_has_not_ended_is_refused_before_any_spend(
    city: PrivateCity,
) -> None:
    """Attack finding: POST /privacy/releases of satisfaction 9999-W52 or 2026-W99 answered 201
    (budget spent, dp.released logged) and broke /insight for good; imported 9999-W52 was a
    500; a week not yet over (here 2026-W49, the clock's, and later ones) used up its budget."""
    log = city.client.app.state.deployment.log  # type: ignore[attr-defined]
    size = log.size
    for dataset, period, status in [
        ("satisfaction", "9999-W52", 400),
        ("satisfaction", "2026-W99", 400),
        ("satisfaction", "2025-W53", 400),
        ("imported", "9999-W52", 400),
        ("imported", "2026-W49", 409),
        ("satisfaction", "2026-W49", 409),
        ("satisfaction", "2027-W10", 409),
    ]:
        body = {"dataset": dataset, "period": period}
        answer = city.client.post("/privacy/releases", json=body, headers=city.bearer())
        assert answer.status_code == status, (period, answer.text)
        assert period in answer.json()["detail"]
    assert city.client.get("/privacy/budget").json() == []
    assert log.size == size
    ended = {"dataset": "imported", "period": "2026-W48"}
    released = city.client.post("/privacy/releases", json=ended, headers=city.bearer())
    assert released.status_code == 201, released.text


def test_without_a_master_key_privacy_routes_refuse_clearly(
    tmp_path: Path, period_issuer: tuple[Issuer, bytes]
) -> None:
    data_dir = tmp_path / "city"
    init_deployment(data_dir, ORIGIN)
    (data_dir / "master.key").unlink()
    deployment = Deployment.open(data_dir, clock=lambda: NOW, environ={})
    with deployment, TestClient(create_app(deployment)) as client:
        got = client.get("/privacy/budget")
        assert got.status_code == 503 and "master key is missing" in got.json()["detail"]
        assert client.get("/open311/v2/services.json").status_code == 200  # the rest works
        # Every route that would store or read something personal answers 503 and stores
        # nothing: no consent, no device with owner details, no release.
        _, staff = deployment.tokens.create(
            {"privacy:consent", "devices:write", "privacy:release"}, "test", now=NOW
        )
        bearer = {"Authorization": f"Bearer {staff}"}
        size = deployment.log.size
        device = {
            "id": "home-noise-1",
            "type": "NoiseLevelObserved",
            "key": "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
            "district": "north",
            "ownerDetails": {"name": MARKER},
        }
        for method, path, body, headers in (
            ("POST", "/privacy/consents", follow_up_consent(MARKER), bearer),
            ("POST", "/admin/devices", device, bearer),
            ("POST", "/privacy/releases", {"period": "2026-12", "dataset": "satisfaction"}, bearer),
            ("GET", "/privacy/releases", None, {}),
            ("GET", "/me/data", None, {"Authorization": "Bearer ombud_resident_" + "x" * 40}),
        ):
            answer = client.request(method, path, json=body, headers=headers)
            assert answer.status_code == 503, (path, answer.text)
            assert MARKER not in answer.text
        assert deployment.log.size == size
        with pytest.raises(NotFoundError):
            deployment.registry.get("home-noise-1")
    assert not any(MARKER.encode() in p.read_bytes() for p in data_dir.rglob("*") if p.is_file())


def test_a_home_hosted_devices_owner_is_kept_only_in_the_vault_under_consent(
    city: PrivateCity,
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ombud.dataintegrity.multikey import DidKey

    admin = city.client.app.state.deployment.tokens  # type: ignore[attr-defined]
    _, writer = admin.create({"devices:write"}, "test", now=NOW)
    device = {
        "id": "noise-home-7",
        "type": "NoiseLevelObserved",
        "key": DidKey.from_key(Ed25519PrivateKey.generate().public_key()).did,
        "district": "north",
        "owner": SUBJECT,
        "ownerDetails": {"name": "A. Resident", "address": f"7 {MARKER} Road"},
    }
    refused = city.client.post("/admin/devices", json=device, headers=city.bearer(writer))
    assert refused.status_code == 403 and "device-hosting" in refused.json()["detail"]
    assert city.client.get("/devices").json() == []  # nothing was registered
    hosting = {**CONSENT, "purposes": ["device-hosting"], "issueResidentKey": True}
    made = city.client.post("/privacy/consents", json=hosting, headers=city.bearer())
    me = {"Authorization": f"Bearer {made.json()['residentKey']}"}
    added = city.client.post("/admin/devices", json=device, headers=city.bearer(writer))
    assert added.status_code == 201, added.text
    assert MARKER not in added.text
    (owner,) = [
        p
        for p in city.client.get("/me/data", headers=me).json()["payloads"]
        if p["kind"] == "device-owner"
    ]
    assert owner["data"]["address"] == f"7 {MARKER} Road" and owner["data"]["subject"] == SUBJECT
    assert added.json()["owner"] == "resident"
    (public,) = city.client.get("/devices").json()  # the public registry names no resident
    assert public["owner"] == "resident" and SUBJECT not in json.dumps(public)
    log = city.client.app.state.deployment.log  # type: ignore[attr-defined]
    registered = Event.from_bytes(log.entry(added.json()["registeredIndex"]))
    stored = Event.from_bytes(log.entry(added.json()["registeredIndex"] + 1))
    assert registered.kind == "device.registered" and stored.kind == "payload.stored"
    assert stored.body["commitment"] == owner["commitment"]


def _lone_surrogate(body: dict[str, object]) -> bytes:
    return json.dumps(body).encode()  # ASCII JSON: "\ud800" stays an escape


def test_text_with_a_lone_surrogate_is_refused_and_changes_nothing(city: PrivateCity) -> None:
    """A lone surrogate (the escape \\ud800, which is no character) in a list item or an
    object's member was once stored and put on the ledger, then the response and every later
    read of the resident's data failed with a 500. Now it is a 400 that changes nothing."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ombud.dataintegrity.multikey import DidKey

    deployment = city.client.app.state.deployment  # type: ignore[attr-defined]
    json_bearer = {**city.bearer(), "content-type": "application/json"}
    record_id, me = _resident(city)
    size = deployment.log.size
    for method, path, body in [
        ("POST", "/privacy/consents", {**CONSENT, "recipients": ["\ud800"]}),
        ("PUT", f"/privacy/consents/{record_id}", {**CONSENT, "recipients": ["ok", "\udc00"]}),
        ("PUT", f"/privacy/consents/{record_id}", {**CONSENT, "controller": "x\ud800"}),
    ]:
        answer = city.client.request(
            method, path, content=_lone_surrogate(body), headers=json_bearer
        )
        assert answer.status_code == 400 and "lone surrogate" in answer.json()["detail"], (
            answer.text
        )
    assert deployment.log.size == size  # nothing recorded
    _, writer = deployment.tokens.create({"devices:write"}, "test", now=NOW)
    hosting = {**CONSENT, "purposes": ["device-hosting"]}
    changed = city.client.put(f"/privacy/consents/{record_id}", json=hosting, headers=city.bearer())
    assert changed.status_code == 200, changed.text
    size = deployment.log.size
    key = DidKey.from_key(Ed25519PrivateKey.generate().public_key()).did
    device = {"id": "noise-home-8", "type": "NoiseLevelObserved", "key": key, "district": "north"}
    for details in ({"\ud800": "x"}, {"name": "\udfff"}):
        body = {**device, "owner": SUBJECT, "ownerDetails": details}
        answer = city.client.post(
            "/admin/devices",
            content=_lone_surrogate(body),
            headers={**city.bearer(writer), "content-type": "application/json"},
        )
        assert answer.status_code == 400 and "lone surrogate" in answer.json()["detail"], (
            answer.text
        )
    assert deployment.log.size == size and city.client.get("/devices").json() == []
    assert city.client.get("/me/data", headers=me).status_code == 200
    mine = city.client.get("/me/consents", headers=me)
    assert mine.status_code == 200 and [c["purposes"] for c in mine.json()] == [["device-hosting"]]


def test_the_consent_service_changes_and_withdraws_consents(city: PrivateCity) -> None:
    record_id, me = _resident(city)
    changed = city.client.put(
        f"/privacy/consents/{record_id}",
        json={**CONSENT, "purposes": ["research"]},
        headers=city.bearer(),
    )
    assert changed.status_code == 200 and changed.json()["version"] == 2
    mine = city.client.get("/me/consents", headers=me).json()
    assert [c["purposes"] for c in mine] == [["research"]]
    key_again = city.client.put(
        f"/privacy/consents/{record_id}",
        json={**CONSENT, "issueResidentKey": True},
        headers=city.bearer(),
    )
    assert key_again.status_code == 400
    withdrawn = city.client.post(f"/privacy/consents/{record_id}/withdraw", headers=city.bearer())
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    again = city.client.post(f"/privacy/consents/{record_id}/withdraw", headers=city.bearer())
    assert again.status_code == 403 and "already withdrawn" in again.json()["detail"]
    assert city.client.post(f"/privacy/consents/{record_id}/withdraw").status_code == 401


def test_serve_runs_retention_on_its_own(tmp_path: Path) -> None:
    data_dir = tmp_path / "city"
    init_deployment(data_dir, ORIGIN)
    settings = Settings.load(data_dir, environ={"OMBUD_PRIVACY_RETENTION_INTERVAL_S": "1"})
    deployment = Deployment.open(data_dir, environ={}, settings=settings)
    with deployment, TestClient(create_app(deployment, screen=True)) as client:
        deadline = time.monotonic() + 20
        while "ombud_retention_rounds_total 0" in client.get("/metrics").text:
            assert time.monotonic() < deadline, "no retention round within 20 s"
            time.sleep(0.2)
        assert "ombud_payloads_purged_total 0" in client.get("/metrics").text


def test_a_resident_reads_and_exports_after_a_withdrawn_consent_is_purged(
    city: PrivateCity,
) -> None:
    """Finding: after retention purged a withdrawn consent's record, /me/consents and /me/data
    answered 404 ("payload … was purged") for good, and the other consents were unreachable."""
    gone, me = _resident(city)
    kept = city.client.post(
        "/privacy/consents", json={**CONSENT, "purposes": ["newsletter"]}, headers=city.bearer()
    ).json()["recordId"]
    assert city.client.delete(f"/me/consents/{gone}", headers=me).status_code == 200
    deployment = city.client.app.state.deployment  # type: ignore[attr-defined]
    with deployment.db.transaction() as tx:  # the clock is fixed: its retention ends now
        tx.execute("UPDATE vault_payloads SET expires = 1 WHERE expires IS NOT NULL")
    assert deployment.privacy().retention().payloads == 2
    mine = city.client.get("/me/consents", headers=me)
    assert mine.status_code == 200, mine.text
    assert [c["recordId"] for c in mine.json()] == [kept]
    export = city.client.get("/me/data", headers=me)
    assert export.status_code == 200, export.text
    assert [c["recordId"] for c in export.json()["consents"]] == [kept]
    assert [c["recordId"] for c in export.json()["purgedConsents"]] == [gone]
    again = city.client.delete(f"/me/consents/{gone}", headers=me)
    assert again.status_code == 403 and "purged" in again.json()["detail"]
    assert city.client.delete(f"/me/consents/{kept}", headers=me).status_code == 200


def test_an_erasure_whose_scrub_fails_is_answered_as_the_erasure_it_is(
    city: PrivateCity, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding: when the scrub after the erasure's commit failed, DELETE /me/data answered 503
    although the data was erased — and a retry got 401, since the key went with it."""
    from ombud.errors import StorageError

    _, me = _resident(city)
    deployment = city.client.app.state.deployment  # type: ignore[attr-defined]

    def busy(tables: object) -> None:
        raise StorageError("readers keep the WAL busy")

    monkeypatch.setattr(deployment.db, "scrub", busy)
    erased = city.client.delete("/me/data", headers=me)
    assert erased.status_code == 200, erased.text
    body = erased.json()
    assert body["erased"] is True and body["scrubbed"] is False and "retried" in body["note"]
    assert Event.from_bytes(deployment.log.entry(body["ledgerIndex"])).kind == "subject.erased"
    assert city.client.get("/me/data", headers=me).status_code == 401
    monkeypatch.undo()
    assert deployment.privacy().retention().scrubbed == 1
