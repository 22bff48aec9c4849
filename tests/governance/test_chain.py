"""The chain of rosters a log put in force, read from its entries (``ombud roster verify``)."""

from __future__ import annotations

import pytest

from ombud.errors import RosterChainError, VerificationError
from ombud.governance.book import genesis_event, succession_event
from ombud.governance.chain import RostersInForce, roster_in_force
from ombud.governance.roster import CHANGE_ROSTER, Succession

from .test_roster import GENESIS, NOW, ORIGIN, request, signed, successor


def test_a_version_1_change_after_a_version_2_one_breaks_the_chain() -> None:
    """History from before requests named their deployment verifies; a version-1 change after
    a version-2 one may be a twin deployment's old signatures, and breaks the chain there."""
    first = successor(GENESIS, ["council-6", "council-7", "council-8"])
    req1 = request(GENESIS, CHANGE_ROSTER, "council-1", origin=None, roster=first.to_json())
    link1 = Succession(req1, tuple(signed(req1, "council-1", "council-2", "council-3")), NOW)
    second = successor(first, ["council-6", "council-7", "council-8", "council-1"])
    req2 = request(first, CHANGE_ROSTER, "council-6", roster=second.to_json())
    link2 = Succession(req2, tuple(signed(req2, "council-6", "council-7", "council-8")), NOW)
    third = successor(second, ["council-6", "council-7", "council-8", "council-2"])
    req3 = request(second, CHANGE_ROSTER, "council-6", origin=None, roster=third.to_json())
    link3 = Succession(req3, tuple(signed(req3, "council-6", "council-7", "council-8")), NOW)
    entries = [
        genesis_event(GENESIS, NOW, "operator").to_bytes(),
        succession_event(first, link1, "operator").to_bytes(),
        succession_event(second, link2, "operator").to_bytes(),
    ]
    links = roster_in_force(enumerate(entries), GENESIS, origin=ORIGIN)
    assert [roster.version for _, roster, _ in links] == [0, 1, 2]
    entries.append(succession_event(third, link3, "operator").to_bytes())
    with pytest.raises(RosterChainError, match=r"entry 3, roster version 3.*names no deployment"):
        roster_in_force(enumerate(entries), GENESIS, origin=ORIGIN)


def test_without_a_genesis_given_the_chain_starts_at_the_logs_own() -> None:
    """Given no genesis, the log's first roster is taken as written (it must be a genesis),
    and every later link must still follow from it; ``RostersInForce`` then says which
    roster was in force at each entry."""
    first = successor(GENESIS, ["council-6", "council-7", "council-8"])
    req = request(GENESIS, CHANGE_ROSTER, "council-1", roster=first.to_json())
    link = Succession(req, tuple(signed(req, "council-1", "council-2", "council-3")), NOW)
    entries = [
        genesis_event(GENESIS, NOW, "operator").to_bytes(),
        succession_event(first, link, "operator").to_bytes(),
    ]
    links = roster_in_force(enumerate(entries), None, origin=ORIGIN)
    assert links == roster_in_force(enumerate(entries), GENESIS, origin=ORIGIN)
    in_force = RostersInForce(links)
    assert [in_force.at(i).version for i in (1, 2, 9)] == [0, 1, 1]
    with pytest.raises(VerificationError, match="before the log's genesis"):
        in_force.at(0)
    later = genesis_event(first, NOW, "operator").to_bytes()  # version 1 posing as genesis
    with pytest.raises(RosterChainError, match="not a genesis"):
        roster_in_force(enumerate([later]), None, origin=ORIGIN)
    weak = Succession(req, tuple(signed(req, "council-1")), NOW)  # one signature of three
    forged = [entries[0], succession_event(first, weak, "operator").to_bytes()]
    with pytest.raises(RosterChainError, match="entry 1"):
        roster_in_force(enumerate(forged), None, origin=ORIGIN)
