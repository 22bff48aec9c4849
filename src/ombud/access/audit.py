"""Reads under access requests re-verified from a log's entries alone: what ``ombud access
verify`` runs on an export.

Threat model: the export is untrusted, and its writer may have read without the requester
asking: each allowed read must be signed, by the key its request's record names, for exactly
that read on this log, near its time, its nonce used once (unsigned: only before the first).
A sealed request's record is the view its disclosure publishes, trusted only when it opens
the seal the request recorded (``SHA-256(salt ‖ view)``): else the writer could disclose a
view naming a key of its own, having signed the sealed reads with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ombud.access.reads import SignedRead, verify_signed_read
from ombud.access.requests import FiledRequest, Requester
from ombud.base64url import unb64url
from ombud.clock import format_time, parse_time
from ombud.errors import MalformedError, OmbudError, ReplayError, VerificationError
from ombud.events import Event
from ombud.governance.roster import check_id, matches
from ombud.ledger.note import b64decode

__all__ = ["ReadAudit", "audit_reads"]

_KINDS = frozenset({"access.requested", "access.read", "seal.disclosed"})
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


def _key(view: Any) -> str:
    """The requester's key a request's public record names."""
    who = view.get("requester") if isinstance(view, Mapping) else None
    if not isinstance(who, Mapping) or set(who) != {"organisation", "person", "key"}:
        raise MalformedError("a request's record names its requester {organisation, person, key}")
    return Requester(who["organisation"], who["person"], who["key"]).key


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
    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.keys: dict[str, str | None] = {}  # request -> requester's key (None while sealed)
        self.held: dict[str, list[_Held]] = {}  # reads under a request still sealed
        self.seals: dict[str, str] = {}  # a request still sealed -> the commitment it shows
        self.nonces: set[str] = set()
        self.signed = self.unsigned = self.refused = 0
        self.bound = False  # a read was signed: from then on, every allowed read must be

    def nonce(self, nonce: object) -> None:
        if not isinstance(nonce, str) or nonce in self.nonces:
            raise ReplayError("a signed read's nonce allowed another read before")
        self.nonces.add(nonce)

    def requested(self, event: Event) -> None:
        request = check_id(event.body.get("request"), "a request id")
        if request in self.keys:
            raise MalformedError(f"access request {request} is recorded a second time")
        if event.body.get("sealed") is False:
            self.keys[request] = _key(event.body)
            return
        seal = event.body.get("commitment")
        if not matches(_HEX64, seal):
            raise MalformedError("a sealed request shows its commitment (64 hex digits)")
        self.keys[request], self.held[request], self.seals[request] = None, [], str(seal)

    def read(self, index: int, event: Event) -> None:
        body = event.body
        request = check_id(body.get("request"), "a request id")
        if request not in self.keys:
            raise MalformedError(f"a read under {request}, which the log did not record")
        version, outcome = body.get("v"), body.get("outcome")
        if not isinstance(outcome, str) or len(outcome) > 32:
            raise MalformedError('a read\'s outcome is a code ("read", or why it was refused)')
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
        key = self.keys[request]
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
        key, held, shown = filed.requester.key, self.held.pop(request), event.body["reads"]
        if not isinstance(shown, list) or len(shown) != len(held):
            raise MalformedError(
                f"the disclosure lists {len(shown) if isinstance(shown, list) else 0} reads; "
                f"the log recorded {len(held)} under the seal"
            )
        for read, listed in zip(held, shown, strict=True):
            try:
                self._disclosed_read(request, key, read, listed)
            except OmbudError as exc:
                raise MalformedError(f"the read at entry {read.index}: {exc}") from exc
        self.keys[request] = key

    def _disclosed_read(self, request: str, key: str, held: _Held, listed: Any) -> None:
        if not isinstance(listed, Mapping) or listed.get("outcome") != held.outcome:
            raise MalformedError("the disclosure lists it with another outcome")
        if listed.get("at") != format_time(held.at):
            raise MalformedError("the disclosure lists it at another time")
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


def audit_reads(entries: Iterable[tuple[int, bytes]], *, origin: str) -> ReadAudit:
    """Every read the log whose origin is ``origin`` recorded, verified (see the module's
    threat model); raises ``VerificationError`` naming the first entry that does not hold."""
    audit = _Audit(origin)
    for index, entry in entries:
        try:
            event = Event.from_bytes(entry)
        except MalformedError:
            continue
        if event.kind not in _KINDS:
            continue
        try:
            if event.kind == "access.requested":
                audit.requested(event)
            elif event.kind == "access.read":
                audit.read(index, event)
            else:
                audit.disclosed(index, event)
        except OmbudError as exc:
            raise VerificationError(f"entry {index} ({event.kind}): {exc}") from exc
        except (KeyError, TypeError) as exc:
            raise VerificationError(f"entry {index} ({event.kind}): malformed ({exc})") from exc
    sealed = sum(read.signed is not None for held in audit.held.values() for read in held)
    return ReadAudit(audit.signed, sealed, audit.unsigned, audit.refused)
