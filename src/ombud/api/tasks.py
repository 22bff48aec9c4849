"""The server's background work: publishing checkpoints, screening observations, tending posts,
appending cover leaves and running retention, each on its own schedule, with one loop helper.

Threat model: a round that fails must neither stop the others nor be retried in a tight loop,
and a round must never be cut short: its thread may be writing the database, which is closed
only after every round in progress has ended (``rounds`` waits for them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from ombud.deployment import Deployment
from ombud.errors import OmbudError

__all__ = ["Round", "background_rounds", "every", "jittered", "rounds"]

logger = logging.getLogger("ombud.api")


@dataclass(frozen=True)
class Round:
    """Work to run every ``interval_s`` seconds; ``what`` names it in the log."""

    interval_s: float
    work: Callable[[], Awaitable[None]]
    what: str
    wait: Callable[[], float] | None = None
    """Seconds to wait after each run (``jittered``); None: ``interval_s``."""

    def next_wait(self) -> float:
        return self.interval_s if self.wait is None else self.wait()


def jittered(interval_s: float) -> Callable[[], float]:
    """Waits uniform over [0, 2 * interval_s): ``interval_s`` on average, with no phase. A
    round whose writes are public by their timing (the cover leaves) must not run on a
    lattice, or anyone polling the log's size could tell its writes from everything else."""
    rng = secrets.SystemRandom()

    def wait() -> float:
        return rng.uniform(0, 2 * interval_s) % (2 * interval_s)

    return wait


async def every(round_: Round, stop: asyncio.Event) -> None:
    """Run ``round_`` every ``interval_s`` seconds until ``stop`` is set. A failure is logged
    (an ``OmbudError`` by its message, anything else with its traceback) and the next round
    runs on schedule: nothing is lost, since every round is one transaction or none."""
    while not stop.is_set():
        try:
            await round_.work()
        except OmbudError as exc:
            logger.error("could not %s: %s", round_.what, exc)
        except Exception:
            logger.exception("%s failed unexpectedly", round_.what)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), round_.next_wait())


@contextlib.asynccontextmanager
async def rounds(scheduled: list[Round]) -> AsyncIterator[None]:
    """Run ``scheduled`` while the block runs; on leaving it, let each round in progress end."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(every(r, stop)) for r in scheduled]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


def background_rounds(deployment: Deployment, *, publish: bool, screen: bool) -> list[Round]:
    """The rounds ``ombud serve`` runs: publishing with ``publish``; screening observations,
    tending posts and retention with ``screen`` (each unless its interval is 0)."""
    settings = deployment.settings
    scheduled: list[Round] = []
    if publish:
        scheduled.append(
            Round(
                settings.log.checkpoint_interval_s, _publishing(deployment), "publish a checkpoint"
            )
        )
    if screen and settings.integrity.screen_interval_s > 0:
        scheduled.append(
            Round(
                settings.integrity.screen_interval_s, _screening(deployment), "screen observations"
            )
        )
    if screen and settings.voice.screen_interval_s > 0:
        scheduled.append(
            Round(settings.voice.screen_interval_s, _tending(deployment), "tend posts")
        )
    if screen:
        scheduled.append(
            Round(
                COVER_INTERVAL_S,
                _covering(deployment),
                "append cover leaves",
                jittered(COVER_INTERVAL_S),
            )
        )
    if screen and settings.privacy.retention_interval_s > 0 and deployment.privacy_problem is None:
        scheduled.append(
            Round(settings.privacy.retention_interval_s, _retaining(deployment), "run retention")
        )
    if screen and deployment.privacy_problem is None:
        scheduled.append(Round(SEAL_INTERVAL_S, _unsealing(deployment), "disclose due seals"))
    if screen:
        scheduled.append(Round(TENDER_INTERVAL_S, _closing(deployment), "close tenders"))
        scheduled.append(Round(TENDER_INTERVAL_S, _deciding(deployment), "record decisions"))
    return scheduled


COVER_INTERVAL_S = 2.0
"""How often, on average, ``ombud serve`` appends the cover leaves that are due
(``ombud.voice.cover``): each wait is drawn uniformly up to twice this (``jittered``), so a
leaf lands at most about 4 s late, well within a checkpoint interval and the leaves' grace, and
the appends form no lattice that would set them apart from posts."""
SEAL_INTERVAL_S = 60.0
"""How often ``ombud serve`` discloses access requests whose seal has expired."""
TENDER_INTERVAL_S = 10.0
"""How often ``ombud serve`` closes tenders past their deadline (once a witnessed checkpoint
is), awards those whose reveals are in, and records the decisions whose voting closed."""


def _closing(deployment: Deployment) -> Callable[[], Awaitable[None]]:
    """Close and award tenders (in a worker thread)."""
    tenders = deployment.tenders

    async def close() -> None:
        moved = await asyncio.to_thread(tenders.tend, actor="ombud")
        if moved:
            logger.warning("tenders: %d closed or awarded", moved)

    return close


def _deciding(deployment: Deployment) -> Callable[[], Awaitable[None]]:
    """Record the decisions whose voting closed (in a worker thread; its own round, so a
    failing tender never holds up a decision)."""
    decisions = deployment.decisions

    async def decide() -> None:
        decided = await asyncio.to_thread(decisions.decide_due, actor="ombud")
        if decided:
            logger.warning("decisions: %d recorded", decided)

    return decide


def _unsealing(deployment: Deployment) -> Callable[[], Awaitable[None]]:
    """Disclose every sealed access request whose time has come (the schedule is in the
    database: a restart loses nothing; in a worker thread)."""
    access = deployment.access

    async def unseal() -> None:
        disclosed = await asyncio.to_thread(access.disclose_due)
        if disclosed:
            logger.info("disclosed %d sealed access request(s) on schedule", disclosed)

    return unseal


def _publishing(deployment: Deployment) -> Callable[[], Awaitable[None]]:
    """Sign and publish a checkpoint if the log has grown or the last one is still waiting
    for its witnesses (the publisher logs its own outcome; nothing unwitnessed is published)."""
    log, publisher, tenders = deployment.log, deployment.publisher, deployment.tenders

    async def publish() -> None:
        published = log.published_checkpoint()
        if published is None or log.state().size > published.size:
            await publisher.publish()
            # Each checkpoint the witnesses cosigned before a tender's deadline proves the bids
            # it covers were in time: remember it before a later one supersedes it.
            await asyncio.to_thread(tenders.observe)

    return publish


def _screening(deployment: Deployment) -> Callable[[], Awaitable[None]]:
    """Screen the observations that have settled since the last round (in a worker thread: it
    reads and writes the database; after a failure the cursor stays put)."""
    screener = deployment.screener

    async def screen() -> None:
        result = await asyncio.to_thread(screener.screen_all)
        if result.quarantined or result.devices:
            logger.warning(
                "screening quarantined %d observations and %d devices (%s)",
                result.quarantined,
                len(result.devices),
                ", ".join(result.devices) or "no device",
            )

    return screen


def _tending(deployment: Deployment) -> Callable[[], Awaitable[None]]:
    """Flag coordinated posts and delete the text of expired ones (in a worker thread). The
    log says how many commitments ``payload.purged`` named, never how many were posts: with
    the cover leaves named alongside, that would give an hour's exact number of posts."""
    posts, flags = deployment.posts, deployment.flags

    async def tend() -> None:
        flagged = await asyncio.to_thread(flags.screen)
        before = posts.purged_total
        await asyncio.to_thread(posts.purge_expired)
        named = posts.purged_total - before
        if flagged or named:
            logger.warning(
                "voice: %d posts flagged, %d commitments named as retention ended", flagged, named
            )

    return tend


def _covering(deployment: Deployment) -> Callable[[], Awaitable[None]]:
    """Draw the current hour's cover once and append the leaves that are due (in a worker
    thread; the schedule is in the database, so a restart neither redraws nor loses it)."""
    cover = deployment.cover

    async def tend() -> None:
        done = await asyncio.to_thread(cover.tend)
        if done.dropped:
            logger.warning(
                "cover: %d leaves dropped, their hour ended while the server was stopped",
                done.dropped,
            )
        elif done.rescheduled:
            logger.info("cover: %d missed leaves rescheduled within their hour", done.rescheduled)

    return tend


def _retaining(deployment: Deployment) -> Callable[[], Awaitable[None]]:
    """Purge vault payloads past their retention and finish interrupted erasures (in a worker
    thread). Post texts are purged by the voice round, on its own shorter schedule."""
    office = deployment.privacy()

    async def retain() -> None:
        report = await asyncio.to_thread(office.retention, post_texts=False)
        if report.payloads or report.scrubbed:
            logger.warning(
                "privacy: %d payloads purged, %d erasures scrubbed",
                report.payloads,
                report.scrubbed,
            )

    return retain
