"""Third-party requests for residents' data, and the capability an approved one yields.

Threat model: police, tax offices, banks and researchers ask; the city must neither refuse
accountability nor hand over more than a request names. A request names who asks (an
organisation, a person, their key), whose data (subject pseudonyms), which categories, why
(purpose and legal basis), the time window of the data and when the permission ends. Its
capability allows exactly that and nothing after its expiry: ``verify_read`` returns None or
raises (``ExpiredError``, ``ScopeError``), so a read outside the scope cannot slip through. The
public record of a request is its ``FiledRequest``: subjects appear only as commitments, each
under a salt of its own that is never published (``AccessRequest.file``) — not the seal's salt,
which a disclosure publishes — so neither the public nor a database that outlives an erasure
can test a guess of a pseudonym; a sealed request shows nothing but its commitment and when it
opens.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
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
    "FiledRequest",
    "Requester",
    "subject_commitment",
]

MAX_SEAL = timedelta(days=180)
"""The longest a request may stay sealed unless the roster's policy states less."""
_TEXT = 500
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX32 = re.compile(r"[0-9a-f]{32}")
_MAX_SUBJECTS = 20
_APPROVAL = b"ombud-access-approval\0"


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= _TEXT or "\n" in value:
        raise MalformedError(f"{what} is one line of 1-{_TEXT} characters")
    return value


def subject_commitment(subject: str, salt: bytes) -> str:
    """What the public record shows of a subject: SHA-256(salt ‖ pseudonym), hex, where
    ``salt`` is that subject's own in that request (never published; the resident gets it at
    ``/me/access``). Events of version 1 used the request's salt, which a disclosure
    publishes."""
    if len(salt) != 32:
        raise MalformedError("a subject commitment's salt is 32 bytes")
    return hashlib.sha256(salt + subject.encode()).hexdigest()


def _check_terms(
    request_id: str,
    categories: tuple[str, ...],
    purpose: str,
    legal_basis: str,
    since: datetime,
    until: datetime,
    expires: datetime,
    sealed_until: datetime | None,
) -> None:
    """What a request and a filed request check alike: everything but the subjects."""
    if not matches(_HEX32, request_id):
        raise MalformedError("a request id is 32 lowercase hex digits")
    if not categories:
        raise MalformedError("a request names the data categories it wants")
    for category in categories:
        check_id(category, "a data category")
    _text(purpose, "the purpose")
    _text(legal_basis, "the legal basis (a warrant reference, say)")
    if not since < until:
        raise MalformedError("the data window ends after it starts")
    for at in (since, until, expires):
        format_time(at)
    if sealed_until is not None:
        format_time(sealed_until)


def _to_json(r: AccessRequest | FiledRequest, subjects: tuple[str, ...]) -> dict[str, Any]:
    return {
        "v": 1,
        "id": r.id,
        "requester": r.requester.to_json(),
        "subjects": list(subjects),
        "categories": list(r.categories),
        "purpose": r.purpose,
        "legalBasis": r.legal_basis,
        "window": {"since": format_time(r.since), "until": format_time(r.until)},
        "expires": format_time(r.expires),
        "sealedUntil": None if r.sealed_until is None else format_time(r.sealed_until),
    }


_KEYS = {
    "v", "id", "requester", "subjects", "categories", "purpose", "legalBasis", "window",
    "expires", "sealedUntil",
}  # fmt: skip


def _from_json(obj: Any) -> tuple[Any, ...]:
    """The fields of a request's JSON, in the dataclasses' order (subjects as they are)."""
    if not isinstance(obj, dict) or set(obj) != _KEYS or obj["v"] != 1:
        raise MalformedError(f"an access request is an object with exactly {sorted(_KEYS)}")
    who, window = obj["requester"], obj["window"]
    if not isinstance(who, dict) or set(who) != {"organisation", "person", "key"}:
        raise MalformedError("a requester is {organisation, person, key}")
    if not isinstance(window, dict) or set(window) != {"since", "until"}:
        raise MalformedError("a window is {since, until}")
    if not isinstance(obj["subjects"], list) or not isinstance(obj["categories"], list):
        raise MalformedError("subjects and categories are lists")
    sealed = obj["sealedUntil"]
    return (
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
        _check_terms(
            self.id, self.categories, self.purpose, self.legal_basis, self.since, self.until,
            self.expires, self.sealed_until,
        )  # fmt: skip
        if not 0 < len(self.subjects) <= _MAX_SUBJECTS:
            raise MalformedError(f"a request names 1 to {_MAX_SUBJECTS} subjects")
        for subject in self.subjects:
            _text(subject, "a subject pseudonym")
        if len(set(self.subjects)) != len(self.subjects):
            raise MalformedError("a request names each subject once")
        self.to_bytes()  # text that has no canonical JSON (a lone surrogate) is refused here

    def check_seal(self, now: datetime, longest: timedelta = MAX_SEAL) -> None:
        """None for an unsealed request or a seal within ``longest`` of ``now``; raises."""
        if self.sealed_until is not None:
            if self.sealed_until <= now:
                raise MalformedError("a seal opens in the future")
            if self.sealed_until - now > longest:
                raise MalformedError(f"a seal may last at most {longest.days} days")

    def to_json(self) -> dict[str, Any]:
        """The request in full, subjects named: what the requester files, never published."""
        return _to_json(self, self.subjects)

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json(), "an access request")

    @property
    def digest(self) -> str:
        """SHA-256 of the whole request, subjects named: never published (it would let anyone
        test a guess of them)."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    def file(self, salts: Sequence[bytes]) -> FiledRequest:
        """The request as ombud keeps and publishes it: each subject as its commitment under
        its own salt (``salts``, one of 32 bytes per subject, in order, each kept secret)."""
        if len(salts) != len(self.subjects):
            raise MalformedError("a filed request needs one salt per subject")
        return FiledRequest(
            self.id,
            self.requester,
            tuple(
                subject_commitment(s, salt) for s, salt in zip(self.subjects, salts, strict=True)
            ),
            self.categories,
            self.purpose,
            self.legal_basis,
            self.since,
            self.until,
            self.expires,
            self.sealed_until,
        )

    @classmethod
    def from_json(cls, obj: Any) -> AccessRequest:
        return cls(*_from_json(obj))


@dataclass(frozen=True)
class FiledRequest:
    """An access request as ombud files it, approvers sign it and the public sees it once it
    is not sealed: everything the request says, with each subject only as its commitment
    (``subject_commitment`` under that subject's own secret salt). Nothing in it names a
    subject, so it outlives an erasure; a commitment whose salt was erased says nothing."""

    id: str
    requester: Requester
    commitments: tuple[str, ...]
    categories: tuple[str, ...]
    purpose: str
    legal_basis: str
    since: datetime
    until: datetime
    expires: datetime
    sealed_until: datetime | None = None

    def __post_init__(self) -> None:
        _check_terms(
            self.id, self.categories, self.purpose, self.legal_basis, self.since, self.until,
            self.expires, self.sealed_until,
        )  # fmt: skip
        if not 0 < len(self.commitments) <= _MAX_SUBJECTS:
            raise MalformedError(f"a request names 1 to {_MAX_SUBJECTS} subjects")
        for commitment in self.commitments:
            if not matches(_HEX64, commitment):
                raise MalformedError("a filed request holds each subject as a SHA-256 commitment")
        self.to_bytes()

    def to_json(self) -> dict[str, Any]:
        """The open view: the request's JSON, ``subjects`` holding the commitments."""
        return _to_json(self, self.commitments)

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json(), "a filed access request")

    @classmethod
    def from_json(cls, obj: Any) -> FiledRequest:
        return cls(*_from_json(obj))

    def approval_digest(self, salt: bytes) -> str:
        """What an approval binds to: SHA-256("ombud-access-approval" 0 ‖ salt ‖ canonical
        filed request), with the request's seal salt, so a published approval of a sealed
        request says nothing of it before the seal opens. The commitments bind the subjects;
        no guess of them can be tested, even once the seal's salt is published, since each has
        its own secret salt. (Requests filed before that binding keep the digest they were
        approved under: ``AccessBook`` stores it.)"""
        if len(salt) != 32:
            raise MalformedError("a request's salt is 32 bytes")
        return hashlib.sha256(_APPROVAL + salt + self.to_bytes()).hexdigest()

    def commitment(self, salt: bytes) -> str:
        """What a sealed request shows: SHA-256(salt ‖ canonical open view). The disclosure
        publishes the open view and this salt, so anyone can check it against the seal; the
        salt opens the seal only, never a subject's commitment."""
        if len(salt) != 32:
            raise MalformedError("a seal's salt is 32 bytes")
        return hashlib.sha256(salt + self.to_bytes()).hexdigest()

    def public_view(self, salt: bytes) -> dict[str, Any]:
        """What the ledger and the public see: the open view, or for a sealed request only its
        commitment and when it opens."""
        if self.sealed_until is not None:
            return {
                "sealed": True,
                "commitment": self.commitment(salt),
                "sealedUntil": format_time(self.sealed_until),
            }
        return {"sealed": False, **self.to_json()}


@dataclass(frozen=True)
class Capability:
    """What an approved request allows: its subjects' data of its categories, stored within
    its window, read before it expires. Its ``subjects`` are what the request holds of them:
    the pseudonyms of an ``AccessRequest``, the commitments of a ``FiledRequest``."""

    request: str
    subjects: frozenset[str]
    categories: frozenset[str]
    since: datetime
    until: datetime
    expires: datetime

    @classmethod
    def of(cls, request: AccessRequest | FiledRequest) -> Capability:
        subjects = request.subjects if isinstance(request, AccessRequest) else request.commitments
        return cls(
            request.id,
            frozenset(subjects),
            frozenset(request.categories),
            request.since,
            request.until,
            request.expires,
        )

    def verify_read(self, subject: str, category: str, stored: datetime, now: datetime) -> None:
        """None when reading ``subject``'s ``category`` item stored at ``stored`` is in scope
        at ``now`` (``subject`` as the request holds it: a pseudonym or a commitment); raises
        ``ExpiredError`` or ``ScopeError`` naming what is outside."""
        if now >= self.expires:
            raise ExpiredError(f"the capability of request {self.request} expired")
        if subject not in self.subjects:
            raise ScopeError("that subject is not named by the request")
        if category not in self.categories:
            raise ScopeError(f"the request does not cover data of category {category!r}")
        if not self.since <= stored < self.until:
            raise ScopeError("that item was stored outside the request's time window")
