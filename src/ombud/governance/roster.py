"""The authority roster: who holds power over the platform, what each privileged action needs,
and the chain of rosters from genesis (DESIGN §7).

Threat model: an operator, a rogue officer or a stolen key tries to act alone, to reuse a
signature given for something else, or to keep power after being removed. A privileged action
is a request in canonical JSON (RFC 8785) that names its action, its parameters, the roster
version and digest it is signed under, the deployment it is for (its log's origin, since
request version 2), its requester, a nonce and an expiry; holders sign exactly those bytes
(Ed25519), so a signature is good for that request under that roster on that deployment only:
two deployments set up from one genesis file (a staging copy of production) share roster
digests, and only the origin tells a request for one from a request for the other. Carrying
out refuses a request for another deployment, and a version-1 request (which names none);
a version-1 request recorded in a log's history before then still verifies offline.
``verify_approval`` executes nothing: it returns None when the policy is met and raises, with
its own error, when it is not. Rosters form a hash chain from a genesis roster; each successor
must be approved by the quorum of its predecessor (or by the stated recovery quorum, which is
marked), so keys removed from a roster sign nothing valid from then on, and anyone can verify
the chain offline (``verify_chain``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ombud.base64url import b64url, unb64url
from ombud.canonical import canonical_json, parse_json
from ombud.clock import format_time, parse_time
from ombud.errors import (
    ExpiredError,
    ForeignRequestError,
    MalformedError,
    NoRuleError,
    NotAHolderError,
    OmbudError,
    QuorumError,
    ReplayError,
    ReservedActionError,
    RoleError,
    RosterChainError,
    SelfApprovalError,
    SignatureError,
    StaleRosterError,
    UnboundRequestError,
)
from ombud.ledger.note import check_key_name

__all__ = [
    "CHANGE_ROSTER",
    "RECOVER_ROSTER",
    "ActionRequest",
    "Approval",
    "BoundStatement",
    "Holder",
    "Roster",
    "Rule",
    "Succession",
    "check_id",
    "check_origin",
    "matches",
    "public_key",
    "refusal_code",
    "sign_request",
    "statement_origin",
    "verify_approval",
    "verify_bound",
    "verify_chain",
    "verify_ed25519",
    "verify_origin",
    "verify_request",
    "verify_signature",
    "verify_succession",
]

CHANGE_ROSTER = "roster.change"
"""The action class of an ordinary hand-over: the current roster's quorum signs its successor."""
RECOVER_ROSTER = "roster.recover"
"""The emergency class: a separately stated recovery quorum (an ombudsman and a court, say)
replaces the roster; a successor made this way is marked ``recovered`` wherever it shows."""
_DOMAIN = b"ombud-privileged-action/v1\n"
_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_ACTION = re.compile(r"[a-z][a-z_]{0,31}\.[a-z][a-z_]{0,31}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_NONCE = re.compile(r"[0-9a-f]{32}")
_MAX_HOLDERS = 100
_MAX_PARAMS = 16_384


def verify_ed25519(key: bytes, signature: bytes, message: bytes, failure: str) -> None:
    """None when ``signature`` is ``key``'s Ed25519 signature of ``message``; raises
    ``SignatureError(failure)`` otherwise (a key that is not one included)."""
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(signature, message)
    except (InvalidSignature, ValueError):
        raise SignatureError(failure) from None


def matches(pattern: re.Pattern[str], value: object) -> bool:
    """Whether ``value`` is a string ``pattern`` matches whole (a value of another type from
    hostile JSON is simply not a match, never a ``TypeError``)."""
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def check_id(value: object, what: str) -> str:
    """``value`` when it is an id (1-64 lowercase letters, digits and . _ -); raises
    ``MalformedError`` naming ``what`` otherwise."""
    if not isinstance(value, str) or not matches(_ID, value):
        raise MalformedError(f"{what} is 1-64 lowercase letters, digits and . _ -")
    return value


@dataclass(frozen=True)
class Holder:
    """An office holder: id, name, role and Ed25519 public key (raw, 32 bytes)."""

    id: str
    name: str
    role: str
    key: bytes

    def __post_init__(self) -> None:
        check_id(self.id, "a holder id")
        check_id(self.role, "a role")
        if not isinstance(self.name, str) or not 0 < len(self.name) <= 200:
            raise MalformedError("a holder's name is 1-200 characters")
        if len(self.key) != 32:
            raise MalformedError("a holder's key is a 32-byte Ed25519 public key")
        Ed25519PublicKey.from_public_bytes(self.key)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "role": self.role, "key": b64url(self.key)}

    @classmethod
    def from_json(cls, obj: Any) -> Holder:
        if not isinstance(obj, dict) or set(obj) != {"id", "name", "role", "key"}:
            raise MalformedError("a holder is an object with exactly id, name, role and key")
        return cls(obj["id"], obj["name"], obj["role"], unb64url(obj["key"], "a holder's key", 32))


@dataclass(frozen=True)
class Rule:
    """``count`` signatures from distinct holders whose role is one of ``roles``; with
    ``not_requester`` the requester's own signature never counts (four eyes)."""

    count: int
    roles: tuple[str, ...]
    not_requester: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int):
            raise MalformedError("a rule's count is an integer")
        if not 1 <= self.count <= _MAX_HOLDERS:
            raise MalformedError(f"a rule needs 1 to {_MAX_HOLDERS} signatures")
        if not self.roles:
            raise MalformedError("a rule names at least one role")
        for role in self.roles:
            check_id(role, "a role")

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "roles": list(self.roles), "notRequester": self.not_requester}

    @classmethod
    def from_json(cls, obj: Any) -> Rule:
        if not isinstance(obj, dict) or set(obj) != {"count", "roles", "notRequester"}:
            raise MalformedError("a rule is an object with exactly count, roles and notRequester")
        if not isinstance(obj["roles"], list) or not isinstance(obj["notRequester"], bool):
            raise MalformedError("a rule's roles are a list and notRequester a boolean")
        return cls(obj["count"], tuple(obj["roles"]), obj["notRequester"])


@dataclass(frozen=True)
class Roster:
    """One version of the roster: its holders and its policy (action class → rule), and the
    digest of the version it succeeds (None for genesis)."""

    version: int
    holders: tuple[Holder, ...]
    policy: Mapping[str, Rule]
    previous: str | None = None
    _by_id: dict[str, Holder] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.version, bool) or not isinstance(self.version, int):
            raise MalformedError("a roster's version is an integer")
        if self.version < 0 or (self.version == 0) != (self.previous is None):
            raise MalformedError("version 0 is genesis, which alone has no previous roster")
        if self.previous is not None and not matches(_HEX64, self.previous):
            raise MalformedError("a roster's previous digest is 64 lowercase hex digits")
        if not 0 < len(self.holders) <= _MAX_HOLDERS:
            raise MalformedError(f"a roster has 1 to {_MAX_HOLDERS} holders")
        by_id = {h.id: h for h in self.holders}
        if len(by_id) != len(self.holders):
            raise MalformedError("two holders share an id")
        if len({h.key for h in self.holders}) != len(self.holders):
            raise MalformedError("two holders share a key")
        for action, rule in self.policy.items():
            if not matches(_ACTION, action):
                raise MalformedError(f"action class {str(action)[:40]!r} is not noun.verb")
            eligible = sum(h.role in rule.roles for h in self.holders)
            if rule.count > eligible:
                raise MalformedError(
                    f"{action} needs {rule.count} signatures but the roster has {eligible} "
                    f"holders with roles {', '.join(rule.roles)}"
                )
        if CHANGE_ROSTER not in self.policy:
            raise MalformedError(f"a roster's policy states who may change it ({CHANGE_ROSTER})")
        object.__setattr__(self, "policy", dict(sorted(self.policy.items())))
        object.__setattr__(self, "_by_id", by_id)

    def holder(self, holder_id: str) -> Holder | None:
        return self._by_id.get(holder_id)

    def rule(self, action: str) -> Rule:
        try:
            return self.policy[action]
        except KeyError:
            raise NoRuleError(f"the roster's policy has no rule for {action!r}") from None

    def to_json(self) -> dict[str, Any]:
        return {
            "v": 1,
            "version": self.version,
            "previous": self.previous,
            "holders": [h.to_json() for h in self.holders],
            "policy": {a: r.to_json() for a, r in self.policy.items()},
        }

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json(), "a roster")

    @property
    def digest(self) -> str:
        """SHA-256 of the roster's canonical JSON: what its successor and requests name."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    @classmethod
    def from_json(cls, obj: Any) -> Roster:
        keys = {"v", "version", "previous", "holders", "policy"}
        if not isinstance(obj, dict) or set(obj) != keys or obj["v"] != 1:
            raise MalformedError(f"a roster is an object with exactly {sorted(keys)}, v 1")
        if not isinstance(obj["holders"], list) or not isinstance(obj["policy"], dict):
            raise MalformedError("a roster's holders are a list and its policy an object")
        return cls(
            obj["version"],
            tuple(Holder.from_json(h) for h in obj["holders"]),
            {str(a): Rule.from_json(r) for a, r in obj["policy"].items()},
            obj["previous"],
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Roster:
        roster = cls.from_json(parse_json(data, "a roster", max_depth=8))
        if roster.to_bytes() != data:
            raise MalformedError("a roster is stored in RFC 8785 canonical form")
        return roster


def check_origin(value: object, what: str = "a request") -> str:
    """``value`` when it can be a log's origin (as a log's key name: non-empty, no space, no
    '+', no control character); raises ``MalformedError`` otherwise, naming ``what`` states
    it (a request, a vote, a result update)."""
    if not isinstance(value, str):
        raise MalformedError(f"{what}'s origin is a log origin (a string)")
    try:
        return check_key_name(value)
    except MalformedError as exc:
        raise MalformedError(f"{what}'s origin is not a log origin: {exc}") from None


def statement_origin(obj: Any, keys: set[str], what: str) -> str | None:
    """The deployment a signed statement's JSON names: None for its version 1 (exactly
    ``keys``), its origin for its version 2 (``keys``, ``"v": 2`` and ``"origin"``); raises
    ``MalformedError`` otherwise, naming ``what`` the statement is (a vote, a commitment)."""
    if not isinstance(obj, dict):
        raise MalformedError(f"{what} is an object")
    if set(obj) == keys:
        return None
    if set(obj) == keys | {"v", "origin"} and type(obj["v"]) is int and obj["v"] == 2:
        return check_origin(obj["origin"], what)
    raise MalformedError(
        f"{what} is an object with exactly {sorted(keys)} (version 1), or with "
        f"{sorted(keys | {'v', 'origin'})}, v 2"
    )


class BoundStatement:
    """What the signed statements that name their deployment since their version 2 share (a
    vote, a result update, a bid and its reveal): the version, the signed content (version
    1's exactly as it was; version 2's with ``"v": 2`` and the deployment's ``origin``) and
    the message signed (a domain of each version's own, then the canonical content). A frozen
    dataclass mixes it in with an ``origin`` field (None: version 1), ``_DOMAINS`` (version
    1's and 2's), ``_WHAT`` (what the statement is, for errors: "a vote") and ``_fields``
    (its content but the binding), and calls ``_check_origin`` from ``__post_init__``."""

    origin: str | None
    _DOMAINS: ClassVar[tuple[bytes, bytes]]
    _WHAT: ClassVar[str]

    def _fields(self) -> dict[str, Any]:
        raise NotImplementedError

    def _check_origin(self) -> None:
        if self.origin is not None:
            check_origin(self.origin, self._WHAT)

    @property
    def version(self) -> int:
        """2 for a statement bound to a deployment (it names an origin), 1 for one that is
        not."""
        return 1 if self.origin is None else 2

    def _content(self) -> dict[str, Any]:
        content = self._fields()
        return content if self.origin is None else {"v": 2, **content, "origin": self.origin}

    def signed_message(self) -> bytes:
        """What the signer signs: the version's domain separator, then the canonical content.
        Version 1 keeps its exact bytes; version 2 names the deployment."""
        return self._DOMAINS[self.version - 1] + canonical_json(self._content(), self._WHAT)


@dataclass(frozen=True)
class ActionRequest:
    """A privileged action, as its signers see it: bound to the roster it is signed under
    and, from request version 2 on, to the deployment it is for (``origin``, its log's
    origin). A request without an origin is version 1, in the exact form it had before."""

    action: str
    params: Mapping[str, Any]
    roster_version: int
    roster_digest: str
    requester: str
    nonce: str
    expires: datetime
    origin: str | None = None

    def __post_init__(self) -> None:
        if not matches(_ACTION, self.action):
            raise MalformedError(f"action {str(self.action)[:40]!r} is not noun.verb")
        check_id(self.requester, "the requester")
        if not matches(_NONCE, self.nonce):
            raise MalformedError("a request's nonce is 32 lowercase hex digits")
        if len(canonical_json(dict(self.params), "a request's parameters")) > _MAX_PARAMS:
            raise MalformedError(f"a request's parameters are at most {_MAX_PARAMS} bytes")
        format_time(self.expires)
        if self.origin is not None:
            check_origin(self.origin)

    @property
    def version(self) -> int:
        """2 for a request bound to a deployment (it names an origin), 1 for one that is not."""
        return 1 if self.origin is None else 2

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "v": self.version,
            "action": self.action,
            "params": dict(self.params),
            "roster": {"version": self.roster_version, "digest": self.roster_digest},
            "requester": self.requester,
            "nonce": self.nonce,
            "expires": format_time(self.expires),
        }
        if self.origin is not None:
            obj["origin"] = self.origin
        return obj

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json(), "a request")

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()

    def signed_message(self) -> bytes:
        """What each holder signs: a domain separator, then the canonical request (which, from
        version 2 on, names the deployment's origin)."""
        return _DOMAIN + self.to_bytes()

    @classmethod
    def from_json(cls, obj: Any) -> ActionRequest:
        keys = {"v", "action", "params", "roster", "requester", "nonce", "expires"}
        if not isinstance(obj, dict):
            raise MalformedError("a request is an object")
        version = obj.get("v")
        if type(version) is int and version == 1 and set(obj) == keys:
            origin = None
        elif type(version) is int and version == 2 and set(obj) == keys | {"origin"}:
            origin = check_origin(obj["origin"])
        else:
            raise MalformedError(
                f"a request is an object with exactly {sorted(keys)}, v 1, or with "
                f"{sorted(keys | {'origin'})}, v 2"
            )
        roster = obj["roster"]
        if not isinstance(roster, dict) or set(roster) != {"version", "digest"}:
            raise MalformedError("a request's roster is {version, digest}")
        if not isinstance(obj["params"], dict) or not isinstance(obj["expires"], str):
            raise MalformedError("a request's params are an object and expires a time")
        return cls(
            obj["action"],
            obj["params"],
            roster["version"],
            roster["digest"],
            obj["requester"],
            obj["nonce"],
            parse_time(obj["expires"]),
            origin,
        )


@dataclass(frozen=True)
class Approval:
    """One holder's Ed25519 signature over a request's signed message."""

    holder: str
    signature: bytes

    def to_json(self) -> dict[str, Any]:
        return {"holder": self.holder, "signature": b64url(self.signature)}

    @classmethod
    def from_json(cls, obj: Any) -> Approval:
        if not isinstance(obj, dict) or set(obj) != {"holder", "signature"}:
            raise MalformedError("an approval is an object with exactly holder and signature")
        return cls(
            check_id(obj["holder"], "a holder id"), unb64url(obj["signature"], "a signature", 64)
        )


def sign_request(request: ActionRequest, holder_id: str, key: Ed25519PrivateKey) -> Approval:
    return Approval(holder_id, key.sign(request.signed_message()))


def public_key(key: Ed25519PrivateKey) -> bytes:
    """The raw 32-byte public key a roster holds for ``key``."""
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def verify_signature(roster: Roster, request: ActionRequest, approval: Approval) -> None:
    """None when ``approval`` is a holder's valid signature that may count for ``request``
    under ``roster``; raises ``NotAHolderError`` (a key the roster does not hold, or removed),
    ``SignatureError``, ``SelfApprovalError`` or ``RoleError``."""
    rule = roster.rule(request.action)
    holder = roster.holder(approval.holder)
    if holder is None:
        raise NotAHolderError(
            f"{approval.holder} holds no office in roster version {roster.version}"
        )
    verify_ed25519(
        holder.key,
        approval.signature,
        request.signed_message(),
        f"{holder.id}'s signature is not on this request",
    )
    if rule.not_requester and holder.id == request.requester:
        raise SelfApprovalError(f"{holder.id} requested {request.action} and cannot approve it")
    if holder.role not in rule.roles:
        raise RoleError(
            f"{holder.id} is {holder.role}; {request.action} needs {' or '.join(rule.roles)}"
        )


def verify_origin(request: ActionRequest, origin: str, *, recorded: bool = False) -> None:
    """None when ``request`` is bound to the deployment whose log's origin is ``origin``;
    raises ``ForeignRequestError`` (signed for another deployment) or, unless ``recorded``,
    ``UnboundRequestError`` (a version-1 request, which names no deployment). ``recorded`` is
    for history a log already holds: a version-1 request recorded before requests named
    their deployment still counts there, and nowhere else."""
    verify_bound(
        request.origin, origin, recorded=recorded, what=("request", "request", "propose"),
        foreign=ForeignRequestError, unbound=UnboundRequestError,
    )  # fmt: skip


def verify_bound(
    named: str | None,
    origin: str,
    *,
    recorded: bool,
    what: tuple[str, str, str],
    foreign: type[OmbudError],
    unbound: type[OmbudError],
) -> None:
    """None when a signed statement that names the deployment ``named`` (None: it names none,
    its version 1) may count on the deployment whose log's origin is ``origin``; raises
    ``foreign`` for another deployment's, or ``unbound`` for one that names none unless
    ``recorded`` (history a log already holds from before such statements named their
    deployment). ``what``: the statement (``"result update"``), its version's name
    (``"update"``) and what its signer must do again (``"sign"``). The one rule behind
    ``verify_origin`` (requests), ``verify_vote_origin`` and ``verify_update_origin``."""
    thing, short, redo = what
    if named is None:
        if recorded:
            return
        raise unbound(
            f"the {thing} names no deployment ({short} version 1); {short}s are bound to their "
            f"deployment since {short} version 2: {redo} it again"
        )
    if named != origin:
        raise foreign(
            f"the {thing} is signed for deployment {named[:100]!r}, not this one ({origin[:100]!r})"
        )


def _verify_bound(
    roster: Roster, request: ActionRequest, *, now: datetime, used: Iterable[str]
) -> None:
    if request.digest in set(used):
        raise ReplayError(f"request {request.digest[:16]}… was already carried out")
    if (request.roster_version, request.roster_digest) != (roster.version, roster.digest):
        raise StaleRosterError(
            f"the request is signed under roster version {request.roster_version}; "
            f"the roster in force is version {roster.version}"
        )
    if now >= request.expires:
        raise ExpiredError(f"the request expired at {format_time(request.expires)}")
    roster.rule(request.action)


def verify_request(
    roster: Roster,
    request: ActionRequest,
    *,
    now: datetime,
    origin: str,
    used: Iterable[str] = (),
) -> None:
    """None when ``request`` may still be signed and carried out under ``roster`` on the
    deployment whose log's origin is ``origin``; raises ``UnboundRequestError`` (version 1:
    it names no deployment), ``ForeignRequestError`` (signed for another deployment),
    ``ReplayError`` (carried out before: its digest is in ``used``), ``StaleRosterError``
    (bound to another roster), ``ExpiredError`` or ``RoleError`` (no rule for its action)."""
    verify_origin(request, origin)
    _verify_bound(roster, request, now=now, used=used)


def verify_approval(
    roster: Roster,
    request: ActionRequest,
    approvals: Sequence[Approval],
    *,
    now: datetime,
    origin: str,
    used: Iterable[str] = (),
    recorded: bool = False,
) -> None:
    """None when ``approvals`` meet ``roster``'s rule for ``request.action`` on the deployment
    whose log's origin is ``origin``; raises otherwise: the errors of ``verify_request`` and
    ``verify_signature``, ``ReservedActionError`` (no signature at all: the operator alone)
    or ``QuorumError``. With ``recorded`` (history a log holds, ``verify_origin``), a
    version-1 request is not refused for naming no deployment."""
    verify_origin(request, origin, recorded=recorded)
    _verify_bound(roster, request, now=now, used=used)
    rule = roster.rule(request.action)
    if not approvals:
        raise ReservedActionError(
            f"{request.action} is reserved to the roster: it needs {rule.count} signatures "
            f"from {' or '.join(rule.roles)}, and an operator's token alone cannot carry it out"
        )
    counted: set[str] = set()
    for approval in approvals:
        verify_signature(roster, request, approval)
        counted.add(approval.holder)
    if len(counted) < rule.count:
        raise QuorumError(
            f"{request.action} needs {rule.count} distinct signatures from "
            f"{' or '.join(rule.roles)}; it has {len(counted)}"
        )


_REFUSALS: tuple[tuple[type[OmbudError], str], ...] = (
    (ReplayError, "replayed"),
    (StaleRosterError, "stale-roster"),
    (ExpiredError, "expired"),
    (NotAHolderError, "not-a-holder"),
    (SelfApprovalError, "self-approval"),
    (NoRuleError, "no-rule"),
    (RoleError, "wrong-role"),
    (ReservedActionError, "operator-only"),
    (QuorumError, "below-quorum"),
    (SignatureError, "bad-signature"),
)


def refusal_code(exc: OmbudError) -> str:
    """A refusal as the ledger records it: a code per error, never a message that could echo
    input."""
    return next((code for kind, code in _REFUSALS if isinstance(exc, kind)), "refused")


@dataclass(frozen=True)
class Succession:
    """A roster change as the ledger records it: the request (whose params hold the new
    roster) and the approvals that carried it."""

    request: ActionRequest
    approvals: tuple[Approval, ...]
    at: datetime

    @property
    def successor(self) -> Roster:
        return Roster.from_json(self.request.params.get("roster"))

    @property
    def recovered(self) -> bool:
        return self.request.action == RECOVER_ROSTER

    def to_json(self) -> dict[str, Any]:
        return {
            "request": self.request.to_json(),
            "approvals": [a.to_json() for a in self.approvals],
            "at": format_time(self.at),
        }

    @classmethod
    def from_json(cls, obj: Any) -> Succession:
        if not isinstance(obj, dict) or set(obj) != {"request", "approvals", "at"}:
            raise MalformedError("a succession is an object with request, approvals and at")
        if not isinstance(obj["approvals"], list) or not isinstance(obj["at"], str):
            raise MalformedError("a succession's approvals are a list and at a time")
        return cls(
            ActionRequest.from_json(obj["request"]),
            tuple(Approval.from_json(a) for a in obj["approvals"]),
            parse_time(obj["at"]),
        )


def verify_succession(
    current: Roster,
    change: Succession,
    used: Iterable[str] = (),
    *,
    origin: str,
    recorded: bool = False,
) -> Roster:
    """The new roster when ``change`` validly succeeds ``current`` on the deployment whose
    log's origin is ``origin``; raises otherwise (the errors of ``verify_approval``, and
    ``MalformedError`` for a successor that does not chain). ``recorded``: ``change`` is
    history a log holds (a version-1 request, from before requests named their deployment,
    still counts there)."""
    if change.request.action not in (CHANGE_ROSTER, RECOVER_ROSTER):
        raise MalformedError(f"{change.request.action} does not change the roster")
    verify_approval(
        current,
        change.request,
        change.approvals,
        now=change.at,
        origin=origin,
        used=used,
        recorded=recorded,
    )
    new = change.successor
    if new.version != current.version + 1 or new.previous != current.digest:
        raise MalformedError(
            f"roster version {new.version} does not follow version {current.version} "
            "(its number or its previous digest)"
        )
    return new


def verify_chain(genesis: Roster, changes: Iterable[Succession], *, origin: str) -> Roster:
    """The roster in force after ``changes``, the history of the log whose origin is
    ``origin``, each verified against the one before, from ``genesis``; raises at the first
    broken link, naming it. A change whose request names another deployment breaks the chain;
    a version-1 request (from before requests named their deployment) does not, unless a
    version-2 one came before it (``history_before_bound``)."""
    if genesis.version != 0:
        raise MalformedError("a chain starts at a genesis roster (version 0)")
    current = genesis
    used: set[str] = set()
    bound = False
    for change in changes:
        try:
            current = verify_succession(current, change, used, origin=origin, recorded=not bound)
        except OmbudError as exc:
            raise RosterChainError(
                f"the link to roster version {current.version + 1} is broken: {exc}"
            ) from exc
        used.add(change.request.digest)
        bound = bound or change.request.origin is not None
    return current
