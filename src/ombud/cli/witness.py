"""``ombud witness …`` and ``ombud log witness …``: run a witness; set a log's witness policy."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import typer

from ombud.cli.verify import read_vkey
from ombud.config import Settings, WitnessEndpoint, WitnessPolicy
from ombud.errors import ConfigError
from ombud.events import Event
from ombud.ledger.logdir import open_log


def run_witness_init(state: Path, name: str) -> None:
    from ombud.witness.statedir import init_witness

    typer.echo(init_witness(state, name).vkey)


def run_witness_serve(state: Path, logs: list[str], listen: str) -> None:
    from ombud.witness.server import run_witness

    if not logs:
        raise ConfigError("give at least one --log VKEY to witness")
    run_witness(state, [read_vkey(v) for v in logs], listen)


def _change_policy(directory: Path, policy: WitnessPolicy) -> None:
    """Save ``policy`` and record the change on the ledger itself (``witness.policy_changed``).

    The event goes first: if it cannot be appended, the policy is not changed.
    """
    settings = Settings.for_directory(directory)
    event = Event(
        "witness.policy_changed",
        datetime.now(UTC),
        "operator",
        {"v": 1, "quorum": policy.quorum, "witnesses": [w.vkey for w in policy.witness]},
    )
    log = open_log(directory, settings)
    try:
        log.append_batch([event.to_bytes()])
    finally:
        log.close()
    replace(settings, witnesses=policy).save()
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
