"""``ombud roster``: keys made on the holders' machines, a genesis, a change proposed, signed
one holder at a time and carried out only with the quorum, and the chain verified from a log
export against the genesis file (the contract: exit 0 printing the roster in force; exit 1
naming the first broken link); the operator's shell alone no longer changes the witness
policy, and the removed holders' keys sign nothing."""

from __future__ import annotations

import json
import secrets
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ombud.config import Settings
from ombud.deployment import Deployment
from ombud.events import Event
from ombud.governance import actions, roster
from ombud.governance.roster import (
    CHANGE_ROSTER,
    ActionRequest,
    Holder,
    Roster,
    Rule,
    Succession,
    public_key,
    sign_request,
)
from ombud.ledger import note
from tests.conftest import ombud

NAMES = ["council-1", "council-2", "council-3", "officer-a", "officer-b", "ombudsman", "court"]
POLICY = {
    "access.approve": Rule(2, ("officer",)),
    "witness.change": Rule(2, ("council",)),
    CHANGE_ROSTER: Rule(2, ("council",), not_requester=False),
    "roster.recover": Rule(2, ("ombudsman", "court"), not_requester=False),
}


def _holders(tmp_path: Path, names: list[str]) -> list[Holder]:
    holders = []
    for name in names:
        key = tmp_path / f"{name}.pem"
        made = ombud("roster", "keygen", "--out", key)
        assert made.returncode == 0, made.stderr
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        from base64 import urlsafe_b64decode

        public = urlsafe_b64decode(made.stdout.strip() + "==")
        role = name.split("-")[0] if "-" in name else name
        holders.append(Holder(name, name.title(), role, public))
    return holders


def test_a_council_hands_over_and_anyone_verifies_the_chain(tmp_path: Path) -> None:
    data_dir = tmp_path / "city"
    assert ombud("init", "--data-dir", data_dir, "--origin", "roster.example/log").returncode == 0
    genesis = Roster(0, tuple(_holders(tmp_path, NAMES)), POLICY)
    (tmp_path / "genesis.json").write_text(json.dumps(genesis.to_json()))
    assert (
        ombud("roster", "init", "--data-dir", data_dir, tmp_path / "genesis.json").returncode == 0
    )
    shown = ombud("roster", "show", "--data-dir", data_dir)
    assert "roster version 0" in shown.stdout and "council-1" in shown.stdout

    council = _holders(tmp_path, ["council-4", "council-5"])
    kept = [h for h in genesis.holders if not h.id.startswith("council")]
    new = Roster(1, (*council, *kept), POLICY, genesis.digest)
    (tmp_path / "new.json").write_text(json.dumps(new.to_json()))
    request = tmp_path / "request.json"
    proposed = ombud(
        "roster", "propose", "--data-dir", data_dir, tmp_path / "new.json",
        "--requester", "council-1", "--out", request,
    )  # fmt: skip
    assert proposed.returncode == 0, proposed.stderr
    sign = ("roster", "sign", request, "--holder")
    assert ombud(*sign, "council-1", "--key", tmp_path / "council-1.pem").returncode == 0
    short = ombud("roster", "apply", "--data-dir", data_dir, request)
    assert short.returncode == 2 and "needs 2 distinct signatures" in short.stderr
    assert ombud(*sign, "council-2", "--key", tmp_path / "council-2.pem").returncode == 0
    applied = ombud("roster", "apply", "--data-dir", data_dir, request)
    assert applied.returncode == 0 and "roster version 1 in force" in applied.stdout

    assert ombud("log", "checkpoint", data_dir).returncode == 0
    export = tmp_path / "export"
    assert ombud("log", "export", data_dir, export).returncode == 0
    ok = ombud("roster", "verify", export, "--genesis", tmp_path / "genesis.json")
    assert ok.returncode == 0, ok.stderr
    assert "roster version 1" in ok.stdout and "council-4" in ok.stdout

    # A genesis file that is not the log's: exit 1, naming where.
    other = Roster(0, genesis.holders[1:], {**POLICY, CHANGE_ROSTER: Rule(1, ("council",))})
    (tmp_path / "other.json").write_text(json.dumps(other.to_json()))
    bad = ombud("roster", "verify", export, "--genesis", tmp_path / "other.json")
    assert bad.returncode == 1 and "entry" in bad.stderr and "genesis" in bad.stderr

    # An operator who writes a roster change straight into the log, signed by nobody.
    with Deployment.open(data_dir) as deployment:
        forged = json.loads(request.read_text())
        forged["approvals"] = []
        body = {"v": 1, "version": 1, "digest": new.digest, "recovered": False,
                "succession": {**forged, "at": "2026-12-05T09:00:00Z"}}  # fmt: skip
        event = Event("roster.changed", deployment.clock(), "operator", body)
        index = deployment.log.append_batch([event.to_bytes()])
        deployment.log.checkpoint()
    forged_export = tmp_path / "forged"
    assert ombud("log", "export", data_dir, forged_export).returncode == 0
    broken = ombud("roster", "verify", forged_export, "--genesis", tmp_path / "genesis.json")
    assert broken.returncode == 1, broken.stdout
    assert f"entry {index}" in broken.stderr and "roster version 2" in broken.stderr

    # The operator's shell alone no longer changes whose cosignatures publishing waits for.
    cosigner = note.Signer.generate("w.example", sig_type=note.ALG_COSIGNATURE_V1)
    _refused_alone(data_dir, "add", cosigner.verifier().vkey, "http://w.example")
    listed = {"vkey": cosigner.verifier().vkey, "url": "http://w.example"}
    params = {"witnesses": {"quorum": 0, "witness": [listed]}}
    (tmp_path / "params.json").write_text(json.dumps(params))
    change = tmp_path / "witness.json"
    proposed = ombud(
        "roster", "propose", "--data-dir", data_dir, "--action", "witness.change",
        "--params", tmp_path / "params.json", "--requester", "officer-a", "--out", change,
    )  # fmt: skip
    assert proposed.returncode == 0, proposed.stderr
    sign = ("roster", "sign", change, "--holder")
    # The councillors who left sign nothing valid any more.
    assert ombud(*sign, "council-1", "--key", tmp_path / "council-1.pem").returncode == 0
    removed = ombud("roster", "apply", "--data-dir", data_dir, change)
    assert removed.returncode == 2 and "holds no office" in removed.stderr
    fresh = {"request": json.loads(change.read_text())["request"], "approvals": []}
    change.write_text(json.dumps(fresh))
    for holder in ("council-4", "council-5"):
        assert ombud(*sign, holder, "--key", tmp_path / f"{holder}.pem").returncode == 0
    done = ombud("roster", "apply", "--data-dir", data_dir, change)
    assert done.returncode == 0 and "witness.change carried out" in done.stdout, done.stderr
    # The witness the roster added: neither removed nor counted otherwise by the shell alone.
    _refused_alone(data_dir, "remove", "w.example")
    _refused_alone(data_dir, "quorum", "1")


def _refused_alone(data_dir: Path, *attempt: object) -> None:
    """``ombud log witness ATTEMPT`` under a roster: exit 2, recorded once as operator-only,
    and the policy on file unchanged."""
    before_policy = Settings.for_directory(data_dir).witnesses
    with Deployment.open(data_dir, with_key=False) as deployment:
        before = deployment.log.size
    alone = ombud("log", "witness", attempt[0], data_dir, *attempt[1:])
    assert alone.returncode == 2 and "reserved to the roster" in alone.stderr, attempt
    with Deployment.open(data_dir, with_key=False) as deployment:
        size = deployment.log.size
        last = Event.from_bytes(deployment.log.entries(size - 1, size)[0])
    assert size == before + 1, attempt  # recorded, once
    assert (last.kind, last.body["reason"]) == ("action.refused", "operator-only"), attempt
    assert Settings.for_directory(data_dir).witnesses == before_policy


def test_a_chain_recorded_before_requests_named_their_deployment_still_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A log whose first hand-over was carried out by an ombud from before request version 2
    (its request names no deployment) verifies as before; the next, bound to this log's
    origin, too; a change signed for another deployment and written into the log breaks the
    chain at its entry. A request file from another deployment is refused by `apply`."""
    data_dir = tmp_path / "city"
    assert ombud("init", "--data-dir", data_dir, "--origin", "prod.example/log").returncode == 0
    keys = {name: Ed25519PrivateKey.generate() for name in [*NAMES, "council-4", "council-5"]}

    def holder(name: str) -> Holder:
        role = name.split("-")[0] if "-" in name else name
        return Holder(name, name.title(), role, public_key(keys[name]))

    genesis = Roster(0, tuple(holder(n) for n in NAMES), POLICY)
    (tmp_path / "genesis.json").write_text(json.dumps(genesis.to_json()))
    kept = [h for h in genesis.holders if not h.id.startswith("council")]
    first = Roster(1, (holder("council-4"), holder("council-5"), *kept), POLICY, genesis.digest)
    second = Roster(2, (holder("council-1"), holder("council-4"), *kept), POLICY, first.digest)

    def change(under: Roster, new: Roster, origin: str | None, *signers: str) -> Succession:
        request = ActionRequest(
            CHANGE_ROSTER,
            {"roster": new.to_json()},
            under.version,
            under.digest,
            signers[0],
            secrets.token_hex(16),
            datetime.now(UTC) + timedelta(days=1),
            origin,
        )
        approvals = tuple(sign_request(request, s, keys[s]) for s in signers)
        return Succession(request, approvals, datetime.now(UTC))

    with Deployment.open(data_dir) as deployment:
        deployment.establish_roster(genesis, actor="clerk")
        with monkeypatch.context() as earlier:  # as ombud did before request version 2
            for module in (actions, roster):
                earlier.setattr(module, "verify_origin", lambda *args, **kwargs: None)
            old = change(genesis, first, None, "council-1", "council-2")
            deployment.roster.change(old, actor="clerk")
        assert old.request.to_json()["v"] == 1
        deployment.roster.change(
            change(first, second, "prod.example/log", "council-4", "council-5"), actor="clerk"
        )
        deployment.log.checkpoint()
    export = tmp_path / "export"
    assert ombud("log", "export", data_dir, export).returncode == 0
    ok = ombud("roster", "verify", export, "--genesis", tmp_path / "genesis.json")
    assert ok.returncode == 0, ok.stderr
    assert "3 roster(s)" in ok.stdout and "roster version 2" in ok.stdout

    # A request signed for a staging copy (same genesis): `apply` refuses it, writing nothing.
    third = Roster(3, (holder("council-2"), holder("council-4"), *kept), POLICY, second.digest)
    foreign = change(second, third, "staging.example/log", "council-1", "council-4")
    signed_file = tmp_path / "foreign.json"
    signed_file.write_text(
        json.dumps(
            {
                "request": foreign.request.to_json(),
                "approvals": [a.to_json() for a in foreign.approvals],
            }
        )
    )
    with Deployment.open(data_dir, with_key=False) as deployment:
        before = deployment.log.size
    refused = ombud("roster", "apply", "--data-dir", data_dir, signed_file)
    assert refused.returncode == 2, refused.stdout
    assert "signed for deployment 'staging.example/log'" in refused.stderr
    assert "not this one ('prod.example/log')" in refused.stderr
    with Deployment.open(data_dir, with_key=False) as deployment:
        assert deployment.log.size == before
        assert deployment.roster.current().roster == second
        # Written into the log behind the roster's back, it breaks the chain at its entry.
        body = {"v": 1, "version": 3, "digest": third.digest, "recovered": False,
                "succession": foreign.to_json()}  # fmt: skip
        event = Event("roster.changed", deployment.clock(), "operator", body)
        index = deployment.log.append_batch([event.to_bytes()])
    with Deployment.open(data_dir) as deployment:
        deployment.log.checkpoint()
    forged = tmp_path / "forged"
    assert ombud("log", "export", data_dir, forged).returncode == 0
    broken = ombud("roster", "verify", forged, "--genesis", tmp_path / "genesis.json")
    assert broken.returncode == 1, broken.stdout
    assert f"entry {index}" in broken.stderr and "signed for deployment" in broken.stderr
