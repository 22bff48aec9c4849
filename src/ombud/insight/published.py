"""The insight at the latest witnessed checkpoint, computed once per checkpoint for every
reader in the process (the API's ``/insight`` and the portal share one).

Threat model: computing it reads every reading of the weeks covered, so a burst of requests
must not start many computations: one runs, under a lock, and the others wait for it. It
reads only public inputs (``gather``), so what it caches is public.
"""

from __future__ import annotations

import threading
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

    def __init__(self, log: Log, db: Database, timezone: str = "UTC") -> None:
        self._log = log
        self._db = db
        self._zone = ZoneInfo(timezone)
        self._lock = threading.Lock()
        self._size: int | None = None
        self._report: dict[str, Any] | None = None

    def report(self) -> dict[str, Any]:
        published = self._log.published_checkpoint()
        if published is None:
            raise NotFoundError("no witnessed checkpoint is published yet: no insight")
        with self._lock:
            if self._report is None or self._size != published.size:
                inputs = gather(self._log, self._db, self._zone)
                self._report = compute(inputs)
                self._size = published.size
            return self._report
