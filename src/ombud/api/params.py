"""Typed request parameters the API shares: times as RFC 3339 only, ids in their one form.

Threat model: a lenient parser gives a request a meaning its sender did not intend — pydantic
reads ``until=0.5`` as half a second after 1970 — and a query that silently means something
else is an answer nobody can trust. A time parameter is therefore an RFC 3339 date-time with a
time zone (``2026-12-04T10:00:00Z``, ``…+01:00``), or a 400 that says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from pydantic import BeforeValidator, WithJsonSchema

from ombud.clock import parse_rfc3339
from ombud.errors import MalformedError
from ombud.ingest.devices import DEVICE_ID

__all__ = ["DeviceId", "HexId", "Rfc3339", "only_query", "query_refusal"]

Rfc3339 = Annotated[
    datetime,
    BeforeValidator(parse_rfc3339),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""A parameter or body field that is an RFC 3339 date-time with a time zone."""

HexId = Annotated[str, Path(pattern="^[0-9a-f]{32}$", description="32 lower-case hex digits.")]
"""A path segment naming a post, a consent record or a release by its random id."""
DeviceId = Annotated[str, Path(pattern=f"^{DEVICE_ID.pattern}$", description="A device id.")]
"""A path segment naming a device, as the registry takes them."""


def query_refusal(names: Sequence[str], allowed: Sequence[str]) -> str | None:
    """What is wrong with a request's query parameter ``names``, or None: one the route does
    not implement, or one given more than once. Either would be answered by silently ignoring
    it (a misspelt ``distrct=north`` giving the whole report) or by the last value winning."""
    unknown = sorted({n for n in names if n not in allowed})
    if unknown:
        supported = ", ".join(allowed) if allowed else "none"
        return (
            f"query parameter(s) {ascii(unknown)[1:-1][:200]} are not supported here "
            f"(supported: {supported}); ombud does not ignore what it cannot answer"
        )
    repeated = sorted(n for n, count in Counter(names).items() if count > 1)
    if repeated:
        return f"query parameter(s) {', '.join(repeated)} given more than once"
    return None


def only_query(*allowed: str) -> Any:
    """A route dependency: a 400 (``MalformedError``) for a query parameter the route does not
    take or one given more than once (``query_refusal``)."""

    def check(request: Request) -> None:
        refusal = query_refusal([n for n, _ in request.query_params.multi_items()], allowed)
        if refusal is not None:
            raise MalformedError(refusal)

    return Depends(check)
