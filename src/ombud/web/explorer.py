"""The ledger explorer's reading of the log: events by kind and time, one event with what a
browser needs to verify it, and the keys it verifies against.

Threat model: it reads only what the latest witnessed checkpoint commits to, which the tile
API already serves to anyone; it decodes entries but trusts none of them, bounds every scan
(a page of events reads at most ``SCAN_LIMIT`` entries) and counts kinds incrementally, once
per new checkpoint, so no request can make it read the whole log again.
"""

from __future__ import annotations

import base64
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ombud.errors import MalformedError, NotFoundError
from ombud.events import Event
from ombud.ledger.log import Log
from ombud.ledger.note import Verifier
from ombud.witness.policy import WitnessPolicy

__all__ = ["SCAN_LIMIT", "EventPage", "EventRow", "Explorer", "Trust"]

SCAN_LIMIT = 4096
"""Entries one page of the event list reads at most, whatever the filter."""
PAGE_SIZE = 50
COUNT_PER_REQUEST = 65_536
"""Entries one call of ``Explorer.kinds`` adds to the counts at most."""
_READ_CHUNK = 256


@dataclass(frozen=True)
class EventRow:
    """One ledger entry as the explorer shows it (``event`` is None for a foreign entry)."""

    index: int
    size: int
    event: Event | None

    @property
    def kind(self) -> str:
        return self.event.kind if self.event is not None else "(not an ombud event)"

    @property
    def at(self) -> datetime | None:
        return self.event.at if self.event is not None else None


@dataclass(frozen=True)
class EventPage:
    rows: tuple[EventRow, ...]
    older: int | None
    """The ``before`` cursor of the next (older) page; None at the first entry."""
    scanned: int


@dataclass(frozen=True)
class Trust:
    """The keys an in-browser check verifies against, as this server states them."""

    origin: str
    log_vkey: str
    witness_vkeys: tuple[str, ...]
    quorum: int

    def to_json(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "logKey": self.log_vkey,
            "witnessKeys": list(self.witness_vkeys),
            "quorum": self.quorum,
        }


def _decode(entry: bytes) -> Event | None:
    try:
        return Event.from_bytes(entry)
    except MalformedError:
        return None


class Explorer:
    """Events of the published tree of ``log``; kinds counted once per checkpoint."""

    def __init__(self, log: Log, log_vkey: str, witnesses: WitnessPolicy) -> None:
        self.log = log
        self.log_vkey = Verifier.from_vkey(log_vkey).vkey
        self.witnesses = witnesses
        self._lock = threading.Lock()
        self._counted = 0
        self._kinds: Counter[str] = Counter()
        self._first: datetime | None = None
        self._last: datetime | None = None

    def published_size(self) -> int:
        checkpoint = self.log.published_checkpoint()
        if checkpoint is None:
            raise NotFoundError("the log has not published a witnessed checkpoint yet")
        return checkpoint.size

    def trust(self) -> Trust:
        return Trust(
            origin=self.log.origin,
            log_vkey=self.log_vkey,
            witness_vkeys=tuple(w.vkey for w in self.witnesses.witness),
            quorum=self.witnesses.quorum,
        )

    def kinds(self) -> tuple[dict[str, int], datetime | None, datetime | None, int]:
        """Events per kind, the first and last event time, and the number of entries they
        cover: each call counts at most ``COUNT_PER_REQUEST`` more, so a long log is counted
        over several requests, never in one."""
        size = self.published_size()
        with self._lock:
            limit = min(size, self._counted + COUNT_PER_REQUEST)
            while self._counted < limit:
                stop = min(limit, self._counted + _READ_CHUNK)
                for entry in self.log.entries(self._counted, stop):
                    event = _decode(entry)
                    kind = event.kind if event is not None else "(not an ombud event)"
                    self._kinds[kind] += 1
                    if event is not None:
                        self._first = self._first or event.at
                        self._last = event.at
                self._counted = stop
            return dict(sorted(self._kinds.items())), self._first, self._last, self._counted

    def page(self, *, kind: str | None = None, before: int | None = None) -> EventPage:
        """Up to ``PAGE_SIZE`` events, newest first, below index ``before``."""
        size = self.published_size()
        stop = size if before is None else min(before, size)
        rows: list[EventRow] = []
        scanned = 0
        while stop > 0 and len(rows) < PAGE_SIZE and scanned < SCAN_LIMIT:
            start = max(0, stop - min(_READ_CHUNK, SCAN_LIMIT - scanned))
            entries = self.log.entries(start, stop)
            scanned += len(entries)
            for offset in range(len(entries) - 1, -1, -1):
                row = EventRow(start + offset, size, _decode(entries[offset]))
                if kind is None or row.kind == kind:
                    rows.append(row)
                    if len(rows) == PAGE_SIZE:
                        stop = start + offset
                        break
            else:
                stop = start
        return EventPage(tuple(rows), stop if stop > 0 else None, scanned)

    def entry(self, index: int) -> tuple[EventRow, bytes]:
        size = self.published_size()
        if not 0 <= index < size:
            raise NotFoundError(f"entry {index} is not in the witnessed tree of size {size}")
        data = self.log.entry(index)
        return EventRow(index, size, _decode(data)), data


def material(row: EventRow, data: bytes, trust: Trust) -> dict[str, Any]:
    """What the page hands its script: the entry's bytes and the keys to check against; the
    proof and the checkpoint the script fetches itself from the log's public API."""
    return {
        "index": row.index,
        "entry": base64.b64encode(data).decode(),
        "trust": trust.to_json(),
    }


def key_fingerprint(vkey: str) -> tuple[str, str, str]:
    """A vkey's name, key ID (hex) and the algorithm it names, for display."""
    verifier = Verifier.from_vkey(vkey)
    return verifier.name, vkey.split("+")[1], "cosignature" if verifier.is_cosigner else "Ed25519"
