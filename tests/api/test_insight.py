"""``/insight``: its query parameters as strict as the rest of the API's, and a release it
cannot place (accepted before the release book refused it) never breaking it."""

from __future__ import annotations

import json
import time

import pytest

from ombud.clock import to_seconds, week_window
from ombud.deployment import Deployment

from .conftest import Api

ROUTES = ["/insight", "/insight/cells", "/insight/changes", "/insight/sensors", "/insight/lists"]


def _published(api: Api) -> Deployment:
    deployment: Deployment = api.client.app.state.deployment  # type: ignore[attr-defined]
    _checkpoint(deployment)
    return deployment


def _checkpoint(deployment: Deployment) -> None:
    """Sign and publish the tree as it is now (an unwitnessed log publishes what it signs; the
    app's own signing task may be half-way through the same, so wait for it)."""
    size = deployment.log.size
    deadline = time.monotonic() + 10
    while (published := deployment.log.published_checkpoint()) is None or published.size < size:
        assert time.monotonic() < deadline, "no checkpoint was published"
        deployment.log.checkpoint()
        time.sleep(0.01)


def _release(deployment: Deployment, period: str, created_week: str = "2026-W46") -> None:
    """A satisfaction release as an old deployment may hold it, with its own ledger entry."""
    result = {"histogram": "noisy label counts", "countScale": 1.0, "cells": []}
    index = deployment.log.append_batch([f"dp.released {period}".encode()])
    with deployment.db.transaction() as tx:
        tx.execute(
            "INSERT INTO dp_releases (id, dataset, period, rho, created, result, ledger_index)"
            " VALUES (?, 'satisfaction', ?, 0.5, ?, ?, ?)",
            (
                f"{index:032x}",
                period,
                to_seconds(week_window(created_week)[1]),
                json.dumps(result),
                index,
            ),
        )


@pytest.mark.parametrize("path", ROUTES)
def test_unknown_and_repeated_parameters_are_refused(api: Api, path: str) -> None:
    """Attack finding: ``?distrct=north`` answered the whole report and
    ``?district=a&district=b`` the last one's; the rest of the API refuses both."""
    _published(api)
    assert api.client.get(path).status_code == 200
    assert api.client.get(path, params={"district": "north", "week": "2026-W46"}).status_code == 200
    misspelt = api.client.get(path + "?distrct=north")
    assert misspelt.status_code == 400 and "distrct" in misspelt.json()["detail"]
    twice = api.client.get(path + "?district=north&district=south")
    assert twice.status_code == 400 and "more than once" in twice.json()["detail"]
    twice = api.client.get(path + "?week=2026-W46&week=2026-W46")
    assert twice.status_code == 400 and "week" in twice.json()["detail"]


def test_a_filter_a_route_does_not_take_is_refused(api: Api) -> None:
    _published(api)
    for path in ("/insight/sensors?service=noise", "/insight/lists?service=noise"):
        answer = api.client.get(path)
        assert answer.status_code == 400 and "service" in answer.json()["detail"]
    answer = api.client.get("/insight/districts/north?week=2026-W46")
    assert answer.status_code == 400 and "supported: none" in answer.json()["detail"]


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("week", ["2026-W99", "0000-W00", "2025-W53", "9999-W52"])
def test_an_impossible_week_is_a_400_not_an_empty_answer(api: Api, path: str, week: str) -> None:
    _published(api)
    answer = api.client.get(path, params={"week": week})
    assert answer.status_code == 400 and week in answer.json()["detail"]


@pytest.mark.parametrize("bad", ["9999-W52", "2026-W99", "2025-W53"])
def test_a_release_of_a_week_that_is_not_one_does_not_break_the_insight(api: Api, bad: str) -> None:
    """Attack finding: after one satisfaction release of 9999-W52 (a 500) or 2026-W99 (a 400),
    /insight, /insight/cells and /insight/districts/X failed from the next checkpoint on."""
    deployment = _published(api)
    _release(deployment, "2026-W45")
    _release(deployment, bad)
    _checkpoint(deployment)
    whole = api.client.get("/insight")
    assert whole.status_code == 200, whole.text
    assert whole.json()["periods"] == ["2026-W45"]
    assert [s["period"] for s in whole.json()["skippedReleases"]] == [bad]
    assert api.client.get("/insight/cells").status_code == 200
    assert api.client.get("/insight/districts/north").status_code == 404  # no figures, no 500
