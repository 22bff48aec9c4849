"""Integrity routes: the quarantine and district indicators, for anyone to audit, and releases,
for an operator.

Threat model: quarantine decisions must be visible to auditors (nothing silenced in secret), so
listing is public — it holds sensor readings and check evidence, no personal data; so are the
indicators computed from what is not quarantined. Releasing a quarantined reading or device
puts it back into aggregates, so it needs a token with the ``quarantine:release`` scope, a
reason, and becomes an ``observation.released`` or ``device.released`` event naming the token.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from ombud.api.auth import require_scope
from ombud.api.bodies import Release, StrictRoute
from ombud.api.openapi import problems
from ombud.api.params import DeviceId, Rfc3339
from ombud.clock import aware, to_micros
from ombud.deployment import Deployment
from ombud.errors import MalformedError
from ombud.integrity.aggregate import Estimator
from ombud.sensors.coverage import device_coverage
from ombud.sensors.indicators import district_indicator
from ombud.tokens import TokenInfo

__all__ = ["create_router"]


def _micros(at: datetime | None, name: str) -> int | None:
    if at is None:
        return None
    try:
        return to_micros(aware(at, name))
    except OverflowError:
        raise MalformedError(f"{name} is outside the years 1 to 9999 in UTC") from None


QuarantineRelease = Annotated[TokenInfo, require_scope("quarantine:release")]


def create_router(deployment: Deployment) -> APIRouter:
    router = APIRouter(prefix="/integrity", tags=["integrity"], route_class=StrictRoute)
    log, db, clock = deployment.log, deployment.db, deployment.clock
    quarantine, registry = deployment.quarantine, deployment.registry

    @router.get("/quarantine", summary="Quarantined observations, with the checks' evidence.")
    def list_quarantine(
        device: Annotated[str | None, Query(max_length=128)] = None,
        district: Annotated[str | None, Query(max_length=64)] = None,
        check: Annotated[str | None, Query(max_length=40)] = None,
        since: Annotated[Rfc3339 | None, Query(description="RFC 3339, inclusive")] = None,
        until: Annotated[Rfc3339 | None, Query(description="RFC 3339, exclusive")] = None,
        released: Annotated[bool, Query(description="include released ones")] = True,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        found = quarantine.list(
            device=device,
            district=district,
            check=check,
            since_us=_micros(since, "since"),
            until_us=_micros(until, "until"),
            include_released=released,
            limit=limit,
        )
        return [q.to_json() for q in found]

    @router.post(
        "/quarantine/{device}/{counter}/release",
        responses=problems(401, 403, 404, 409),
        summary="Release a quarantined observation (scope quarantine:release).",
    )
    def release(
        device: DeviceId,
        counter: Annotated[int, Path(ge=0, le=(1 << 63) - 1)],
        body: Release,
        token: QuarantineRelease,
    ) -> dict[str, Any]:
        released = quarantine.release(
            log, device, counter, body.reason, actor=f"token:{token.id}", clock=clock
        )
        return released.to_json()

    @router.get("/devices", summary="Devices quarantined as a whole, with the evidence.")
    def list_devices(
        device: Annotated[str | None, Query(max_length=128)] = None,
        district: Annotated[str | None, Query(max_length=64)] = None,
        released: Annotated[bool, Query(description="include released ones")] = True,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        found = quarantine.devices(
            device=device, district=district, include_released=released, limit=limit
        )
        return [d.to_json() for d in found]

    @router.post(
        "/devices/{device}/release",
        responses=problems(401, 403, 404, 409),
        summary="Put a quarantined device back into aggregates (scope quarantine:release).",
    )
    def release_device(
        device: DeviceId,
        body: Release,
        token: QuarantineRelease,
    ) -> dict[str, Any]:
        released = quarantine.release_device(
            log, device, body.reason, actor=f"token:{token.id}", clock=clock
        )
        return released.to_json()

    @router.get(
        "/indicators",
        responses=problems(404),
        summary="A district's robust figure for one attribute over a period, quarantine excluded.",
    )
    def get_indicator(
        district: Annotated[str, Query(max_length=64)],
        model: Annotated[
            str, Query(alias="type", max_length=64, description="Smart Data Model type")
        ],
        attribute: Annotated[str, Query(max_length=64)],
        since: Annotated[Rfc3339, Query(description="RFC 3339, inclusive")],
        until: Annotated[Rfc3339, Query(description="RFC 3339, exclusive")],
        estimator: Estimator = Estimator.MEDIAN,
        cap: Annotated[float, Query(gt=0, le=1, description="largest share of one device")] = 0.1,
    ) -> dict[str, Any]:
        _micros(since, "since")
        _micros(until, "until")
        found = district_indicator(db, district, model, attribute, since, until, estimator, cap=cap)
        return found.to_json()

    @router.get(
        "/coverage/{device}",
        responses=problems(404),
        summary="When a device reported and the gaps when it did not (never filled in).",
    )
    def get_coverage(
        device: DeviceId,
        since: Annotated[Rfc3339, Query(description="RFC 3339, inclusive")],
        until: Annotated[Rfc3339, Query(description="RFC 3339, exclusive")],
    ) -> dict[str, Any]:
        _micros(since, "since")
        _micros(until, "until")
        registry.get(device)  # 404 for a device nobody registered
        return device_coverage(db, device, since, until).to_json()

    return router
