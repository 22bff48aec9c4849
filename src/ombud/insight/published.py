"""The insight at the latest witnessed checkpoint, computed for every reader in the process
(the API's ``/insight`` and the portal share one), at most once a minute.

Threat model: computing it reads every reading of the weeks covered, so a burst of requests
must not start many computations: one runs, under a lock, and the others wait for it; and
while ingest publishes a checkpoint every few seconds, anonymous readers must not make it run
back to back, so a report is served until it is ``fresh_for_s`` old (it names the checkpoint
it was computed at, so a newer one is never claimed). It reads only public inputs
(``gather``), so what it caches is public.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from ombud.database import Database
from ombud.errors import NotFoundError
from ombud.insight.report import compute
from ombud.insight.source import gather
from ombud.ledger.log import Log

__all__ = ["PublishedInsight"]


class PublishedInsight:
    """``report()``: the insight as of the latest published checkpoint, in ``timezone``."""

    def __init__(
        self,
        log: Log,
        db: Database,
        timezone: str = "UTC",
        *,
        fresh_for_s: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._db = db
        self._zone = ZoneInfo(timezone)
        self._lock = threading.Lock()
        self._fresh_for_s = fresh_for_s
        self._monotonic = monotonic
        self._size: int | None = None
        self._computed_at = 0.0
        self._report: dict[str, Any] | None = None

    def report(self) -> dict[str, Any]:
        published = self._log.published_checkpoint()
        if published is None:
            raise NotFoundError("no witnessed checkpoint is published yet: no insight")
        with self._lock:
            now = self._monotonic()
            stale = self._size != published.size and now - self._computed_at >= self._fresh_for_s
            if self._report is None or stale:
                inputs = gather(self._log, self._db, self._zone)
                self._report = compute(inputs)
                self._size = published.size
                self._computed_at = now
            return self._report
