"""``/tenders`` and ``/ocds``: tenders with sealed bids, and their OCDS releases and records.

Threat model: bidders are outside parties with their own Ed25519 keys, so committing and
revealing take no token: a commitment counts only when its bidder's key signed it for this
deployment (its log's origin), a reveal only once the tender closed, only for a bidder who
committed and only signed for this deployment; the rest is refused (late, twice, no
commitment: recorded as ``bid.refused`` when the commitment is signed; another deployment's,
or one of version 1, which names none: 403, with nothing written). Everything
else is public, because it is on the public ledger anyway: the tender, the commitments, the
closing checkpoint, the reveals after the deadline and the evaluation. A bidder gets back its
entry's tlog-proof once a witnessed checkpoint covers it — the proof that the bid existed
before the deadline.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from ombud.api.bodies import StrictRoute
from ombud.api.openapi import problems
from ombud.clock import format_time
from ombud.deployment import Deployment
from ombud.governance.ocds import published_package
from ombud.governance.procurement import TenderRecord
from ombud.governance.tenders import Commitment, Reveal

__all__ = ["create_router"]

OcidPath = Annotated[
    str,
    Path(pattern="^ocds-[a-z0-9]{6}-[A-Za-z0-9._-]{1,64}$", description="An Open Contracting ID."),
]
BidderPath = Annotated[str, Path(pattern="^[a-z0-9][a-z0-9._-]{0,63}$", description="A bidder id.")]


_V = Field(None, description="2: the bid names the deployment it is for (`origin`).")
_ORIGIN = Field(
    None, max_length=300, description="The deployment the bid is for: its log's origin."
)


class CommitmentBody(BaseModel):
    """A sealed bid: SHA-256(bid document ‖ salt), signed with the bidder's Ed25519 key for
    this deployment (version 2: ``v`` 2 and its log's ``origin``)."""

    model_config = ConfigDict(extra="forbid")

    v: Literal[2] | None = _V
    origin: str | None = _ORIGIN
    bidder: str = Field(max_length=64)
    name: str = Field(max_length=200)
    key: str = Field(max_length=60, description="The bidder's Ed25519 public key, base64url.")
    commitment: str = Field(max_length=64)
    signature: str = Field(max_length=100)


class RevealBody(BaseModel):
    """A bid's document and salt, signed with the committed key for this deployment."""

    model_config = ConfigDict(extra="forbid")

    v: Literal[2] | None = _V
    origin: str | None = _ORIGIN
    bidder: str = Field(max_length=64)
    document: str = Field(max_length=22_000, description="The bid document, base64url.")
    salt: str = Field(max_length=50, description="The 32-byte salt, base64url.")
    signature: str = Field(max_length=100, description="The committed key's signature.")


def _summary(record: TenderRecord) -> dict[str, Any]:
    return {
        "ocid": record.tender.ocid,
        "title": record.tender.title,
        "stage": record.stage,
        "deadline": format_time(record.tender.deadline),
        "revealBy": format_time(record.tender.reveal_by),
        "publishedIndex": record.published_index,
        "closedIndex": record.closed_index,
        "cut": record.cut,
        "awardedIndex": record.awarded_index,
        "winner": record.evaluation.winner if record.evaluation else None,
    }


def create_router(deployment: Deployment) -> APIRouter:
    router = APIRouter(tags=["tenders"], route_class=StrictRoute)
    origin = deployment.log.origin

    @router.get("/tenders", summary="Every tender, its stage and its winner (public).")
    def tenders() -> list[dict[str, Any]]:
        return [_summary(r) for r in deployment.tenders.all()]

    @router.get("/tenders/{ocid}", responses=problems(404), summary="One tender, with its bids.")
    def tender(ocid: OcidPath) -> dict[str, Any]:
        record = deployment.tenders.get(ocid)
        return {
            **_summary(record),
            "tender": record.tender.to_json(),
            "bids": [
                {
                    "commitment": b.commitment.to_json(),
                    "committedIndex": b.committed_index,
                    "revealedIndex": b.revealed_index,
                }
                for b in deployment.tenders.bids(ocid)
            ],
            "evaluation": record.evaluation.to_json() if record.evaluation else None,
        }

    @router.post(
        "/tenders/{ocid}/commitments",
        status_code=201,
        responses=problems(403, 404, 409, 422),
        summary="Commit a sealed bid before the deadline (signed by the bidder's key for this "
        "deployment).",
    )
    def commit(ocid: OcidPath, body: CommitmentBody) -> dict[str, Any]:
        made = Commitment.from_json({"ocid": ocid, **body.model_dump(exclude_none=True)})
        index = deployment.tenders.commit(made, actor=f"bidder:{made.bidder}")
        return {"ocid": ocid, "bidder": made.bidder, "ledgerIndex": index}

    @router.get(
        "/tenders/{ocid}/bids/{bidder}",
        responses=problems(404),
        summary="A bid's commitment and its tlog-proof once a witnessed checkpoint covers it.",
    )
    def receipt(ocid: OcidPath, bidder: BidderPath) -> dict[str, Any]:
        found = deployment.tenders.bid(ocid, bidder)
        bundle = deployment.log.prove(found.committed_index, with_entry=True)
        return {
            "commitment": found.commitment.to_json(),
            "ledgerIndex": found.committed_index,
            "tlogProof": None if bundle is None else base64.b64encode(bundle.to_bytes()).decode(),
        }

    @router.post(
        "/tenders/{ocid}/reveals",
        status_code=201,
        responses=problems(403, 404, 409, 422),
        summary="Reveal a bid's document and salt, after the tender closed.",
    )
    def reveal(ocid: OcidPath, body: RevealBody) -> dict[str, Any]:
        made = Reveal.from_json({"ocid": ocid, **body.model_dump(exclude_none=True)})
        index = deployment.tenders.reveal(made, actor=f"bidder:{made.bidder}")
        return {"ocid": ocid, "bidder": made.bidder, "ledgerIndex": index}

    def package(ocid: str, *, record: bool) -> dict[str, Any]:
        releases = deployment.tenders.releases(ocid)
        return published_package(
            releases, origin=origin, published=deployment.clock(), record=record
        )

    @router.get(
        "/ocds/releases/{ocid}",
        responses=problems(404),
        summary="The tender's OCDS 1.1 release package, with the bids extension.",
    )
    def releases(ocid: OcidPath) -> dict[str, Any]:
        return package(ocid, record=False)

    @router.get(
        "/ocds/records/{ocid}",
        responses=problems(404),
        summary="The tender's OCDS record package: its releases and the compiled release.",
    )
    def records(ocid: OcidPath) -> dict[str, Any]:
        return package(ocid, record=True)

    return router
