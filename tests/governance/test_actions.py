"""Privileged actions through a deployment, on SQLite and PostgreSQL: the request, each
signature and the outcome are ledger events; each refusal raises its own error and is an
``action.refused`` event with its reason; the settings the roster governs change only by its
signatures, and a settings file edited behind its back stops the deployment. A request is
carried out only on the deployment it names (its log's origin, since request version 2): one
signed for a staging copy set up from the same genesis, or one of version 1, which names no
deployment, is refused before anything is written."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ombud.config import Settings
from ombud.deployment import Deployment, init_deployment
from ombud.errors import (
    ConflictError,
    ExpiredError,
    ForeignRequestError,
    MalformedError,
    NoRuleError,
    NotAHolderError,
    QuorumError,
    ReplayError,
    ReservedActionError,
    RoleError,
    SelfApprovalError,
    SignatureError,
    StaleRosterError,
    UnboundRequestError,
)
from ombud.events import Event
from ombud.governance import actions, roster
from ombud.governance.roster import CHANGE_ROSTER, ActionRequest, Roster, Rule, Succession
from tests.governance.test_roster import GENESIS, POLICY, signed, successor

NOW = datetime(2026, 12, 5, 9, tzinfo=UTC)
ORIGIN = "actions.example/log"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def city(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Deployment, Clock]]:
    url = request.getfixturevalue("postgres_schema") if request.param == "postgresql" else ""
    init_deployment(tmp_path / "city", "actions.example/log", database_url=url)
    clock = Clock()
    with Deployment.open(tmp_path / "city", clock=clock) as deployment:
        deployment.establish_roster(GENESIS, actor="clerk")
        yield deployment, clock


def _ask(
    roster: Roster, action: str, requester: str, /, *, origin: str = ORIGIN, **params: object
) -> ActionRequest:
    return ActionRequest(
        action,
        params,
        roster.version,
        roster.digest,
        requester,
        secrets.token_hex(16),
        NOW + timedelta(days=1),
        origin,
    )


def _events(deployment: Deployment, since: int) -> list[Event]:
    return [Event.from_bytes(e) for e in deployment.log.entries(since, deployment.log.size)]


def _refusal(deployment: Deployment) -> tuple[str, str | None]:
    last = _events(deployment, deployment.log.size - 1)[0]
    assert last.kind == "action.refused"
    return last.body["reason"], last.body.get("holder")


BUDGET = {"privacy.dp_rho_per_period": 2.0, "privacy.dp_rho_per_release": 0.5}


def test_each_step_is_an_event_and_the_outcome_runs_once(city: tuple[Deployment, Clock]) -> None:
    deployment, _ = city
    request = _ask(GENESIS, "budget.change", "officer-a", **BUDGET)
    start = deployment.log.size
    deployment.propose(request, actor="operator")
    for approval in signed(request, "council-1", "council-2", "council-3"):
        deployment.actions.sign(request.digest, approval, actor="operator")
    outcome = deployment.carry_out(request.digest, actor="operator")
    kinds = [e.kind for e in _events(deployment, start)]
    assert kinds == ["action.requested", *["action.signed"] * 3, "settings.changed"]
    assert deployment.actions.get(request.digest).status == "carried-out"
    assert Event.from_bytes(deployment.log.entries(outcome, outcome + 1)[0]).body == {
        "v": 1,
        "request": request.digest,
        "settings": BUDGET,
    }
    on_file = Settings.load(deployment.data_dir)
    assert on_file.privacy.dp_rho_per_period == 2.0
    with pytest.raises(ConflictError):
        deployment.carry_out(request.digest, actor="operator")
    with pytest.raises(ReplayError):  # a replayed request, carried out once already
        deployment.submit(request, list(signed(request, "council-1")), actor="operator")
    assert _refusal(deployment) == ("replayed", None)


@pytest.mark.parametrize(
    ("action", "requester", "signers", "error", "reason"),
    [
        ("access.approve", "someone", ["officer-a"], QuorumError, "below-quorum"),
        ("access.approve", "officer-c", ["officer-c"], SelfApprovalError, "self-approval"),
        ("access.approve", "someone", ["council-1"], RoleError, "wrong-role"),
        (CHANGE_ROSTER, "council-1", ["council-1", "council-2"], QuorumError, "below-quorum"),
        ("budget.change", "council-1", [], ReservedActionError, "operator-only"),
    ],
    ids=["single-approver", "self-approval", "wrong-role", "roster-below-quorum", "token-only"],
)
def test_refusals_have_their_own_error_and_are_recorded(
    city: tuple[Deployment, Clock],
    action: str,
    requester: str,
    signers: list[str],
    error: type[Exception],
    reason: str,
) -> None:
    deployment, _ = city
    params: dict[str, object] = {
        "access.approve": {"request": "r-1", "digest": "0" * 64},
        CHANGE_ROSTER: {
            "roster": successor(GENESIS, ["council-6", "council-7", "council-8"]).to_json()
        },
        "budget.change": BUDGET,
    }[action]
    request = _ask(GENESIS, action, requester, **params)
    effect = deployment.roster.succession(actor="x")  # refused before any effect could run
    before = deployment.roster.current()
    with pytest.raises(error):
        deployment.actions.submit(request, signed(request, *signers), effect, actor="operator")
    assert _refusal(deployment)[0] == reason
    assert deployment.roster.current() == before
    assert deployment.actions.get(request.digest).status == "pending"


def test_signatures_bound_to_their_request_and_roster(city: tuple[Deployment, Clock]) -> None:
    deployment, clock = city
    request = _ask(GENESIS, "budget.change", "officer-a", **BUDGET)
    other = _ask(GENESIS, "budget.change", "officer-a", **BUDGET)
    deployment.propose(other, actor="operator")
    moved = signed(request, "council-1")[0]  # signed for another request
    with pytest.raises(SignatureError):
        deployment.actions.sign(other.digest, moved, actor="operator")
    assert _refusal(deployment) == ("bad-signature", "council-1")
    # A hand-over: council-4 and council-5 leave; their keys lose all power from then on.
    new = successor(GENESIS, ["council-6", "council-7", "council-8"])
    change = _ask(GENESIS, CHANGE_ROSTER, "council-1", roster=new.to_json())
    deployment.roster.change(
        Succession(change, tuple(signed(change, "council-1", "council-2", "council-3")), NOW),
        actor="operator",
    )
    after = _ask(new, "budget.change", "officer-a", **BUDGET)
    deployment.propose(after, actor="operator")
    removed = [h.id for h in GENESIS.holders if new.holder(h.id) is None]
    with pytest.raises(NotAHolderError):
        deployment.actions.sign(after.digest, signed(after, removed[0])[0], actor="operator")
    assert _refusal(deployment) == ("not-a-holder", removed[0])
    with pytest.raises(ExpiredError):
        clock.now = after.expires
        deployment.actions.sign(after.digest, signed(after, "council-6")[0], actor="operator")
    assert _refusal(deployment)[0] == "expired"


def test_governed_settings_change_only_by_the_roster(
    city: tuple[Deployment, Clock], tmp_path: Path
) -> None:
    deployment, _ = city
    data_dir = deployment.data_dir
    snapshot = deployment.roster.governed()
    assert snapshot["voice.retention_days"][0] == 30
    with pytest.raises(MalformedError, match="sets some of"):
        deployment.propose(_ask(GENESIS, "retention.change", "x", **BUDGET), actor="operator")
    with pytest.raises(MalformedError, match="carries out none"):
        deployment.propose(_ask(GENESIS, "logkey.rotate", "x"), actor="operator")
    # The operator edits the settings file behind the roster's back: the deployment refuses
    # to open, naming the setting, until the value is restored.
    on_file = Settings.load(data_dir)
    edited = replace(on_file, voice=replace(on_file.voice, retention_days=3650))
    edited.save()
    with pytest.raises(ReservedActionError, match=r"voice\.retention_days"):
        Deployment.open(data_dir).close()
    with pytest.raises(ReservedActionError, match=r"voice\.retention_days"):
        Deployment.open(data_dir, environ={"OMBUD_VOICE_RETENTION_DAYS": "3650"}).close()
    on_file.save()
    Deployment.open(data_dir, with_key=False).close()
    # Signed by three councillors, the change is carried out and written to the file.
    request = _ask(GENESIS, "retention.change", "officer-a", **{"voice.retention_days": 90})
    deployment.submit(
        request, signed(request, "council-1", "council-2", "council-3"), actor="operator"
    )
    assert Settings.load(data_dir).voice.retention_days == 90
    assert deployment.roster.governed()["voice.retention_days"][0] == 90
    with Deployment.open(data_dir, with_key=False) as reopened:
        assert reopened.settings.voice.retention_days == 90


def test_a_roster_from_before_governed_settings_takes_them_over(tmp_path: Path) -> None:
    """A deployment whose genesis was recorded before the roster governed settings (schema
    0005): the next open records their values, and from then on an edited file is refused."""
    data_dir = tmp_path / "old"
    init_deployment(data_dir, "old.example/log")
    with Deployment.open(data_dir) as deployment:
        deployment.roster.establish(GENESIS, actor="clerk")  # as the earlier version did
        assert deployment.roster.governed() == {}
    with Deployment.open(data_dir) as deployment:
        assert deployment.roster.governed()["voice.retention_days"][0] == 30
    on_file = Settings.load(data_dir)
    replace(on_file, voice=replace(on_file.voice, retention_days=3650)).save()
    with pytest.raises(ReservedActionError):
        Deployment.open(data_dir).close()


def test_a_request_signed_under_a_roster_handed_over_is_refused_at_every_step(
    city: tuple[Deployment, Clock],
) -> None:
    """Signatures gathered for a request bound to the roster before a hand-over carry nothing
    after it, even from holders still in office: each step is refused and recorded."""
    deployment, _ = city
    old = _ask(GENESIS, "budget.change", "officer-a", **BUDGET)
    deployment.propose(old, actor="operator")
    new = successor(GENESIS, ["council-1", "council-2", "council-3", "council-6"])
    change = _ask(GENESIS, CHANGE_ROSTER, "council-1", roster=new.to_json())
    deployment.roster.change(
        Succession(change, tuple(signed(change, "council-1", "council-2", "council-3")), NOW),
        actor="operator",
    )
    budget = deployment.settings.privacy
    for holder in ("council-1", "council-2"):
        with pytest.raises(StaleRosterError):
            deployment.actions.sign(old.digest, signed(old, holder)[0], actor="operator")
        assert _refusal(deployment)[0] == "stale-roster"
    with pytest.raises(StaleRosterError):
        deployment.carry_out(old.digest, actor="operator")
    assert _refusal(deployment)[0] == "stale-roster"
    late = _ask(GENESIS, "budget.change", "officer-a", **BUDGET)
    with pytest.raises(StaleRosterError):
        deployment.submit(late, signed(late, "council-1", "council-2", "council-3"), actor="x")
    assert _refusal(deployment)[0] == "stale-roster"
    assert deployment.settings.privacy == budget
    assert deployment.actions.get(old.digest).status == "pending"


def test_a_policy_without_a_rule_for_a_setting_freezes_it(tmp_path: Path) -> None:
    """No rule for ``retention.change``: no signatures change retention (refused and recorded
    as ``no-rule``), and the settings file still cannot change it behind the roster's back."""
    frozen = Roster(
        0, GENESIS.holders, {k: v for k, v in POLICY.items() if k != "retention.change"}
    )
    data_dir = tmp_path / "city"
    init_deployment(data_dir, "frozen.example/log")
    with Deployment.open(data_dir, clock=Clock()) as deployment:
        deployment.establish_roster(frozen, actor="clerk")
        request = _ask(
            frozen,
            "retention.change",
            "officer-a",
            origin="frozen.example/log",
            **{"voice.retention_days": 90},
        )
        with pytest.raises(NoRuleError, match=r"no rule for 'retention\.change'"):
            deployment.submit(
                request, signed(request, "council-1", "council-2", "council-3"), actor="x"
            )
        assert _refusal(deployment)[0] == "no-rule"
    assert Settings.load(data_dir).voice.retention_days == 30
    on_file = Settings.load(data_dir)
    replace(on_file, voice=replace(on_file.voice, retention_days=3650)).save()
    with pytest.raises(ReservedActionError, match=r"voice\.retention_days"):
        Deployment.open(data_dir).close()


def _written(deployment: Deployment) -> tuple[object, ...]:
    """What carrying out a governed action would change: the log, the governed settings (on
    the ledger's projection and on file) and the requests held."""
    on_file = Settings.load(deployment.data_dir)
    held = deployment.db.read("SELECT count(*) FROM roster_requests")[0][0]
    return (
        deployment.log.size,
        deployment.roster.governed(),
        on_file.privacy,
        deployment.settings.privacy,
        held,
    )


def test_a_request_signed_for_another_deployment_is_refused_before_anything_is_written(
    city: tuple[Deployment, Clock], tmp_path: Path
) -> None:
    """A staging copy set up from production's genesis file has the same roster digest: a
    budget change its holders signed there is carried out there, and refused on production,
    with nothing written (the replay the security review made)."""
    prod, _ = city
    init_deployment(tmp_path / "staging", "staging.example/log")
    with Deployment.open(tmp_path / "staging", clock=Clock()) as staging:
        staging.establish_roster(GENESIS, actor="clerk")
        assert staging.roster.current().roster.digest == prod.roster.current().roster.digest
        request = _ask(GENESIS, "budget.change", "officer-a", origin=staging.log.origin, **BUDGET)
        approvals = signed(request, "council-1", "council-2", "council-3")
        staging.submit(request, approvals, actor="operator")
        assert Settings.load(staging.data_dir).privacy.dp_rho_per_period == 2.0
    before = _written(prod)
    refused = (
        r"signed for deployment 'staging\.example/log', not this one \('actions\.example/log'\)"
    )
    with pytest.raises(ForeignRequestError, match=refused):
        prod.submit(request, approvals, actor="operator")
    with pytest.raises(ForeignRequestError):
        prod.propose(request, actor="operator")
    assert _written(prod) == before
    assert Settings.load(prod.data_dir).privacy.dp_rho_per_period == 1.0
    # Production's own request, with the same parameters, is carried out there.
    own = _ask(GENESIS, "budget.change", "officer-a", **BUDGET)
    prod.submit(own, signed(own, "council-1", "council-2", "council-3"), actor="operator")
    assert Settings.load(prod.data_dir).privacy.dp_rho_per_period == 2.0


def test_a_version_1_request_is_refused_for_carry_out(
    city: tuple[Deployment, Clock], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that names no deployment (version 1) is refused at every step, before anything
    is written, even one proposed before requests named their deployment: it is proposed again."""
    deployment, _ = city
    old = _ask(GENESIS, "budget.change", "officer-a", origin=None, **BUDGET)
    assert old.to_json()["v"] == 1 and "origin" not in old.to_json()
    approvals = signed(old, "council-1", "council-2", "council-3")
    before = _written(deployment)
    with pytest.raises(UnboundRequestError, match="since request version 2: propose it again"):
        deployment.submit(old, approvals, actor="operator")
    assert _written(deployment) == before
    # Proposed, and signed once, by an ombud from before request version 2 ...
    with monkeypatch.context() as earlier:
        for module in (actions, roster):
            earlier.setattr(module, "verify_origin", lambda *args, **kwargs: None)
        deployment.propose(old, actor="operator")
        deployment.actions.sign(old.digest, approvals[0], actor="operator")
    # ... it is signed and carried out no further.
    before = _written(deployment)
    with pytest.raises(UnboundRequestError):
        deployment.actions.sign(old.digest, approvals[1], actor="operator")
    with pytest.raises(UnboundRequestError):
        deployment.carry_out(old.digest, actor="operator")
    assert _written(deployment) == before
    assert deployment.actions.get(old.digest).status == "pending"


def test_the_cover_changes_only_by_the_rosters_signatures(tmp_path: Path) -> None:
    """The cover's ε and δ are governed (``cover.change``): thinning the cover needs the
    holders' signatures, and a settings file edited behind their back stops the deployment."""
    governing = Roster(0, GENESIS.holders, {**POLICY, "cover.change": Rule(3, ("council",))})
    data_dir = tmp_path / "city"
    init_deployment(data_dir, ORIGIN)
    with Deployment.open(data_dir, clock=Clock()) as deployment:
        deployment.establish_roster(governing, actor="clerk")
        assert deployment.roster.governed()["privacy.cover_epsilon"][0] == 1.0
        request = _ask(governing, "cover.change", "officer-a", **{"privacy.cover_epsilon": 0.5})
        start = deployment.log.size
        deployment.submit(
            request, signed(request, "council-1", "council-2", "council-3"), actor="x"
        )
        (changed,) = [e for e in _events(deployment, start) if e.kind == "settings.changed"]
        assert changed.body["settings"] == {
            "privacy.cover_epsilon": 0.5,
            "privacy.cover_delta": 1e-6,
        }
    with Deployment.open(data_dir, clock=Clock()) as deployment:
        assert deployment.cover.policy.shift == 28  # (0.5, 1e-6): about 28 leaves an hour
    on_file = Settings.load(data_dir)
    replace(on_file, privacy=replace(on_file.privacy, cover_epsilon=5.0)).save()
    with pytest.raises(ReservedActionError, match=r"privacy\.cover_epsilon"):
        Deployment.open(data_dir).close()


def test_a_roster_from_before_the_cover_comes_to_govern_it(tmp_path: Path) -> None:
    """A roster whose governed settings were recorded before the cover's existed: the next
    opening records the cover's values (``settings.changed``, naming them alone); from then
    on they are governed like the rest."""
    data_dir = tmp_path / "city"
    init_deployment(data_dir, ORIGIN)
    with Deployment.open(data_dir, clock=Clock()) as deployment:
        deployment.establish_roster(GENESIS, actor="clerk")
        with deployment.db.transaction() as tx:  # as an older ombud recorded them
            tx.execute("DELETE FROM governed_settings WHERE name LIKE 'privacy.cover_%'")
        start = deployment.log.size
    with Deployment.open(data_dir, clock=Clock()) as deployment:
        (recorded,) = _events(deployment, start)
        assert recorded.kind == "settings.changed" and recorded.body["request"] is None
        assert recorded.body["settings"] == {
            "privacy.cover_epsilon": 1.0,
            "privacy.cover_delta": 1e-6,
        }
        assert deployment.log.size == start + 1
    with Deployment.open(data_dir, clock=Clock()) as deployment:
        assert deployment.log.size == start + 1  # recorded once
    on_file = Settings.load(data_dir)
    replace(on_file, privacy=replace(on_file.privacy, cover_delta=1e-3)).save()
    with pytest.raises(ReservedActionError, match=r"privacy\.cover_delta"):
        Deployment.open(data_dir).close()
