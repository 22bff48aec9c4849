"""The observation store: every accepted observation, as signed, with its ledger index.

Threat model: this is a projection of the ledger (DESIGN §2) that readers query instead of
replaying it, so it must never hold what the ledger does not: rows are written only inside the
transaction that appends their ``observation.accepted`` events (``Intake``), keyed by
``(device, counter)`` so one observation cannot be stored twice, and each keeps its ledger
index, so any reading can be proven with an inclusion proof. Entities are kept exactly as
signed (RFC 8785 bytes, proof included), so anyone can re-verify what they read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ombud.canonical import parse_json
from ombud.clock import from_micros, to_micros
from ombud.database import Database, Tx
from ombud.errors import NotFoundError

__all__ = ["ObservationStore", "StoredObservation"]


@dataclass(frozen=True)
class StoredObservation:
    device: str
    counter: int
    entity_id: str
    created: datetime
    ledger_index: int
    canonical: bytes

    def entity(self) -> dict[str, Any]:
        value: dict[str, Any] = parse_json(self.canonical, "a stored observation")
        return value


def _observation(row: tuple[Any, ...]) -> StoredObservation:
    device, counter, entity_id, created_us, index, entity = row
    created = from_micros(created_us)
    return StoredObservation(device, counter, entity_id, created, index, bytes(entity))


_OBSERVATION = "device, counter, entity_id, created_us, ledger_index, entity"


@dataclass(frozen=True)
class NewObservation:
    """A row to store, with the ledger index its event got."""

    device: str
    counter: int
    entity_id: str
    entity_type: str
    """The Smart Data Model of the entity, which is the device's model."""
    created_us: int
    ledger_index: int
    canonical: bytes
    district: str
    """The device's district: where the reading was taken (coarse by construction)."""


class ObservationStore:
    """Observations and the latest observation of each entity, in the deployment database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- writing (inside the ledger transaction) -------------------------------------------------

    @staticmethod
    def owners(tx: Tx, entity_ids: Sequence[str]) -> dict[str, str]:
        """Which device reports each existing entity (an entity belongs to its first device)."""
        owners: dict[str, str] = {}
        unique = sorted(set(entity_ids))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = tx.execute(f"SELECT id, device FROM entities WHERE id IN ({marks})", chunk)
            owners.update(rows)
        return owners

    @staticmethod
    def stored(tx: Tx, device: str, counter: int) -> bytes | None:
        """The entity stored for ``(device, counter)``, if that observation was accepted."""
        rows = tx.execute(
            "SELECT entity FROM observations WHERE device = ? AND counter = ?", (device, counter)
        )
        return bytes(rows[0][0]) if rows else None

    @staticmethod
    def insert(tx: Tx, rows: Iterable[NewObservation]) -> None:
        rows = list(rows)
        tx.executemany(
            f"INSERT INTO observations ({_OBSERVATION}, model, district)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r.device,
                    r.counter,
                    r.entity_id,
                    r.created_us,
                    r.ledger_index,
                    r.canonical,
                    r.entity_type,
                    r.district,
                )
                for r in rows
            ],
        )
        tx.executemany(
            "INSERT INTO entities VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE "
            "SET counter = excluded.counter WHERE excluded.counter > entities.counter",
            [(r.entity_id, r.entity_type, r.device, r.counter) for r in rows],
        )

    # --- reading -------------------------------------------------------------------------------

    def observation(self, device: str, counter: int) -> StoredObservation:
        rows = self.db.read(
            f"SELECT {_OBSERVATION} FROM observations WHERE device = ? AND counter = ?",
            (device, counter),
        )
        if not rows:
            raise NotFoundError(
                f"device {ascii(device)[1:-1][:80]} has no accepted observation {counter}"
            )
        return _observation(rows[0])

    def latest(self, entity_id: str) -> StoredObservation:
        rows = self.db.read(
            f"SELECT {_OBSERVATION} FROM observations o WHERE (device, counter) = "
            "(SELECT device, counter FROM entities WHERE id = ?)",
            (entity_id,),
        )
        if not rows:
            raise NotFoundError(f"entity {ascii(entity_id)[1:-1][:80]} does not exist")
        return _observation(rows[0])

    def latest_of_type(
        self, entity_type: str | None, *, after: str = "", limit: int = 1000
    ) -> list[StoredObservation]:
        """Latest observations of entities (of one type), by entity id, from after ``after``."""
        where, params = "e.id > ?", [after]
        if entity_type is not None:
            where += " AND e.type = ?"
            params.append(entity_type)
        rows = self.db.read(
            f"SELECT o.device, o.counter, o.entity_id, o.created_us, o.ledger_index, o.entity "
            f"FROM entities e JOIN observations o ON o.device = e.device AND o.counter = e.counter "
            f"WHERE {where} ORDER BY e.id LIMIT ?",
            (*params, limit),
        )
        return [_observation(r) for r in rows]

    def history(
        self,
        entity_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        last: int | None = None,
        limit: int = 1000,
    ) -> list[StoredObservation]:
        """Observations of an entity signed in ``[start, end)``, oldest first (the newest
        ``last`` of them when ``last`` is given)."""
        where, params = ["entity_id = ?"], [entity_id]
        if start is not None:
            where.append("created_us >= ?")
            params.append(to_micros(start))  # type: ignore[arg-type]
        if end is not None:
            where.append("created_us < ?")
            params.append(to_micros(end))  # type: ignore[arg-type]
        order = "DESC" if last is not None else "ASC"
        rows = self.db.read(
            f"SELECT {_OBSERVATION} FROM observations WHERE {' AND '.join(where)} "
            f"ORDER BY created_us {order}, ledger_index {order} LIMIT ?",
            (*params, min(last, limit) if last is not None else limit),
        )
        found = [_observation(r) for r in rows]
        return found[::-1] if last is not None else found

    def count(self) -> int:
        return int(self.db.read("SELECT count(*) FROM observations")[0][0])

    def __iter__(self) -> Iterator[StoredObservation]:
        for row in self.db.read(f"SELECT {_OBSERVATION} FROM observations ORDER BY ledger_index"):
            yield _observation(row)
