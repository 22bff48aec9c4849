"""The API's OpenAPI description, made true: every answer a route gives is documented.

Threat model: clients, auditors and test generators (Schemathesis) trust the description to say
what a route answers. FastAPI describes validation failures as ``422`` while ombud answers
``400``, and knows nothing of the refusals routes raise themselves (``401``, ``403``, ``404``,
``409``, ``413``, ``415``, ``503``…). Routes declare those with ``problems(…)``; ``describe``
turns FastAPI's ``422`` into ombud's ``400``, adds ``400`` to every operation that takes
parameters and ``413`` and ``415`` (a content coding) to every one that takes a body, and gives
each refusal the format its route family answers in: RFC 9457 problem details, ETSI NGSI-LD
ProblemDetails, or GeoReport v2 errors. A test runs Schemathesis' response-conformance checks
against the result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

__all__ = ["describe", "problems"]

_REASONS = {
    400: "Malformed request: the detail says what is wrong.",
    401: "No valid credential: a missing, unknown, wrong or revoked token or key.",
    403: "A valid credential that may not do this (the scope, the consent or the budget).",
    404: "Nothing is there (or it is not published yet).",
    405: "The method is not allowed here; Allow lists those that are.",
    406: "The representation asked for (Accept) is not one this route gives.",
    409: "It exists already, or was used already.",
    410: "Gone: the data was erased.",
    413: "The body is over the size cap (the connection is then closed).",
    415: "The body's content type is not one this route takes, or it has a content coding.",
    422: "Well formed, but it does not verify.",
    503: "A service ombud needs is unavailable (storage, the vault's master key); retry later.",
}
_PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
}
_NGSI_LD_PROBLEM = {
    **_PROBLEM,
    "description": "ETSI GS CIM 009 ProblemDetails (type under "
    "https://uri.etsi.org/ngsi-ld/errors/).",
}
_OPEN311_ERRORS = {
    "type": "array",
    "description": "GeoReport v2 errors.",
    "items": {
        "type": "object",
        "required": ["code", "description"],
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
    },
}
_FAMILIES = (
    ("/ngsi-ld/", "application/json", "NgsiLdProblemDetails", _NGSI_LD_PROBLEM),
    ("/open311/", "application/json", "GeoReportErrors", _OPEN311_ERRORS),
    ("/", "application/problem+json", "ProblemDetails", _PROBLEM),
)
_VALIDATION = "#/components/schemas/HTTPValidationError"


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route for the refusals it raises itself (their format is set
    by ``describe`` from the route's family)."""
    return {status: {"description": _REASONS[status]} for status in statuses}


def _family(path: str) -> tuple[str, str, dict[str, Any]]:
    for prefix, media, name, schema in _FAMILIES:
        if path.startswith(prefix):
            return media, name, schema
    raise AssertionError("every path starts with /")


def _is_validation(response: dict[str, Any]) -> bool:
    content = response.get("content", {})
    return any(m.get("schema", {}).get("$ref") == _VALIDATION for m in content.values())


def _rewrite(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for path, item in document.get("paths", {}).items():
        media, name, schema = _family(path)
        schemas[name] = schema
        for operation in item.values():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            if "422" in responses and _is_validation(responses["422"]):
                del responses["422"]  # ombud answers validation failures with 400
            if operation.get("parameters") or operation.get("requestBody"):
                responses.setdefault("400", {"description": _REASONS[400]})
            if operation.get("requestBody"):
                responses.setdefault("413", {"description": _REASONS[413]})
                responses.setdefault("415", {"description": _REASONS[415]})
            for status, response in responses.items():
                if int(status) >= 400:
                    response["content"] = {
                        media: {"schema": {"$ref": f"#/components/schemas/{name}"}}
                    }
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document


def describe(app: FastAPI) -> None:
    """Make ``app``'s OpenAPI document say what its routes answer (built once, on first use)."""
    build: Callable[[], dict[str, Any]] = app.openapi
    done: list[dict[str, Any]] = []

    def described() -> dict[str, Any]:
        if not done:
            done.append(_rewrite(build()))
        return done[0]

    app.openapi = described  # type: ignore[method-assign]
