"""The witness's HTTP face: c2sp.org/tlog-witness ``add-checkpoint`` and the monitor read path.

Threat model: anyone may send requests; the only authentication is the log's signature on the
checkpoint (tlog-witness §Introduction). Bodies are capped before they are read in full, and
every refusal is answered with the status the spec names and logged with its reason, so an
operator can see a log misbehaving.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from starlette.requests import ClientDisconnect

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
from ombud.witness.witness import Reply, Witness

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


class _AddCheckpoint:
    """The add-checkpoint handler, shared by the FastAPI route and the ASGI fast path."""

    def __init__(self, witness: Witness) -> None:
        self.witness = witness
        # Outcomes arrive on the witness's worker thread, a group at a time; they are handed to
        # the event loop in one wake-up per group, not one per request.
        self._arrived: collections.deque[tuple[asyncio.Future[bytes], bytes | Exception]]
        self._arrived = collections.deque()
        self._wake_pending = False
        self._lock = threading.Lock()

    def _deliver(self, loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[bytes]) -> Reply:
        def reply(outcome: bytes | Exception) -> None:
            with self._lock:
                self._arrived.append((waiter, outcome))
                if self._wake_pending:
                    return
                self._wake_pending = True
            loop.call_soon_threadsafe(self._settle)

        return reply

    def _settle(self) -> None:
        with self._lock:
            arrived, self._arrived = self._arrived, collections.deque()
            self._wake_pending = False
        for waiter, outcome in arrived:
            if waiter.done():  # the client went away
                continue
            if isinstance(outcome, Exception):
                waiter.set_exception(outcome)
            else:
                waiter.set_result(outcome)

    async def __call__(self, body: bytes | None, client: str) -> tuple[int, bytes, bytes]:
        """(status, content type, body) for a request ``body`` (None: over the size cap)."""
        try:
            if body is None:
                raise MalformedError(f"request bodies are limited to {MAX_BODY} bytes")
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[bytes] = loop.create_future()
            self.witness.submit(body, self._deliver(loop, waiter))  # parses here only
            return 200, _TEXT.encode(), await waiter
        except OmbudError as exc:
            status = _status(exc)
            logger.warning("refused add-checkpoint from %s with %d: %s", client, status, exc)
            if isinstance(exc, ConflictError) and exc.current is not None:
                # Exactly "text/x.tlog.size" (no charset parameter), as the spec requires.
                return 409, SIZE_MEDIA_TYPE.encode(), encode_size(exc.current)
            return status, _TEXT.encode(), f"{exc}\n".encode()


class _FastPath:
    """ASGI middleware serving ``POST /add-checkpoint`` without FastAPI's per-request layers.

    Routing, dependency solving and five middlewares cost about 0.2 ms of CPU per request on
    the 2-core reference machine, as much as verifying the checkpoint; a log publishing to many
    witnesses pays it on every one. The route stays declared in FastAPI (for OpenAPI and for
    anyone mounting that app directly); both call the same ``_AddCheckpoint``.
    """

    def __init__(self, app: FastAPI, handler: _AddCheckpoint) -> None:
        self.app = app
        self.handler = handler

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if not (
            scope["type"] == "http"
            and scope["path"] == "/add-checkpoint"
            and scope["method"] == "POST"
        ):
            await self.app(scope, receive, send)
            return
        length = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        try:
            body = await _read_capped(length, _receive_body(receive))
        except ClientDisconnect:
            return
        client = scope["client"][0] if scope.get("client") else "?"
        status, media_type, content = await self.handler(body, client)
        headers = [(b"content-type", media_type), (b"content-length", b"%d" % len(content))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


async def _receive_body(receive: Any) -> AsyncIterator[bytes]:
    """The body chunks of an ASGI HTTP request."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def _read_capped(length: bytes | str | None, chunks: AsyncIterator[bytes]) -> bytes | None:
    """The body, or None when it is over ``MAX_BODY`` by its Content-Length or as it is read."""
    if length is not None and (
        not (length.isascii() and length.isdigit()) or int(length) > MAX_BODY
    ):
        return None
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > MAX_BODY:
            return None
    return bytes(body)


def create_witness_app(
    witness: Witness, *, on_shutdown: Callable[[], None] | None = None
) -> _FastPath:
    """The witness's ASGI app; ``on_shutdown`` runs once the server stopped taking requests."""
    handler = _AddCheckpoint(witness)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if on_shutdown is not None:
                on_shutdown()

    app = FastAPI(
        lifespan=lifespan,
        title="ombud witness",
        version=__version__,
        summary="A C2SP tlog-witness: cosigns checkpoints that extend what it saw before.",
    )
    app.state.witness = witness

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
        client = request.client.host if request.client else "?"
        body = await _read_capped(request.headers.get("content-length"), request.stream())
        status, media_type, content = await handler(body, client)
        return Response(content, status_code=status, headers={"Content-Type": media_type.decode()})

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

    return _FastPath(app, handler)
