"""RFC 9457 problem details: every refusal says what was wrong, in one machine-readable shape.

Threat model: error bodies go to anyone on the network, so they carry the validation message
only — no stack traces, paths or secrets.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from ombud.api.accesslog import logged_path
from ombud.api.headers import API_POLICY, SECURITY_HEADERS
from ombud.errors import (
    AlreadyExistsError,
    ConflictError,
    ForbiddenError,
    MalformedError,
    MasterKeyError,
    NotFoundError,
    OmbudError,
    PayloadIntegrityError,
    ReplayError,
    StorageError,
    SubjectErasedError,
    UnauthorizedError,
    UnavailableError,
    VerificationError,
)

PROBLEM_JSON = "application/problem+json"
NGSI_LD_ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"
_MAX_REPORTED = 10
"""Validation errors a refusal names (a body of 95,000 unknown members has as many)."""
logger = logging.getLogger("ombud.api")


def ngsi_ld_problem(kind: str, status: int, title: str, detail: str) -> dict[str, Any]:
    """An ETSI NGSI-LD ProblemDetails body (GS CIM 009 §5.5.2): every one ombud sends is built
    here, for a refusal of a whole request and for each entity of a batch alike."""
    return {"type": NGSI_LD_ERRORS + kind, "title": title, "status": status, "detail": detail}


def problem(status: int, title: str, detail: str) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def status_of(exc: OmbudError) -> tuple[int, str]:
    if isinstance(exc, UnauthorizedError):
        return 401, "Unauthorized"
    if isinstance(exc, ForbiddenError):
        return 403, "Forbidden"
    if isinstance(exc, AlreadyExistsError | ReplayError | ConflictError):
        return 409, "Conflict"  # a second key for a period, a token spent twice, a re-release
    if isinstance(exc, StorageError | UnavailableError | MasterKeyError):
        return 503, "Service Unavailable"
    if isinstance(exc, PayloadIntegrityError):
        return 500, "Internal Server Error"  # stored data failed authentication: not the client
    if isinstance(exc, SubjectErasedError):
        return 410, "Gone"
    if isinstance(exc, NotFoundError):
        return 404, "Not Found"
    if isinstance(exc, MalformedError):
        return 400, "Bad Request"
    if isinstance(exc, VerificationError):
        return 422, "Unprocessable Content"
    return 500, "Internal Server Error"


async def ombud_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OmbudError)
    status, title = status_of(exc)
    detail = str(exc) if status < 500 else "the server could not complete the request"
    if isinstance(exc, MasterKeyError):  # the operator's log has the path; callers learn why
        detail = "privacy features are unavailable: the vault's master key is missing or wrong"
    response = refusal(request.url.path, status, detail, title)
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """A request that does not fit its route's declared parameters or body: 400 (never 422),
    in the route family's format (``refusal``)."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    parts = []
    for error in errors[:_MAX_REPORTED]:
        where = ".".join(str(p) for p in error.get("loc", ()))[:100]
        parts.append(f"{where}: {str(error.get('msg', 'invalid'))[:200]}")
    if len(errors) > _MAX_REPORTED:  # a refusal is never larger than what it refuses
        parts.append(f"and {len(errors) - _MAX_REPORTED} more")
    return refusal(request.url.path, 400, "; ".join(parts) or "invalid request")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers at the request's path (for ``Allow``: the
    router names only the first route whose path matched)."""
    methods: set[str] = set()
    probe = {**request.scope, "method": "\0"}  # no route has it: a path match is PARTIAL
    for route in iter_route_contexts(request.app.router.routes):
        match, _ = route.matches(probe)
        if match is not Match.NONE:
            methods |= route.methods or set()
    return sorted(methods)


def refusal(path: str, status: int, detail: str, title: str | None = None) -> JSONResponse:
    """A refusal in the error format of the route family ``path`` belongs to: ETSI
    ProblemDetails on NGSI-LD routes, GeoReport v2 errors on Open311 routes, RFC 9457 problem
    details everywhere else."""
    if title is None:
        title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    if path.startswith("/ngsi-ld/"):
        kind = {404: "ResourceNotFound", 405: "InvalidRequest"}.get(status, "BadRequestData")
        return JSONResponse(ngsi_ld_problem(kind, status, title, detail), status_code=status)
    if path.startswith("/open311/"):
        return JSONResponse([{"code": status, "description": detail}], status_code=status)
    return problem(status, title, detail)


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Framework errors (unknown route, wrong method, a body over the cap) in the route
    family's error format (``refusal``)."""
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    detail = str(exc.detail) if status < 500 else "the server could not complete the request"
    headers = dict(exc.headers or {})
    if status == 405:
        allowed = allowed_methods(request)
        headers["Allow"] = ", ".join(allowed)
        detail = f"{request.method[:16]} is not allowed here; allowed: {', '.join(allowed)}"
    response = refusal(request.url.path, status, detail)
    response.headers.update(headers)
    return response


async def unexpected_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """A bug: logged with its traceback here, a bare 500 problem for the client. It is answered
    outside the app's middleware, so the security headers are added here."""
    logger.exception("unexpected error on %s %s", request.method, logged_path(request.scope))
    response = problem(500, "Internal Server Error", "the server could not complete the request")
    response.headers.update(dict(SECURITY_HEADERS))
    response.headers["Content-Security-Policy"] = API_POLICY
    return response
