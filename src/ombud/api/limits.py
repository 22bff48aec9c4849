"""Request limits: a body cap enforced as the body streams in, for every route.

Threat model: anyone on the network can send a body of any size, declared (``Content-Length``)
or not (chunked transfer coding), and a parser that reads it whole first lets a few clients
exhaust the server's memory without any token. So the cap is one ASGI middleware in front of
every route: a declared length over the cap is refused before a byte of the body is read, and a
streamed body is counted as it arrives and refused (413) the moment it passes the cap, whatever
the route does with it. Header size and how long a request may take to arrive are capped by the
HTTP protocol itself (``ombud.api.protocol``), before any of this runs.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ombud.api.problems import refusal

__all__ = ["BodyLimit", "BodyTooLarge"]


class BodyTooLarge(HTTPException):
    """A request body over the cap: answered 413 by the app's HTTP error handler (so each
    route family keeps its own error format), never parsed."""

    def __init__(self, cap: int) -> None:
        # The rest of the body is not wanted: close the connection once answered, rather than
        # read and discard it to keep the connection alive.
        super().__init__(
            413, f"request bodies are limited to {cap} bytes", headers={"Connection": "close"}
        )


class BodyLimit:
    """ASGI middleware: bodies over ``max_body`` bytes are refused as they stream."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.max_body
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and (not value.isdigit() or int(value) > cap):
                # Declared too large: refused before routing, without reading a byte of it.
                too_large = BodyTooLarge(cap)
                response = refusal(str(scope.get("path", "")), 413, too_large.detail)
                response.headers.update(too_large.headers or {})
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
