r"""JSON with one meaning: strict parsing and RFC 8785 canonical serialisation.

Threat model: JSON from devices and residents is hostile input, and what ombud signs, hashes or
logs must have exactly one byte encoding. Parsing refuses invalid UTF-8, duplicate member names
(which parsers resolve differently), the non-JSON constants NaN and ±Infinity, and strings
holding a lone surrogate (an escape such as ``\ud800`` that is no character: I-JSON, RFC 7493
§2.1; no store, log or response could encode it); serialising uses the JSON Canonicalization
Scheme (RFC 8785), and every number it writes reads back as the same number: whole numbers
outside ±(2**53 - 1), the exact range of I-JSON (RFC 7493 §2.2), are refused whether they are
written as integers or as floats (1e16), since ECMAScript writes both as plain digits.

Serialisation is on the ingest hot path (each observation is canonicalised several times), so
``canonical_json`` is a compact implementation of RFC 8785 §3.2 built on the standard library's
C string escaper, whose escaping is exactly §3.2.2.2's (``\b \t \n \f \r \" \\``, other
controls as lowercase ``\u00xx``, everything else as is). It defers to the ``rfc8785`` package
for the rare floats whose ECMAScript form differs from Python's ``repr`` (exponents), and the
tests check both agree on arbitrary JSON values.
"""

from __future__ import annotations

import json
import math
import re
from json.encoder import encode_basestring
from typing import Any

import rfc8785

from ombud.errors import MalformedError

__all__ = [
    "CanonicalMembers",
    "canonical_json",
    "is_json_number",
    "is_plain_text",
    "is_text",
    "parse_json",
]

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
"""Where a lone surrogate could come from in UTF-8 JSON (UTF-8 itself cannot encode one)."""


def is_text(value: str) -> bool:
    """Whether ``value`` is Unicode text: no lone surrogate (which JSON escapes, and Python's
    ``surrogateescape`` for undecodable bytes in arguments and file names, can produce)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
"""C0 and C1 controls but tab and line ends (Unicode category Cc, less \\t, \\n and \\r)."""


def is_plain_text(value: str) -> bool:
    """Whether ``value`` is text (``is_text``) with no control character but tab and line
    ends: what pages, feeds and databases carry as written (XML 1.0 refuses a document with a
    C0 control whole; PostgreSQL refuses NUL, which SQLite keeps)."""
    return is_text(value) and _CONTROL.search(value) is None


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):  # the fast check; name the culprit only when there is one
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise MalformedError(f"duplicate JSON member {key!r}")
            seen.add(key)
    return obj


def _reject_constant(name: str) -> None:
    raise MalformedError(f"{name} is not JSON")


def parse_json(data: bytes, what: str = "input", *, max_depth: int | None = None) -> Any:
    """Parse UTF-8 JSON strictly; ``MalformedError`` names ``what`` was wrong.

    Duplicate members, NaN, Infinity and lone surrogates are refused; so is nesting deeper than
    ``max_depth`` (input from the network: deep nesting is a denial-of-service, never a sensor
    reading).
    """
    try:
        value = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant,
        )
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise MalformedError(f"{what} is not JSON: {exc}") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise MalformedError(f"{what} is not JSON ombud accepts: {str(exc)[:100]}") from None
    if max_depth is not None:
        _check_depth(value, max_depth, what)
    if _SURROGATE_ESCAPE.search(data):
        _check_text(value, what)
    return value


def _check_text(value: Any, what: str) -> None:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.values())
            pending.extend(item)  # the member names
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str) and not is_text(item):
            raise MalformedError(
                f"{what} holds a lone surrogate: an escape such as \\ud800 that is no character"
            )


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


_INT_LIMIT = 2**53 - 1  # RFC 8785 §3.2.2.3: numbers are IEEE 754 doubles; larger ints are not exact


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def is_json_number(value: float) -> bool:
    """Whether ``canonical_json`` writes the float ``value`` as a number that reads back as
    itself: finite, and not a whole number between the exact range (±(2^53 - 1)) and 1e21,
    which RFC 8785 writes as plain digits that I-JSON's exact range refuses."""
    if not math.isfinite(value):
        return False
    return not value.is_integer() or abs(value) <= _INT_LIMIT or abs(value) >= 1e21


def _float(value: float) -> str:
    if not is_json_number(value):
        if not math.isfinite(value):
            raise MalformedError("NaN and infinities are not JSON numbers")
        # ECMAScript writes these as plain digits (1e16 as 10000000000000000): an integer
        # outside the exact range, which ombud refuses, so the text could not be read back.
        raise MalformedError(
            f"number {value!r} is a whole number outside the exact range of JSON numbers"
        )
    if value.is_integer() and -_INT_LIMIT <= value <= _INT_LIMIT:
        return str(int(value))  # exact, and what ECMAScript writes (no ".0")
    text = repr(value)
    if "e" in text or value.is_integer():
        # Exponents (and whole numbers from 1e21, written with one) differ between Python and
        # ECMAScript (§3.2.2.3): the reference implementation handles those.
        return rfc8785.dumps(value).decode("ascii")
    return text


def _serialise(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(encode_basestring(value))
    elif isinstance(value, dict):
        keys = list(value)
        try:
            plain = "".join(keys).isascii()
        except TypeError:
            raise MalformedError("JSON object member names are strings") from None
        # §3.2.3: members sorted by the UTF-16 code units of their names; for ASCII names
        # that is plain string order.
        keys.sort(key=None if plain else _utf16_key)
        out.append("{")
        first = True
        for key in keys:
            if not first:
                out.append(",")
            first = False
            out.append(encode_basestring(key))
            out.append(":")
            _serialise(value[key], out)
        out.append("}")
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if not -_INT_LIMIT <= value <= _INT_LIMIT:
            raise MalformedError(f"integer {value} is outside the exact range of JSON numbers")
        out.append(str(int(value)))
    elif isinstance(value, float):
        out.append(_float(float(value)))
    elif isinstance(value, list | tuple):
        out.append("[")
        for position, item in enumerate(value):
            if position:
                out.append(",")
            _serialise(item, out)
        out.append("]")
    else:
        raise MalformedError(f"{type(value).__name__} is not a JSON value")


def canonical_json(value: Any, what: str = "value") -> bytes:
    """RFC 8785 canonical bytes of ``value``; ``MalformedError`` if it has none (NaN, 2**60)."""
    out: list[str] = []
    try:
        _serialise(value, out)
        return "".join(out).encode("utf-8")
    except MalformedError as exc:
        raise MalformedError(f"{what} cannot be canonicalised as JSON (RFC 8785): {exc}") from None
    except UnicodeEncodeError:
        raise MalformedError(
            f"{what} cannot be canonicalised as JSON (RFC 8785): it holds a lone surrogate"
        ) from None
    except RecursionError:
        raise MalformedError(f"{what} nests too deeply to canonicalise") from None


class CanonicalMembers:
    """An object's members, each serialised once (RFC 8785), to write the object whole and
    without some of them — a signed document with and without its ``proof`` — at the cost of
    one serialisation."""

    def __init__(self, obj: dict[str, Any], what: str = "value") -> None:
        if not isinstance(obj, dict):
            raise MalformedError(f"{what} is not a JSON object")
        names = list(obj)
        try:
            plain = "".join(names).isascii()
        except TypeError:
            raise MalformedError(f"{what}: JSON object member names are strings") from None
        names.sort(key=None if plain else _utf16_key)
        self._members = [(name, canonical_json(obj[name], what)) for name in names]

    def whole(self) -> bytes:
        return self.without()

    def without(self, *excluded: str) -> bytes:
        parts = [
            encode_basestring(name).encode("utf-8") + b":" + value
            for name, value in self._members
            if name not in excluded
        ]
        return b"{" + b",".join(parts) + b"}"
