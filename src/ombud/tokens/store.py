"""Scoped bearer tokens for the admin routes: created by the operator, stored only as hashes.

Threat model: anyone on the network can call the API, so admin routes answer only to a token
that carries the scope they need. There are no default credentials — a deployment has no token
until ``ombud token create`` makes one and prints it once. The database keeps SHA-256 of the
secret part only (a stolen database grants nothing), the secret is compared in constant time,
and a token can be revoked. Tokens never appear in logs or error messages.

Token form: ``ombud_<id>_<secret>`` with a 12-hex-digit id (to find the row) and a 32-byte
URL-safe base64 secret.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ombud.base64url import b64url
from ombud.clock import format_time
from ombud.database import Database
from ombud.errors import ForbiddenError, MalformedError, NotFoundError, UnauthorizedError
from ombud.tokens import SCOPES

__all__ = ["SCOPES", "TokenInfo", "TokenStore"]

_TOKEN = re.compile(r"ombud_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class TokenInfo:
    id: str
    scopes: frozenset[str]
    note: str
    created: str
    revoked: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "scopes": sorted(self.scopes),
            "note": self.note,
            "created": self.created,
            "revoked": self.revoked,
        }


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii")).digest()


class TokenStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        scopes: set[str],
        note: str,
        *,
        now: datetime,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> tuple[TokenInfo, str]:
        """A new token with ``scopes``; returns its record and the token, shown only now."""
        unknown = scopes - set(SCOPES)
        if not scopes or unknown:
            raise MalformedError(
                f"unknown scope(s) {sorted(unknown)}; scopes are {', '.join(SCOPES)}"
                if unknown
                else "a token needs at least one scope"
            )
        if len(note) > 200:
            raise MalformedError("a token note is at most 200 characters")
        token_id = random_bytes(6).hex()
        secret = b64url(random_bytes(32))
        info = TokenInfo(token_id, frozenset(scopes), note, format_time(now), False)
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO tokens VALUES (?, ?, ?, ?, ?, 0)",
                (token_id, _digest(secret), " ".join(sorted(scopes)), note, info.created),
            )
        return info, f"ombud_{token_id}_{secret}"

    def revoke(self, token_id: str) -> None:
        with self.db.transaction() as tx:
            if not tx.execute("SELECT 1 FROM tokens WHERE id = ?", (token_id,)):
                raise NotFoundError(f"no token {token_id!r}")
            tx.execute("UPDATE tokens SET revoked = 1 WHERE id = ?", (token_id,))

    def list(self) -> Iterator[TokenInfo]:
        for row in self.db.read(
            "SELECT id, scopes, note, created, revoked FROM tokens ORDER BY created, id"
        ):
            yield TokenInfo(row[0], frozenset(row[1].split()), row[2], row[3], bool(row[4]))

    def authorize(self, authorization: str | None, scope: str) -> TokenInfo:
        """Check an ``Authorization: Bearer …`` header value for ``scope``.

        ``UnauthorizedError`` for a missing, malformed, unknown, wrong or revoked token;
        ``ForbiddenError`` for a valid token without the scope.
        """
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise UnauthorizedError(f"this route needs a bearer token with scope {scope}")
        match = _TOKEN.fullmatch(token.strip())
        if match is None:
            raise UnauthorizedError("the bearer token is not an ombud token")
        token_id, secret = match.groups()
        rows = self.db.read(
            "SELECT digest, scopes, note, created, revoked FROM tokens WHERE id = ?", (token_id,)
        )
        # Compare even when the id is unknown, so timing says nothing about which ids exist.
        stored = bytes(rows[0][0]) if rows else b"\0" * 32
        if not hmac.compare_digest(stored, _digest(secret)) or not rows or rows[0][4]:
            raise UnauthorizedError("the bearer token is unknown, wrong or revoked")
        scopes = frozenset(rows[0][1].split())
        if scope not in scopes:
            raise ForbiddenError(f"the token lacks scope {scope}")
        return TokenInfo(token_id, scopes, rows[0][2], rows[0][3], False)
