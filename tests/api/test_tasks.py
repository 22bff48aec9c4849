"""The server's background rounds: one loop helper, never cut short, never stopped by a failure."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ombud.api.tasks import COVER_INTERVAL_S, Round, background_rounds, rounds
from ombud.clock import iso_week
from ombud.deployment import Deployment, init_deployment
from ombud.errors import StorageError
from ombud.events import Event
from ombud.voice.issuer import Issuer
from tests.governance.test_chamber import chamber, table  # noqa: F401 (the fixture)
from tests.governance.test_decisions import MOTION, vote
from tests.governance.test_procurement import Clock


def test_shutdown_waits_for_the_round_in_progress() -> None:
    """A background round (publishing, screening, retention) writes the database from a worker
    thread; shutting down closed the log under it (a segmentation fault in SQLite). Now a round
    is never cut short: stopping waits for the one in progress."""
    started, finished = threading.Event(), threading.Event()

    def slow_write() -> None:
        started.set()
        time.sleep(0.3)
        finished.set()

    async def work() -> None:
        await asyncio.to_thread(slow_write)

    async def main() -> None:
        async with rounds([Round(60, work, "write")]):
            await asyncio.to_thread(started.wait, 5)
        assert finished.is_set()  # the round ended before the block was left

    asyncio.run(main())


def test_a_failing_round_is_logged_and_the_next_one_runs(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    async def flaky() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise StorageError("the database is away")
        if len(calls) == 2:
            raise RuntimeError("a bug")

    async def main() -> None:
        async with rounds([Round(0.01, flaky, "do the work")]):
            while len(calls) < 3:
                await asyncio.sleep(0.01)

    with caplog.at_level(logging.ERROR, "ombud.api"):
        asyncio.run(main())
    messages = [r.getMessage() for r in caplog.records]
    assert "could not do the work: the database is away" in messages
    assert "do the work failed unexpectedly" in messages


def test_the_serve_round_covers_the_current_hour_of_a_published_week(tmp_path: Path) -> None:
    """``ombud serve``'s cover round draws the hour once the week's key is on the log and
    appends each leaf as it falls due, all within the hour."""
    data_dir = tmp_path / "city"
    init_deployment(data_dir, "tasks.example/log")
    now = [datetime(2026, 12, 3, 10, 0, 5, tzinfo=UTC)]
    with Deployment.open(data_dir, clock=lambda: now[0], environ={}) as deployment:
        (cover,) = [
            r
            for r in background_rounds(deployment, publish=False, screen=True)
            if r.what == "append cover leaves"
        ]
        assert cover.interval_s == COVER_INTERVAL_S
        asyncio.run(cover.work())  # no key for the week: nothing
        assert deployment.log.size == 0
        week = iso_week(now[0])
        issuer = Issuer.init(data_dir / "issuer", "id.tasks.example")
        key = issuer.create_period(week)
        deployment.posts.book.publish(
            deployment.log, week, issuer.name, key, actor="issuer", clock=lambda: now[0]
        )
        # Rounds 10 s apart, on until a round after the hour's end: a leaf due in its last
        # seconds is appended then, within the grace (stopping at 10:59:55 left it out now and
        # then). Leaves of 11:00, drawn in 10:59's round, are told apart by their hour.
        hour = datetime(2026, 12, 3, 10, tzinfo=UTC)
        while now[0] < hour + timedelta(hours=1, seconds=10):
            asyncio.run(cover.work())
            now[0] += timedelta(seconds=10)
        ((drawn,),) = deployment.db.read(
            "SELECT drawn FROM cover_hours WHERE hour = ?", (int(hour.timestamp()),)
        )
        entries = [Event.from_bytes(e) for e in deployment.log.entries(1, deployment.log.size)]
        assert all(e.kind == "post.accepted" for e in entries)
        leaves = [e for e in entries if e.at == hour]
        assert len(leaves) == drawn and all(e.body["period"] == week for e in leaves)


def test_the_cover_round_waits_a_random_time_so_its_appends_form_no_lattice(
    tmp_path: Path,
) -> None:
    """Cover leaves are appended by the cover round, so they land only when it runs. At a fixed
    2-second wait its runs formed a lattice (2.006 s apart, 3 ms stdev, on the 2-core machine)
    that anyone polling ``ombud_log_size`` in the public ``/metrics`` could fit: a post's leaf,
    off the lattice, told itself apart from the cover, and the hour's posts were counted
    exactly. Now each wait is uniform over [0, 2 * COVER_INTERVAL_S): the mean is kept, and the
    runs keep no phase."""
    data_dir = tmp_path / "city"
    init_deployment(data_dir, "tasks.example/log")
    with Deployment.open(data_dir, environ={}) as deployment:
        scheduled = background_rounds(deployment, publish=False, screen=True)
    (cover,) = [r for r in scheduled if r.what == "append cover leaves"]
    waits = [cover.next_wait() for _ in range(4000)]
    assert all(0 <= w < 2 * COVER_INTERVAL_S for w in waits)
    assert min(waits) < 0.05 * COVER_INTERVAL_S and max(waits) > 1.95 * COVER_INTERVAL_S
    assert sum(waits) / len(waits) == pytest.approx(COVER_INTERVAL_S, rel=0.05)
    # Spread over the whole window: each fifth of it holds about a fifth of the waits.
    fifths = [int(w / (0.4 * COVER_INTERVAL_S)) for w in waits]
    assert all(650 < fifths.count(k) < 950 for k in range(5))
    # The other rounds keep their interval.
    assert all(r.next_wait() == r.interval_s for r in scheduled if r is not cover)


def test_every_waits_what_its_round_says() -> None:
    """``every`` asks the round how long to wait each time (a round of interval 60 with a wait
    of a millisecond runs many times a second)."""
    calls: list[int] = []

    async def work() -> None:
        calls.append(1)

    async def main() -> None:
        async with rounds([Round(60, work, "tick", wait=lambda: 0.001)]):
            for _ in range(1000):
                if len(calls) >= 5:
                    break
                await asyncio.sleep(0.01)

    asyncio.run(main())
    assert len(calls) >= 5


def test_the_voice_round_logs_what_retention_named_not_the_posts_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Retention names posts and cover leaves together in ``payload.purged``; the voice round
    logged (at warning, kept wherever logs go) how many of them were posts, an hour's exact
    number of posts once per retention period. It logs how many commitments were named."""
    from types import SimpleNamespace

    from ombud.api.tasks import _tending

    class Posts:
        purged_total = 0

        def purge_expired(self) -> int:
            self.purged_total += 16  # 4 posts and 12 cover leaves named
            return 4

    deployment = SimpleNamespace(posts=Posts(), flags=SimpleNamespace(screen=lambda: 0))
    with caplog.at_level(logging.INFO, "ombud.api"):
        asyncio.run(_tending(deployment)())  # type: ignore[arg-type]
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["voice: 0 posts flagged, 16 commitments named as retention ended"]


def test_the_serve_rounds_record_a_decision_once_its_voting_closed(
    chamber: tuple[Deployment, Clock],  # noqa: F811
) -> None:
    """Finding: when closing tenders and deciding motions became rounds of their own, the
    deciding round was written but never scheduled, so ``ombud serve`` (which the README and
    ``decision decide --help`` say records decisions) left every motion voting for good."""
    deployment, clock = chamber
    table(deployment)
    for holder in ("council-1", "council-2", "council-3"):
        deployment.decisions.cast(vote(holder, "yes"), actor="clerk")
    scheduled = background_rounds(deployment, publish=False, screen=True)
    (deciding,) = [r for r in scheduled if r.what == "record decisions"]
    asyncio.run(deciding.work())  # still voting: nothing
    assert deployment.decisions.get(MOTION.id).tally is None
    clock.now = MOTION.closes
    asyncio.run(deciding.work())
    tally = deployment.decisions.get(MOTION.id).tally
    assert tally is not None and tally.outcome == "adopted"
