"""Quarantine: suspect observations kept, flagged, excluded from aggregates — never deleted.

Threat model: quarantining is itself a power (it can silence an inconvenient sensor), so it is
recorded on the ledger like everything else: ``observation.quarantined`` when a check flags a
reading (with the check, its reason and a digest of its evidence), ``observation.released``
when an operator releases one (with who and why); ``device.quarantined`` and
``device.released`` likewise for a device quarantined as a whole (every reading it takes from
the first suspect one on is left out of aggregates until an operator releases it). The rows
here are the projection auditors query; observations stay in the observation store, untouched.
"""

from __future__ import annotations

import builtins
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ombud.base64url import b64url
from ombud.canonical import canonical_json, is_json_number, parse_json
from ombud.clock import format_time, from_micros
from ombud.database import Database, Tx
from ombud.errors import NotFoundError
from ombud.events import Event
from ombud.integrity.checks import Verdict
from ombud.ledger.log import Log
from ombud.release import AlreadyReleasedError, check_reason

__all__ = [
    "DeviceQuarantine",
    "QuarantineStore",
    "Quarantined",
    "device_quarantine_event",
    "quarantine_event",
]

_DEVICE_COLUMNS = (
    "ledger_index, device, district, reason, evidence, since_us, at_us, released_index, "
    "release_reason"
)
_COLUMNS = (
    "device, counter, district, checks, reason, evidence, at_us, ledger_index, released_index, "
    "release_reason"
)


def _digest(data: bytes) -> str:
    return b64url(hashlib.sha256(data).digest())


def _evidence(verdicts: Sequence[Verdict]) -> bytes:
    return canonical_json(
        [
            {"check": v.check, "reason": v.reason, "evidence": _written(dict(v.evidence))}
            for v in verdicts
        ],
        "the evidence",
    )


def _written(value: Any) -> Any:
    """Evidence as JSON can hold it whatever a device sent: a float that is no exact JSON number
    (NaN, an infinity, or a whole number from 2^53 to 1e21, which arithmetic on absurd but
    signed readings produces) is written as its ``repr``, so that one reading's evidence can
    never stop the screening of every device."""
    if isinstance(value, float) and not is_json_number(value):
        return repr(value)
    if isinstance(value, dict):
        return {k: _written(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_written(v) for v in value]
    return value


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


def device_quarantine_event(device: str, verdict: Verdict, since_us: int, at: datetime) -> bytes:
    """The ``device.quarantined`` leaf: a device suspect often enough to be set aside whole."""
    return Event(
        "device.quarantined",
        at,
        "integrity",
        {
            "v": 1,
            "device": device,
            "since": format_time(from_micros(since_us)),
            "reason": verdict.reason[:300],
            "evidence": _digest(_evidence([verdict])),
        },
    ).to_bytes()


@dataclass(frozen=True)
class DeviceQuarantine:
    """A device set aside as a whole: its readings from ``since`` on are left out of aggregates
    until ``released_index`` is set."""

    device: str
    district: str
    reason: str
    evidence: list[dict[str, Any]]
    since: datetime
    at: datetime
    ledger_index: int
    released_index: int | None
    release_reason: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "district": self.district,
            "since": format_time(self.since),
            **_held_json(self),
        }


def _device_row(row: tuple[Any, ...]) -> DeviceQuarantine:
    index, device, district, reason, evidence, since_us, at_us, released, why = row
    return DeviceQuarantine(
        device,
        district,
        reason,
        parse_json(bytes(evidence), "stored evidence"),
        from_micros(since_us),
        from_micros(at_us),
        index,
        released,
        why,
    )


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
            **_held_json(self),
        }


def _held_json(held: Quarantined | DeviceQuarantine) -> dict[str, Any]:
    """What every quarantine says: why, on what evidence, when, where on the ledger, and
    whether (and why) it was released."""
    return {
        "reason": held.reason,
        "evidence": held.evidence,
        "at": format_time(held.at),
        "ledgerIndex": held.ledger_index,
        "releasedIndex": held.released_index,
        "releaseReason": held.release_reason,
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
        from_micros(at_us),
        index,
        released,
        why,
    )


class QuarantineStore:
    def __init__(self, db: Database) -> None:
        self.db = db

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
        check_reason(reason)
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
                raise AlreadyReleasedError(
                    f"observation {counter} of device {device} was released already"
                )
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
        if check is not None:
            # ``checks`` holds a JSON list of names: match one whole, quoted name.
            where.append("checks LIKE ? ESCAPE '!'")
            quoted = json.dumps(check).replace("!", "!!").replace("%", "!%").replace("_", "!_")
            params.append(f"%{quoted}%")
        if not include_released:
            where.append("released_index IS NULL")
        rows = self.db.read(
            f"SELECT {_COLUMNS} FROM quarantine WHERE {' AND '.join(where)} "
            "ORDER BY at_us, device, counter LIMIT ?",
            (*params, limit),
        )
        return [_row(r) for r in rows]

    # --- devices quarantined as a whole --------------------------------------------------------

    @staticmethod
    def insert_device(
        tx: Tx,
        device: str,
        district: str,
        verdict: Verdict,
        since_us: int,
        at_us: int,
        ledger_index: int,
    ) -> None:
        """Record a device quarantine inside the transaction that appends its event."""
        tx.execute(
            f"INSERT INTO device_quarantine ({_DEVICE_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
            (
                ledger_index,
                device,
                district,
                verdict.reason[:300],
                _evidence([verdict]),
                since_us,
                at_us,
            ),
        )

    @staticmethod
    def held_devices(tx: Tx, devices: Sequence[str]) -> set[str]:
        """Which of ``devices`` are quarantined as a whole right now."""
        if not devices:
            return set()
        marks = ", ".join("?" * len(devices))
        rows = tx.execute(
            "SELECT DISTINCT device FROM device_quarantine "
            f"WHERE released_index IS NULL AND device IN ({marks})",
            list(devices),
        )
        return {r[0] for r in rows}

    def release_device(
        self,
        log: Log,
        device: str,
        reason: str,
        *,
        actor: str,
        clock: Callable[[], datetime],
    ) -> DeviceQuarantine:
        """Put a device quarantined as a whole back into aggregates (an operator's decision
        after inspecting it, with a reason). Its readings quarantined one by one stay so."""
        check_reason(reason)
        event = Event(
            "device.released", clock(), actor, {"v": 1, "device": device, "reason": reason}
        ).to_bytes()
        held: list[int] = []

        def check(tx: Tx) -> list[bytes]:
            rows = tx.execute(
                "SELECT ledger_index FROM device_quarantine "
                "WHERE device = ? AND released_index IS NULL",
                (device,),
            )
            if not rows:
                if tx.execute("SELECT 1 FROM device_quarantine WHERE device = ?", (device,)):
                    raise AlreadyReleasedError(f"device {device[:80]} was released already")
                raise NotFoundError(f"device {device[:80]} is not quarantined")
            held[:] = [r[0] for r in rows]
            return [event]

        def record(tx: Tx, index: int) -> None:
            tx.execute(
                "UPDATE device_quarantine SET released_index = ?, release_reason = ? "
                "WHERE device = ? AND released_index IS NULL",
                (index, reason, device),
            )

        log.append_with(check, record)
        return self.device(held[-1])

    def device(self, ledger_index: int) -> DeviceQuarantine:
        rows = self.db.read(
            f"SELECT {_DEVICE_COLUMNS} FROM device_quarantine WHERE ledger_index = ?",
            (ledger_index,),
        )
        if not rows:
            raise NotFoundError(f"no device quarantine at ledger index {ledger_index}")
        return _device_row(rows[0])

    def devices(
        self,
        *,
        device: str | None = None,
        district: str | None = None,
        include_released: bool = True,
        limit: int = 1000,
    ) -> builtins.list[DeviceQuarantine]:
        """Device quarantines, oldest first."""
        where, params = ["1 = 1"], []
        for column, value in (("device", device), ("district", district)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if not include_released:
            where.append("released_index IS NULL")
        rows = self.db.read(
            f"SELECT {_DEVICE_COLUMNS} FROM device_quarantine WHERE {' AND '.join(where)} "
            "ORDER BY ledger_index LIMIT ?",
            (*params, limit),
        )
        return [_device_row(r) for r in rows]
