"""``gather``: the insight's inputs at the published checkpoint — and a release it cannot place
in a week (accepted before the release book refused it) left out and named, never an error."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from ombud.clock import to_seconds, week_window
from ombud.database import Database
from ombud.insight import compute, gather, view
from ombud.insight import source as insight_source
from ombud.insight.published import PublishedInsight
from ombud.ledger import note
from ombud.ledger.log import Log
from ombud.ledger.store_sql import SqlStore

RESULT: dict[str, Any] = {
    "histogram": "negative, neutral and positive posts per cell, each count noisy",
    "countScale": 1.5,
    "cells": [
        {
            "district": "north",
            "service": "noise",
            "suppressed": False,
            "counts": {"negative": 30, "neutral": 20, "positive": 50},
            "meanSatisfaction": 0.2,
        }
    ],
}


class Ledger:
    """A log and its releases table, filled as a deployment's would be (or as an old one's
    was, before the release book refused what it now refuses)."""

    def __init__(self, database: Database) -> None:
        self.db = database
        self.log = Log(
            SqlStore.create(database, "i.example/log"), note.Signer.generate("i.example/log")
        )
        self.count = 0

    def release(self, period: str, created: datetime | None = None) -> str:
        """A satisfaction release of ``period``, made at ``created`` (its week's end by
        default), with its own ledger entry."""
        if created is None:
            created = week_window(period)[1]
        self.count += 1
        release_id = f"{self.count:032x}"
        index = self.log.append_batch([f"dp.released {release_id}".encode()])
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO dp_releases (id, dataset, period, rho, created, result, ledger_index)"
                " VALUES (?, 'satisfaction', ?, 0.5, ?, ?, ?)",
                (release_id, period, to_seconds(created), json.dumps(RESULT), index),
            )
        return release_id

    def publish(self) -> None:
        self.log.checkpoint()  # an unwitnessed log publishes what it signs


@pytest.fixture
def ledger(database: Database) -> Ledger:
    return Ledger(database)


@pytest.mark.parametrize("bad", ["9999-W52", "2026-W99", "2025-W53", "0000-W01", "2026-W00"])
def test_a_release_of_a_week_that_is_not_one_is_left_out_and_named(
    ledger: Ledger, bad: str
) -> None:
    """Attack finding: one satisfaction release of 9999-W52 (OverflowError: a 500) or
    2026-W99 (a 400) made /insight, the portal's home page and `ombud insight report` fail for
    good from the next checkpoint on."""
    ledger.release("2026-W46")
    bad_id = ledger.release(bad, created=datetime(2026, 11, 20, tzinfo=UTC))
    ledger.release("2026-W47")
    ledger.publish()
    inputs = gather(ledger.log, ledger.db, UTC)
    assert [r.period for r in inputs.releases] == ["2026-W46", "2026-W47"]
    ((skipped,),) = (inputs.skipped,)
    assert (skipped.id, skipped.period, skipped.ledger_index) == (bad_id, bad, 1)
    assert bad in skipped.reason and ("week of its year" in skipped.reason or "9999" in bad)
    report = compute(inputs)
    assert report["periods"] == ["2026-W46", "2026-W47"]
    assert report["skippedReleases"] == [skipped.to_json()]
    assert view(report, week="2026-W46")["cells"]
    assert PublishedInsight(ledger.log, ledger.db).report()["digest"] == report["digest"]


def test_a_report_with_nothing_skipped_has_no_skipped_list(ledger: Ledger) -> None:
    ledger.release("2026-W46")
    ledger.release("2026-W12")  # not spelled as a week elsewhere: a token label, not weekly
    ledger.release("2026-W47")
    ledger.publish()
    inputs = gather(ledger.log, ledger.db, UTC)
    assert inputs.skipped == ()
    assert "skippedReleases" not in compute(inputs)


def test_a_release_made_before_its_week_began_is_left_out(ledger: Ledger) -> None:
    """Before the release book held weeks to their end, 9999-W51 (a real week) or next week
    could be released at once: nothing of that week can be in it, and it would set the span."""
    ledger.release("2026-W46")
    future = ledger.release("9999-W51", created=datetime(2026, 11, 20, tzinfo=UTC))
    early = ledger.release("2026-W48", created=datetime(2026, 11, 22, tzinfo=UTC))
    running = ledger.release("2026-W47", created=datetime(2026, 11, 19, tzinfo=UTC))
    ledger.publish()
    inputs = gather(ledger.log, ledger.db, UTC)
    assert [r.period for r in inputs.releases] == ["2026-W46", "2026-W47"]  # W47 had begun
    assert running in {r.id for r in inputs.releases}
    assert [(s.id, s.reason) for s in inputs.skipped] == [
        (future, "released before its week began"),
        (early, "released before its week began"),
    ]


def test_a_far_past_week_neither_stretches_the_insight_nor_loads_the_years_between(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack finding: a release of 0001-W01 made gather read every sensor reading from the
    year 1 on (one window from the first week to the last). Readings are now read run by run
    of consecutive weeks, and a week outside the MAX_WEEKS up to the latest is left out."""
    read: list[tuple[datetime, datetime]] = []
    real = insight_source.readings_between

    def recording(db: Database, since: datetime, until: datetime, *, log_size: int) -> Any:
        read.append((since, until))
        return real(db, since, until, log_size=log_size)

    monkeypatch.setattr(insight_source, "readings_between", recording)
    far = ledger.release("0001-W01")
    ledger.release("2016-W50")  # 2016-W50 to 2026-W48: 520 weeks, still in
    ledger.release("2016-W49")  # one more: out
    for week in ("2026-W45", "2026-W46", "2026-W48"):
        ledger.release(week)
    ledger.publish()
    inputs = gather(ledger.log, ledger.db, UTC)
    assert [r.period for r in inputs.releases] == ["2016-W50", "2026-W45", "2026-W46", "2026-W48"]
    assert [(s.period, s.reason) for s in inputs.skipped] == [
        ("0001-W01", "not in the 520 weeks up to 2026-W48"),
        ("2016-W49", "not in the 520 weeks up to 2026-W48"),
    ]
    assert inputs.skipped[0].id == far
    assert read == []  # gather reads no reading: the report reads them as it computes
    assert compute(inputs)["periods"][0] == "2016-W50"
    assert read == [
        week_window("2016-W50"),
        (week_window("2026-W45")[0], week_window("2026-W46")[1]),
        week_window("2026-W48"),
    ]


def test_weeks_near_the_year_1_are_placed_not_a_crash(ledger: Ledger) -> None:
    """Review finding: the MAX_WEEKS window back from a latest week of 0005-W01 overflowed
    (OverflowError, a 500 on /insight until a later week was released)."""
    ledger.release("0005-W01")
    ledger.release("0004-W52")
    ledger.publish()
    inputs = gather(ledger.log, ledger.db, UTC)
    assert [r.period for r in inputs.releases] == ["0004-W52", "0005-W01"]
