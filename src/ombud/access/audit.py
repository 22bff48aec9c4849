"""Reads under access requests re-verified from a log's entries alone: what ``ombud access
verify`` runs on an export.

Threat model: the export is untrusted, and its writer (holding the log's key) may have read
without the requester asking, or without the roster allowing it: each allowed read must be
signed, by the key its request's record names, for exactly that read on this log, near its
time, its nonce used once (unsigned: only before the first); and it must fall under a request
whose ``access.approved`` carries the signatures the roster in force at its entry required
(``verify_approval``, the chain from the verifier's genesis: ``roster_in_force``), recorded
before it and never denied, before the request expires, of a category and a subject the
request names. A sealed request's record is the view its disclosure publishes, trusted only
when it opens the seal the request recorded (``SHA-256(salt ‖ view)``): else the writer could
disclose a view naming a key of its own, having signed the sealed reads with it; what its reads
were of is checked when it opens. What the log cannot show: the data window (items' storage
times are not recorded), and an approval's binding to an open request's record or to one of
version 1 (its digest is salted with the seal's salt, published only for a sealed request of
version 2): there the approval names the request by id and its requester.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ombud.access.reads import SignedRead, verify_signed_read
from ombud.access.requests import Capability, FiledRequest
from ombud.base64url import unb64url
from ombud.clock import format_time, parse_time
from ombud.errors import (
    ForbiddenError,
    MalformedError,
    OmbudError,
    ReplayError,
    VerificationError,
)
from ombud.events import Event
from ombud.governance.chain import RostersInForce, roster_in_force
from ombud.governance.roster import (
    ActionRequest,
    Approval,
    Roster,
    check_id,
    matches,
    verify_approval,
)
from ombud.ledger.note import b64decode

__all__ = ["ReadAudit", "audit_reads"]

_KINDS = frozenset(
    {"access.requested", "access.approved", "access.denied", "access.read", "seal.disclosed"}
)
_APPROVE = "access.approve"  # the roster's action class (``ombud.access.book.APPROVE``)
_APPROVED = frozenset({"v", "request", "rosterVersion", "approval", "approvals"})
_DENIED = frozenset({"v", "request", "officer", "reason"})
_SEALED_READ = frozenset({"nonce", "at", "signature"})
_HEX32 = re.compile(r"[0-9a-f]{32}")
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ReadAudit:
    """What ``audit_reads`` verified, of the reads a log records."""

    signed: int
    """Allowed reads, each signed by its request's requester for exactly that read."""
    sealed: int
    """Allowed reads under requests still sealed: their nonces are unique, but the subject and
    category their signature covers are published only when the seal opens."""
    unsigned: int
    """Allowed reads of version 1 or 2, from before reads were signed."""
    refused: int
    """Refused reads: nothing was read, and none needs a signature."""
    approved: int = 0
    """Approvals verified: each signed as the roster in force at its entry required."""
    unbound: int = 0
    """Of those, approvals whose digest the log cannot tie to the request's record (an open
    request, or one of version 1: see the module's threat model); they name it by id and its
    requester."""


@dataclass
class _Request:
    """What the audit keeps of a request the log recorded (never its whole record)."""

    key: str | None = None
    """The requester's key its record names (None while sealed)."""
    person: str | None = None
    """The person its record names as the requester (None while sealed)."""
    scope: Capability | None = None
    """What its approval allows: subjects, categories, expiry (None while sealed)."""
    decided: str | None = None
    """"approved" or "denied", once the log records it."""
    params: tuple[str, str] | None = None
    """The approval's requester and the digest it binds (until its record is known)."""
    digest: str | None = None
    """The approval digest its disclosed record gives (a sealed request of version 2)."""
    version: int = 2


def _record(request: _Request, filed: FiledRequest) -> None:
    """Keep of ``filed`` (a request's open record) what reads under it are checked against."""
    request.key, request.person = filed.requester.key, filed.requester.person
    request.scope = Capability.of(filed)


def _in_scope(
    scope: Capability, subject: Any, category: Any, at: datetime, *, unnamed: bool = False
) -> None:
    """None when a read at ``at`` of ``subject`` (its commitment) and ``category`` is before
    ``scope`` expires and within what it names (``Capability.verify_read``: the data window
    bounds items' storage times, which the log does not record); raises ``ExpiredError`` or
    ``ScopeError``. With ``unnamed``, a ``subject`` None (an unsigned read under a seal: its
    disclosure names no subject) is checked for all but its subject."""
    if unnamed and subject is None:
        subject = next(iter(scope.subjects))  # the one check the log cannot make, passed
    if not isinstance(subject, str) or not isinstance(category, str):
        raise MalformedError("a read names its subject's commitment and its category")
    scope.verify_read(subject, category, scope.since, at)


@dataclass(frozen=True)
class _Held:
    """A read under a request still sealed, as much of it as its disclosure is checked
    against (never the whole event: a hostile export's padding is not kept)."""

    index: int
    at: datetime
    outcome: str
    signed: tuple[str, datetime, bytes] | None
    """An allowed signed read's nonce, time and signature; None for any other."""


class _Audit:
    def __init__(self, origin: str, genesis: Roster | None) -> None:
        self.origin = origin
        self.genesis = genesis
        self.keys: dict[str, _Request] = {}  # every request the log recorded
        self.held: dict[str, list[_Held]] = {}  # reads under a request still sealed
        self.seals: dict[str, str] = {}  # a request still sealed -> the commitment it shows
        self.nonces: set[str] = set()
        self.signed = self.unsigned = self.refused = self.approved = self.unbound = 0
        self.bound = False  # a read was signed: from then on, every allowed read must be
        self.rosters: list[tuple[int, bytes]] = []  # the roster.changed entries
        self.in_force: RostersInForce | None = None  # from ``rosters``, rebuilt when one adds
        self.used: set[str] = set()  # the approvals carried out (their action's digest)
        self.named = False  # an approval named its deployment: from then on, every one must

    def roster(self, index: int, entry: bytes) -> None:
        self.rosters.append((index, entry))
        self.in_force = None

    def chain(self) -> RostersInForce:
        """The rosters in force, from the genesis (``roster_in_force``) to the last change
        read so far."""
        if self.in_force is None:
            links = roster_in_force(self.rosters, self.genesis, origin=self.origin)
            self.in_force = RostersInForce(links)
        return self.in_force

    def nonce(self, nonce: object) -> None:
        if not isinstance(nonce, str) or nonce in self.nonces:
            raise ReplayError("a signed read's nonce allowed another read before")
        self.nonces.add(nonce)

    def requested(self, event: Event) -> None:
        body = event.body
        request = check_id(body.get("request"), "a request id")
        if request in self.keys:
            raise MalformedError(f"access request {request} is recorded a second time")
        version = body.get("v")
        if type(version) is not int or version not in (1, 2):
            raise MalformedError(f"an access.requested of unknown version {str(version)[:10]}")
        kept = _Request(version=version)
        if body.get("sealed") is False:
            view = {k: v for k, v in body.items() if k not in ("sealed", "request")}
            filed = FiledRequest.from_json({**view, "v": 1})
            if filed.id != request:
                raise MalformedError(f"the record of {request} names another id, {filed.id}")
            _record(kept, filed)
            self.keys[request] = kept
            return
        seal = body.get("commitment")
        if not matches(_HEX64, seal):
            raise MalformedError("a sealed request shows its commitment (64 hex digits)")
        self.keys[request], self.held[request], self.seals[request] = kept, [], str(seal)

    def decided(self, event: Event, expected: frozenset[str]) -> tuple[str, _Request]:
        body = event.body
        if set(body) != expected or type(body["v"]) is not int or body["v"] != 1:
            raise MalformedError(f"{event.kind} is an object with exactly {sorted(expected)}, v 1")
        request = check_id(body["request"], "a request id")
        kept = self.keys.get(request)
        if kept is None:
            raise MalformedError(f"a decision on {request}, which the log did not record before")
        if kept.decided is not None:
            raise MalformedError(f"access request {request} was already {kept.decided}")
        return request, kept

    def denied(self, event: Event) -> None:
        _, kept = self.decided(event, _DENIED)
        check_id(event.body["officer"], "the officer")
        kept.decided = "denied"

    def approval(self, index: int, event: Event) -> None:
        """Check an ``access.approved``: an ``access.approve`` of its request, once, signed as
        the roster in force at its entry required, for this log (``verify_approval``)."""
        request, kept = self.decided(event, _APPROVED)
        body = event.body
        action = ActionRequest.from_json(body["approval"])
        shown = body["approvals"]
        if not isinstance(shown, list):
            raise MalformedError("an approval lists its signatures")
        approvals = [Approval.from_json(a) for a in shown]
        params = dict(action.params)
        if action.action != _APPROVE or set(params) != {"request", "digest"}:
            raise MalformedError(f"an approval is {_APPROVE} of a request and its digest")
        if params["request"] != request or not matches(_HEX64, params["digest"]):
            raise VerificationError(f"the approval of {request} is signed for another request")
        try:
            roster = self.chain().at(index)
        except VerificationError as exc:
            raise VerificationError(f"no roster in force to approve it: {exc}") from exc
        verify_approval(
            roster, action, approvals, now=event.at, origin=self.origin, used=self.used,
            recorded=not self.named,
        )  # fmt: skip
        if body["rosterVersion"] != roster.version:
            raise MalformedError("the approval names another roster version than its request")
        self.used.add(action.digest)
        self.named = self.named or action.origin is not None
        kept.decided, kept.params = "approved", (action.requester, str(params["digest"]))
        self.approved += 1
        self._bind(request, kept)

    def _bind(self, request: str, kept: _Request) -> None:
        """Hold a request's approval to its record, once both are known: signed for the
        requester it names and, where the log shows its salted digest, for that record."""
        if kept.params is None or kept.person is None:
            return
        person, digest = kept.params
        if person != kept.person:
            raise VerificationError(
                f"the approval of {request} names another requester than its record"
            )
        if kept.digest is None:
            self.unbound += 1
        elif digest != kept.digest:
            raise VerificationError(f"the approval of {request} was signed for another record")
        kept.params = None

    def allowed(self, request: str, kept: _Request) -> None:
        """None when the log approved ``request`` before a read it allowed; raises."""
        if kept.decided != "approved":
            raise ForbiddenError(
                f"an allowed read under {request}, which the log "
                + ("denied" if kept.decided == "denied" else "never approved")
            )

    def read(self, index: int, event: Event) -> None:
        body = event.body
        request = check_id(body.get("request"), "a request id")
        kept = self.keys.get(request)
        if kept is None:
            raise MalformedError(f"a read under {request}, which the log did not record")
        version, outcome = body.get("v"), body.get("outcome")
        if not isinstance(outcome, str) or len(outcome) > 32:
            raise MalformedError('a read\'s outcome is a code ("read", or why it was refused)')
        if outcome == "read":
            self.allowed(request, kept)
            if kept.scope is not None:
                _in_scope(kept.scope, body.get("subject"), body.get("category"), event.at)
        held = self.held.get(request)
        if held is not None and not (version == 3 and outcome == "read"):
            held.append(_Held(index, event.at, outcome, None))
        if version in (1, 2):
            if outcome != "read":
                self.refused += 1
            elif self.bound:
                raise MalformedError(
                    f"an unsigned read (version {version}) after the log's first signed read"
                )
            else:
                self.unsigned += 1
            return
        if type(version) is not int or version != 3:
            raise MalformedError(f"an access.read of unknown version {str(version)[:10]}")
        self.bound = True
        if outcome != "read":
            if body.get("read") is not None:
                raise MalformedError("a refused read carries no signed statement")
            self.refused += 1
            return
        key = kept.key
        if held is not None:  # sealed: its nonce now, the rest when the seal opens
            shown = body.get("read")
            if not isinstance(shown, Mapping) or set(shown) != _SEALED_READ:
                raise MalformedError(f"a read under a sealed request shows {sorted(_SEALED_READ)}")
            if not matches(_HEX32, shown["nonce"]):
                raise MalformedError("a signed read's nonce is 32 lowercase hex digits")
            signature = unb64url(shown["signature"], "a signed read's signature", 64)
            self.nonce(shown["nonce"])
            signed = (str(shown["nonce"]), parse_time(shown["at"]), signature)
            held.append(_Held(index, event.at, outcome, signed))
            return
        assert key is not None  # a request is sealed (held) until its disclosure names the key
        read = SignedRead.from_json(body.get("read"))
        verify_signed_read(
            read, key, origin=self.origin, request=request, subject=body["subject"],
            category=body["category"], now=event.at,
        )  # fmt: skip
        self.nonce(read.nonce)
        self.signed += 1

    def disclosed(self, index: int, event: Event) -> None:
        request = check_id(event.body.get("request"), "a request id")
        if request not in self.held:
            raise MalformedError(f"a disclosure of {request}, which the log did not seal")
        filed = _opened(self.seals.pop(request), request, event.body)
        kept = self.keys[request]
        _record(kept, filed)
        if event.body.get("v") == 2 and kept.version == 2:  # salted with the seal's salt
            kept.digest = filed.approval_digest(b64decode(event.body["salt"], "the seal's salt"))
        self._bind(request, kept)
        key, held, shown = filed.requester.key, self.held.pop(request), event.body["reads"]
        if not isinstance(shown, list) or len(shown) != len(held):
            raise MalformedError(
                f"the disclosure lists {len(shown) if isinstance(shown, list) else 0} reads; "
                f"the log recorded {len(held)} under the seal"
            )
        for read, listed in zip(held, shown, strict=True):
            try:
                self._disclosed_read(request, key, kept, read, listed)
            except OmbudError as exc:
                raise VerificationError(f"the read at entry {read.index}: {exc}") from exc

    def _disclosed_read(
        self, request: str, key: str, kept: _Request, held: _Held, listed: Any
    ) -> None:
        if not isinstance(listed, Mapping) or listed.get("outcome") != held.outcome:
            raise MalformedError("the disclosure lists it with another outcome")
        if listed.get("at") != format_time(held.at):
            raise MalformedError("the disclosure lists it at another time")
        if held.outcome == "read":
            assert kept.scope is not None  # its record was just disclosed
            subject, category = listed.get("subject"), listed.get("category")
            _in_scope(kept.scope, subject, category, held.at, unnamed=held.signed is None)
        if held.signed is None:
            return
        nonce, at, signature = held.signed
        read = SignedRead(
            self.origin, request, listed["subject"], listed["category"], nonce, at, signature
        )
        verify_signed_read(
            read, key, origin=self.origin, request=request, subject=read.subject,
            category=read.category, now=held.at,
        )  # fmt: skip
        self.signed += 1


def _opened(seal: str, request: str, disclosure: Mapping[str, Any]) -> FiledRequest:
    """The record of ``request`` its ``disclosure`` publishes (``view``), when it opens the
    request's ``seal`` under the salt published with it; raises ``VerificationError`` (or
    ``MalformedError``) otherwise."""
    filed, salt = FiledRequest.from_json(disclosure.get("view")), disclosure.get("salt")
    if filed.id != request:
        raise VerificationError(f"the disclosure of {request} publishes the record of {filed.id}")
    if not isinstance(salt, str) or len(salt) > 100:
        raise MalformedError("a disclosure publishes its seal's salt (base64)")
    if filed.commitment(b64decode(salt, "the seal's salt")) != seal:
        raise VerificationError(
            f"the record the disclosure publishes does not open the seal {request} recorded"
        )
    return filed


def audit_reads(
    entries: Iterable[tuple[int, bytes]], *, origin: str, genesis: Roster | None = None
) -> ReadAudit:
    """Every read the log whose origin is ``origin`` recorded, verified (see the module's
    threat model), and every approval of an access request, against the chain of rosters from
    ``genesis`` (None: the log's own first roster, taken as written); raises
    ``VerificationError`` naming the first entry found not to hold (``RosterChainError`` for a
    broken chain of rosters)."""
    audit = _Audit(origin, genesis)
    for index, entry in entries:
        try:
            event = Event.from_bytes(entry)
        except MalformedError:
            continue
        if event.kind == "roster.changed":
            audit.roster(index, entry)
            continue
        if event.kind not in _KINDS:
            continue
        try:
            if event.kind == "access.requested":
                audit.requested(event)
            elif event.kind == "access.approved":
                audit.approval(index, event)
            elif event.kind == "access.denied":
                audit.denied(event)
            elif event.kind == "access.read":
                audit.read(index, event)
            else:
                audit.disclosed(index, event)
        except OmbudError as exc:
            raise VerificationError(f"entry {index} ({event.kind}): {exc}") from exc
        except (KeyError, TypeError) as exc:
            raise VerificationError(f"entry {index} ({event.kind}): malformed ({exc})") from exc
    if genesis is not None:  # the chain to its end, as ``ombud roster verify`` holds it
        audit.chain()
    sealed = sum(read.signed is not None for held in audit.held.values() for read in held)
    return ReadAudit(
        audit.signed, sealed, audit.unsigned, audit.refused, audit.approved, audit.unbound
    )
