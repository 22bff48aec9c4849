"""The chain of rosters a log put in force, read from its entries (``ombud roster verify``)."""

from __future__ import annotations

import pytest

from ombud.errors import RosterChainError
from ombud.governance.book import genesis_event, succession_event
from ombud.governance.chain import roster_in_force
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
