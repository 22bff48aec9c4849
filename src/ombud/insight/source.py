"""Where an insight's inputs come from: the deployment's witnessed checkpoint, its DP releases
and its sensor readings — public data only.

Threat model: the insight must never see a post, so this shell reads the releases table and
the observations, never the voice stores (a test on the import graph holds it to that); and it
reads them as they stood at the latest witnessed checkpoint, so that anyone holding the same
public data gets the same answer. A log with no witnessed checkpoint has no insight yet.
"""

from __future__ import annotations

import re
from datetime import tzinfo

from ombud.clock import week_window
from ombud.database import Database
from ombud.errors import NotFoundError
from ombud.insight.correction import Confusion, shipped_confusion
from ombud.insight.report import Inputs, PublishedRelease
from ombud.ledger.log import Log
from ombud.privacy.dp import releases_before
from ombud.sensors.indicators import readings_between

__all__ = ["gather"]

_WEEK = re.compile(r"\d{4}-W\d{2}")


def gather(
    log: Log,
    db: Database,
    zone: tzinfo,
    *,
    confusion: Confusion | None = None,
    q: float = 0.05,
) -> Inputs:
    """The inputs at the log's latest published (witnessed) checkpoint: for each ISO week, the
    latest satisfaction release before it, and the sensor readings of those weeks."""
    published = log.published_checkpoint()
    if published is None:
        raise NotFoundError("the log has published no witnessed checkpoint yet: no insight")
    latest: dict[str, PublishedRelease] = {}
    for release in releases_before(db, "satisfaction", published.size):
        # releases before the histogram (a noisy mean per cell) carry no label counts
        if _WEEK.fullmatch(release.period) and "histogram" in release.result:
            latest[release.period] = PublishedRelease(
                release.id, release.period, release.ledger_index, release.result
            )
    releases = [latest[p] for p in sorted(latest)]
    readings = []
    if releases:
        since = week_window(releases[0].period)[0]
        until = week_window(releases[-1].period)[1]
        readings = readings_between(db, since, until, log_size=published.size)
    return Inputs(
        log.origin,
        published.size,
        published.root,
        releases,
        readings,
        confusion or shipped_confusion(),
        zone,
        q,
    )
