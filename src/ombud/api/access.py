"""``/access``: third parties' requests for residents' data — recorded, approved through the
roster (``/roster/actions``, action ``access.approve``), denied, read within their scope, sealed
and disclosed; the ombudsman's report; and ``/me/access``, who asked for a resident's data.

Threat model: recording a request needs scope ``access:request``, denying one or disclosing
due seals ``access:decide``, and reading ``access:read`` — which yields only what an approved,
unexpired request names, with its requester's signed statement of that read (a token alone
reads nothing), and is an ``access.read`` event allowed or refused. No token approves:
approval needs two officers' signatures. What the ledger shows is public here too (requests as
their public record, sealed ones as sealed, the report); a resident reaches only the requests
that named them, with their own access key, and personal answers are ``no-store``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path
from pydantic import BaseModel, ConfigDict, Field

from ombud.access.book import AccessBook, Stored
from ombud.access.reads import SignedRead
from ombud.access.requests import AccessRequest
from ombud.api.auth import require_scope
from ombud.api.bodies import StrictRoute
from ombud.api.headers import NO_STORE
from ombud.api.openapi import problems
from ombud.api.privacy import resident_key
from ombud.privacy.office import PrivacyOffice
from ombud.tokens import TokenInfo

__all__ = ["create_router"]

Authorization = Annotated[str | None, Header(description="Bearer ombud_resident_…")]
AccessRequestScope = Annotated[TokenInfo, require_scope("access:request")]
AccessDecide = Annotated[TokenInfo, require_scope("access:decide")]
AccessRead = Annotated[TokenInfo, require_scope("access:read")]
RequestId = Annotated[
    str, Path(pattern="^[a-z0-9][a-z0-9._-]{0,63}$", description="The request's id.")
]


class Denial(BaseModel):
    model_config = ConfigDict(extra="forbid")

    officer: str = Field(max_length=64, description="The deciding officer's holder id.")
    reason: str = Field(min_length=1, max_length=500, description="Why, for the record.")


class Read(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(max_length=200, description="A subject pseudonym the request names.")
    category: str = Field(
        pattern="^[a-z0-9][a-z0-9._-]{0,63}$", description="A data category the request names."
    )
    signed: dict[str, Any] | None = Field(
        default=None,
        description="The requester's signed statement of this read (`ombud access sign-read`): "
        "{v, origin, request, subject (the request's commitment), category, nonce, at, "
        "signature}, signed with the key the request records, at most 10 minutes from the "
        "server's clock, used once. Without it the read is refused (and recorded).",
    )


def _public(stored: Stored) -> dict[str, Any]:
    """A request as the ledger shows it (the public record, or only the seal), and its state."""
    view = stored.request.public_view(stored.salt)
    return {
        "id": stored.request.id,
        **view,
        "status": stored.status,
        "requestedIndex": stored.requested_index,
        "decidedIndex": stored.decided_index,
        "disclosedIndex": stored.disclosed_index,
    }


def create_router(
    access: Callable[[], AccessBook], office: Callable[[], PrivacyOffice]
) -> APIRouter:
    router = APIRouter(tags=["access"], route_class=StrictRoute)

    @router.post(
        "/access/requests",
        status_code=201,
        responses=problems(401, 403, 409),
        summary="Record a request for residents' data (scope access:request): its public "
        "record goes on the ledger, or only its seal. The answer gives the filer each "
        "subject's commitment (`commitments`, in the request's order), which the requester's "
        "signed reads name.",
    )
    def request(body: dict[str, Any], token: AccessRequestScope) -> dict[str, Any]:
        made = AccessRequest.from_json(body)
        access().request(made, actor=f"token:{token.id}")
        stored = access().get(made.id)
        # for whoever filed it, sealed or not: each subject's commitment, in the request's
        # order, which the requester's signed reads name
        return {**_public(stored), "commitments": list(stored.request.commitments)}

    @router.get("/access/requests", summary="Every request, as the public may see it.")
    def requests() -> list[dict[str, Any]]:
        return [_public(s) for s in access().all()]

    @router.get("/access/requests/{request_id}", responses=problems(404), summary="One request.")
    def one(request_id: RequestId) -> dict[str, Any]:
        return _public(access().get(request_id))

    @router.post(
        "/access/requests/{request_id}/denial",
        responses=problems(401, 403, 404, 409),
        summary="An officer of the roster refuses a pending request (scope access:decide).",
    )
    def deny(request_id: RequestId, body: Denial, token: AccessDecide) -> dict[str, Any]:
        index = access().deny(request_id, body.officer, body.reason, actor=f"token:{token.id}")
        return {**_public(access().get(request_id)), "deniedIndex": index}

    @router.post(
        "/access/requests/{request_id}/reads",
        dependencies=[NO_STORE],
        responses=problems(400, 401, 403, 404, 409, 422),
        summary="Read, for the approved requester and with their signed statement of this "
        "read, one subject's data of one category the request names (scope access:read); "
        "allowed or refused, the read is on the ledger (403: not approved, out of scope, "
        "expired, unsigned, stale, or signed for another deployment, which alone is not "
        "recorded; 422: not the requester's signature of this read; 409: its nonce was used).",
    )
    def read(request_id: RequestId, body: Read, token: AccessRead) -> dict[str, Any]:
        signed = None if body.signed is None else SignedRead.from_json(body.signed)
        items = access().read(
            request_id, body.subject, body.category, signed=signed, actor=f"token:{token.id}"
        )
        return {"items": [base64.b64encode(i).decode() for i in items]}

    @router.post(
        "/access/unseal",
        responses=problems(401, 403),
        summary="Disclose every sealed request whose time has come (scope access:decide; "
        "`ombud serve` does it every minute).",
    )
    def unseal(token: AccessDecide) -> dict[str, int]:
        return {"disclosed": access().disclose_due()}

    @router.get(
        "/access/report",
        summary="For the ombudsman, and anyone: requests per requester and legal basis, "
        "decisions, refused reads, overdue seals, reads per request.",
    )
    def report() -> dict[str, Any]:
        return access().report()

    @router.get(
        "/me/access",
        dependencies=[NO_STORE],
        responses=problems(401, 503),
        summary="Who asked for your data, on what basis, what was read and when; your "
        "commitment in each request with its salt, to check the ledger's entries about you.",
    )
    def my_access(authorization: Authorization = None) -> list[dict[str, Any]]:
        ref = office().vault.ref_for_access(resident_key(authorization))
        return access().of_subject(ref)

    return router
