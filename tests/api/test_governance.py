"""``/roster``: the roster and its chain are public; an operator's token with every scope
cannot carry out what the roster reserves — the attempt is refused with its own error and
recorded — while the holders' signatures, passed on one by one, can; hostile bodies are
refused without a trace of them."""

from __future__ import annotations

from typing import Any

from ombud.config import Settings
from ombud.deployment import Deployment
from ombud.events import Event
from ombud.governance.roster import ActionRequest, sign_request
from ombud.ledger import note
from tests.api.conftest import Api
from tests.governance.test_roster import GENESIS, KEYS
from tests.governance.test_tenders import TENDER

BUDGET = {"privacy.dp_rho_per_period": 2.0, "privacy.dp_rho_per_release": 0.5}


def _deployment(api: Api) -> Deployment:
    deployment: Deployment = api.client.app.state.deployment  # type: ignore[attr-defined]
    return deployment


def _last_event(api: Api) -> Event:
    return Event.from_bytes(api.log.entries(api.log.size - 1, api.log.size)[0])


def _propose(api: Api, action: str, params: dict[str, Any], requester: str) -> dict[str, Any]:
    body = {"action": action, "params": params, "requester": requester}
    answer = api.client.post("/roster/actions", json=body, headers=api.bearer)
    assert answer.status_code == 201, answer.text
    proposal: dict[str, Any] = answer.json()
    return proposal


def _sign(api: Api, proposal: dict[str, Any], *holders: str) -> None:
    request = ActionRequest.from_json(proposal["request"])
    for holder in holders:
        approval = sign_request(request, holder, KEYS[holder]).to_json()
        answer = api.client.post(
            f"/roster/actions/{proposal['digest']}/signatures", json=approval, headers=api.bearer
        )
        assert answer.status_code == 201, answer.text


def test_an_operator_token_alone_cannot_change_what_the_roster_reserves(api: Api) -> None:
    assert api.client.get("/roster").status_code == 404  # no genesis yet
    deployment = _deployment(api)
    deployment.establish_roster(GENESIS, actor="clerk")
    shown = api.client.get("/roster").json()
    assert (shown["version"], shown["digest"]) == (0, GENESIS.digest)
    assert [link["version"] for link in api.client.get("/roster/chain").json()] == [0]
    proposal = _propose(api, "budget.change", BUDGET, "officer-a")
    assert _last_event(api).kind == "action.requested"
    digest = proposal["digest"]
    refused = api.client.post(f"/roster/actions/{digest}/carry-out", headers=api.bearer)
    assert refused.status_code == 403 and "reserved to the roster" in refused.json()["detail"]
    assert _last_event(api).body["reason"] == "operator-only"  # refused, and recorded
    assert Settings.load(deployment.data_dir).privacy.dp_rho_per_period == 1.0
    _sign(api, proposal, "council-1", "council-2")
    short = api.client.post(f"/roster/actions/{digest}/carry-out", headers=api.bearer)
    assert short.status_code == 403 and _last_event(api).body["reason"] == "below-quorum"
    _sign(api, proposal, "council-3")
    done = api.client.post(f"/roster/actions/{digest}/carry-out", headers=api.bearer)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "carried-out"
    assert _last_event(api).kind == "settings.changed"
    assert Settings.load(deployment.data_dir).privacy.dp_rho_per_period == 2.0
    again = api.client.post(f"/roster/actions/{digest}/carry-out", headers=api.bearer)
    assert again.status_code == 409
    listed = api.client.get("/roster/actions", params={"status": "carried-out"}).json()
    assert [p["digest"] for p in listed] == [digest]


def test_refusals_of_signatures_name_their_reason(api: Api) -> None:
    _deployment(api).establish_roster(GENESIS, actor="clerk")
    proposal = _propose(api, "budget.change", BUDGET, "council-1")
    request = ActionRequest.from_json(proposal["request"])
    url = f"/roster/actions/{proposal['digest']}/signatures"
    wrong_role = sign_request(request, "officer-a", KEYS["officer-a"]).to_json()
    assert api.client.post(url, json=wrong_role, headers=api.bearer).status_code == 403
    assert _last_event(api).body == {
        "v": 1,
        "digest": proposal["digest"],
        "action": "budget.change",
        "reason": "wrong-role",
        "holder": "officer-a",
    }
    forged = sign_request(request, "council-2", KEYS["council-3"]).to_json()
    assert api.client.post(url, json=forged, headers=api.bearer).status_code == 422
    assert _last_event(api).body["reason"] == "bad-signature"
    stranger = {"holder": "mallory", "signature": forged["signature"]}
    assert api.client.post(url, json=stranger, headers=api.bearer).status_code == 403
    assert _last_event(api).body["reason"] == "not-a-holder"


def test_hostile_requests_change_nothing(api: Api) -> None:
    _deployment(api).establish_roster(GENESIS, actor="clerk")
    proposal = _propose(api, "budget.change", BUDGET, "council-1")
    url = f"/roster/actions/{proposal['digest']}"
    size = api.log.size
    for body, status in [
        ({"holder": "council-2", "signature": "not base64!"}, 400),
        ({"holder": "Council 2", "signature": "A" * 86}, 400),
        ({"holder": "council-2"}, 400),
    ]:
        answer = api.client.post(f"{url}/signatures", json=body, headers=api.bearer)
        assert answer.status_code == status, answer.text
    drafts = [
        {"action": "budget.change", "params": {"privacy.dp_rho_per_period": -1}, "requester": "x"},
        {"action": "budget.change", "params": {"voice.retention_days": 1}, "requester": "x"},
        {"action": "logkey.rotate", "params": {}, "requester": "x"},
        {"action": "roster.change", "params": {"roster": {"v": 1}}, "requester": "x"},
        {"action": "not an action", "params": {}, "requester": "x"},
        {"action": "budget.change", "params": BUDGET, "requester": "Not An Id"},
    ]
    # a whole number that canonical JSON would write as an integer ombud cannot read back: it
    # was recorded, answered 400, and made /roster/actions answer 400 for good
    tender = TENDER.to_json()
    tender["budget"]["amount"] = 2.0**53
    drafts.append({"action": "tender.publish", "params": {"tender": tender}, "requester": "x"})
    # a witness URL with DEL, which the settings file cannot hold raw: carried out, it stopped
    # the deployment from opening
    vkey = note.Signer.generate("w.example", sig_type=note.ALG_COSIGNATURE_V1).verifier().vkey
    witnesses = {"quorum": 0, "witness": [{"vkey": vkey, "url": "http://w.example/\x7f"}]}
    drafts.append(
        {"action": "witness.change", "params": {"witnesses": witnesses}, "requester": "x"}
    )
    details = []
    for draft in drafts:
        answer = api.client.post("/roster/actions", json=draft, headers=api.bearer)
        assert answer.status_code == 400, (draft, answer.text)
        details.append(answer.json()["detail"])
    assert "outside the exact range" in details[-2]
    assert "not an http(s) URL" in details[-1]
    assert len(api.client.get("/roster/actions").json()) == 1
    assert (
        api.client.post(
            "/roster/actions/" + "0" * 64 + "/carry-out", headers=api.bearer
        ).status_code
        == 404
    )
    assert api.client.post(f"{url}/carry-out").status_code == 401  # no token
    assert api.log.size == size  # malformed input is refused without a trace
