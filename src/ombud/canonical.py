"""JSON with one meaning: strict parsing and RFC 8785 canonical serialisation.

Threat model: JSON from devices and residents is hostile input, and what ombud signs, hashes or
logs must have exactly one byte encoding. Parsing refuses invalid UTF-8, duplicate member names
(which parsers resolve differently) and the non-JSON constants NaN and ±Infinity; serialising
uses the JSON Canonicalization Scheme (RFC 8785) via ``rfc8785``.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

from ombud.errors import MalformedError

__all__ = ["canonical_json", "parse_json"]


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise MalformedError(f"duplicate JSON member {key!r}")
        obj[key] = value
    return obj


def _reject_constant(name: str) -> None:
    raise MalformedError(f"{name} is not JSON")


def parse_json(data: bytes, what: str = "input", *, max_depth: int | None = None) -> Any:
    """Parse UTF-8 JSON strictly; ``MalformedError`` names ``what`` was wrong.

    Duplicate members, NaN and Infinity are refused; so is nesting deeper than ``max_depth``
    (input from the network: deep nesting is a denial-of-service, never a sensor reading).
    """
    try:
        value = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant,
        )
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise MalformedError(f"{what} is not JSON: {exc}") from None
    if max_depth is not None:
        _check_depth(value, max_depth, what)
    return value


def _check_depth(value: Any, max_depth: int, what: str) -> None:
    level = [value] if isinstance(value, (dict, list)) else []
    depth = 0
    while level:
        depth += 1
        if depth > max_depth:
            raise MalformedError(f"{what} nests deeper than {max_depth} levels")
        level = [
            child
            for item in level
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, (dict, list))
        ]


def canonical_json(value: Any, what: str = "value") -> bytes:
    """RFC 8785 canonical bytes of ``value``; ``MalformedError`` if it has none (NaN, 2**60)."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise MalformedError(f"{what} cannot be canonicalised as JSON (RFC 8785): {exc}") from None
