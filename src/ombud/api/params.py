"""Typed request parameters the API shares: times as RFC 3339 only, ids in their one form.

Threat model: a lenient parser gives a request a meaning its sender did not intend — pydantic
reads ``until=0.5`` as half a second after 1970 — and a query that silently means something
else is an answer nobody can trust. A time parameter is therefore an RFC 3339 date-time with a
time zone (``2026-12-04T10:00:00Z``, ``…+01:00``), or a 400 that says so.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Path
from pydantic import BeforeValidator, WithJsonSchema

from ombud.clock import parse_rfc3339
from ombud.ingest.devices import DEVICE_ID

__all__ = ["DeviceId", "HexId", "Rfc3339"]

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
