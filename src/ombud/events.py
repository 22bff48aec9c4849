"""Events: the facts ombud records, as leaves of the ledger.

Threat model: a leaf is public and permanent, so it must have exactly one byte encoding (RFC
8785 JSON Canonicalization, checked on the way in, so two encodings of one event cannot both be
logged) and must never hold personal data: personal payloads stay off the ledger and the leaf
carries a salted commitment ``SHA-256(salt || payload)``, which says nothing once the salt is
destroyed (crypto-shredding) yet still proves the payload when both are shown.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from ombud.canonical import canonical_json, parse_json
from ombud.clock import format_time, parse_time
from ombud.errors import MalformedError, VerificationError

__all__ = [
    "ENVELOPE_VERSION",
    "KINDS",
    "MAX_EVENT_SIZE",
    "SALT_SIZE",
    "Event",
    "commit",
    "new_salt",
    "verify_commitment",
]

ENVELOPE_VERSION = 1
SALT_SIZE = 32

KINDS = frozenset(
    {
        "device.registered",
        "device.revoked",
        "device.quarantined",
        "device.released",
        "observation.accepted",
        "observation.quarantined",
        "observation.released",
        "issuer.key_published",
        "post.accepted",
        "post.flagged",
        "consent.granted",
        "consent.withdrawn",
        "subject.erased",
        "payload.stored",
        "payload.purged",
        "dp.released",
        "access.requested",
        "access.approved",
        "access.read",
        "access.denied",
        "seal.disclosed",
        "roster.changed",
        "action.requested",
        "action.signed",
        "action.refused",
        "settings.changed",
        "tender.published",
        "bid.committed",
        "bid.revealed",
        "award.made",
        "tender.closed",
        "deadline.reached",
        "bid.refused",
        "vote.cast",
        "vote.refused",
        "motion.tabled",
        "decision.recorded",
        "result.updated",
        "witness.policy_changed",
        "log.key_rotated",
    }
)
"""Every event kind ombud records: dotted noun + past participle (DESIGN §4)."""

_FIELDS = {"v", "kind", "at", "actor", "body"}
_MAX_ACTOR = 200
MAX_EVENT_SIZE = 65535
"""A ledger entry's limit (c2sp.org/tlog-tiles: a uint16 length prefix in entry bundles). The
ledger enforces it; an event checks it when it is made, to say which event was too large."""


@dataclass(frozen=True)
class Event:
    """``{"v":1,"kind":…,"at":…,"actor":…,"body":{…}}`` — one leaf of the ledger."""

    kind: str
    at: datetime
    actor: str
    body: Mapping[str, Any]

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise MalformedError(f"unknown event kind {self.kind!r}")
        if not isinstance(self.actor, str) or not 0 < len(self.actor) <= _MAX_ACTOR:
            raise MalformedError(f"event actor must be 1 to {_MAX_ACTOR} characters")
        if not isinstance(self.body, Mapping):
            raise MalformedError("event body must be a JSON object")
        version = self.body.get("v")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise MalformedError("event body must carry its version as a positive integer 'v'")
        format_time(self.at)
        object.__setattr__(self, "body", MappingProxyType(dict(self.body)))

    def to_json(self) -> dict[str, Any]:
        return {
            "v": ENVELOPE_VERSION,
            "kind": self.kind,
            "at": format_time(self.at),
            "actor": self.actor,
            "body": dict(self.body),
        }

    def to_bytes(self) -> bytes:
        """The canonical bytes that become the ledger leaf."""
        data = canonical_json(self.to_json())
        if len(data) > MAX_EVENT_SIZE:
            raise MalformedError(
                f"event is {len(data)} bytes; ledger entries are at most {MAX_EVENT_SIZE}"
            )
        return data

    @classmethod
    def from_bytes(cls, data: bytes) -> Event:
        """Parse a leaf; refuses anything that is not exactly the canonical encoding."""
        obj = parse_json(data, "event")
        if not isinstance(obj, dict) or set(obj) != _FIELDS:
            raise MalformedError(f"an event is an object with exactly {sorted(_FIELDS)}")
        if obj["v"] != ENVELOPE_VERSION or isinstance(obj["v"], bool):
            raise MalformedError(f"unsupported event envelope version {obj['v']!r}")
        if not isinstance(obj["at"], str):
            raise MalformedError("event time must be a string")
        event = cls(obj["kind"], parse_time(obj["at"]), obj["actor"], obj["body"])
        if canonical_json(obj) != data:
            raise MalformedError("event is not in RFC 8785 canonical form")
        return event


def new_salt(random_bytes: Callable[[int], bytes] = os.urandom) -> bytes:
    return random_bytes(SALT_SIZE)


def commit(payload: bytes, salt: bytes) -> bytes:
    """The salted commitment ``SHA-256(salt || payload)`` a leaf holds instead of a payload."""
    if len(salt) != SALT_SIZE:
        raise MalformedError(f"a commitment salt is {SALT_SIZE} bytes")
    return hashlib.sha256(salt + payload).digest()


def verify_commitment(commitment: bytes, payload: bytes, salt: bytes) -> None:
    """Check that ``payload`` and ``salt`` open ``commitment`` (constant-time comparison)."""
    if not hmac.compare_digest(commit(payload, salt), commitment):
        raise VerificationError("payload and salt do not match the commitment")
