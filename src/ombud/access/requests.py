"""Third-party requests for residents' data, and the capability an approved one yields.

Threat model: police, tax offices, banks and researchers ask; the city must neither refuse
accountability nor hand over more than a request names. A request names who asks (an
organisation, a person, their key), whose data (subject pseudonyms), which categories, why
(purpose and legal basis), the time window of the data and when the permission ends. Its
capability allows exactly that and nothing after its expiry: ``verify_read`` returns None or
raises (``ExpiredError``, ``ScopeError``), so a read outside the scope cannot slip through. The
public record of a request is its ``public_view``: subjects appear only as salted commitments,
never as pseudonyms, and a sealed request shows nothing but its commitment and when it opens.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ombud.canonical import canonical_json
from ombud.clock import format_time, parse_time
from ombud.errors import ExpiredError, MalformedError, ScopeError
from ombud.governance.roster import check_id, matches

__all__ = [
    "MAX_SEAL",
    "AccessRequest",
    "Capability",
    "Requester",
    "subject_commitment",
]

MAX_SEAL = timedelta(days=180)
"""The longest a request may stay sealed unless the roster's policy states less."""
_TEXT = 500
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX32 = re.compile(r"[0-9a-f]{32}")
_MAX_SUBJECTS = 20


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= _TEXT or "\n" in value:
        raise MalformedError(f"{what} is one line of 1-{_TEXT} characters")
    return value


def subject_commitment(subject: str, salt: bytes) -> str:
    """What the public record shows of a subject: SHA-256(salt ‖ pseudonym), hex."""
    if len(salt) != 32:
        raise MalformedError("a subject commitment's salt is 32 bytes")
    return hashlib.sha256(salt + subject.encode()).hexdigest()


@dataclass(frozen=True)
class Requester:
    """Who asks: the organisation, the person acting for it, and their Ed25519 key (hex)."""

    organisation: str
    person: str
    key: str

    def __post_init__(self) -> None:
        check_id(self.organisation, "the requesting organisation")
        check_id(self.person, "the requesting person")
        if not matches(_HEX64, self.key):
            raise MalformedError("the requester's key is a 32-byte Ed25519 key in hex")

    def to_json(self) -> dict[str, str]:
        return {"organisation": self.organisation, "person": self.person, "key": self.key}


@dataclass(frozen=True)
class AccessRequest:
    """What a third party asks for, as approvers sign it (its ``digest``)."""

    id: str
    requester: Requester
    subjects: tuple[str, ...]
    categories: tuple[str, ...]
    purpose: str
    legal_basis: str
    since: datetime
    until: datetime
    expires: datetime
    sealed_until: datetime | None = None

    def __post_init__(self) -> None:
        if not matches(_HEX32, self.id):
            raise MalformedError("a request id is 32 lowercase hex digits")
        if not 0 < len(self.subjects) <= _MAX_SUBJECTS:
            raise MalformedError(f"a request names 1 to {_MAX_SUBJECTS} subjects")
        for subject in self.subjects:
            _text(subject, "a subject pseudonym")
        if not self.categories:
            raise MalformedError("a request names the data categories it wants")
        for category in self.categories:
            check_id(category, "a data category")
        _text(self.purpose, "the purpose")
        _text(self.legal_basis, "the legal basis (a warrant reference, say)")
        if not self.since < self.until:
            raise MalformedError("the data window ends after it starts")
        for at in (self.since, self.until, self.expires):
            format_time(at)
        if self.sealed_until is not None:
            format_time(self.sealed_until)
        self.to_bytes()  # text that has no canonical JSON (a lone surrogate) is refused here

    def check_seal(self, now: datetime, longest: timedelta = MAX_SEAL) -> None:
        """None for an unsealed request or a seal within ``longest`` of ``now``; raises."""
        if self.sealed_until is not None:
            if self.sealed_until <= now:
                raise MalformedError("a seal opens in the future")
            if self.sealed_until - now > longest:
                raise MalformedError(f"a seal may last at most {longest.days} days")

    def to_json(self) -> dict[str, Any]:
        return {
            "v": 1,
            "id": self.id,
            "requester": self.requester.to_json(),
            "subjects": list(self.subjects),
            "categories": list(self.categories),
            "purpose": self.purpose,
            "legalBasis": self.legal_basis,
            "window": {"since": format_time(self.since), "until": format_time(self.until)},
            "expires": format_time(self.expires),
            "sealedUntil": None if self.sealed_until is None else format_time(self.sealed_until),
        }

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json(), "an access request")

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()

    def approval_digest(self, salt: bytes) -> str:
        """What an approval binds to: SHA-256(salt ‖ canonical request), salted with the
        request's public-record salt, so a published approval cannot be used to test a guess
        of the subjects (an unsalted digest of the whole request could)."""
        if len(salt) != 32:
            raise MalformedError("a request's salt is 32 bytes")
        return hashlib.sha256(salt + self.to_bytes()).hexdigest()

    def open_view(self, salt: bytes) -> dict[str, Any]:
        """The request as the public may see it once it is not sealed: everything, with the
        subjects as salted commitments."""
        view = self.to_json()
        view["subjects"] = [subject_commitment(s, salt) for s in self.subjects]
        return view

    def commitment(self, salt: bytes) -> str:
        """What a sealed request shows: SHA-256(salt ‖ canonical open view). The disclosure
        publishes the open view and the salt, so anyone can check it against the seal."""
        if len(salt) != 32:
            raise MalformedError("a seal's salt is 32 bytes")
        return hashlib.sha256(salt + canonical_json(self.open_view(salt))).hexdigest()

    def public_view(self, salt: bytes) -> dict[str, Any]:
        """What the ledger and the public see: the open view, or for a sealed request only its
        commitment and when it opens."""
        if self.sealed_until is not None:
            return {
                "sealed": True,
                "commitment": self.commitment(salt),
                "sealedUntil": format_time(self.sealed_until),
            }
        return {"sealed": False, **self.open_view(salt)}

    @classmethod
    def from_json(cls, obj: Any) -> AccessRequest:
        keys = {
            "v", "id", "requester", "subjects", "categories", "purpose", "legalBasis",
            "window", "expires", "sealedUntil",
        }  # fmt: skip
        if not isinstance(obj, dict) or set(obj) != keys or obj["v"] != 1:
            raise MalformedError(f"an access request is an object with exactly {sorted(keys)}")
        who, window = obj["requester"], obj["window"]
        if not isinstance(who, dict) or set(who) != {"organisation", "person", "key"}:
            raise MalformedError("a requester is {organisation, person, key}")
        if not isinstance(window, dict) or set(window) != {"since", "until"}:
            raise MalformedError("a window is {since, until}")
        if not isinstance(obj["subjects"], list) or not isinstance(obj["categories"], list):
            raise MalformedError("subjects and categories are lists")
        sealed = obj["sealedUntil"]
        return cls(
            obj["id"],
            Requester(who["organisation"], who["person"], who["key"]),
            tuple(obj["subjects"]),
            tuple(obj["categories"]),
            obj["purpose"],
            obj["legalBasis"],
            parse_time(window["since"]),
            parse_time(window["until"]),
            parse_time(obj["expires"]),
            None if sealed is None else parse_time(sealed),
        )


@dataclass(frozen=True)
class Capability:
    """What an approved request allows: its subjects' data of its categories, stored within
    its window, read before it expires."""

    request: str
    subjects: frozenset[str]
    categories: frozenset[str]
    since: datetime
    until: datetime
    expires: datetime

    @classmethod
    def of(cls, request: AccessRequest) -> Capability:
        return cls(
            request.id,
            frozenset(request.subjects),
            frozenset(request.categories),
            request.since,
            request.until,
            request.expires,
        )

    def verify_read(self, subject: str, category: str, stored: datetime, now: datetime) -> None:
        """None when reading ``subject``'s ``category`` item stored at ``stored`` is in scope
        at ``now``; raises ``ExpiredError`` or ``ScopeError`` naming what is outside."""
        if now >= self.expires:
            raise ExpiredError(f"the capability of request {self.request} expired")
        if subject not in self.subjects:
            raise ScopeError("that subject is not named by the request")
        if category not in self.categories:
            raise ScopeError(f"the request does not cover data of category {category!r}")
        if not self.since <= stored < self.until:
            raise ScopeError("that item was stored outside the request's time window")
