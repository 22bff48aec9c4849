"""Where an insight's inputs come from: the deployment's witnessed checkpoint, its DP releases
and its sensor readings — public data only.

Threat model: the insight must never see a post, so this shell reads the releases table and
the observations, never the voice stores (a test on the import graph holds it to that); and it
reads them as they stood at the latest witnessed checkpoint, so that anyone holding the same
public data gets the same answer. A log with no witnessed checkpoint has no insight yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from ombud.clock import week_shaped, week_window
from ombud.database import Database
from ombud.errors import MalformedError, NotFoundError
from ombud.insight.correction import Confusion, shipped_confusion
from ombud.insight.report import Inputs, PublishedRelease, SkippedRelease
from ombud.ledger.log import Log
from ombud.privacy.dp import Release, releases_before
from ombud.sensors.indicators import SensorReading, readings_between

__all__ = ["MAX_WEEKS", "gather"]

MAX_WEEKS = 520
"""Weeks (ten years) an insight spans at most, up to the latest week it covers: a week released
further back is left out and named, so a release of 0001-W01 cannot stretch the insight over
two thousand years of weeks and charts."""


def gather(
    log: Log,
    db: Database,
    zone: tzinfo,
    *,
    confusion: Confusion | None = None,
    q: float = 0.05,
) -> Inputs:
    """The inputs at the log's latest published (witnessed) checkpoint: for each ISO week, the
    latest satisfaction release before it, and the sensor readings of those weeks.

    A release whose period is spelled as a week but cannot be placed there is left out and
    listed in ``Inputs.skipped`` — never an error, or one bad ledger entry (accepted before
    the release book refused it) would break the insight for good: a period that is no week
    (``2026-W99``, ``9999-W52``), a release made before its week began (nothing of that week
    could be in it), a week outside the ``MAX_WEEKS`` up to the latest one covered."""
    published = log.published_checkpoint()
    if published is None:
        raise NotFoundError("the log has published no witnessed checkpoint yet: no insight")
    latest: dict[str, tuple[Release, datetime, datetime]] = {}
    skipped: list[SkippedRelease] = []
    for release in releases_before(db, "satisfaction", published.size):
        # releases before the histogram (a noisy mean per cell) carry no label counts
        if not (week_shaped(release.period) and "histogram" in release.result):
            continue
        try:
            start, end = week_window(release.period)
        except MalformedError as exc:
            skipped.append(_skipped(release, str(exc)))
            continue
        if release.created < start:
            skipped.append(_skipped(release, "released before its week began"))
            continue
        latest[release.period] = (release, start, end)
    placed = [latest[p] for p in sorted(latest)]  # "YYYY-Www" sorts as time does
    if placed:
        try:
            first = placed[-1][1] - timedelta(weeks=MAX_WEEKS - 1)
        except OverflowError:  # the latest week is within MAX_WEEKS of year 1: keep them all
            first = datetime.min.replace(tzinfo=placed[-1][1].tzinfo)
        for release, start, _ in placed:
            if start < first:
                reason = f"not in the {MAX_WEEKS} weeks up to {placed[-1][0].period}"
                skipped.append(_skipped(release, reason))
        placed = [p for p in placed if p[1] >= first]
    releases = [PublishedRelease(r.id, r.period, r.ledger_index, r.result) for r, _, _ in placed]
    readings = _readings(db, [(start, end) for _, start, end in placed], published.size)
    return Inputs(
        log.origin,
        published.size,
        published.root,
        releases,
        readings,
        confusion or shipped_confusion(),
        zone,
        q,
        tuple(sorted(skipped, key=lambda s: s.ledger_index)),
    )


def _skipped(release: Release, reason: str) -> SkippedRelease:
    return SkippedRelease(release.id, release.period, release.ledger_index, reason)


@dataclass(frozen=True)
class _Readings:
    """The readings of some weeks, read from the database each time they are iterated, a page
    at a time: what ``Inputs.readings`` holds, so that computing a report keeps sums, not
    readings (``ombud.insight.sensors``). Every read stands at ``log_size``."""

    db: Database
    runs: tuple[tuple[datetime, datetime], ...]
    log_size: int

    def __iter__(self) -> Iterator[SensorReading]:
        for since, until in self.runs:
            yield from readings_between(self.db, since, until, log_size=self.log_size)


def _readings(db: Database, weeks: list[tuple[datetime, datetime]], log_size: int) -> _Readings:
    """The readings of ``weeks`` (in order), read run by run of consecutive weeks: the weeks
    between two released weeks are never read (a far-apart pair must not load every reading
    between them)."""
    runs: list[tuple[datetime, datetime]] = []
    for start, end in weeks:
        if runs and runs[-1][1] == start:
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((start, end))
    return _Readings(db, tuple(runs), log_size)
