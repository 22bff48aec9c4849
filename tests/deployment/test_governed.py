"""Governed settings written to ``ombud.toml`` after their event: a change carried out while
another's file is still to be saved, on SQLite and PostgreSQL, leaves the file holding what
the roster set, and the deployment opens."""

from __future__ import annotations

import pytest

from ombud.config import Settings
from ombud.deployment import Deployment
from ombud.governance.actions import ActionBook, Effect
from ombud.governance.roster import ActionRequest
from tests.governance.test_actions import BUDGET, Clock, _ask
from tests.governance.test_actions import city as city
from tests.governance.test_roster import GENESIS, signed

RETENTION = "voice.retention_days"


def _signed(deployment: Deployment, request: ActionRequest) -> str:
    deployment.propose(request, actor="operator")
    for approval in signed(request, "council-1", "council-2", "council-3"):
        deployment.actions.sign(request.digest, approval, actor="operator")
    return request.digest


@pytest.mark.parametrize("second", ["budget", "retention"])
def test_a_change_carried_out_before_another_is_saved_is_kept(
    city: tuple[Deployment, Clock],
    monkeypatch: pytest.MonkeyPatch,
    second: str,
) -> None:
    deployment, _ = city
    first = _signed(deployment, _ask(GENESIS, "retention.change", "officer-a", **{RETENTION: 30}))
    later = (
        _ask(GENESIS, "budget.change", "officer-a", **BUDGET)
        if second == "budget"
        else _ask(GENESIS, "retention.change", "officer-b", **{RETENTION: 60})
    )
    other = _signed(deployment, later)
    real = ActionBook.carry_out

    def carry_out(self: ActionBook, digest: str, effect: Effect, *, actor: str) -> int:
        index = real(self, digest, effect, actor=actor)
        if digest == first:  # committed, its file not yet saved: the other runs whole
            deployment.carry_out(other, actor=actor)
        return index

    monkeypatch.setattr(ActionBook, "carry_out", carry_out)
    deployment.carry_out(first, actor="operator")
    on_file = Settings.load(deployment.data_dir)
    if second == "budget":
        assert on_file.voice.retention_days == 30
        assert on_file.privacy.dp_rho_per_period == BUDGET["privacy.dp_rho_per_period"]
    else:  # the later change of the same setting is the one in force, on file too
        assert on_file.voice.retention_days == 60
    assert deployment.roster.governed()[RETENTION][0] == on_file.voice.retention_days
    data_dir = deployment.data_dir
    deployment.close()
    Deployment.open(data_dir).close()  # the file holds what the roster set
