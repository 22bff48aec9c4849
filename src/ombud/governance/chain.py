"""The roster chain as a log records it: from the ``roster.changed`` events of a log's entries,
the roster in force, each link verified against the one before it, from a genesis roster the
verifier already holds.

Threat model: the entries come from an untrusted source (a tlog-tiles export or a server);
nothing in them is trusted but what verifies: the log's genesis must be the verifier's own
genesis file (given none, the log's own first roster is taken as written, and the chain then
shows only that the log agrees with itself), and every later roster must carry the signatures
of its predecessor's quorum, given for this log (a request of version 2 names the log's
origin; one of version 1, recorded before requests named their deployment, names none and
still counts). Entries that are not events, or other kinds, are skipped; a malformed roster
event breaks the chain where it stands, naming its entry.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from typing import Any

from ombud.errors import MalformedError, OmbudError, RosterChainError, VerificationError
from ombud.events import Event
from ombud.governance.roster import Roster, Succession, verify_succession

__all__ = ["ChainLink", "RostersInForce", "roster_in_force"]

ChainLink = tuple[int, Roster, bool]
"""Entry index, the roster it put in force, and whether the recovery quorum did."""


def _event(entry: bytes) -> Event | None:
    try:
        return Event.from_bytes(entry)
    except MalformedError:
        return None


class RostersInForce:
    """The roster in force at each entry of a log, from the links ``roster_in_force`` gave."""

    def __init__(self, links: Sequence[ChainLink]) -> None:
        self._at = [index for index, _, _ in links]
        self._rosters = [roster for _, roster, _ in links]

    def at(self, index: int) -> Roster:
        """The roster in force at entry ``index`` (put in force by an earlier entry); raises
        ``VerificationError`` before the genesis."""
        found = bisect.bisect_left(self._at, index) - 1
        if found < 0:
            raise VerificationError(f"entry {index} comes before the log's genesis roster")
        return self._rosters[found]


def roster_in_force(
    entries: Iterable[tuple[int, bytes]], genesis: Roster | None, *, origin: str
) -> list[ChainLink]:
    """Every roster the log whose origin is ``origin`` put in force, genesis first; raises
    ``RosterChainError`` naming the first entry whose roster does not follow from the one
    before (or was signed for another deployment). ``genesis`` None takes the log's own first
    roster as its genesis (see the module's threat model)."""
    links: list[ChainLink] = []
    used: set[str] = set()
    bound = False  # a request has named its deployment: from then on, every one must
    for index, entry in entries:
        event = _event(entry)
        if event is None or event.kind != "roster.changed":
            continue
        body: dict[str, Any] = dict(event.body)
        try:
            if not links:
                recorded = Roster.from_json(body.get("roster"))
                if genesis is None and (body.get("version"), recorded.version) != (0, 0):
                    raise RosterChainError("its first roster is not a genesis (version 0)")
                if genesis is not None and (
                    body.get("version") != 0 or recorded.digest != genesis.digest
                ):
                    raise RosterChainError(
                        f"its first roster is not the genesis given (digest {genesis.digest})"
                    )
                links.append((index, recorded, False))
                continue
            current = links[-1][1]
            if "succession" not in body:
                raise RosterChainError("a second genesis")
            change = Succession.from_json(body["succession"])
            new = verify_succession(current, change, used, origin=origin, recorded=not bound)
            if (body.get("version"), body.get("digest")) != (new.version, new.digest):
                raise RosterChainError("the event names another roster than the one it carries")
        except OmbudError as exc:
            version = links[-1][1].version + 1 if links else 0
            raise RosterChainError(
                f"entry {index}, roster version {version}: the link is broken: {exc}"
            ) from exc
        used.add(change.request.digest)
        bound = bound or change.request.origin is not None
        links.append((index, new, change.recovered))
    if not links:
        raise RosterChainError("the log holds no roster: no genesis was recorded")
    return links
