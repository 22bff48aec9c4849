"""The demo's public-business act: a tender for street lighting with three bidders — one honest
winner, one whose reveal does not open its sealed bid, one that tries to bid after the
deadline while the server's (simulated) clock still says it is weeks early — closed by the
witnesses' time (the deadline is four seconds after publication, on the real clock); a
council motion with signed votes; and the result it promised, tracked by the office that
answers for it.

Threat model: a demo. The bidders' keys are made here and dropped; the holders' keys are the
roster act's (``DIR/roster-keys/``). The simulated clock runs weeks behind the witnesses' real
clocks, which is exactly what a backdating operator would try: the tender closes at the first
checkpoint the witnesses cosigned past the deadline, and the late bid is refused, on the
ledger.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ombud.canonical import canonical_json
from ombud.clock import utc_now
from ombud.deployment import Deployment
from ombud.errors import ExpiredError
from ombud.governance.decisions import Motion, sign_vote
from ombud.governance.results import Milestone, Result, sign_update
from ombud.governance.roster import ActionRequest, Roster, sign_request
from ombud.governance.tenders import (
    Criterion,
    Lot,
    Tender,
    TenderDocument,
    commit_to,
    sign_commitment,
    sign_reveal,
)

__all__ = ["OCID", "business_act"]

OCID = "ocds-0mbud0-2026-lighting"
MOTION_ID = "m-2026-harbour-nights"
RESULT_ID = "r-harbour-nights"
DEADLINE_S = 4
"""Seconds from the tender's publication to its deadline (witness time)."""
BIDDERS = (  # id, name, price, what happens to its bid
    ("lumen-co", "Lumen & Co", 198_400.0, "honest"),
    ("bright-ltd", "Bright Ltd", 151_000.0, "mismatch"),
    ("late-llc", "Late LLC", 120_000.0, "late"),
)


@dataclass(frozen=True)
class Business:
    winner: str | None
    outcome: str
    refused_late: bool


def _privileged(
    deployment: Deployment,
    roster: Roster,
    keys: dict[str, Ed25519PrivateKey],
    action: str,
    params: dict[str, object],
    signers: tuple[str, ...],
) -> None:
    request = ActionRequest(
        action,
        params,
        roster.version,
        roster.digest,
        "public-works",
        secrets.token_hex(16),
        deployment.clock() + timedelta(days=2),
        deployment.log.origin,
    )
    approvals = [sign_request(request, pid, keys[pid]) for pid in signers]
    deployment.submit(request, approvals, actor="city-clerk")


class SettableClock(Protocol):
    now: datetime

    def __call__(self) -> datetime: ...


def business_act(
    deployment: Deployment,
    keys: dict[str, Ed25519PrivateKey],
    publish: Callable[[Deployment], None],
    clock: SettableClock,
) -> Business:
    """Run the act on the roster in force (the council after the hand-over); ``clock`` is
    the deployment's simulated clock."""
    roster = deployment.roster.current().roster
    council = tuple(h.id for h in roster.holders if h.role == "council")[:3]
    # The deadline is the witnesses' time: a few seconds from now on the real clock, while
    # the city's simulated clock is weeks behind.
    now = clock()
    deadline = utc_now().replace(microsecond=0) + timedelta(seconds=DEADLINE_S)
    spec = b"Port Ombud harbour-front lighting: 120 LED luminaires, 5 years of maintenance."
    tender = Tender(
        OCID,
        "Street lighting on the harbour front",
        "Replace 120 sodium lamps on the harbour front with LED luminaires, with five years of "
        "maintenance.",
        "Port Ombud, Department of Public Works",
        250_000.0,
        "EUR",
        (Lot("lot-1", "Luminaires, installation and maintenance"),),
        (TenderDocument("spec", "Technical specification", hashlib.sha256(spec).hexdigest()),),
        (Criterion("price", 1.0, "lower"),),
        deadline,
        deadline + timedelta(days=4),
    )
    _privileged(deployment, roster, keys, "tender.publish", {"tender": tender.to_json()}, council)
    book = deployment.tenders
    origin = deployment.log.origin  # the deployment each bid and reveal is signed for
    bidders = {b: Ed25519PrivateKey.generate() for b, _, _, _ in BIDDERS}
    sealed: dict[str, tuple[bytes, bytes]] = {}
    for bidder, name, price, fate in BIDDERS:
        document = canonical_json(
            {
                "v": 1,
                "ocid": OCID,
                "bidder": bidder,
                "value": {"amount": price, "currency": "EUR"},
                "attributes": {},
            }
        )
        salt = secrets.token_bytes(32)
        sealed[bidder] = (document, salt)
        if fate == "late":
            continue
        made = sign_commitment(
            OCID, bidder, name, bidders[bidder], commit_to(document, salt), origin=origin
        )
        book.commit(made, actor=f"bidder:{bidder}")
    # The witnesses cosign a checkpoint covering the bids before the deadline (they are in
    # time), then the next one at their own time past it: the tender closes there, though the
    # server's simulated clock is weeks early.
    publish(deployment)
    book.observe(OCID)
    time.sleep(max(0.0, (deadline - utc_now()).total_seconds()) + 1.0)
    clock.now = deadline  # the city's clock reaches the deadline: it marks it on the log ...
    book.close(OCID, actor="ombud")
    clock.now = now  # ... and is set back, as a backdating operator would
    publish(deployment)
    late, _, _, _ = BIDDERS[2]
    document, salt = sealed[late]
    refused = False
    try:
        book.commit(
            sign_commitment(
                OCID, late, BIDDERS[2][1], bidders[late], commit_to(document, salt), origin=origin
            ),
            actor=f"bidder:{late}",
        )
    except ExpiredError:
        refused = True  # on the ledger as bid.refused, reason late
    for bidder, _, price, fate in BIDDERS[:2]:
        document, salt = sealed[bidder]
        if fate == "mismatch":  # it reveals a cheaper price than it sealed
            document = document.replace(str(int(price)).encode(), b"99000")
        book.reveal(
            sign_reveal(OCID, bidder, bidders[bidder], document, salt, origin=origin),
            actor=f"bidder:{bidder}",
        )
    book.award(OCID, actor="ombud")
    evaluation = book.get(OCID).evaluation
    # A council motion, signed votes, the decision.
    motion = Motion(
        MOTION_ID,
        "Quiet nights on the harbour front",
        "Construction on the harbour front is limited to 07:00-19:00 from January, and the "
        "city reports night-time noise (L_night) there every quarter.",
        "council",
        3,
        "simple",
        clock() + timedelta(days=1),
        "north",
    )
    _privileged(deployment, roster, keys, "motion.table", {"motion": motion.to_json()}, council)
    members = [h.id for h in roster.holders if h.role == "council"]
    for member, choice in zip(members, ("yes", "yes", "no", "yes", "abstain"), strict=False):
        ballot = sign_vote(motion, member, choice, keys[member], origin=deployment.log.origin)
        deployment.decisions.cast(ballot, actor="clerk")
    clock.now = motion.closes
    deployment.decisions.decide(MOTION_ID, actor="ombud")
    decided = deployment.decisions.get(MOTION_ID)
    # The result it promised, tracked by the office that answers for it.
    result = Result(
        RESULT_ID,
        None,
        "Quieter nights on the harbour front",
        "Construction limited to daytime; night-time noise measured and reported quarterly.",
        motion.closes.date(),
        (motion.closes + timedelta(days=180)).date(),
        "public-works",
        MOTION_ID,
        None,
        (Milestone("Limits in force", (motion.closes + timedelta(days=30)).date()),),
        "north",
    )
    office = keys["public-works"]
    here = deployment.log.origin
    deployment.results.record(
        sign_update(RESULT_ID, 0, "planned", 0, "", "public-works", office, result, origin=here),
        actor="clerk",
    )
    deployment.results.record(
        sign_update(
            RESULT_ID,
            1,
            "in-progress",
            35,
            "limits signed into the permits",
            "public-works",
            office,
            origin=here,
        ),
        actor="clerk",
    )
    publish(deployment)
    return Business(
        evaluation.winner if evaluation else None,
        decided.tally.outcome if decided.tally else "undecided",
        refused,
    )
