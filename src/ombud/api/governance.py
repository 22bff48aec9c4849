"""``/roster``: the authority roster in force and its chain, privileged actions proposed, each
holder's signature submitted, and the action carried out once the roster's policy is met.

Threat model: the operator's token (scope ``roster:act``) can propose, pass on signatures and
ask for an action to be carried out, but the signatures are the holders', made offline
(``ombud roster sign``) over the request's canonical bytes: without them the token achieves
nothing but a recorded refusal (``action.refused``, reason ``operator-only``). Every step and
every refusal is a ledger event. Reading the roster, its chain and the actions is public,
because who holds power must be: ``GET /roster/chain`` lists what the log claims, and anyone
verifies it offline from the log's tiles (``ombud roster verify``), trusting no server.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from ombud.api.auth import require_scope
from ombud.api.bodies import StrictRoute
from ombud.api.openapi import problems
from ombud.deployment import Deployment
from ombud.governance.roster import ActionRequest, Approval, check_id
from ombud.tokens import TokenInfo

__all__ = ["create_router"]

RosterAct = Annotated[TokenInfo, require_scope("roster:act")]
Digest = Annotated[
    str, Path(pattern="^[0-9a-f]{64}$", description="The request's SHA-256, in hex.")
]


class Draft(BaseModel):
    """A privileged action to propose; the server binds it to the roster in force, with a
    fresh nonce and its expiry, and records it."""

    model_config = ConfigDict(extra="forbid")

    action: str = Field(max_length=65, description="The action class, e.g. budget.change.")
    params: dict[str, Any] = Field(description="The action's parameters.")
    requester: str = Field(max_length=64, description="Who asks (a holder or a person's id).")
    hours: int = Field(default=72, ge=1, le=24 * 90, description="Hours signatures stay good.")


class Signature(BaseModel):
    """One holder's Ed25519 signature over the request's signed message (base64url)."""

    model_config = ConfigDict(extra="forbid")

    holder: str = Field(max_length=64)
    signature: str = Field(max_length=100)


def _actor(token: TokenInfo) -> str:
    return f"token:{token.id}"


def create_router(deployment: Deployment) -> APIRouter:
    router = APIRouter(prefix="/roster", tags=["roster"], route_class=StrictRoute)

    @router.get("", responses=problems(404), summary="The roster in force: holders and policy.")
    def show() -> dict[str, Any]:
        record = deployment.roster.current()
        return {
            "version": record.roster.version,
            "digest": record.roster.digest,
            "recovered": record.recovered,
            "ledgerIndex": record.ledger_index,
            "roster": record.roster.to_json(),
        }

    @router.get(
        "/chain",
        summary="Every roster from genesis, with the ledger entry that put it in force; verify "
        "it offline from the log (`ombud roster verify`).",
    )
    def chain() -> list[dict[str, Any]]:
        return [
            {
                "version": r.roster.version,
                "digest": r.roster.digest,
                "recovered": r.recovered,
                "ledgerIndex": r.ledger_index,
            }
            for r in deployment.roster.history()
        ]

    @router.get("/actions", summary="Privileged requests, newest first (500 at most).")
    def actions(
        status: Annotated[str | None, Query(pattern="^(pending|carried-out)$")] = None,
    ) -> list[dict[str, Any]]:
        return [p.to_json() for p in deployment.actions.all(status)]

    @router.get("/actions/{digest}", responses=problems(404), summary="One privileged request.")
    def action(digest: Digest) -> dict[str, Any]:
        return deployment.actions.get(digest).to_json()

    @router.post(
        "/actions",
        status_code=201,
        responses=problems(401, 403, 404, 409),
        summary="Propose a privileged action (scope roster:act): recorded, for holders to sign.",
    )
    def propose(body: Draft, token: RosterAct) -> dict[str, Any]:
        roster = deployment.roster.current().roster
        request = ActionRequest(
            body.action,
            body.params,
            roster.version,
            roster.digest,
            check_id(body.requester, "the requester"),
            secrets.token_hex(16),
            deployment.clock().replace(microsecond=0) + timedelta(hours=body.hours),
            deployment.log.origin,
        )
        deployment.propose(request, actor=_actor(token))
        return deployment.actions.get(request.digest).to_json()

    @router.post(
        "/actions/{digest}/signatures",
        status_code=201,
        responses=problems(401, 403, 404, 409),
        summary="Submit one holder's signature (scope roster:act); verified and recorded.",
    )
    def sign(digest: Digest, body: Signature, token: RosterAct) -> dict[str, Any]:
        approval = Approval.from_json(body.model_dump())
        deployment.actions.sign(digest, approval, actor=_actor(token))
        return deployment.actions.get(digest).to_json()

    @router.post(
        "/actions/{digest}/carry-out",
        responses=problems(401, 403, 404, 409),
        summary="Carry out a request whose signatures meet the roster's policy (scope "
        "roster:act); refused and recorded otherwise.",
    )
    def carry_out(digest: Digest, token: RosterAct) -> dict[str, Any]:
        index = deployment.carry_out(digest, actor=_actor(token))
        return {**deployment.actions.get(digest).to_json(), "outcomeIndex": index}

    return router
