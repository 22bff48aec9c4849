"""The authority roster: privileged actions need the policy's signatures, bound to the request
and the roster; power changes hands only by the quorum of the current holders; the chain from
genesis verifies offline, and breaks where a link does not hold."""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from ombud.errors import (
    ExpiredError,
    MalformedError,
    NotAHolderError,
    QuorumError,
    ReplayError,
    RoleError,
    RosterChainError,
    SelfApprovalError,
    SignatureError,
    StaleRosterError,
)
from ombud.governance.roster import (
    CHANGE_ROSTER,
    RECOVER_ROSTER,
    ActionRequest,
    Approval,
    Holder,
    Roster,
    Rule,
    Succession,
    public_key,
    sign_request,
    verify_approval,
    verify_chain,
    verify_succession,
)

NOW = datetime(2026, 12, 5, 9, tzinfo=UTC)
ORIGIN = "prod.ombud.localhost/city"
KEYS = {name: Ed25519PrivateKey.generate() for name in (
    "council-1", "council-2", "council-3", "council-4", "council-5",
    "officer-a", "officer-b", "officer-c", "ombudsman", "court",
    "council-6", "council-7", "council-8",
)}  # fmt: skip


def holder(name: str) -> Holder:
    role = name.split("-")[0] if "-" in name else name
    return Holder(name, name.replace("-", " ").title(), role, public_key(KEYS[name]))


POLICY = {
    "access.approve": Rule(2, ("officer",)),
    "witness.change": Rule(3, ("council",)),
    "retention.change": Rule(3, ("council",)),
    "budget.change": Rule(3, ("council",)),
    "tender.publish": Rule(3, ("council",)),
    "motion.table": Rule(3, ("council",)),
    CHANGE_ROSTER: Rule(3, ("council",), not_requester=False),
    RECOVER_ROSTER: Rule(2, ("ombudsman", "court"), not_requester=False),
}
GENESIS = Roster(
    0,
    tuple(holder(n) for n in KEYS if not n.startswith("council-") or n[-1] in "12345"),
    POLICY,
)


def request(
    under: Roster,
    action: str = "access.approve",
    requester: str = "officer-c",
    *,
    origin: str | None = ORIGIN,
    **params: object,
) -> ActionRequest:
    return ActionRequest(
        action,
        params or {"request": "r-1"},
        under.version,
        under.digest,
        requester,
        secrets.token_hex(16),
        NOW + timedelta(hours=1),
        origin,
    )


def signed(req: ActionRequest, *names: str) -> list[Approval]:
    return [sign_request(req, n, KEYS[n]) for n in names]


def successor(current: Roster, members: list[str]) -> Roster:
    """The next roster: ``members``, and the officers and recovery holders every policy needs."""
    everyone = dict.fromkeys([*members, "officer-a", "officer-b", "ombudsman", "court"])
    return Roster(current.version + 1, tuple(holder(n) for n in everyone), POLICY, current.digest)


def test_two_distinct_officers_approve_an_access_request() -> None:
    req = request(GENESIS)
    verify_approval(GENESIS, req, signed(req, "officer-a", "officer-b"), now=NOW, origin=ORIGIN)


@pytest.mark.parametrize(
    ("signers", "error"),
    [
        (("officer-a",), QuorumError),  # a single approver
        (("officer-a", "officer-a"), QuorumError),  # one approver twice
        (("officer-a", "officer-c"), SelfApprovalError),  # the requester approving
        (("officer-a", "council-1"), RoleError),  # a wrong role
    ],
    ids=["single-approver", "same-approver-twice", "self-approval", "wrong-role"],
)
def test_approvals_short_of_the_policy_are_refused(
    signers: tuple[str, ...], error: type[Exception]
) -> None:
    req = request(GENESIS)
    with pytest.raises(error):
        verify_approval(GENESIS, req, signed(req, *signers), now=NOW, origin=ORIGIN)


def test_a_signature_is_good_for_its_own_request_only() -> None:
    req = request(GENESIS)
    other = replace(req, params={"request": "r-2"})
    with pytest.raises(SignatureError):  # a replayed signature, moved to another request
        verify_approval(
            GENESIS, other, signed(req, "officer-a", "officer-b"), now=NOW, origin=ORIGIN
        )
    with pytest.raises(ReplayError):  # the same request, carried out once already
        verify_approval(
            GENESIS,
            req,
            signed(req, "officer-a", "officer-b"),
            now=NOW,
            origin=ORIGIN,
            used={req.digest},
        )
    with pytest.raises(ExpiredError):
        verify_approval(
            GENESIS, req, signed(req, "officer-a", "officer-b"), now=req.expires, origin=ORIGIN
        )


def test_power_changes_hands_by_the_quorum_of_the_current_roster() -> None:
    new_council = ["council-6", "council-7", "council-8", "officer-a", "officer-b", "ombudsman"]
    new = successor(GENESIS, [*new_council, "court"])
    change = request(GENESIS, CHANGE_ROSTER, "council-1", roster=new.to_json())
    two = Succession(change, tuple(signed(change, "council-1", "council-2")), NOW)
    with pytest.raises(QuorumError):  # a roster change below quorum
        verify_succession(GENESIS, two, origin=ORIGIN)
    three = Succession(change, tuple(signed(change, "council-1", "council-2", "council-3")), NOW)
    assert verify_succession(GENESIS, three, origin=ORIGIN) == new
    # The old council's keys lose all power: under the new roster they sign nothing valid.
    witness = request(new, "witness.change", "officer-a", witness="w")
    with pytest.raises(NotAHolderError, match="holds no office"):
        verify_approval(
            new,
            witness,
            signed(witness, "council-1", "council-2", "council-3"),
            now=NOW,
            origin=ORIGIN,
        )
    verify_approval(
        new, witness, signed(witness, "council-6", "council-7", "council-8"), now=NOW, origin=ORIGIN
    )
    # A request signed under the old roster is refused under the new one.
    stale = request(GENESIS, "witness.change", "officer-a", witness="w")
    with pytest.raises(StaleRosterError):
        verify_approval(
            new, stale, signed(stale, "council-1", "council-2", "council-3"), now=NOW, origin=ORIGIN
        )
    assert verify_chain(GENESIS, [three], origin=ORIGIN) == new


def test_the_recovery_quorum_replaces_a_roster_and_says_so() -> None:
    new = successor(GENESIS, ["council-6", "council-7", "council-8", "ombudsman", "court"])
    recover = request(GENESIS, RECOVER_ROSTER, "ombudsman", roster=new.to_json())
    change = Succession(recover, tuple(signed(recover, "ombudsman", "court")), NOW)
    assert change.recovered and verify_chain(GENESIS, [change], origin=ORIGIN) == new
    alone = Succession(recover, tuple(signed(recover, "ombudsman")), NOW)
    with pytest.raises(RosterChainError, match="version 1 is broken"):
        verify_chain(GENESIS, [alone], origin=ORIGIN)


def test_a_chain_breaks_at_its_first_bad_link() -> None:
    first = successor(GENESIS, ["council-6", "council-7", "council-8", "officer-a"])
    req1 = request(GENESIS, CHANGE_ROSTER, "council-1", roster=first.to_json())
    link1 = Succession(req1, tuple(signed(req1, "council-1", "council-2", "council-3")), NOW)
    second = successor(first, ["council-1", "council-2", "council-3", "officer-b"])
    # The old council signs its own return: no office in version 1.
    req2 = request(first, CHANGE_ROSTER, "council-1", roster=second.to_json())
    link2 = Succession(req2, tuple(signed(req2, "council-1", "council-2", "council-3")), NOW)
    with pytest.raises(RosterChainError, match=r"version 2 is broken.*holds no office"):
        verify_chain(GENESIS, [link1, link2], origin=ORIGIN)
    skipped = Roster(3, first.holders, POLICY, first.digest)  # version 2 skipped
    req3 = request(first, CHANGE_ROSTER, "council-6", roster=skipped.to_json())
    link3 = Succession(req3, tuple(signed(req3, "council-6", "council-7", "council-8")), NOW)
    with pytest.raises(RosterChainError, match="does not follow"):
        verify_chain(GENESIS, [link1, link3], origin=ORIGIN)
    with pytest.raises(RosterChainError, match="already carried out"):
        verify_chain(GENESIS, [link1, link1], origin=ORIGIN)


def test_a_roster_states_a_policy_its_holders_can_meet() -> None:
    with pytest.raises(MalformedError, match=r"needs 3 signatures but the roster has 2"):
        Roster(
            0, (holder("council-1"), holder("council-2")), {CHANGE_ROSTER: POLICY[CHANGE_ROSTER]}
        )
    with pytest.raises(MalformedError, match="who may change it"):
        Roster(0, GENESIS.holders, {"access.approve": Rule(2, ("officer",))})
    with pytest.raises(MalformedError, match="share a key"):
        Roster(0, (*GENESIS.holders, replace(holder("officer-a"), id="officer-z")), POLICY)


def test_rosters_requests_and_successions_round_trip_canonically() -> None:
    assert Roster.from_bytes(GENESIS.to_bytes()) == GENESIS
    with pytest.raises(MalformedError, match="canonical"):
        Roster.from_bytes(GENESIS.to_bytes().replace(b'"v":1', b'"v": 1'))
    req = request(GENESIS)
    assert ActionRequest.from_json(req.to_json()) == req
    link = Succession(req, tuple(signed(req, "officer-a")), NOW)
    assert Succession.from_json(link.to_json()) == link


@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_not_a_roster(data: bytes) -> None:
    """Anything that is not a canonical roster is refused with ``MalformedError``, nothing
    else (no crash, no other error)."""
    with contextlib.suppress(MalformedError):
        Roster.from_bytes(data)
