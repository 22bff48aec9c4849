"""Quarantine: suspect observations kept, flagged, excluded from aggregates — never deleted.

Threat model: quarantining is itself a power (it can silence an inconvenient sensor), so it is
recorded on the ledger like everything else: ``observation.quarantined`` when a check flags a
reading (with the check, its reason and a digest of its evidence), ``observation.released``
when an operator releases one (with who and why). The rows here are the projection auditors
query; the observation itself stays in the observation store, untouched.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ombud.canonical import canonical_json, parse_json
from ombud.database import Database, Tx
from ombud.errors import MalformedError, NotFoundError
from ombud.events import Event, format_time
from ombud.integrity.checks import Verdict
from ombud.ledger.log import Log

__all__ = ["QuarantineStore", "Quarantined", "quarantine_event"]

_TABLES = """
CREATE TABLE IF NOT EXISTS quarantine (
    device TEXT NOT NULL,
    counter INTEGER NOT NULL,
    district TEXT NOT NULL,
    checks TEXT NOT NULL,
    reason TEXT NOT NULL,
    evidence BLOB NOT NULL,
    at_us INTEGER NOT NULL,
    ledger_index INTEGER NOT NULL,
    released_index INTEGER,
    release_reason TEXT,
    PRIMARY KEY (device, counter)
) STRICT;
CREATE INDEX IF NOT EXISTS quarantine_by_time ON quarantine (at_us)
"""
_COLUMNS = (
    "device, counter, district, checks, reason, evidence, at_us, ledger_index, released_index, "
    "release_reason"
)


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")


def _evidence(verdicts: Sequence[Verdict]) -> bytes:
    return canonical_json(
        [{"check": v.check, "reason": v.reason, "evidence": dict(v.evidence)} for v in verdicts],
        "the evidence",
    )


def quarantine_event(device: str, counter: int, verdicts: Sequence[Verdict], at: datetime) -> bytes:
    """The ``observation.quarantined`` leaf for the suspect ``verdicts`` of one observation."""
    return Event(
        "observation.quarantined",
        at,
        "integrity",
        {
            "v": 1,
            "device": device,
            "counter": counter,
            "checks": sorted({v.check for v in verdicts}),
            "reason": verdicts[0].reason[:300],
            "evidence": _digest(_evidence(verdicts)),
        },
    ).to_bytes()


@dataclass(frozen=True)
class Quarantined:
    device: str
    counter: int
    district: str
    checks: tuple[str, ...]
    reason: str
    evidence: list[dict[str, Any]]
    at: datetime
    ledger_index: int
    released_index: int | None
    release_reason: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "counter": self.counter,
            "district": self.district,
            "checks": list(self.checks),
            "reason": self.reason,
            "evidence": self.evidence,
            "at": format_time(self.at),
            "ledgerIndex": self.ledger_index,
            "releasedIndex": self.released_index,
            "releaseReason": self.release_reason,
        }


def _row(row: tuple[Any, ...]) -> Quarantined:
    device, counter, district, checks, reason, evidence, at_us, index, released, why = row
    return Quarantined(
        device,
        counter,
        district,
        tuple(json.loads(checks)),
        reason,
        parse_json(bytes(evidence), "stored evidence"),
        datetime.fromtimestamp(at_us / 1_000_000, UTC),
        index,
        released,
        why,
    )


class QuarantineStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_tables("quarantine", _TABLES)

    @staticmethod
    def insert(
        tx: Tx,
        device: str,
        counter: int,
        district: str,
        verdicts: Sequence[Verdict],
        at_us: int,
        ledger_index: int,
    ) -> None:
        """Record a quarantine inside the transaction that appends its event."""
        tx.execute(
            f"INSERT INTO quarantine ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
            (
                device,
                counter,
                district,
                json.dumps(sorted({v.check for v in verdicts})),
                verdicts[0].reason[:300],
                _evidence(verdicts),
                at_us,
                ledger_index,
            ),
        )

    def release(
        self,
        log: Log,
        device: str,
        counter: int,
        reason: str,
        *,
        actor: str,
        clock: Callable[[], datetime],
    ) -> Quarantined:
        """Release a quarantined observation (an operator's decision, with a reason)."""
        if not 0 < len(reason) <= 500:
            raise MalformedError("a release carries a reason of 1-500 characters")
        event = Event(
            "observation.released",
            clock(),
            actor,
            {"v": 1, "device": device, "counter": counter, "reason": reason},
        ).to_bytes()

        def check(tx: Tx) -> list[bytes]:
            rows = tx.execute(
                "SELECT released_index FROM quarantine WHERE device = ? AND counter = ?",
                (device, counter),
            )
            if not rows:
                raise NotFoundError(f"observation {counter} of device {device} is not quarantined")
            if rows[0][0] is not None:
                raise MalformedError(f"observation {counter} of device {device} was released")
            return [event]

        def record(tx: Tx, index: int) -> None:
            tx.execute(
                "UPDATE quarantine SET released_index = ?, release_reason = ? "
                "WHERE device = ? AND counter = ?",
                (index, reason, device, counter),
            )

        log.append_with(check, record)
        return self.get(device, counter)

    def get(self, device: str, counter: int) -> Quarantined:
        rows = self.db.read(
            f"SELECT {_COLUMNS} FROM quarantine WHERE device = ? AND counter = ?",
            (device, counter),
        )
        if not rows:
            raise NotFoundError(f"observation {counter} of device {device} is not quarantined")
        return _row(rows[0])

    def list(
        self,
        *,
        device: str | None = None,
        district: str | None = None,
        check: str | None = None,
        since_us: int | None = None,
        until_us: int | None = None,
        include_released: bool = True,
        limit: int = 1000,
    ) -> list[Quarantined]:
        where, params = ["1 = 1"], []
        for column, value in (("device", device), ("district", district)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if since_us is not None:
            where.append("at_us >= ?")
            params.append(since_us)  # type: ignore[arg-type]
        if until_us is not None:
            where.append("at_us < ?")
            params.append(until_us)  # type: ignore[arg-type]
        if not include_released:
            where.append("released_index IS NULL")
        rows = self.db.read(
            f"SELECT {_COLUMNS} FROM quarantine WHERE {' AND '.join(where)} "
            "ORDER BY at_us, device, counter LIMIT ?",
            (*params, limit),
        )
        found = [_row(r) for r in rows]
        return [q for q in found if check is None or check in q.checks]
