"""The ledger explorer reads only the witnessed tree, pages through it within a bounded scan,
and counts kinds once per checkpoint."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ombud.errors import NotFoundError
from ombud.events import Event
from ombud.ledger.log import Log
from ombud.web.explorer import PAGE_SIZE, SCAN_LIMIT, Explorer
from ombud.witness.policy import WitnessPolicy

AT = datetime(2026, 11, 2, tzinfo=UTC)


def _event(kind: str, n: int) -> bytes:
    return Event(kind, AT, "test", {"v": 1, "n": n}).to_bytes()


@pytest.fixture
def explorer(log: Log) -> Explorer:
    kinds = ["dp.released" if i % 100 == 0 else "observation.accepted" for i in range(5000)]
    log.append_batch([_event(k, i) for i, k in enumerate(kinds)])
    log.append_batch([b"not an event"])
    log.checkpoint()  # an unwitnessed log publishes what it signs
    return Explorer(log, log.verifier().vkey, WitnessPolicy())


def test_nothing_before_a_witnessed_checkpoint(log: Log) -> None:
    with pytest.raises(NotFoundError):
        Explorer(log, log.verifier().vkey, WitnessPolicy()).page()


def test_kinds_are_counted_over_the_published_tree(explorer: Explorer) -> None:
    kinds, first, last, size = explorer.kinds()
    assert size == 5001
    assert kinds == {"dp.released": 50, "observation.accepted": 4950, "(not an ombud event)": 1}
    assert first == last == AT


def test_pages_go_back_in_time_and_filters_scan_a_bounded_number(explorer: Explorer) -> None:
    page = explorer.page()
    assert [r.index for r in page.rows] == list(range(5000, 5000 - PAGE_SIZE, -1))
    assert page.rows[0].event is None and page.rows[0].kind == "(not an ombud event)"
    older = explorer.page(before=page.older)
    assert older.rows[0].index == page.rows[-1].index - 1
    rare = explorer.page(kind="dp.released")
    assert rare.scanned <= SCAN_LIMIT
    assert all(r.kind == "dp.released" for r in rare.rows)
    assert [r.index for r in rare.rows][:3] == [4900, 4800, 4700]
    rest = explorer.page(kind="dp.released", before=rare.older)
    assert rest.rows and rest.rows[0].index < rare.rows[-1].index
    assert explorer.page(kind="vote.cast").rows == ()


def test_one_entry_and_the_trust_it_is_checked_against(explorer: Explorer) -> None:
    row, data = explorer.entry(100)
    assert row.kind == "dp.released" and data == _event("dp.released", 100)
    with pytest.raises(NotFoundError):
        explorer.entry(5001)
    trust = explorer.trust()
    assert trust.log_vkey == explorer.log.verifier().vkey and trust.quorum == 0


def test_a_long_log_is_counted_over_several_requests(
    explorer: Explorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ombud.web.explorer.COUNT_PER_REQUEST", 2000)
    assert explorer.kinds()[3] == 2000
    assert explorer.kinds()[3] == 4000
    kinds, _, _, counted = explorer.kinds()
    assert counted == 5001 and sum(kinds.values()) == 5001
