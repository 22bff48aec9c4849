"""``ombud witness …`` and ``ombud log witness …``: run a witness; set a log's witness policy.

Threat model: the witness policy decides who checks the operator; once a deployment has an
authority roster, the operator's shell alone cannot change which witnesses count or how many
must cosign (``ombud log witness`` records the attempt and refuses: the holders sign a
``witness.change`` instead).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from ombud.cli.options import LogDir
from ombud.cli.verify import read_vkey
from ombud.config import Settings
from ombud.deployment import open_database_of, set_witness_policy
from ombud.errors import ConfigError
from ombud.witness.policy import WitnessEndpoint, WitnessPolicy

__all__ = ["governed_by_a_roster", "policy_app", "witness_app"]

witness_app = typer.Typer(
    help="Run a witness (C2SP tlog-witness) that cosigns logs' checkpoints.", no_args_is_help=True
)
policy_app = typer.Typer(
    help="The log's witness policy: whose cosignatures publishing waits for.",
    no_args_is_help=True,
)
"""Mounted by ``ombud.cli.log`` as ``ombud log witness``."""

WitnessStateDir = Annotated[Path, typer.Option("--state", help="The witness's state directory.")]


@witness_app.command("init")
def witness_init(
    state: WitnessStateDir,
    name: Annotated[str, typer.Option(help="The witness's key name, e.g. ombudsman.example/w1.")],
) -> None:
    """Create a witness (cosigning key file mode 0600, state database); print its vkey."""
    from ombud.witness.statedir import init_witness

    typer.echo(init_witness(state, name).vkey)


@witness_app.command("serve")
def witness_serve(
    state: WitnessStateDir,
    log: Annotated[
        list[str] | None, typer.Option(help="Verifier key of a log to witness (repeatable).")
    ] = None,
    listen: Annotated[str, typer.Option(help="HOST:PORT to listen on.")] = "127.0.0.1:8431",
) -> None:
    """Serve add-checkpoint and the monitor read path for the given logs."""
    from ombud.witness.server import run_witness

    if not log:
        raise ConfigError("give at least one --log VKEY to witness")
    run_witness(state, [read_vkey(v) for v in log], listen)


def governed_by_a_roster(directory: Path) -> bool:
    """Whether ``directory`` is a deployment whose roster governs its witness policy (a bare
    log directory has no roster)."""
    from ombud.config import SETTINGS_FILE
    from ombud.governance.book import roster_established
    from ombud.ledger.logdir import is_log_dir

    if not (directory / SETTINGS_FILE).is_file() or not is_log_dir(directory):
        return False  # not a deployment (the command says what is missing)
    db = open_database_of(directory)
    try:
        return roster_established(db)
    finally:
        db.close()


def _change_policy(directory: Path, policy: WitnessPolicy) -> None:
    from ombud.governance.settings import governed_values

    before = Settings.as_written(directory)  # the file it replaces, not an override's value
    after = replace(before, witnesses=policy)
    changes = governed_values(before)["witnesses"] != governed_values(after)["witnesses"]
    if changes and governed_by_a_roster(directory):
        from ombud.deployment import Deployment
        from ombud.governance.settings import WITNESS_CHANGE

        with Deployment.open(directory, with_key=False) as deployment:  # recorded, then refused
            deployment.actions.refuse_unsigned(WITNESS_CHANGE, actor="operator")
    set_witness_policy(directory, policy)
    names = ", ".join(w.name for w in policy.witness) or "none"
    typer.echo(f"witness policy: quorum {policy.quorum} of {len(policy.witness)} ({names})")


@policy_app.command("add")
def policy_add(
    directory: LogDir,
    vkey: Annotated[str, typer.Argument(help="The witness's cosigner vkey (or a file).")],
    url: Annotated[str, typer.Argument(help="The witness's submission URL prefix.")],
) -> None:
    """Add a witness to the policy (recorded on the log as witness.policy_changed)."""
    policy = Settings.as_written(directory).witnesses  # not an override of the environment
    endpoint = WitnessEndpoint(read_vkey(vkey, cosigner=True).vkey, url)
    if any(w.name == endpoint.name for w in policy.witness):
        raise ConfigError(f"witness {endpoint.name} is already in the policy")
    _change_policy(directory, replace(policy, witness=(*policy.witness, endpoint)))


@policy_app.command("remove")
def policy_remove(
    directory: LogDir, name: Annotated[str, typer.Argument(help="The witness's key name.")]
) -> None:
    """Remove a witness from the policy."""
    policy = Settings.as_written(directory).witnesses  # not an override of the environment
    kept = tuple(w for w in policy.witness if w.name != name)
    if len(kept) == len(policy.witness):
        raise ConfigError(f"witness {name} is not in the policy")
    if policy.quorum > len(kept):
        raise ConfigError(
            f"removing {name} leaves {len(kept)} witnesses for quorum {policy.quorum}; "
            "lower the quorum first"
        )
    _change_policy(directory, replace(policy, witness=kept))


@policy_app.command("quorum")
def policy_quorum(
    directory: LogDir,
    quorum: Annotated[int, typer.Argument(help="Cosignatures required to publish.", min=0)],
) -> None:
    """Set how many witnesses must cosign before a checkpoint is published."""
    policy = Settings.as_written(directory).witnesses  # not an override of the environment
    _change_policy(directory, replace(policy, quorum=quorum))
