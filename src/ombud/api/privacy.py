"""Privacy routes: consents (for the city's consent service), residents' own data (``/me``),
and differentially private releases with the privacy budget they spent.

Threat model: a resident reaches only their own data, with the access key issued when their
first consent was recorded (``Authorization: Bearer ombud_resident_…``, stored hashed); a
wrong key and an erased subject look alike. Recording consents needs scope
``privacy:consent``, running a release ``privacy:release``; releases and the budget are
public, because anyone must be able to audit the total privacy loss. Responses never echo a
subject id the caller did not send, and nothing here is logged with personal data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel, ConfigDict, Field

from ombud.api.auth import require_scope
from ombud.api.bodies import StrictRoute
from ombud.api.headers import NO_STORE
from ombud.api.openapi import problems
from ombud.api.params import HexId, Rfc3339
from ombud.errors import MalformedError, UnauthorizedError
from ombud.privacy.consent import ConsentRecord, Grant
from ombud.privacy.office import PrivacyOffice
from ombud.tokens import TokenInfo

__all__ = ["create_router", "resident_key"]

Authorization = Annotated[str | None, Header(description="Bearer token")]


def resident_key(authorization: str | None) -> str:
    """The resident access key of an ``Authorization: Bearer ombud_resident_…`` header."""
    scheme, _, key = (authorization or "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key.startswith("ombud_resident_"):
        raise UnauthorizedError(
            "this route needs your resident access key: Authorization: Bearer ombud_resident_…"
        )
    return key


def _record(record: ConsentRecord) -> dict[str, Any]:
    return {**record.to_json(), "ledgerIndex": record.ledger_index}


class ConsentBody(BaseModel):
    """ISO/IEC TS 27560 consent record fields."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(max_length=200, description="The city's pseudonym for the resident.")
    purposes: list[str] = Field(max_length=32)
    dataCategories: list[str] = Field(max_length=32)
    controller: str = Field(max_length=200)
    legalBasis: str = Field(default="consent", max_length=32)
    storageLocation: str = Field(
        default="ombud vault (AES-256-GCM, per-subject key)", max_length=200
    )
    retentionDays: int = Field(default=365, ge=1, le=36500)
    recipients: list[str] = Field(default_factory=list, max_length=32)
    jurisdiction: str = Field(default="EU", max_length=64)
    withdrawalMethod: str = Field(
        default="DELETE /me/consents/{id} with the resident access key", max_length=200
    )
    validDays: int | None = Field(default=None, ge=1, le=36500)
    issueResidentKey: bool = Field(
        default=False, description="Issue the resident's access key (shown once)."
    )

    def grant(self) -> Grant:
        return Grant(
            subject=self.subject,
            purposes=tuple(self.purposes),
            data_categories=tuple(self.dataCategories),
            controller=self.controller,
            legal_basis=self.legalBasis,
            storage_location=self.storageLocation,
            retention_days=self.retentionDays,
            recipients=tuple(self.recipients),
            jurisdiction=self.jurisdiction,
            withdrawal_method=self.withdrawalMethod,
            valid_days=self.validDays,
        )


class ReleaseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(max_length=32)
    period: str = Field(max_length=32)
    since: Rfc3339 | None = None
    until: Rfc3339 | None = None


PrivacyConsent = Annotated[TokenInfo, require_scope("privacy:consent")]
PrivacyRelease = Annotated[TokenInfo, require_scope("privacy:release")]


def create_router(office: Callable[[], PrivacyOffice]) -> APIRouter:
    """``office()`` returns the deployment's privacy office or raises ``MasterKeyError``."""
    router = APIRouter(tags=["privacy"], route_class=StrictRoute)

    def me(authorization: str | None) -> tuple[PrivacyOffice, bytes]:
        """The office and the subject whose resident access key the request carries."""
        the_office = office()
        return the_office, the_office.vault.ref_for_access(resident_key(authorization))

    @router.post(
        "/privacy/consents",
        dependencies=[NO_STORE],
        status_code=201,
        responses=problems(401, 403, 409, 503),
        summary="Record a consent (consent.granted; scope privacy:consent).",
    )
    def grant(body: ConsentBody, token: PrivacyConsent) -> dict[str, Any]:
        record, key = office().consents.grant(
            body.grant(), actor=f"token:{token.id}", access_key=body.issueResidentKey
        )
        out = _record(record)
        if key is not None:
            out["residentKey"] = key
        return out

    @router.put(
        "/privacy/consents/{record_id}",
        dependencies=[NO_STORE],
        responses=problems(401, 403, 404, 409, 503),
        summary="Change a consent's terms: a new version (scope privacy:consent).",
    )
    def change(
        record_id: HexId,
        body: ConsentBody,
        token: PrivacyConsent,
    ) -> dict[str, Any]:
        if body.issueResidentKey:
            raise MalformedError("a resident key is issued with a new consent, not a change")
        record = office().consents.change(record_id, body.grant(), actor=f"token:{token.id}")
        return _record(record)

    @router.post(
        "/privacy/consents/{record_id}/withdraw",
        dependencies=[NO_STORE],
        responses=problems(401, 403, 404, 409, 503),
        summary="Withdraw a consent on the resident's behalf (scope privacy:consent).",
    )
    def withdraw(record_id: HexId, token: PrivacyConsent) -> dict[str, Any]:
        record = office().consents.withdraw(record_id, actor=f"token:{token.id}")
        return _record(record)

    # -- the resident's own data ---------------------------------------------------------------

    @router.get(
        "/me/data",
        dependencies=[NO_STORE],
        responses=problems(401, 503),
        summary="Everything ombud holds about you, with ledger proofs (GDPR Art. 15, 20).",
    )
    def my_data(authorization: Authorization = None) -> dict[str, Any]:
        the_office, ref = me(authorization)
        return the_office.export(ref)

    @router.delete(
        "/me/data",
        dependencies=[NO_STORE],
        responses=problems(401, 503),
        summary="Erase everything ombud holds about you (GDPR Art. 17): crypto-shredding.",
    )
    def erase_me(authorization: Authorization = None) -> dict[str, Any]:
        the_office, ref = me(authorization)
        erasure = the_office.erase(ref, actor="resident", basis="resident-request")
        out: dict[str, Any] = {
            "erased": True,
            "ledgerIndex": erasure.ledger_index,
            "payloadsDestroyed": erasure.payloads,
            "scrubbed": erasure.scrubbed,
        }
        if not erasure.scrubbed:
            out["note"] = (
                "your data is erased (its key destroyed); clearing the deleted rows from the "
                "database files could not finish now and is retried by the next retention pass"
            )
        return out

    @router.get(
        "/me/consents",
        responses=problems(401, 503),
        summary="Your consent records.",
        dependencies=[NO_STORE],
    )
    def my_consents(authorization: Authorization = None) -> list[dict[str, Any]]:
        the_office, ref = me(authorization)
        return [_record(r) for r in the_office.consents.records(ref)]

    @router.delete(
        "/me/consents/{record_id}",
        responses=problems(401, 404, 409, 503),
        summary="Withdraw one of your consents.",
        dependencies=[NO_STORE],
    )
    def withdraw_mine(
        record_id: HexId,
        authorization: Authorization = None,
    ) -> dict[str, Any]:
        the_office, ref = me(authorization)
        record = the_office.consents.withdraw(record_id, actor="resident", subject_ref=ref)
        return _record(record)

    # -- differentially private releases --------------------------------------------------------

    @router.post(
        "/privacy/releases",
        status_code=201,
        responses=problems(401, 403, 503),
        summary="Run a differentially private release (dp.released; scope privacy:release).",
    )
    def release(body: ReleaseBody, token: PrivacyRelease) -> dict[str, Any]:
        made = office().release(
            body.dataset,
            body.period,
            actor=f"token:{token.id}",
            since=body.since,
            until=body.until,
        )
        return made.to_json()

    @router.get(
        "/privacy/releases",
        responses=problems(503),
        summary="Differentially private releases, newest first.",
    )
    def releases(
        dataset: Annotated[str | None, Query(max_length=32)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    ) -> list[dict[str, Any]]:
        return [r.to_json() for r in office().releases.list(dataset, limit)]

    @router.get(
        "/privacy/releases/{release_id}",
        responses=problems(404, 503),
        summary="One release with its cells.",
    )
    def get_release(release_id: HexId) -> dict[str, Any]:
        return office().releases.get(release_id).to_json()

    @router.get(
        "/privacy/budget",
        responses=problems(503),
        summary="Privacy budget (zCDP rho) spent per dataset and period.",
    )
    def budget() -> list[dict[str, Any]]:
        return office().releases.budget()

    return router
