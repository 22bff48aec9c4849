"""The request log of ``ombud serve``: what was asked and answered, never who asked.

Threat model: a log of requests in ledger order, with client addresses, would link residents'
anonymous posts to their network address — the thing one-token-per-resident exists to hide.
So uvicorn's own access log (which prints ``IP:port``) is off, and this one writes the method,
the route's path template (``/voice/posts/{post_id}``: an id in a path is half a resident's
receipt; a path no route answered, its first segment only), the status and the time taken; no
address, no header, no query, no body.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AccessLog", "logged_path"]

logger = logging.getLogger("ombud.access")


class AccessLog:
    """ASGI middleware: one INFO line per HTTP request, without the client's address."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0

        async def recorded(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recorded)
        finally:
            logger.info(
                '"%s %s" %d %.1f ms',
                scope.get("method", "?"),
                logged_path(scope),
                status,
                (time.perf_counter() - start) * 1000,
            )


def logged_path(scope: Scope) -> str:
    """How a request's path may be logged: its route's template (``/voice/posts/{post_id}``,
    never the id, which is half a receipt), or the first segment of a path no route answered;
    printable, and cut."""
    route = scope.get("route")
    return _printable(getattr(route, "path", None) or _unrouted(str(scope.get("path", ""))))


def _unrouted(path: str) -> str:
    """A path no route answered, as its first segment only: ``/open311/v2/requests/<id>.xml``
    names a post just as a routed one would, and there is no template to log instead."""
    first, _, rest = path.lstrip("/").partition("/")
    return f"/{first}/… (no route)" if rest else f"/{first} (no route)"


def _printable(path: str) -> str:
    """The path as one log line: control characters escaped, at most 200 characters."""
    clipped = path[:200] + ("…" if len(path) > 200 else "")
    if clipped.isprintable():
        return clipped
    return clipped.encode("unicode_escape").decode("ascii")
