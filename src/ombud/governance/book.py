"""The roster of a deployment, written through the ledger: genesis once, then each successor
only when the quorum of the roster in force signed it.

Threat model: the operator holds the database and the API token, not the holders' keys. A
roster change is verified (``verify_succession``) inside the transaction that appends it, so
two changes can never both succeed one roster, and a request runs once (its digest is kept).
Each change is a ``roster.changed`` event carrying the new roster, the request and every
signature, so the chain can be verified by anyone from the log alone (``ombud.governance.chain``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ombud.database import Database, Tx
from ombud.errors import AlreadyExistsError, NotFoundError
from ombud.events import Event
from ombud.governance.roster import Roster, Succession, verify_succession
from ombud.ledger.log import Log

__all__ = ["RosterBook", "RosterRecord", "genesis_event", "succession_event"]


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


class RosterBook:
    def __init__(self, db: Database, log: Log, *, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.log = log
        self.clock = clock

    _CURRENT = (
        "SELECT roster, recovered, ledger_index FROM roster_versions ORDER BY version DESC LIMIT 1"
    )

    @staticmethod
    def _record(row: Sequence[Any]) -> RosterRecord:
        data, recovered, index = row
        return RosterRecord(Roster.from_bytes(bytes(data)), bool(recovered), int(index))

    @classmethod
    def _current_in(cls, tx: Tx) -> RosterRecord | None:
        rows = tx.execute(cls._CURRENT)
        return cls._record(rows[0]) if rows else None

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

    def establish(self, genesis: Roster, *, actor: str) -> RosterRecord:
        """Record the genesis roster (once per deployment)."""
        if genesis.version != 0:
            raise AlreadyExistsError("a genesis roster is version 0")

        def build(tx: Tx) -> list[bytes]:
            if self._current_in(tx) is not None:
                raise AlreadyExistsError("this deployment already has a roster")
            return [genesis_event(genesis, self.clock(), actor).to_bytes()]

        def record(tx: Tx, index: int) -> None:
            tx.execute(
                "INSERT INTO roster_versions (version, digest, roster, recovered, ledger_index)"
                " VALUES (0, ?, ?, 0, ?)",
                (genesis.digest, genesis.to_bytes(), index),
            )

        index = self.log.append_with(build, record)
        return RosterRecord(genesis, False, index)

    def change(self, change: Succession, *, actor: str) -> RosterRecord:
        """Carry out a roster change once the quorum of the roster in force signed it; raises
        (and records nothing) when it did not. Its time is this deployment's clock."""
        change = replace(change, at=self.clock())
        new: list[Roster] = []

        def build(tx: Tx) -> list[bytes]:
            current = self._current_in(tx)
            if current is None:
                raise NotFoundError("no roster yet: establish the genesis roster first")
            used = [
                row[0]
                for row in tx.execute(
                    "SELECT digest FROM roster_actions WHERE digest = ?", (change.request.digest,)
                )
            ]
            new.append(verify_succession(current.roster, change, used))
            return [succession_event(new[0], change, actor).to_bytes()]

        def record(tx: Tx, index: int) -> None:
            tx.execute(
                "INSERT INTO roster_versions (version, digest, roster, recovered, ledger_index)"
                " VALUES (?, ?, ?, ?, ?)",
                (new[0].version, new[0].digest, new[0].to_bytes(), int(change.recovered), index),
            )
            tx.execute(
                "INSERT INTO roster_actions (digest, action, ledger_index) VALUES (?, ?, ?)",
                (change.request.digest, change.request.action, index),
            )

        index = self.log.append_with(build, record)
        return RosterRecord(new[0], change.recovered, index)
