"""``/insight``: what the city learns, for anyone — satisfaction per district x service x week,
its changes, the sensors beside it, the scorecards and the two lists.

Threat model: public and read-only, and computed from public data only (DP releases, sensor
readings, the witnessed checkpoint), so it reveals nothing the releases do not. It is computed
once per published checkpoint (``PublishedInsight``, shared with the portal) and served from
memory until the next one.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from ombud.api.bodies import StrictRoute
from ombud.api.openapi import problems
from ombud.api.params import only_query
from ombud.districts import DISTRICT_PATTERN
from ombud.errors import NotFoundError
from ombud.insight.published import PublishedInsight
from ombud.insight.report import SERVICE_PATTERN, WEEK_PATTERN

__all__ = ["create_router"]

District = Annotated[str | None, Query(pattern=DISTRICT_PATTERN, description="a district id")]
Service = Annotated[str | None, Query(pattern=SERVICE_PATTERN, description="a service category")]
Week = Annotated[str | None, Query(pattern=WEEK_PATTERN, description="an ISO week, 2026-W46")]
ALL_FILTERS = only_query("district", "service", "week")
"""A parameter a route does not take (``distrct=north``), or one given twice, is a 400 — not
the whole report, or the last value's."""
PLACE_AND_WEEK = only_query("district", "week")


def create_router(insight: PublishedInsight) -> APIRouter:
    router = APIRouter(prefix="/insight", tags=["insight"], route_class=StrictRoute)
    report = insight.report

    def narrowed(district: str | None, service: str | None, week: str | None) -> dict[str, Any]:
        from ombud.insight import view

        return view(report(), district=district, service=service, week=week)

    @router.get(
        "",
        dependencies=[ALL_FILTERS],
        responses=problems(400, 404),
        summary="The whole insight at the latest witnessed checkpoint.",
    )
    def get_insight(
        district: District = None, service: Service = None, week: Week = None
    ) -> dict[str, Any]:
        return narrowed(district, service, week)

    @router.get(
        "/cells",
        dependencies=[ALL_FILTERS],
        responses=problems(400, 404),
        summary="Satisfaction per district x service x week, 95% intervals.",
    )
    def get_cells(
        district: District = None, service: Service = None, week: Week = None
    ) -> dict[str, Any]:
        out = narrowed(district, service, week)
        return {k: out[k] for k in ("checkpoint", "releases", "digest", "cells")}

    @router.get(
        "/changes",
        dependencies=[ALL_FILTERS],
        responses=problems(400, 404),
        summary="Changes that survive Benjamini-Hochberg, with intervals.",
    )
    def get_changes(
        district: District = None, service: Service = None, week: Week = None
    ) -> dict[str, Any]:
        out = narrowed(district, service, week)
        return {k: out[k] for k in ("checkpoint", "digest", "comparisons", "changes")}

    @router.get(
        "/sensors",
        dependencies=[PLACE_AND_WEEK],
        responses=problems(400, 404),
        summary="Noise, air, traffic and parking figures per district-week.",
    )
    def get_sensors(district: District = None, week: Week = None) -> dict[str, Any]:
        out = narrowed(district, None, week)
        return {k: out[k] for k in ("checkpoint", "digest", "sensors", "relations")}

    @router.get(
        "/lists",
        dependencies=[PLACE_AND_WEEK],
        responses=problems(400, 404),
        summary="Unmeasured concerns and unheard problems.",
    )
    def get_lists(district: District = None, week: Week = None) -> dict[str, Any]:
        out = narrowed(district, None, week)
        keys = ("checkpoint", "digest", "unmeasuredConcerns", "unheardProblems")
        return {k: out[k] for k in keys} | {"rules": out["method"]["rules"]}

    @router.get(
        "/districts/{district}",
        dependencies=[only_query()],
        responses=problems(400, 404),
        summary="A district's scorecard.",
    )
    def get_scorecard(
        district: Annotated[str, Path(pattern=DISTRICT_PATTERN, description="a district id")],
    ) -> dict[str, Any]:
        out = narrowed(district, None, None)
        if district not in out["scorecards"]:
            raise NotFoundError(f"no figures for district {district!r}")
        return {
            "checkpoint": out["checkpoint"],
            "digest": out["digest"],
            "district": district,
            "services": out["scorecards"][district],
        }

    return router
