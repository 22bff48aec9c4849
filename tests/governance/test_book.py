"""The roster of a deployment, through the ledger, on SQLite and PostgreSQL: genesis once; a
change carried out only with the quorum of the roster in force, once; a refused change changes
no roster and is recorded as refused; the log alone re-derives the chain."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ombud.deployment import Deployment, init_deployment
from ombud.errors import AlreadyExistsError, QuorumError, ReplayError, RosterChainError
from ombud.events import Event
from ombud.governance.chain import roster_in_force
from ombud.governance.roster import CHANGE_ROSTER, Roster, Succession
from tests.governance.test_roster import GENESIS, request, signed, successor

NOW = datetime(2026, 12, 5, 9, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    url = request.getfixturevalue("postgres_schema") if request.param == "postgresql" else ""
    init_deployment(tmp_path / "city", "roster.example/log", database_url=url)
    with Deployment.open(tmp_path / "city", clock=lambda: NOW) as opened:
        yield opened


def _size_and_rows(deployment: Deployment) -> tuple[int, int]:
    rows = deployment.db.read("SELECT count(*) FROM roster_versions")[0][0]
    return deployment.log.size, int(rows)


def test_a_hand_over_goes_through_the_ledger_once(deployment: Deployment) -> None:
    book = deployment.roster
    book.establish(GENESIS, actor="operator")
    with pytest.raises(AlreadyExistsError):
        book.establish(GENESIS, actor="operator")
    new = successor(GENESIS, ["council-6", "council-7", "council-8"])
    change = request(
        GENESIS, CHANGE_ROSTER, "council-1", origin=deployment.log.origin, roster=new.to_json()
    )
    short = Succession(change, tuple(signed(change, "council-1", "council-2")), NOW)
    before = _size_and_rows(deployment)
    with pytest.raises(QuorumError):
        book.change(short, actor="operator")
    size, rows = _size_and_rows(deployment)
    assert rows == before[1]  # refused: no roster changed ...
    last = Event.from_bytes(deployment.log.entries(size - 1, size)[0])
    assert (last.kind, last.body["reason"]) == ("action.refused", "below-quorum")  # ... recorded
    full = Succession(change, tuple(signed(change, "council-1", "council-2", "council-3")), NOW)
    record = book.change(full, actor="operator")
    assert book.current().roster == new == record.roster
    with pytest.raises(ReplayError):
        book.change(full, actor="operator")
    assert [r.roster.version for r in book.history()] == [0, 1]
    entries = deployment.log.entries(0, deployment.log.size)
    links = roster_in_force(enumerate(entries), GENESIS, origin=deployment.log.origin)
    assert [link[1] for link in links] == [GENESIS, new]
    with pytest.raises(RosterChainError, match=r"signed for deployment 'roster\.example/log'"):
        roster_in_force(enumerate(entries), GENESIS, origin="staging.example/log")
    other = Roster(0, GENESIS.holders[1:], GENESIS.policy)
    with pytest.raises(RosterChainError, match="not the genesis given"):
        roster_in_force(enumerate(entries), other, origin=deployment.log.origin)
