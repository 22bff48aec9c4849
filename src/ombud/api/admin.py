"""The device registry: changed by the operator behind scoped bearer tokens, read by anyone.

Threat model: registering a device decides whose data the city believes, so changing the
registry needs a token with ``devices:write``; there is no anonymous or default access. Each
change is a ledger event (``DeviceRegistry``), and the token that made it is named as the
event's actor. Which sensors watch a city is public on purpose — a transparency feature, and
the public ledger's ``device.registered`` events say it anyway — so the registry is read
without a token (``GET /devices``). It holds only what those events hold: id, key, model,
district and an owner that is an organisation or ``resident``. The owner of a device hosted at
a resident's home is personal data: their details go only to the vault, under their consent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from ombud.api.auth import require_scope
from ombud.api.bodies import StrictRoute
from ombud.api.openapi import problems
from ombud.api.params import DeviceId
from ombud.dataintegrity.multikey import DidKey
from ombud.errors import MalformedError
from ombud.ingest.devices import RESIDENT_OWNER, Device, DeviceRegistry
from ombud.privacy.office import PrivacyOffice
from ombud.tokens import TokenInfo

HOSTING = ("device-hosting", "contact-details")
"""The consent (purpose, data category) under which a home-hosted device's owner is kept."""

__all__ = ["create_registry_router", "create_router"]


class NewDevice(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(max_length=128)
    type: str = Field(max_length=64, description="The Smart Data Model of its observations.")
    key: str = Field(max_length=200, description="Its Ed25519 public key as did:key:z6Mk….")
    district: str = Field(max_length=64, description="District id or grid cell (never an address).")
    owner: str = Field(default="city", max_length=64)
    ownerDetails: dict[str, str] | None = Field(
        default=None,
        max_length=8,
        description="For a device hosted at a resident's home: the owner's details (name, "
        "address, phone, e-mail), sealed in the vault with the owner's id under their consent "
        f"({HOSTING[0]}, {HOSTING[1]}); the registry and the ledger then name the owner only "
        "as 'resident'.",
    )


class Revocation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


DevicesWrite = Annotated[TokenInfo, require_scope("devices:write")]


def _owner_details(details: dict[str, str]) -> bytes:
    for name, value in details.items():
        if not 0 < len(name) <= 32 or not 0 < len(value) <= 200:
            raise MalformedError("owner details are up to 8 fields of at most 200 characters")
    return json.dumps(details, sort_keys=True).encode("utf-8")


def create_router(registry: DeviceRegistry, office: Callable[[], PrivacyOffice]) -> APIRouter:
    """``office()`` gives the privacy office (for owners' details) or raises
    ``MasterKeyError``."""
    router = APIRouter(prefix="/admin", tags=["admin"], route_class=StrictRoute)

    @router.post(
        "/devices",
        status_code=201,
        responses=problems(401, 403, 409, 503),
        summary="Register a device (scope devices:write).",
    )
    def add_device(body: NewDevice, token: DevicesWrite) -> dict[str, Any]:
        owner, attach = body.owner, None
        if body.ownerDetails:
            # A resident's id must not reach the registry or the (permanent) ledger: the
            # device is owned by "resident", and who that is lives in the vault, erasable.
            owner = RESIDENT_OWNER
            details = _owner_details({**body.ownerDetails, "subject": body.owner})
            attach = office().attach_under_consent(
                body.owner,
                *HOSTING,
                "device-owner",
                lambda device_id: details,
                actor=f"token:{token.id}",
            )
        device = Device(body.id, DidKey.parse(body.key), body.type, body.district, owner)
        return registry.add(device, actor=f"token:{token.id}", attach=attach).to_json()

    @router.post(
        "/devices/{device_id}/revoke",
        responses=problems(401, 403, 404, 409),
        summary="Revoke a device (scope devices:write).",
    )
    def revoke_device(
        device_id: DeviceId,
        body: Revocation,
        token: DevicesWrite,
    ) -> dict[str, Any]:
        return registry.revoke(device_id, body.reason, actor=f"token:{token.id}").to_json()

    return router


def create_registry_router(registry: DeviceRegistry) -> APIRouter:
    """The public registry: what the ledger's device events say, without a token."""
    router = APIRouter(prefix="/devices", tags=["devices"], route_class=StrictRoute)

    @router.get("", summary="Every registered device: the city's public sensor registry.")
    def list_devices() -> list[dict[str, Any]]:
        return [d.to_json() for d in registry.list()]

    @router.get("/{device_id}", responses=problems(404), summary="One registered device.")
    def get_device(device_id: DeviceId) -> dict[str, Any]:
        return registry.get(device_id).to_json()

    return router
