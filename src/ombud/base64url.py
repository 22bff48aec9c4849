"""Unpadded base64url (RFC 4648 §5), the spelling ombud writes keys, signatures, salts and
tokens in, and its one strict reader.

Threat model: such text comes from residents, bidders and signed documents. A lenient decoder
drops characters outside the alphabet and ignores the unused low bits of the last character,
so many texts would read as the same bytes; this one takes only the canonical text of some
bytes (optionally padded), of a bounded length, and refuses everything else by name.
"""

from __future__ import annotations

import base64
import binascii

from ombud.errors import MalformedError

__all__ = ["b64url", "unb64url"]


def b64url(data: bytes) -> str:
    """``data`` as unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(
    text: object, what: str, size: int | None = None, *, most: int = 200, padded: bool = False
) -> bytes:
    """The bytes ``b64url`` wrote (``size`` of them, when given), from at most ``most``
    characters, with ``=`` padding allowed when ``padded``; ``MalformedError`` naming ``what``
    for anything else."""
    if not isinstance(text, str) or len(text) > most:
        raise MalformedError(f"{what} is base64url text")
    bare = text.rstrip("=") if padded else text
    if bare != text and text != bare + "=" * (-len(bare) % 4):
        raise MalformedError(f"{what} is not canonical base64url (its padding is wrong)")
    try:
        data = base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))
    except (binascii.Error, ValueError):
        raise MalformedError(f"{what} is not base64url") from None
    if b64url(data) != bare:
        raise MalformedError(f"{what} is not canonical base64url")
    if size is not None and len(data) != size:
        raise MalformedError(f"{what} is {size} bytes in base64url, not {len(data)}")
    return data
