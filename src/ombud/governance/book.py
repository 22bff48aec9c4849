"""The roster of a deployment, written through the ledger: genesis once, then each successor
only when the quorum of the roster in force signed it.

Threat model: the operator holds the database and the API token, not the holders' keys. A
roster change is a privileged action (``ombud.governance.actions``): proposed, signed, and
verified (``verify_succession``) inside the transaction that appends it, so two changes can
never both succeed one roster, and a request runs once. Each change is a ``roster.changed``
event carrying the new roster, the request and every signature, so the chain can be verified
by anyone from the log alone (``ombud.governance.chain``). From the genesis on, the settings
the roster governs are recorded as it sets them (``settings.changed``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ombud.canonical import canonical_json, parse_json
from ombud.database import Database, Tx
from ombud.errors import AlreadyExistsError, MalformedError, NotFoundError
from ombud.events import Event
from ombud.governance.actions import ActionBook, Effect
from ombud.governance.roster import (
    CHANGE_ROSTER,
    RECOVER_ROSTER,
    ActionRequest,
    Approval,
    Roster,
    Succession,
    verify_succession,
)
from ombud.ledger.log import Log

__all__ = [
    "RosterBook",
    "RosterRecord",
    "genesis_event",
    "record_settings",
    "roster_established",
    "settings_event",
    "succession_event",
]


@dataclass(frozen=True)
class RosterRecord:
    roster: Roster
    recovered: bool
    ledger_index: int


def genesis_event(genesis: Roster, at: datetime, actor: str) -> Event:
    return Event(
        "roster.changed",
        at,
        actor,
        {"v": 1, "version": 0, "digest": genesis.digest, "roster": genesis.to_json()},
    )


def succession_event(new: Roster, change: Succession, actor: str) -> Event:
    return Event(
        "roster.changed",
        change.at,
        actor,
        {
            "v": 1,
            "version": new.version,
            "digest": new.digest,
            "recovered": change.recovered,
            "succession": change.to_json(),
        },
    )


def settings_event(
    values: Mapping[str, Any], at: datetime, actor: str, digest: str | None
) -> Event:
    """The values of governed settings as an action (or, with no digest, the genesis) set them."""
    return Event("settings.changed", at, actor, {"v": 1, "request": digest, "settings": values})


def record_settings(tx: Tx, values: Mapping[str, Any], index: int) -> None:
    for name, value in values.items():
        tx.execute("DELETE FROM governed_settings WHERE name = ?", (name,))
        tx.execute(
            "INSERT INTO governed_settings (name, value, ledger_index) VALUES (?, ?, ?)",
            (name, canonical_json(value, "a governed setting"), index),
        )


def roster_established(db: Database) -> bool:
    """Whether ``db`` holds a roster (a bare log directory's database has no such table)."""
    return db.has_table("roster_versions") and bool(
        db.read("SELECT 1 FROM roster_versions LIMIT 1")
    )


class RosterBook:
    def __init__(
        self, db: Database, log: Log, actions: ActionBook, *, clock: Callable[[], datetime]
    ) -> None:
        self.db = db
        self.log = log
        self.actions = actions
        self.clock = clock

    _CURRENT = (
        "SELECT roster, recovered, ledger_index FROM roster_versions ORDER BY version DESC LIMIT 1"
    )

    @staticmethod
    def _record(row: Sequence[Any]) -> RosterRecord:
        data, recovered, index = row
        return RosterRecord(Roster.from_bytes(bytes(data)), bool(recovered), int(index))

    def established(self) -> bool:
        return roster_established(self.db)

    def current(self) -> RosterRecord:
        """The roster in force (``NotFoundError`` before a genesis was established)."""
        rows = self.db.read(self._CURRENT)
        if not rows:
            raise NotFoundError("no roster yet: establish the genesis roster first")
        return self._record(rows[0])

    def history(self) -> list[RosterRecord]:
        rows = self.db.read(
            "SELECT roster, recovered, ledger_index FROM roster_versions ORDER BY version"
        )
        return [self._record(row) for row in rows]

    def governed(self) -> dict[str, tuple[Any, int]]:
        """Each governed setting's value as the roster last set it, and the ledger index."""
        rows = self.db.read("SELECT name, value, ledger_index FROM governed_settings")
        return {n: (parse_json(bytes(v), "a governed setting"), int(i)) for n, v, i in rows}

    def establish(
        self, genesis: Roster, *, actor: str, settings: Mapping[str, Any] | None = None
    ) -> RosterRecord:
        """Record the genesis roster (once per deployment) and, from then on governed by it,
        the values of ``settings`` (a ``settings.changed`` event after the roster's)."""
        if genesis.version != 0:
            raise AlreadyExistsError("a genesis roster is version 0")
        values = dict(settings or {})

        def build(tx: Tx) -> list[bytes]:
            if tx.execute("SELECT 1 FROM roster_versions LIMIT 1"):
                raise AlreadyExistsError("this deployment already has a roster")
            at = self.clock()
            events = [genesis_event(genesis, at, actor).to_bytes()]
            if values:
                events.append(settings_event(values, at, actor, None).to_bytes())
            return events

        def record(tx: Tx, index: int) -> None:
            tx.execute(
                "INSERT INTO roster_versions (version, digest, roster, recovered, ledger_index)"
                " VALUES (0, ?, ?, 0, ?)",
                (genesis.digest, genesis.to_bytes(), index),
            )
            record_settings(tx, values, index + 1)

        index = self.log.append_with(build, record)
        return RosterRecord(genesis, False, index)

    def check_successor(self, request: ActionRequest) -> None:
        """None when ``request`` proposes exactly a roster that follows the one in force."""
        if "roster" not in request.params or not set(request.params) <= {"roster", "why"}:
            raise MalformedError("a roster change's parameters are a roster and maybe a why")
        new, current = Roster.from_json(request.params["roster"]), self.current().roster
        if new.version != current.version + 1 or new.previous != current.digest:
            raise MalformedError(
                f"the proposed roster must be version {current.version + 1} with previous "
                f"{current.digest}"
            )

    def record_governed(self, values: Mapping[str, Any], *, actor: str) -> int:
        """Record the values of those governed settings the roster has not recorded yet
        (``settings.changed``, no request): for a deployment whose roster predates their
        governance (schema revision 0005, or a setting governed since)."""
        recorded: list[dict[str, Any]] = []

        def build(tx: Tx) -> list[bytes]:
            known = {str(n) for (n,) in tx.execute("SELECT name FROM governed_settings")}
            missing = {n: v for n, v in values.items() if n not in known}
            if not missing:
                return []  # another process recorded them first
            recorded.append(missing)
            return [settings_event(missing, self.clock(), actor, None).to_bytes()]

        def record(tx: Tx, index: int) -> None:
            if recorded:
                record_settings(tx, recorded[-1], index)

        return self.log.append_with(build, record)

    def succession(self, *, actor: str) -> Effect:
        """Carrying out a roster change: the successor, verified against the roster in force
        (``verify_succession``), becomes a ``roster.changed`` event carrying the request and
        every signature, so the chain verifies from the log alone."""

        def build(
            tx: Tx, roster: Roster, request: ActionRequest, approvals: tuple[Approval, ...]
        ) -> list[Event]:
            change = Succession(request, approvals, self.clock())
            new = verify_succession(roster, change, origin=self.log.origin)
            built.append((new, change.recovered))
            return [succession_event(new, change, actor)]

        def record(tx: Tx, index: int) -> None:
            new, recovered = built[-1]
            tx.execute(
                "INSERT INTO roster_versions (version, digest, roster, recovered, ledger_index)"
                " VALUES (?, ?, ?, ?, ?)",
                (new.version, new.digest, new.to_bytes(), int(recovered), index),
            )

        built: list[tuple[Roster, bool]] = []
        return Effect(build, record)

    def change(self, change: Succession, *, actor: str) -> RosterRecord:
        """Carry out a roster change signed offline: proposed, each signature, then the
        change once the quorum of the roster in force signed it (``ActionBook.submit``);
        refused, the refusal is recorded and raised. Its time is this deployment's clock."""
        if change.request.action not in (CHANGE_ROSTER, RECOVER_ROSTER):
            raise MalformedError(f"{change.request.action} does not change the roster")
        index = self.actions.submit(
            change.request, change.approvals, self.succession(actor=actor), actor=actor
        )
        new = change.successor
        return RosterRecord(new, change.recovered, index)
