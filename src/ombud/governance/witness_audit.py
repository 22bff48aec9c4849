"""The witness policies a log's roster authorised, re-verified from its entries alone: whose
cosignatures ``ombud tender verify`` lets judge a deadline when no witness key is pinned.

Threat model: an operator holding the log's key writes a ``settings.changed`` naming its own
witness, to cosign a late bid in time; only a policy recorded with the genesis roster, or one a
``witness.change`` the roster in force signed for this log sets, is trusted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ombud.errors import MalformedError, OmbudError, ReservedActionError, VerificationError
from ombud.events import Event
from ombud.governance.chain import RostersInForce, roster_in_force
from ombud.governance.roster import ActionRequest, Approval, Roster, verify_approval
from ombud.governance.settings import WITNESS_CHANGE, witness_values

__all__ = ["KINDS", "GovernedWitnesses", "WitnessAudit", "WitnessChanges", "audit_witnesses"]

KINDS = frozenset({"roster.changed", "action.requested", "action.signed", "settings.changed"})
"""The events ``audit_witnesses`` reads; it skips every other."""


@dataclass(frozen=True)
class GovernedWitnesses:
    """A witness policy a ``settings.changed`` event set: its entry, keys (vkeys) and quorum."""

    index: int
    keys: tuple[str, ...]
    quorum: int


@dataclass(frozen=True)
class WitnessAudit:
    """The witness policies the roster authorised, in log order, and those it did not (each
    entry with why it is not trusted)."""

    authorised: tuple[GovernedWitnesses, ...]
    refused: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class _Change:
    event: Event
    policy: GovernedWitnesses
    bound: bool
    """Whether a request of version 2 was recorded before it (then one of version 1 is not
    history from before requests named their deployment)."""


def _policy(index: int, event: Event) -> GovernedWitnesses | None:
    """The witness policy ``event`` sets, or None when it sets none; raises
    ``MalformedError`` for one it sets in another shape than ``settings.changed`` records."""
    settings = event.body.get("settings")
    if not isinstance(settings, dict) or "witnesses" not in settings:
        return None
    value = settings["witnesses"]
    if not isinstance(value, dict) or set(value) != {"quorum", "keys"}:
        raise MalformedError("the witness policy is not {quorum, keys}")
    keys, quorum = value["keys"], value["quorum"]
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise MalformedError("the witness policy's keys are not a list of vkeys")
    if type(quorum) is not int:
        raise MalformedError("the witness policy's quorum is not a number")
    return GovernedWitnesses(index, tuple(keys), quorum)


def _request(event: Event) -> ActionRequest | None:
    """The request ``action.requested`` records, when it is one whose digest it names."""
    try:
        request = ActionRequest.from_json(event.body.get("request"))
    except (MalformedError, KeyError):
        return None
    return request if request.digest == event.body.get("digest") else None


def _approval(event: Event) -> Approval | None:
    body = event.body
    try:
        return Approval.from_json(
            {"holder": body.get("holder"), "signature": body.get("signature")}
        )
    except MalformedError:
        return None


class WitnessChanges:
    """What a log's entries say of its witness policies, read one event at a time: the
    roster's entries, the ``witness.change`` requests and their signatures, each
    ``settings.changed`` that sets a witness policy, and whether a request of version 2 was
    recorded before it; nothing else is kept (a streaming reader keeps no more than that)."""

    def __init__(self) -> None:
        self._rosters: list[tuple[int, bytes]] = []
        self._requests: dict[str, tuple[int, ActionRequest]] = {}
        self._signed: dict[str, list[tuple[int, Approval]]] = {}
        self._changes: list[_Change] = []
        self._malformed: list[tuple[int, str]] = []
        self._bound = False

    @property
    def has_roster(self) -> bool:
        return bool(self._rosters)

    def add(self, index: int, entry: bytes, event: Event) -> None:
        """Read entry ``index`` (``event`` is its event); other kinds than ``KINDS`` are
        skipped."""
        if event.kind == "roster.changed":
            self._rosters.append((index, entry))
        elif event.kind == "action.requested" and (request := _request(event)) is not None:
            self._bound = self._bound or request.origin is not None
            if request.action == WITNESS_CHANGE:
                self._requests.setdefault(request.digest, (index, request))
        elif event.kind == "action.signed":
            digest = event.body.get("digest")  # hostile JSON: maybe not even hashable
            tracked = isinstance(digest, str) and digest in self._requests
            if tracked and (approval := _approval(event)) is not None:
                self._signed.setdefault(str(digest), []).append((index, approval))
        elif event.kind == "settings.changed":
            try:
                policy = _policy(index, event)
            except MalformedError as exc:
                self._malformed.append((index, str(exc)))
                return
            if policy is not None:
                self._changes.append(_Change(event, policy, self._bound))

    def audit(self, genesis: Roster | None, *, origin: str) -> WitnessAudit:
        """The policies read so far, sorted as ``audit_witnesses`` says."""
        links = roster_in_force(self._rosters, genesis, origin=origin)
        in_force, genesis_index = RostersInForce(links), links[0][0]
        authorised: list[GovernedWitnesses] = []
        refused = list(self._malformed)
        used: set[str] = set()
        for change in self._changes:
            index = change.policy.index
            try:
                digest = change.event.body.get("request")
                if digest is None:
                    if index != genesis_index + 1:
                        raise ReservedActionError(
                            "it names no request: only the policy recorded with the genesis "
                            "roster needs none"
                        )
                else:
                    self._authorised(change, digest, in_force, used, origin)
                    used.add(str(digest))
            except OmbudError as exc:
                refused.append((index, str(exc)))
                continue
            authorised.append(change.policy)
        return WitnessAudit(tuple(authorised), tuple(sorted(refused)))

    def _authorised(
        self, change: _Change, digest: Any, in_force: RostersInForce, used: set[str], origin: str
    ) -> None:
        """None when ``change`` carries out a ``witness.change`` the roster in force at its
        entry signed, with the policy that request sets; raises otherwise."""
        index = change.policy.index
        found = self._requests.get(digest) if isinstance(digest, str) else None
        if found is None or found[0] > index:
            raise VerificationError("it names no witness.change request the log recorded before it")
        request = found[1]
        approvals = [a for i, a in self._signed.get(digest, []) if i < index]
        verify_approval(
            in_force.at(index),
            request,
            approvals,
            now=change.event.at,
            origin=origin,
            used=used,
            recorded=not change.bound,
        )
        if set(request.params) != {"witnesses"}:
            raise MalformedError("its request sets more than the witness policy")
        expected = witness_values(request.params["witnesses"])
        if expected != {"quorum": change.policy.quorum, "keys": list(change.policy.keys)}:
            raise VerificationError("it records another witness policy than its request sets")


def audit_witnesses(
    entries: Iterable[tuple[int, bytes]], genesis: Roster | None, *, origin: str
) -> WitnessAudit:
    """Every witness policy the log whose origin is ``origin`` set, sorted into those its
    roster authorised and those it did not. Authorised: the policy recorded with the genesis
    roster (the entry right after it), or one a ``settings.changed`` sets by carrying out a
    ``witness.change`` request the log recorded before it (``action.requested``) whose
    signatures (``action.signed``) meet the rule of the roster in force at its entry, for
    this log, once (``verify_approval``), with exactly the keys and quorum the request sets.
    The chain of rosters is verified from ``genesis`` (None: the log's own first roster).
    Raises ``RosterChainError`` (a ``VerificationError``) when that chain is broken, or the
    log holds no roster."""
    changes = WitnessChanges()
    for index, entry in entries:
        try:
            event = Event.from_bytes(entry)
        except MalformedError:
            continue
        changes.add(index, entry, event)
    return changes.audit(genesis, origin=origin)
