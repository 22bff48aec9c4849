"""Admin routes: the device registry, behind scoped bearer tokens.

Threat model: registering a device decides whose data the city believes, so every route here
needs a token with the right scope (``devices:write`` to change, ``devices:read`` to list);
there is no anonymous or default access. Each change is a ledger event (``DeviceRegistry``),
and the token that made it is named as the event's actor.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header
from pydantic import BaseModel, ConfigDict, Field

from ombud.api.auth import TokenStore
from ombud.ingest.devices import Device, DeviceRegistry
from ombud.integrity.multikey import DidKey

__all__ = ["create_router"]


class NewDevice(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(max_length=128)
    type: str = Field(max_length=64, description="The Smart Data Model of its observations.")
    key: str = Field(max_length=200, description="Its Ed25519 public key as did:key:z6Mk….")
    district: str = Field(max_length=64, description="District id or grid cell (never an address).")
    owner: str = Field(default="city", max_length=64)


class Revocation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


Authorization = Annotated[str | None, Header(description="Bearer token with the route's scope.")]


def create_router(registry: DeviceRegistry, tokens: TokenStore) -> APIRouter:
    router = APIRouter(prefix="/admin", tags=["admin"])

    @router.post("/devices", status_code=201, summary="Register a device (scope devices:write).")
    def add_device(body: NewDevice, authorization: Authorization = None) -> dict[str, Any]:
        token = tokens.authorize(authorization, "devices:write")
        device = Device(body.id, DidKey.parse(body.key), body.type, body.district, body.owner)
        return registry.add(device, actor=f"token:{token.id}").to_json()

    @router.post("/devices/{device_id}/revoke", summary="Revoke a device (scope devices:write).")
    def revoke_device(
        device_id: str, body: Revocation, authorization: Authorization = None
    ) -> dict[str, Any]:
        token = tokens.authorize(authorization, "devices:write")
        return registry.revoke(device_id, body.reason, actor=f"token:{token.id}").to_json()

    @router.get("/devices", summary="Every registered device (scope devices:read).")
    def list_devices(authorization: Authorization = None) -> list[dict[str, Any]]:
        tokens.authorize(authorization, "devices:read")
        return [d.to_json() for d in registry.list()]

    @router.get("/devices/{device_id}", summary="One device (scope devices:read).")
    def get_device(device_id: str, authorization: Authorization = None) -> dict[str, Any]:
        tokens.authorize(authorization, "devices:read")
        return registry.get(device_id).to_json()

    return router
