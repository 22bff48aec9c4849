"""``/decisions`` and ``/results``: motions with their text, votes and tallies; tracked results
with their signed history, and their Decidim accountability export.

Threat model: the clerk's token casts members' votes (scope ``decisions:vote``) and records
offices' updates (``results:write``) but holds no member's or office's key: what it submits
counts only when the member's or office's signature verifies, and refused votes are recorded.
Everything else is public: who voted what is the point of a signed vote.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from ombud.api.auth import require_scope
from ombud.api.bodies import StrictRoute
from ombud.api.openapi import problems
from ombud.clock import format_time
from ombud.deployment import Deployment
from ombud.governance.decisions import Vote
from ombud.governance.results import ResultUpdate, decidim_csv
from ombud.tokens import TokenInfo

__all__ = ["create_router"]

Id = Annotated[str, Path(pattern="^[a-z0-9][a-z0-9._-]{0,63}$", description="An id.")]
Clerk = Annotated[TokenInfo, require_scope("decisions:vote")]
ResultsWrite = Annotated[TokenInfo, require_scope("results:write")]


def create_router(deployment: Deployment) -> APIRouter:
    router = APIRouter(tags=["decisions"], route_class=StrictRoute)

    @router.get("/decisions", summary="Every motion and, once decided, its tally (public).")
    def decisions() -> list[dict[str, Any]]:
        return [
            {
                **r.motion.public_json(),
                "tabledIndex": r.tabled_index,
                "decidedIndex": r.decided_index,
                "tally": None if r.tally is None else r.tally.to_json(),
            }
            for r in deployment.decisions.all()
        ]

    @router.get(
        "/decisions/{motion_id}", responses=problems(404), summary="A motion, its votes, tally."
    )
    def decision(motion_id: Id) -> dict[str, Any]:
        record = deployment.decisions.get(motion_id)
        return {
            **record.motion.to_json(),
            "digest": record.motion.digest,
            "tabledIndex": record.tabled_index,
            "decidedIndex": record.decided_index,
            "tally": None if record.tally is None else record.tally.to_json(),
            "votes": [
                {**v.to_json(), "ledgerIndex": i} for v, i in deployment.decisions.votes(motion_id)
            ],
        }

    @router.post(
        "/decisions/{motion_id}/votes",
        status_code=201,
        responses=problems(401, 403, 404, 409, 422),
        summary="Cast a member's signed vote (scope decisions:vote); refusals are recorded.",
    )
    def cast(motion_id: Id, body: dict[str, Any], token: Clerk) -> dict[str, Any]:
        vote = Vote.from_json({**body, "motion": motion_id})
        index = deployment.decisions.cast(vote, actor=f"token:{token.id}")
        return {"motion": motion_id, "holder": vote.holder, "ledgerIndex": index}

    @router.get("/results", summary="Every tracked result with its latest update (public).")
    def results() -> list[dict[str, Any]]:
        return deployment.results.export()

    @router.get(
        "/results/export.csv",
        response_class=Response,
        summary="The results as Decidim accountability CSV.",
    )
    def results_csv() -> Response:
        return Response(decidim_csv(deployment.results.export()), media_type="text/csv")

    @router.get(
        "/results/{result_id}",
        responses=problems(404),
        summary="A result and every signed update, in order.",
    )
    def result(result_id: Id) -> dict[str, Any]:
        found = deployment.results.get(result_id)
        return {
            **found.to_json(),
            "history": [
                {**u.to_json(), "at": format_time(at), "ledgerIndex": i}
                for u, at, i in deployment.results.history(result_id)
            ],
        }

    @router.post(
        "/results/updates",
        status_code=201,
        responses=problems(401, 403, 404, 409, 422),
        summary="Record an update signed by the responsible office (scope results:write).",
    )
    def update(body: dict[str, Any], token: ResultsWrite) -> dict[str, Any]:
        made = ResultUpdate.from_json(body)
        index = deployment.results.record(made, actor=f"token:{token.id}")
        return {"result": made.result_id, "sequence": made.sequence, "ledgerIndex": index}

    return router
