"""The deployment directory: a witness policy change goes on the ledger, a move does not."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ombud.config import Settings
from ombud.deployment import Deployment, init_deployment, open_log, set_witness_policy
from ombud.events import Event
from ombud.ledger import note
from ombud.witness.policy import WitnessEndpoint, WitnessPolicy


def _kinds(data_dir: Path) -> list[str]:
    log = open_log(data_dir, with_key=False)
    try:
        return [Event.from_bytes(e).kind for e in log.entries(0, log.size)]
    finally:
        log.close()


def test_only_a_change_of_keys_or_quorum_is_recorded_on_the_ledger(tmp_path: Path) -> None:
    data_dir = tmp_path / "city"
    init_deployment(data_dir, "policy.example/log")
    keys = [
        note.Signer.generate(f"w{i}.example", sig_type=note.ALG_COSIGNATURE_V1).verifier().vkey
        for i in range(2)
    ]

    def policy(quorum: int, *ports: int) -> WitnessPolicy:
        return WitnessPolicy(
            quorum=quorum,
            witness=tuple(
                WitnessEndpoint(key, f"http://127.0.0.1:{port}")
                for key, port in zip(keys, ports, strict=False)
            ),
        )

    assert set_witness_policy(data_dir, policy(1, 9000)) is True
    # The witness moved: the file says where it is now; the ledger holds nothing new, since
    # who must cosign and how many (all a policy_changed event says) is the same.
    assert set_witness_policy(data_dir, policy(1, 9100)) is False
    saved = Settings.load(data_dir).witnesses
    assert [w.url for w in saved.witness] == ["http://127.0.0.1:9100"]
    assert _kinds(data_dir) == ["witness.policy_changed"]
    assert set_witness_policy(data_dir, policy(1, 9100, 9001)) is True  # a witness added
    assert set_witness_policy(data_dir, policy(2, 9100, 9001)) is True  # the quorum raised
    assert set_witness_policy(data_dir, policy(2, 9100, 9001)) is False  # nothing at all
    assert _kinds(data_dir) == ["witness.policy_changed"] * 3
    assert Settings.load(data_dir).witnesses == policy(2, 9100, 9001)


def test_a_quorum_change_is_recorded_though_the_environment_overrides_the_quorum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review finding: compared with the settings as overridden (OMBUD_WITNESSES_QUORUM=1), the
    file's quorum of 2 lowered to 1 looked unchanged, and was saved with no event."""
    data_dir = tmp_path / "city"
    init_deployment(data_dir, "policy.example/log")
    keys = [
        note.Signer.generate(f"w{i}.example", sig_type=note.ALG_COSIGNATURE_V1).verifier().vkey
        for i in range(2)
    ]
    endpoints = tuple(
        WitnessEndpoint(k, f"http://127.0.0.1:{9000 + i}") for i, k in enumerate(keys)
    )
    assert set_witness_policy(data_dir, WitnessPolicy(quorum=2, witness=endpoints))
    monkeypatch.setenv("OMBUD_WITNESSES_QUORUM", "1")
    assert set_witness_policy(data_dir, WitnessPolicy(quorum=1, witness=endpoints)) is True
    assert _kinds(data_dir) == ["witness.policy_changed"] * 2


def test_init_keeps_its_keys_private_and_creates_no_token(tmp_path: Path) -> None:
    """README: ``ombud init`` creates the log's key (mode 0600) and the vault's ``master.key``
    (mode 0600) in a directory only its owner reads; "no token exists until one is created"."""
    data_dir = tmp_path / "city"
    init_deployment(data_dir, "keys.example/log")
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    private = [p for p in data_dir.iterdir() if p.read_bytes().startswith(b"PRIVATE+KEY+")]
    assert [p.name for p in private] == ["log.key"]
    for name in ("log.key", "master.key"):
        assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600, name
    with Deployment.open(data_dir, environ={}) as deployment:
        assert list(deployment.tokens.list()) == []
