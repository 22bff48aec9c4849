"""The server's background rounds: one loop helper, never cut short, never stopped by a failure."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from ombud.api.tasks import Round, rounds
from ombud.errors import StorageError


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
