"""``audit_witnesses``: the witness policies a log's roster authorised — the one recorded with
the genesis roster, and each ``witness.change`` its quorum signed — told apart from a
``settings.changed`` the operator wrote with the log's key alone: with no request, naming a
request the quorum did not sign, replaying one carried out already, or recording other keys
than its request sets."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest

from ombud.deployment import Deployment
from ombud.errors import RosterChainError
from ombud.events import Event
from ombud.governance.roster import ActionRequest, Roster
from ombud.governance.witness_audit import GovernedWitnesses, audit_witnesses
from ombud.ledger import note
from tests.governance.test_procurement import City, city  # noqa: F401 (the fixture)
from tests.governance.test_roster import GENESIS, signed
from tests.governance.test_tenders import ORIGIN


def witness_change(deployment: Deployment, *witnesses: note.Signer) -> ActionRequest:
    """A ``witness.change`` to ``witnesses`` (quorum: all of them) for this deployment."""
    listed = [{"vkey": w.verifier().vkey, "url": f"http://{w.name}"} for w in witnesses]
    return ActionRequest(
        "witness.change",
        {"witnesses": {"quorum": len(listed), "witness": listed}},
        GENESIS.version,
        GENESIS.digest,
        "officer-a",
        secrets.token_hex(16),
        deployment.clock() + timedelta(days=1),
        deployment.log.origin,
    )


def forge(deployment: Deployment, digest: str | None, *witnesses: note.Signer) -> int:
    """A ``settings.changed`` the operator appends with the log's key alone."""
    keys = sorted(w.verifier().vkey for w in witnesses)
    body: dict[str, Any] = {
        "v": 1,
        "request": digest,
        "settings": {"witnesses": {"quorum": len(keys), "keys": keys}},
    }
    event = Event("settings.changed", deployment.clock(), "ombud", body)
    return deployment.log.append_batch([event.to_bytes()])


def cosigner(name: str) -> note.Signer:
    return note.Signer.generate(name, sig_type=note.ALG_COSIGNATURE_V1)


def entries(deployment: Deployment) -> list[tuple[int, bytes]]:
    return list(enumerate(deployment.log.entries(0, deployment.log.size)))


@pytest.mark.parametrize("city", ["sqlite"], indirect=True)
def test_only_the_policies_the_roster_authorised_are_trusted(city: City) -> None:  # noqa: F811
    deployment = city.deployment
    genesis_keys = tuple(sorted(w.verifier().vkey for w in city.witnesses))
    assert audit_witnesses(entries(deployment), GENESIS, origin=ORIGIN).authorised == (
        GovernedWitnesses(1, genesis_keys, 2),  # recorded with the genesis roster (entry 0)
    )
    attacker = cosigner("attacker.example")
    alone = forge(deployment, None, attacker)  # no request: the operator alone
    w3 = cosigner("w3.example")
    change = witness_change(deployment, w3)
    carried = deployment.submit(
        change, signed(change, "council-1", "council-2", "council-3"), actor="x"
    )
    replayed = forge(deployment, change.digest, attacker)  # carried out already, other keys
    weak = witness_change(deployment, attacker)  # one councillor's signature of three
    deployment.propose(weak, actor="x")
    deployment.actions.sign(weak.digest, signed(weak, "council-1")[0], actor="x")
    below = forge(deployment, weak.digest, attacker)
    other = witness_change(deployment, cosigner("w4.example"))  # signed, never carried out,
    approvals = signed(other, "council-1", "council-2", "council-3")  # and another policy
    deployment.propose(other, actor="x")
    for approval in approvals:
        deployment.actions.sign(other.digest, approval, actor="x")
    moved = forge(deployment, other.digest, attacker)
    unknown = forge(deployment, "ab" * 32, attacker)  # no such request
    audit = audit_witnesses(entries(deployment), GENESIS, origin=ORIGIN)
    assert audit.authorised == (
        GovernedWitnesses(1, genesis_keys, 2),
        GovernedWitnesses(carried, (w3.verifier().vkey,), 1),
    )
    why = dict(audit.refused)
    assert sorted(why) == [alone, replayed, below, moved, unknown]
    assert "names no request" in why[alone]
    assert "already carried out" in why[replayed]
    assert "needs 3 distinct signatures" in why[below]
    assert "another witness policy than its request sets" in why[moved]
    assert "no witness.change request" in why[unknown]
    # Signed for this log only, and from the genesis the verifier holds (given none: the
    # log's own).
    elsewhere = audit_witnesses(entries(deployment), GENESIS, origin="staging.example/log")
    assert [p.index for p in elsewhere.authorised] == [1]
    assert "signed for deployment" in dict(elsewhere.refused)[carried]
    impostor = Roster(0, GENESIS.holders[1:], GENESIS.policy)
    with pytest.raises(RosterChainError, match="not the genesis given"):
        audit_witnesses(entries(deployment), impostor, origin=ORIGIN)
    assert audit_witnesses(entries(deployment), None, origin=ORIGIN) == audit


@pytest.mark.parametrize("city", ["sqlite"], indirect=True)
def test_an_action_signed_that_names_no_digest_is_skipped(city: City) -> None:  # noqa: F811
    """Hostile JSON: an ``action.signed`` whose digest is a list or an object (not hashable)
    is not a signature of any request; it once stopped ``tender verify`` with a TypeError."""
    deployment = city.deployment
    before = audit_witnesses(entries(deployment), GENESIS, origin=ORIGIN)
    for digest in ([], {"a": 1}):
        body = {"v": 1, "digest": digest, "holder": "council-1", "signature": "AA"}
        deployment.log.append_batch(
            [Event("action.signed", deployment.clock(), "x", body).to_bytes()]
        )
    assert audit_witnesses(entries(deployment), GENESIS, origin=ORIGIN) == before
