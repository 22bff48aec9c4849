"""``ombud witness …`` and ``ombud log witness …``: run a witness; set a log's witness policy."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import typer

from ombud.cli.verify import read_vkey
from ombud.config import Settings
from ombud.deployment import set_witness_policy
from ombud.errors import ConfigError
from ombud.witness.policy import WitnessEndpoint, WitnessPolicy


def run_witness_init(state: Path, name: str) -> None:
    from ombud.witness.statedir import init_witness

    typer.echo(init_witness(state, name).vkey)


def run_witness_serve(state: Path, logs: list[str], listen: str) -> None:
    from ombud.witness.server import run_witness

    if not logs:
        raise ConfigError("give at least one --log VKEY to witness")
    run_witness(state, [read_vkey(v) for v in logs], listen)


def _change_policy(directory: Path, policy: WitnessPolicy) -> None:
    set_witness_policy(directory, policy)
    names = ", ".join(w.name for w in policy.witness) or "none"
    typer.echo(f"witness policy: quorum {policy.quorum} of {len(policy.witness)} ({names})")


def run_policy_add(directory: Path, vkey: str, url: str) -> None:
    policy = Settings.for_directory(directory).witnesses
    endpoint = WitnessEndpoint(read_vkey(vkey, cosigner=True).vkey, url)
    if any(w.name == endpoint.name for w in policy.witness):
        raise ConfigError(f"witness {endpoint.name} is already in the policy")
    _change_policy(directory, replace(policy, witness=(*policy.witness, endpoint)))


def run_policy_remove(directory: Path, name: str) -> None:
    policy = Settings.for_directory(directory).witnesses
    kept = tuple(w for w in policy.witness if w.name != name)
    if len(kept) == len(policy.witness):
        raise ConfigError(f"witness {name} is not in the policy")
    if policy.quorum > len(kept):
        raise ConfigError(
            f"removing {name} leaves {len(kept)} witnesses for quorum {policy.quorum}; "
            "lower the quorum first"
        )
    _change_policy(directory, replace(policy, witness=kept))


def run_policy_quorum(directory: Path, quorum: int) -> None:
    policy = Settings.for_directory(directory).witnesses
    _change_policy(directory, replace(policy, quorum=quorum))
