"""``/docs``: the API's documentation page (Swagger UI), served entirely by ombud itself.

Threat model: ``/docs`` is opened by the operator, often with an admin token at hand, so it
must not run anyone else's code. FastAPI's default page loads ``swagger-ui-dist`` from a public
CDN without an integrity check and starts it with an inline script; here Swagger UI comes from
the installed ``swagger-ui-py`` package (files read once, from a fixed list — no path from the
request reaches the file system), it is started by a file of ombud's, and the page's CSP
(``ombud.api.headers.PAGE_POLICY``) allows scripts, styles and requests from this server only.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from pathlib import Path

from fastapi import APIRouter, Response

from ombud.errors import ConfigError, NotFoundError

__all__ = ["create_router"]

_OWN = Path(__file__).parent / "static"
_VENDOR_FILES = ("swagger-ui-bundle.js", "swagger-ui.css")
_OWN_FILES = ("docs.js", "docs.css")
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ombud API</title>
<link rel="stylesheet" href="/docs/static/{css}">
<link rel="stylesheet" href="/docs/static/docs.css">
</head>
<body>
<noscript>This page needs JavaScript; the API description itself is at
<a href="/openapi.json">/openapi.json</a>.</noscript>
<div id="swagger-ui"></div>
<script src="/docs/static/{js}"></script>
<script src="/docs/static/docs.js"></script>
</body>
</html>
"""


def _vendor_dir() -> Path:
    """The static folder of swagger-ui-py, found without importing the package."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("swagger-ui-py is not installed (it ships Swagger UI for /docs)")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


@functools.cache
def _asset(name: str) -> tuple[bytes, str]:
    """A static file of the page and its ETag; only the names in the fixed lists exist."""
    if name in _VENDOR_FILES:
        path = _vendor_dir() / name
    elif name in _OWN_FILES:
        path = _OWN / name
    else:
        raise NotFoundError(f"no documentation asset {name[:40]!r}")
    data = path.read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:16]


def create_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/docs")
    def page() -> Response:
        html = _PAGE.format(js=_VENDOR_FILES[0], css=_VENDOR_FILES[1])
        return Response(html, media_type="text/html; charset=utf-8")

    @router.get("/docs/static/{name}")
    def asset(name: str) -> Response:
        data, etag = _asset(name)
        return Response(
            data,
            media_type=_TYPES[Path(name).suffix],
            headers={"Cache-Control": "public, max-age=86400", "ETag": f'"{etag}"'},
        )

    return router
