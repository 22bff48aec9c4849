"""The log's read API: C2SP tlog-tiles (checkpoint, hash tiles, entry bundles), RFC 9162
inclusion and consistency proofs as JSON, and an accepted observation with its ledger event.

Threat model: anyone may call these routes, and they only read. They serve only what the
latest *published* checkpoint commits to — no unpublished entries, no proofs for sizes no
quorum of witnesses cosigned — so nobody is shown a view the witnesses have not seen.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from ombud.api.bodies import StrictRoute
from ombud.api.openapi import problems
from ombud.api.params import DeviceId
from ombud.clock import format_time
from ombud.errors import NotFoundError
from ombud.ledger.log import Log
from ombud.ledger.store import StoredCheckpoint
from ombud.ledger.tiles import TILE_HEIGHT, TILE_WIDTH, parse_path
from ombud.sensors.observations import ObservationStore

__all__ = ["CHECKPOINT_CACHE", "IMMUTABLE", "create_router"]

IMMUTABLE = "public, max-age=31536000, immutable"
CHECKPOINT_CACHE = "public, max-age=2, must-revalidate"
_MAX_SIZE = (1 << 64) - 1


def _b64(h: bytes) -> str:
    return base64.b64encode(h).decode()


def _published(log: Log) -> StoredCheckpoint:
    latest = log.published_checkpoint()
    if latest is None:
        raise NotFoundError("the log has not published a checkpoint yet")
    return latest


def _published_size(log: Log, size: int | None) -> int:
    """``size``, or the published size when it is None; refuses sizes not yet published."""
    published = _published(log).size
    if size is None:
        return published
    if size > published:
        raise NotFoundError(f"tree size {size} is larger than the published size {published}")
    return size


def create_router(log: Log, observations: ObservationStore) -> APIRouter:
    router = APIRouter(route_class=StrictRoute)

    @router.head(
        "/checkpoint",
        operation_id="head_checkpoint",
        responses=problems(404),
        summary="The headers of GET /checkpoint, without its body.",
        response_class=Response,
        tags=["tlog-tiles"],
    )
    @router.get(
        "/checkpoint",
        responses=problems(404),
        summary="The latest signed checkpoint (C2SP tlog-checkpoint).",
        response_class=Response,
        tags=["tlog-tiles"],
    )
    def get_checkpoint() -> Response:
        latest = _published(log)
        return Response(
            latest.note,
            media_type="text/plain; charset=utf-8",
            headers={"Cache-Control": CHECKPOINT_CACHE},
        )

    @router.head(
        "/tile/{path:path}",
        operation_id="head_tile",
        responses=problems(404),
        summary="The headers of GET /tile/…, without its body.",
        response_class=Response,
        tags=["tlog-tiles"],
    )
    @router.get(
        "/tile/{path:path}",
        responses=problems(404),
        summary="A hash tile or entry bundle (C2SP tlog-tiles).",
        response_class=Response,
        tags=["tlog-tiles"],
    )
    def get_tile(path: str) -> Response:
        ref = parse_path("tile/" + path)
        size = _published(log).size
        count = size if ref.is_entries else size >> (TILE_HEIGHT * ref.level)
        if ref.index * TILE_WIDTH + ref.width > count:
            raise NotFoundError(f"{ref.path} is beyond the published tree of size {size}")
        if ref.is_entries:
            data = log.bundle(ref.index, ref.width)
        else:
            data = log.tile(ref.level, ref.index, ref.width)
        return Response(
            data, media_type="application/octet-stream", headers={"Cache-Control": IMMUTABLE}
        )

    @router.get(
        "/proof/inclusion",
        responses=problems(404),
        summary="RFC 9162 inclusion proof.",
        tags=["proofs"],
    )
    def get_inclusion(
        index: Annotated[int, Query(ge=0, le=_MAX_SIZE, description="0-based leaf index")],
        size: Annotated[
            int | None, Query(ge=1, le=_MAX_SIZE, description="tree size (default: published)")
        ] = None,
    ) -> dict[str, Any]:
        size = _published_size(log, size)
        proof = log.inclusion_proof(index, size)
        return {
            "index": index,
            "size": size,
            "leaf_hash": _b64(log.node(0, index)),
            "proof": [_b64(h) for h in proof],
        }

    @router.get(
        "/proof/consistency",
        responses=problems(404),
        summary="RFC 9162 consistency proof.",
        tags=["proofs"],
    )
    def get_consistency(
        old: Annotated[int, Query(ge=0, le=_MAX_SIZE, description="earlier tree size")],
        new: Annotated[
            int | None,
            Query(ge=0, le=_MAX_SIZE, description="later tree size (default: published)"),
        ] = None,
    ) -> dict[str, Any]:
        new = _published_size(log, new)
        proof = log.consistency_proof(old, new)
        return {"old": old, "new": new, "proof": [_b64(h) for h in proof]}

    @router.get(
        "/observations/{device_id}/{counter}",
        responses=problems(404),
        summary="An accepted observation as signed, with its ledger event and index.",
        tags=["proofs"],
    )
    def get_observation(
        device_id: DeviceId,
        counter: Annotated[int, Path(ge=0, le=(1 << 63) - 1)],
    ) -> dict[str, Any]:
        stored = observations.observation(device_id, counter)
        published = log.published_checkpoint()
        return {
            "device": stored.device,
            "counter": stored.counter,
            "entity": stored.entity(),
            "created": format_time(stored.created),
            "ledgerIndex": stored.ledger_index,
            "event": log.entry(stored.ledger_index).decode(),
            "published": published is not None and stored.ledger_index < published.size,
        }

    return router
