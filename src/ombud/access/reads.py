"""A requester's signed read: what a third party signs, with the Ed25519 key its request
records, for each read of a subject's data under that request.

Threat model: a token's holder or the operator reads without the requester asking, or replays,
holds back or moves a signed read (to another subject, category, request or deployment); only
the requester's signature of exactly that read, here, near the clock given, verifies.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ombud.base64url import b64url, unb64url
from ombud.canonical import canonical_json
from ombud.clock import format_time, parse_time
from ombud.errors import (
    ForeignReadError,
    MalformedError,
    SignatureError,
    StaleReadError,
    UnsignedReadError,
)
from ombud.governance.roster import (
    check_id,
    check_origin,
    matches,
    verify_bound,
    verify_ed25519,
)

__all__ = [
    "READ_WINDOW",
    "SignedRead",
    "sign_read",
    "verify_read_origin",
    "verify_signed_read",
]

READ_WINDOW = timedelta(minutes=10)
"""How far a signed read's time may be from the server's clock, either way, when it is used."""
_DOMAIN = b"ombud-access-read/v1\n"
_HEX32 = re.compile(r"[0-9a-f]{32}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_KEYS = frozenset({"v", "origin", "request", "subject", "category", "nonce", "at", "signature"})


@dataclass(frozen=True)
class SignedRead:
    """The requester's statement of one read: the deployment (its log's ``origin``), the
    ``request``, the ``subject`` as the request's commitment to it (never the pseudonym), the
    ``category``, a fresh random ``nonce`` (32 hex digits) and the time ``at``; with the
    requester's Ed25519 ``signature`` over its ``signed_message``."""

    origin: str
    request: str
    subject: str
    category: str
    nonce: str
    at: datetime
    signature: bytes

    def __post_init__(self) -> None:
        check_origin(self.origin, "a signed read")
        if not matches(_HEX32, self.request):
            raise MalformedError("a signed read names its request's id (32 lowercase hex digits)")
        if not matches(_HEX64, self.subject):
            raise MalformedError("a signed read names its subject as the request's commitment")
        check_id(self.category, "a signed read's data category")
        if not matches(_HEX32, self.nonce):
            raise MalformedError("a signed read's nonce is 32 lowercase hex digits")
        format_time(self.at)
        if not isinstance(self.signature, bytes) or len(self.signature) != 64:
            raise MalformedError("a signed read's signature is 64 bytes")

    def _content(self) -> dict[str, Any]:
        return {
            "v": 1,
            "origin": self.origin,
            "request": self.request,
            "subject": self.subject,
            "category": self.category,
            "nonce": self.nonce,
            "at": format_time(self.at),
        }

    def signed_message(self) -> bytes:
        """What the requester signs: a domain separator, then the canonical statement."""
        return _DOMAIN + canonical_json(self._content(), "a signed read")

    def to_json(self) -> dict[str, Any]:
        return {**self._content(), "signature": b64url(self.signature)}

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json(), "a signed read")

    @classmethod
    def from_json(cls, obj: Any) -> SignedRead:
        if not isinstance(obj, dict) or set(obj) != _KEYS:
            raise MalformedError(f"a signed read is an object with exactly {sorted(_KEYS)}")
        if type(obj["v"]) is not int or obj["v"] != 1:
            raise MalformedError("a signed read is of version 1")
        return cls(
            obj["origin"],
            obj["request"],
            obj["subject"],
            obj["category"],
            obj["nonce"],
            parse_time(obj["at"]),
            unb64url(obj["signature"], "a signed read's signature", 64),
        )


def sign_read(
    request: str,
    subject: str,
    category: str,
    key: Ed25519PrivateKey,
    *,
    origin: str,
    at: datetime,
    nonce: str,
) -> SignedRead:
    """The requester's signed read of ``subject`` (the request's commitment to them) of
    ``category`` under ``request``, on the deployment whose log's origin is ``origin``, at
    ``at``, with a fresh random ``nonce`` (``secrets.token_hex(16)``)."""
    unsigned = SignedRead(origin, request, subject, category, nonce, at, b"\0" * 64)
    return SignedRead(
        origin, request, subject, category, nonce, at, key.sign(unsigned.signed_message())
    )


def verify_read_origin(read: SignedRead, origin: str) -> None:
    """None when ``read`` is signed for the deployment whose log's origin is ``origin``;
    raises ``ForeignReadError`` (signed for another deployment)."""
    verify_bound(
        read.origin, origin, recorded=False, what=("signed read", "read", "sign"),
        foreign=ForeignReadError, unbound=UnsignedReadError,
    )  # fmt: skip


def _same(signed: str, asked: object) -> bool:
    """Whether ``asked`` is the text that was signed (compared in constant time)."""
    return isinstance(asked, str) and hmac.compare_digest(
        signed.encode("utf-8", "surrogatepass"), asked.encode("utf-8", "surrogatepass")
    )


def verify_signed_read(
    read: SignedRead,
    key: str,
    *,
    origin: str,
    request: str,
    subject: str,
    category: str,
    now: datetime,
    window: timedelta = READ_WINDOW,
) -> None:
    """None when ``read`` is signed with ``key`` (the request's requester's, hex) for exactly
    this read: on the deployment whose log's origin is ``origin``, under ``request``, of the
    subject whose commitment there is ``subject``, of ``category``, within ``window`` of
    ``now``. Raises ``ForeignReadError`` (another deployment), ``SignatureError`` (not the
    key's signature, or a signature of another request, subject or category) or
    ``StaleReadError`` (signed too long before ``now``, or ahead of it)."""
    verify_read_origin(read, origin)
    if not matches(_HEX64, key):
        raise MalformedError("the requester's key is a 32-byte Ed25519 key in hex")
    verify_ed25519(
        bytes.fromhex(key),
        read.signature,
        read.signed_message(),
        "the read is not signed by the key the request records for its requester",
    )
    for what, signed, asked in (
        ("request", read.request, request),
        ("subject", read.subject, subject),
        ("data category", read.category, category),
    ):
        if not _same(signed, asked):
            raise SignatureError(f"the requester signed a read of another {what}")
    if not -window <= now - read.at <= window:
        raise StaleReadError(
            f"the read was signed for {format_time(read.at)}, more than "
            f"{int(window.total_seconds() // 60)} minutes from the server's clock "
            f"({format_time(now)}): the requester signs it again"
        )
