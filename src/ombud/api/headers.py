"""Security headers on every response, and ``no-store`` on the responses that carry personal data.

Threat model: the API is read by browsers as well as by tools — an operator on ``/docs``, a
resident reading ``/me/data`` — so a response must never be sniffed into another type, framed
by another site, leak its URL in a ``Referer``, or run a script ombud did not serve itself.
Every response gets ``nosniff``, frame denial (``X-Frame-Options`` and CSP ``frame-ancestors``),
``Referrer-Policy: no-referrer`` and a Content-Security-Policy without ``unsafe-inline``: API
responses may load nothing at all; the documentation page may load only its own scripts and
styles from this server. Responses with personal data (a resident's data, a receipt, a post's
text, a resident access key) are marked ``Cache-Control: no-store`` so no browser or proxy
cache keeps them.
"""

from __future__ import annotations

from fastapi import Depends, Response
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "API_POLICY",
    "NO_STORE",
    "PAGE_POLICY",
    "SECURITY_HEADERS",
    "SecurityHeaders",
    "no_store",
]

API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
"""The CSP of API responses: they are data, and a browser may run or load nothing from them."""
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
"""The CSP of ombud's own pages (the API documentation): this server's scripts, styles and
images only, no inline code, and requests back to this server only."""
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
"""Headers every response carries, besides its Content-Security-Policy."""
_PAGE_PREFIXES = ("/docs",)


class SecurityHeaders:
    """ASGI middleware: adds the security headers to every HTTP response (a header the route set
    itself is kept)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        page = str(scope.get("path", "")).startswith(_PAGE_PREFIXES)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    headers.setdefault(name, value)
                headers.setdefault("Content-Security-Policy", PAGE_POLICY if page else API_POLICY)
            await send(message)

        await self.app(scope, receive, with_headers)


def no_store(response: Response) -> None:
    """Mark a route's response ``Cache-Control: no-store`` (for responses built by FastAPI; a
    route that returns its own ``Response`` sets the header itself)."""
    response.headers["Cache-Control"] = "no-store"


NO_STORE = Depends(no_store)
"""``no_store`` as a route dependency: ``dependencies=[NO_STORE]``."""
