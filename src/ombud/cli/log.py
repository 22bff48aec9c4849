"""``ombud log …``: create a log, append from stdin, checkpoint, export, prove, status; its
witness policy (``ombud log witness …``) is in ``ombud.cli.witness``."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from ombud.cli._append import run_append
from ombud.cli.options import LogDir
from ombud.cli.witness import policy_app
from ombud.config import Settings
from ombud.deployment import open_log
from ombud.errors import NotFoundError, UnavailableError
from ombud.ledger.export import export_log

__all__ = ["log_app"]

log_app = typer.Typer(
    help="Create, append to, checkpoint, export and prove a log.", no_args_is_help=True
)
log_app.add_typer(policy_app, name="witness")


@log_app.command("init")
def log_init(
    directory: Annotated[Path, typer.Argument(help="Directory to create the log in.")],
    origin: Annotated[str, typer.Option(help="The log's origin, e.g. city.example/ombud.")],
) -> None:
    """Create a log (key generated, private key file mode 0600) and print its vkey."""
    from ombud.ledger.logdir import init_log

    typer.echo(init_log(directory, origin).vkey)


@log_app.command("append")
def log_append(directory: LogDir) -> None:
    """Append stdin's lines as entries; print each index once the entry is durable."""
    run_append(directory)


@log_app.command("checkpoint")
def log_checkpoint(directory: LogDir) -> None:
    """Sign a checkpoint, publish it once the witness quorum cosigned it, and print it."""
    from ombud.cli.witness import governed_by_a_roster
    from ombud.witness.publisher import publish_once  # HTTP client: not on the append path

    settings = Settings.for_directory(directory)
    if governed_by_a_roster(directory):
        from ombud.deployment import Deployment

        # Opening refuses a witness policy (or any governed setting) the roster did not set.
        Deployment.open(directory, with_key=False, settings=settings).close()
    log = open_log(directory, settings)
    try:
        outcome = publish_once(log, settings.witnesses)
        if not outcome.published:
            raise UnavailableError(outcome.summary())
        published = log.published_checkpoint()
        assert published is not None
    finally:
        log.close()
    sys.stdout.buffer.write(published.note)


@log_app.command("export")
def log_export(
    directory: LogDir,
    out: Annotated[Path, typer.Argument(help="Directory to write the tlog-tiles tree to.")],
) -> None:
    """Write the log as a static tlog-tiles tree: checkpoint, tiles, entry bundles."""
    from ombud.cli._progress import progress_bar

    log = open_log(directory, Settings.for_directory(directory))
    try:
        with progress_bar("exporting tiles") as progress:
            report = export_log(log, out, progress=progress)
    finally:
        log.close()
    cp = report.checkpoint.checkpoint
    print(f"exported {cp.origin} at size {cp.size} to {out} ({report.files} files)")


@log_app.command("prove")
def log_prove(
    directory: LogDir,
    index: Annotated[int, typer.Option(help="0-based index of the entry.", min=0)],
) -> None:
    """Print a C2SP tlog-proof bundle for the entry at INDEX."""
    # The proof is in the latest published checkpoint, cosignatures in.
    log = open_log(directory, Settings.for_directory(directory))
    try:
        log.catch_up()
        bundle = log.prove(index, with_entry=True)
        if bundle is None:
            published = log.published_checkpoint()
            size = published.size if published else 0
            raise NotFoundError(
                f"entry {index} is not in the published checkpoint (size {size}) yet"
            )
    finally:
        log.close()
    sys.stdout.buffer.write(bundle.to_bytes())


@log_app.command("status")
def log_status(directory: LogDir) -> None:
    """Show the log's origin, size and latest checkpoint."""
    from ombud.witness.publisher import PublishOutcome

    settings = Settings.for_directory(directory)
    log = open_log(directory, settings, with_key=False)
    try:
        state = log.state()
        latest = log.latest_checkpoint()
        published = log.published_checkpoint()
        status = log.store.publish_status()
    finally:
        log.close()
    policy = settings.witnesses
    print(f"origin      {log.origin}")
    print(f"size        {state.size} entries integrated")
    if latest is None:
        print("checkpoint  none signed yet (run `ombud log checkpoint`)")
    else:
        behind = state.size - latest.size
        print(
            f"checkpoint  size {latest.size} signed"
            + (f" ({behind} entries not yet checkpointed)" if behind else "")
        )
    if policy.quorum:
        names = ", ".join(w.name for w in policy.witness)
        print(f"witnesses   quorum {policy.quorum} of {len(policy.witness)}: {names}")
    else:
        print("witnesses   none: every signed checkpoint is published unwitnessed")
    print(f"published   size {published.size}" if published else "published   nothing yet")
    if latest is not None and (published is None or published.size < latest.size):
        print(f"PUBLISHING BLOCKED: checkpoint {latest.size} has no witness quorum yet")
    if status is not None:
        outcome = PublishOutcome.from_json(status)
        when = datetime.fromtimestamp(outcome.at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        print(f"last round  {when}: {outcome.summary()}")
