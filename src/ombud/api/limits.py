"""Request limits: a body cap enforced as the body streams in, for every route.

Threat model: anyone on the network can send a body of any size, declared (``Content-Length``)
or not (chunked transfer coding), and a parser that reads it whole first lets a few clients
exhaust the server's memory without any token; a parsed JSON body takes many times its size. So
the cap is one ASGI middleware in front of every route, small for every route but sensor ingest
(whose batches are large by nature, and parsed a few at a time by their routes): a declared
length over the cap is refused before a byte of the body is read, and a streamed body is counted
as it arrives and refused (413) the moment it passes the cap, whatever the route does with it.
No route decodes a content coding, so a body sent with one (``Content-Encoding: gzip``) is
refused (415, RFC 9110 §15.5.16) before a byte of it is read, rather than parsed as the bytes
it is (a "not JSON: byte 0x8b" 400, or a plain body acted on as if the header were not there).
Header size and how long a request may take to arrive are capped by the HTTP protocol itself
(``ombud.api.protocol``), before any of this runs.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ombud.api.problems import refusal

__all__ = ["INGEST_PREFIX", "BodyLimit", "BodyTooLarge"]


class BodyTooLarge(HTTPException):
    """A request body over the cap: answered 413 by the app's HTTP error handler (so each
    route family keeps its own error format), never parsed."""

    def __init__(self, cap: int) -> None:
        # The rest of the body is not wanted: close the connection once answered, rather than
        # read and discard it to keep the connection alive.
        super().__init__(
            413, f"request bodies are limited to {cap} bytes", headers={"Connection": "close"}
        )


INGEST_PREFIX = "/ngsi-ld/"
"""Sensor ingest: the one route family whose bodies are large (batches of signed entities)."""


class BodyLimit:
    """ASGI middleware: bodies over their route family's cap are refused as they stream —
    ``max_ingest`` for sensor ingest, ``max_small`` for every other route."""

    def __init__(self, app: ASGIApp, max_ingest: int, max_small: int) -> None:
        self.app = app
        self.max_ingest = max_ingest
        self.max_small = max_small

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        cap = self.max_ingest if path.startswith(INGEST_PREFIX) else self.max_small
        coding, has_body = b"", False
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and (not value.isdigit() or int(value) > cap):
                # Declared too large: refused before routing, without reading a byte of it.
                too_large = BodyTooLarge(cap)
                response = refusal(path, 413, too_large.detail)
                response.headers.update(too_large.headers or {})
                await response(scope, receive, send)
                return
            if name == b"content-encoding":
                coding = value.strip().lower()
            elif name == b"transfer-encoding" or (name == b"content-length" and int(value)):
                has_body = True
        if has_body and coding not in (b"", b"identity"):
            response = refusal(
                path,
                415,
                f"request bodies are read as sent, without a content coding; send this one "
                f"without Content-Encoding: {coding.decode('latin-1')[:40]}",
            )
            response.headers.update({"Accept-Encoding": "identity", "Connection": "close"})
            await response(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    raise BodyTooLarge(cap)
            return message

        await self.app(scope, counted, send)
