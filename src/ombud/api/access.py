"""``/me/access``: who asked for a resident's data, on what basis, what was read and when.

Threat model: a resident reaches only the requests that named them, with their own access key
(as ``/me/data``); a sealed request shows as sealed with the date it opens, nothing more;
the answer is ``no-store``. Requesting, approving and reading data are not here yet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header

from ombud.access.book import AccessBook
from ombud.api.bodies import StrictRoute
from ombud.api.headers import NO_STORE
from ombud.api.openapi import problems
from ombud.api.privacy import resident_key
from ombud.privacy.office import PrivacyOffice

__all__ = ["create_router"]

Authorization = Annotated[str | None, Header(description="Bearer ombud_resident_…")]


def create_router(
    access: Callable[[], AccessBook], office: Callable[[], PrivacyOffice]
) -> APIRouter:
    router = APIRouter(tags=["access"], route_class=StrictRoute)

    @router.get(
        "/me/access",
        dependencies=[NO_STORE],
        responses=problems(401, 503),
        summary="Who asked for your data, on what basis, what was read and when.",
    )
    def my_access(authorization: Authorization = None) -> list[dict[str, Any]]:
        ref = office().vault.ref_for_access(resident_key(authorization))
        return access().of_subject(ref)

    return router
