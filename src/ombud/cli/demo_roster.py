"""The demo's roster and access acts: Port Ombud's authority roster — five councillors, two
data-access officers, the ombudsman and a court — recorded as the genesis, then a council
hand-over after an election, signed by three of the five outgoing councillors; the operator
trying to double the privacy budget alone (refused, and recorded); then a police request for a
resident's data, approved by the two officers and read with the detective's signature, and a
sealed request.

Threat model: a demo. The holders' keys are made here and kept, mode 0600, in
``DIR/roster-keys/`` so the demo can sign for them; in a city each holder makes and keeps their
own (``ombud roster keygen``). The genesis file is left at ``DIR/roster-genesis.json`` for
``ombud roster verify``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from ombud.access.book import APPROVE
from ombud.access.reads import SignedRead, sign_read
from ombud.access.requests import AccessRequest, Requester
from ombud.deployment import Deployment
from ombud.errors import ReservedActionError, ScopeError
from ombud.governance.roster import (
    CHANGE_ROSTER,
    RECOVER_ROSTER,
    ActionRequest,
    Holder,
    Roster,
    Rule,
    Succession,
    public_key,
    sign_request,
)

__all__ = ["GENESIS_FILE", "access_act", "roster_act"]

GENESIS_FILE = "roster-genesis.json"
POLICY = {
    "access.approve": Rule(2, ("officer",)),
    "witness.change": Rule(3, ("council",)),
    "retention.change": Rule(3, ("council",)),
    "budget.change": Rule(3, ("council",)),
    "cover.change": Rule(3, ("council",)),
    "logkey.rotate": Rule(3, ("council",)),
    "tender.publish": Rule(3, ("council",)),
    "motion.table": Rule(3, ("council",)),
    CHANGE_ROSTER: Rule(3, ("council",), not_requester=False),
    RECOVER_ROSTER: Rule(2, ("ombudsman", "court"), not_requester=False),
}
PEOPLE = (
    ("council-ana", "Ana Costa", "council"),
    ("council-ben", "Ben Okafor", "council"),
    ("council-chen", "Chen Wei", "council"),
    ("council-dora", "Dora Lind", "council"),
    ("council-emil", "Emil Haas", "council"),
    ("officer-fay", "Fay Moreau", "officer"),
    ("officer-gus", "Gus Rinaldi", "officer"),
    ("ombudsman", "Office of the Ombudsman", "ombudsman"),
    ("court", "Port Ombud District Court", "court"),
    ("public-works", "Department of Public Works", "office"),
)
ELECTED = (("council-hana", "Hana Sato", "council"), ("council-ivo", "Ivo Petrov", "council"))
LEAVING = ("council-dora", "council-emil")


def _key(keys_dir: Path, holder_id: str) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    path = keys_dir / f"{holder_id}.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    return key


def roster_act(
    deployment: Deployment, data_dir: Path
) -> tuple[Roster, Roster, dict[str, Ed25519PrivateKey]]:
    """Record the genesis roster and one hand-over; returns both rosters and every holder's
    key (for the access and business acts)."""
    keys_dir = data_dir / "roster-keys"
    keys_dir.mkdir(mode=0o700, exist_ok=True)
    keys = {pid: _key(keys_dir, pid) for pid, _, _ in (*PEOPLE, *ELECTED)}

    def holder(pid: str, name: str, role: str) -> Holder:
        return Holder(pid, name, role, public_key(keys[pid]))

    genesis = Roster(0, tuple(holder(*p) for p in PEOPLE), POLICY)
    (data_dir / GENESIS_FILE).write_text(json.dumps(genesis.to_json(), indent=2) + "\n")
    deployment.establish_roster(genesis, actor="city-clerk")
    staying = tuple(holder(*p) for p in PEOPLE if p[0] not in LEAVING)
    elected = Roster(1, (*staying, *(holder(*p) for p in ELECTED)), POLICY, genesis.digest)
    request = ActionRequest(
        CHANGE_ROSTER,
        {"roster": elected.to_json(), "why": "the council elected on 2026-11-08 takes office"},
        genesis.version,
        genesis.digest,
        "council-ana",
        secrets.token_hex(16),
        deployment.clock() + timedelta(days=3),
        deployment.log.origin,
    )
    signers = ("council-ana", "council-ben", "council-dora")  # three of the outgoing five
    approvals = tuple(sign_request(request, pid, keys[pid]) for pid in signers)
    deployment.roster.change(Succession(request, approvals, deployment.clock()), actor="city-clerk")
    # The operator tries to double the privacy budget on their own: refused, and recorded.
    budget = deployment.settings.privacy
    alone = ActionRequest(
        "budget.change",
        {
            "privacy.dp_rho_per_period": budget.dp_rho_per_period * 2,
            "privacy.dp_rho_per_release": budget.dp_rho_per_release,
        },
        elected.version,
        elected.digest,
        "city-operator",
        secrets.token_hex(16),
        deployment.clock() + timedelta(days=1),
        deployment.log.origin,
    )
    with contextlib.suppress(ReservedActionError):
        deployment.submit(alone, [], actor="city-operator")
    return genesis, elected, keys


def access_act(deployment: Deployment, subject: str, keys: dict[str, Ed25519PrivateKey]) -> None:
    """The police ask for a resident's contact details under a warrant; two officers approve;
    the police read them, each read signed by the detective's key, and a read beyond the
    request is refused. The tax office files a sealed request about the same resident. The
    resident sees both on the portal."""
    now = deployment.clock()
    roster = deployment.roster.current().roster
    detective = Ed25519PrivateKey.generate()  # in a city: `ombud access keygen`, kept by them
    police = AccessRequest(
        secrets.token_hex(16),
        Requester("port-ombud-police", "det-ines-park", public_key(detective).hex()),
        (subject,),
        ("contact",),
        "a burglary investigation on the harbour front",
        "warrant PO-2026-4411 (District Court)",
        now - timedelta(days=30),
        now + timedelta(days=30),
        now + timedelta(days=35),
    )
    deployment.access.request(police, actor="police-liaison")
    approval = ActionRequest(
        APPROVE,
        deployment.access.approval_params(police.id),
        roster.version,
        roster.digest,
        police.requester.person,
        secrets.token_hex(16),
        now + timedelta(days=2),
        deployment.log.origin,
    )
    officers = [pid for pid, _, role in PEOPLE if role == "officer"]
    signed = [sign_request(approval, pid, keys[pid]) for pid in officers]
    deployment.access.approve(police.id, approval, signed, actor="access-office")
    (commitment,) = deployment.access.get(police.id).request.commitments

    def asked(category: str) -> SignedRead:  # `ombud access sign-read`, on the police's side
        return sign_read(
            police.id, commitment, category, detective, origin=deployment.log.origin,
            at=deployment.clock(), nonce=secrets.token_hex(16),
        )  # fmt: skip

    deployment.access.read(
        police.id, subject, "contact", signed=asked("contact"), actor="police-liaison"
    )
    with contextlib.suppress(ScopeError):  # beyond the request: refused, and on the ledger
        deployment.access.read(
            police.id, subject, "location", signed=asked("location"), actor="police-liaison"
        )
    tax = AccessRequest(
        secrets.token_hex(16),
        Requester("port-ombud-tax-office", "insp-omar-diallo", secrets.token_hex(32)),
        (subject,),
        ("contact",),
        "an audit of short-term rentals",
        "tax audit order TA-2026-118",
        now - timedelta(days=365),
        now,
        now + timedelta(days=90),
        sealed_until=now + timedelta(days=60),
    )
    deployment.access.request(tax, actor="tax-liaison")
