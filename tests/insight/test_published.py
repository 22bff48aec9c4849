"""``PublishedInsight``: one computation at a time, and at most one a minute."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from ombud.insight import published
from ombud.insight.published import PublishedInsight


@dataclass
class _Checkpoint:
    size: int


class _Log:
    def __init__(self) -> None:
        self.size = 10

    def published_checkpoint(self) -> _Checkpoint:
        return _Checkpoint(self.size)


def test_a_report_is_served_until_it_is_a_minute_old(monkeypatch: pytest.MonkeyPatch) -> None:
    """While ingest publishes a checkpoint every few seconds, anonymous readers must not make
    the insight (every reading of the weeks covered) run back to back."""
    log, now, computed = _Log(), [1000.0], []

    def compute(inputs: Any) -> dict[str, Any]:
        computed.append(inputs)
        return {"logSize": inputs}

    monkeypatch.setattr(published, "gather", lambda log, db, zone: log.size)
    monkeypatch.setattr(published, "compute", compute)
    insight = PublishedInsight(log, None, monotonic=lambda: now[0])  # type: ignore[arg-type]
    assert insight.report() == {"logSize": 10}
    log.size = 11
    now[0] += 59
    assert insight.report() == {"logSize": 10}  # it names the checkpoint it was computed at
    now[0] += 1
    assert insight.report() == {"logSize": 11}
    now[0] += 3600
    assert insight.report() == {"logSize": 11} and computed == [10, 11]  # nothing new
