"""``/decisions`` and ``/results``: the clerk's token casts members' signed votes and records
offices' signed updates; a forged vote is refused and recorded, a forged update refused;
everything is public to read, and the results export as Decidim CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import timedelta

from fastapi.testclient import TestClient

from ombud.api import create_app
from ombud.deployment import Deployment
from ombud.events import Event
from ombud.governance.results import sign_update
from ombud.tokens import SCOPES
from tests.governance.test_chamber import chamber, table  # noqa: F401 (the fixture)
from tests.governance.test_decisions import MOTION, ORIGIN, vote
from tests.governance.test_procurement import Clock
from tests.governance.test_results import RESULT
from tests.governance.test_roster import KEYS


def test_votes_and_results_over_http(chamber: tuple[Deployment, Clock]) -> None:  # noqa: F811
    deployment, clock = chamber
    table(deployment)
    app = create_app(deployment)
    with TestClient(app, raise_server_exceptions=False) as client:
        _, token = deployment.tokens.create(set(SCOPES), "clerk", now=clock())
        bearer = {"Authorization": f"Bearer {token}"}
        url = f"/decisions/{MOTION.id}/votes"
        for holder, choice in (("council-1", "yes"), ("council-2", "yes"), ("council-3", "no")):
            body = {k: v for k, v in vote(holder, choice).to_json().items() if k != "motion"}
            assert client.post(url, json=body, headers=bearer).status_code == 201
        forged = replace(vote("council-4", "no"), choice="yes").to_json()
        forged.pop("motion")
        assert client.post(url, json=forged, headers=bearer).status_code == 422
        size = deployment.log.size
        last = Event.from_bytes(deployment.log.entries(size - 1, size)[0])
        assert (last.kind, last.body["reason"]) == ("vote.refused", "bad-signature")
        assert client.post(url, json=forged).status_code == 401  # no token
        assert client.post(url, json={"x": 1}, headers=bearer).status_code == 400
        shown = client.get(f"/decisions/{MOTION.id}").json()
        assert [v["holder"] for v in shown["votes"]] == ["council-1", "council-2", "council-3"]
        assert shown["text"] == MOTION.text and shown["tally"] is None
        clock.now = MOTION.closes + timedelta(seconds=1)
        deployment.decisions.decide_due(actor="ombud")
        assert client.get("/decisions").json()[0]["tally"]["outcome"] == "adopted"
        first = sign_update(
            RESULT.id, 0, "planned", 0, "", "officer-a", KEYS["officer-a"], RESULT, origin=ORIGIN
        )
        assert (
            client.post("/results/updates", json=first.to_json(), headers=bearer).status_code == 201
        )
        wrong = sign_update(
            RESULT.id, 1, "completed", 100, "", "officer-a", KEYS["officer-b"], origin=ORIGIN
        )
        assert (
            client.post("/results/updates", json=wrong.to_json(), headers=bearer).status_code == 422
        )
        history = client.get(f"/results/{RESULT.id}").json()["history"]
        assert [u["status"] for u in history] == ["planned"]
        exported = client.get("/results/export.csv")
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert rows[0]["id"] == RESULT.id and rows[0]["decision"] == MOTION.id


def test_a_vote_or_update_for_another_deployment_is_403_with_nothing_written(
    chamber: tuple[Deployment, Clock],  # noqa: F811
) -> None:
    deployment, clock = chamber
    table(deployment)
    app = create_app(deployment)
    with TestClient(app, raise_server_exceptions=False) as client:
        _, token = deployment.tokens.create(set(SCOPES), "clerk", now=clock())
        bearer = {"Authorization": f"Bearer {token}"}
        url = f"/decisions/{MOTION.id}/votes"
        size = deployment.log.size
        for origin, says in (("staging.example/log", "signed for deployment"), (None, "names no")):
            body = vote("council-1", "yes", origin=origin).to_json()
            body.pop("motion")
            refused = client.post(url, json=body, headers=bearer)
            assert refused.status_code == 403 and says in refused.json()["detail"]
            update = sign_update(RESULT.id, 0, "planned", 0, "", "officer-a", KEYS["officer-a"],
                                 RESULT, origin=origin)  # fmt: skip
            refused = client.post("/results/updates", json=update.to_json(), headers=bearer)
            assert refused.status_code == 403
            assert deployment.log.size == size
        body = vote("council-1", "yes").to_json()
        body.pop("motion")
        assert client.post(url, json=body, headers=bearer).status_code == 201
