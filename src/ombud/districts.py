"""District ids: how ombud names a district or a grid cell, never an address or a point.

Threat model: a district id comes from devices, residents, staff and signed documents, and is
written into SQL parameters, ledger events, page paths, feeds and filters; one pattern, checked
wherever one comes in, keeps it to short ASCII names with nothing a path, a header, a query or
a CSV could split on, and too coarse to be a resident's location.
"""

from __future__ import annotations

import re
from typing import TypeGuard

__all__ = ["DISTRICT_PATTERN", "DISTRICT_RULE", "is_district"]

DISTRICT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
"""A district id, anchored, as OpenAPI parameters state it."""
DISTRICT_RULE = "1-64 letters, digits and . _ -, starting with a letter or digit"
"""The pattern in words, for refusals."""

_DISTRICT = re.compile(DISTRICT_PATTERN)


def is_district(value: object) -> TypeGuard[str]:
    """Whether ``value`` is a district id (a value of another type, from hostile JSON, is
    simply not one)."""
    return isinstance(value, str) and _DISTRICT.fullmatch(value) is not None
