"""RFC 9457 problem details: every refusal says what was wrong, in one machine-readable shape.

Threat model: error bodies go to anyone on the network, so they carry the validation message
only — no stack traces, paths or secrets.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ombud.errors import MalformedError, NotFoundError, OmbudError, VerificationError

PROBLEM_JSON = "application/problem+json"


def problem(status: int, title: str, detail: str) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def status_of(exc: OmbudError) -> tuple[int, str]:
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
    return problem(status, title, detail)


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return problem(400, "Bad Request", "; ".join(parts) or "invalid request")
