"""The witness's HTTP face: c2sp.org/tlog-witness ``add-checkpoint`` and the monitor read path.

Threat model: anyone may send requests; the only authentication is the log's signature on the
checkpoint (tlog-witness §Introduction). Bodies are capped before they are read in full, and
every refusal is answered with the status the spec names and logged with its reason, so an
operator can see a log misbehaving.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI, Request, Response

from ombud import __version__
from ombud.errors import (
    ConflictError,
    MalformedError,
    NotFoundError,
    OmbudError,
    SignatureError,
    VerificationError,
)
from ombud.witness.protocol import SIZE_MEDIA_TYPE, encode_size
from ombud.witness.witness import Witness

__all__ = ["MAX_BODY", "create_witness_app"]

logger = logging.getLogger("ombud.witness")

MAX_BODY = 64 * 1024
"""A checkpoint with a hundred signatures and 63 proof lines fits in a fraction of this."""
_TEXT = "text/plain; charset=utf-8"


def _status(exc: OmbudError) -> int:
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, SignatureError):
        return 403
    if isinstance(exc, VerificationError):  # InconsistentTreeError, ProofError
        return 422
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, MalformedError):
        return 400
    return 500


async def _read_body(request: Request) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        raise MalformedError(f"request bodies are limited to {MAX_BODY} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise MalformedError(f"request bodies are limited to {MAX_BODY} bytes")
    return bytes(body)


def create_witness_app(witness: Witness) -> FastAPI:
    app = FastAPI(
        title="ombud witness",
        version=__version__,
        summary="A C2SP tlog-witness: cosigns checkpoints that extend what it saw before.",
    )
    app.state.witness = witness

    def refuse(request: Request, exc: OmbudError) -> Response:
        status = _status(exc)
        client = request.client.host if request.client else "?"
        logger.warning("refused add-checkpoint from %s with %d: %s", client, status, exc)
        if isinstance(exc, ConflictError):
            # Exactly "text/x.tlog.size" (no charset parameter), as the spec requires.
            return Response(
                encode_size(exc.current), status_code=409, headers={"Content-Type": SIZE_MEDIA_TYPE}
            )
        return Response(f"{exc}\n", status_code=status, media_type=_TEXT)

    @app.post(
        "/add-checkpoint",
        summary="Cosign a checkpoint consistent with the last one cosigned (C2SP tlog-witness).",
        response_class=Response,
        responses={
            200: {"content": {_TEXT: {}}, "description": "The cosignature line(s)."},
            400: {"description": "Malformed request, or old size larger than the checkpoint."},
            403: {"description": "No valid signature by a trusted key of that log."},
            404: {"description": "This witness does not witness that origin."},
            409: {"content": {SIZE_MEDIA_TYPE: {}}, "description": "Old size is not current."},
            422: {"description": "The checkpoint is not consistent with the last one cosigned."},
        },
        tags=["tlog-witness"],
    )
    async def add_checkpoint(request: Request) -> Response:
        try:
            body = await _read_body(request)
            cosignature = await asyncio.wrap_future(witness.add_checkpoint(body))
        except OmbudError as exc:
            return refuse(request, exc)
        return Response(cosignature, media_type=_TEXT)

    @app.get(
        "/{origin_hash}/checkpoint",
        summary="The latest checkpoint this witness cosigned for a log (monitor retrieval).",
        response_class=Response,
        tags=["tlog-witness"],
    )
    def latest(origin_hash: str) -> Response:
        try:
            record = witness.latest(origin_hash)
        except NotFoundError as exc:
            return Response(f"{exc}\n", status_code=404, media_type=_TEXT)
        return Response(record.note, media_type=_TEXT, headers={"Cache-Control": "no-cache"})

    return app
