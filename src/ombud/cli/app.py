"""The ``ombud`` commands (typer): argument parsing and help; the work is in the library.

Threat model: see ``ombud.cli`` — every command is a thin shell whose errors become one line.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="ombud",
    help="A city's sensors and residents, heard through a witnessed, tamper-evident ledger.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
log_app = typer.Typer(
    help="Create, append to, checkpoint, export and prove a log.", no_args_is_help=True
)
proof_app = typer.Typer(help="Offline proofs (C2SP tlog-proof).", no_args_is_help=True)
app.add_typer(log_app, name="log")
app.add_typer(proof_app, name="proof")

DataDir = Annotated[
    Path, typer.Option("--data-dir", help="The deployment's data directory (see `ombud init`).")
]
LogKey = Annotated[str, typer.Option(help="The log's verifier key (vkey), or a file holding it.")]
Witnesses = Annotated[list[str] | None, typer.Option(help="A witness cosigner vkey (repeatable).")]
Quorum = Annotated[
    int | None, typer.Option(help="Witness cosignatures required (default: all given).")
]


@app.command()
def init(
    data_dir: DataDir,
    origin: Annotated[
        str | None,
        typer.Option(help="The log's origin, e.g. city.example/ombud (default: a random one)."),
    ] = None,
) -> None:
    """Create a deployment's data directory: settings file, log origin and key, databases."""
    from ombud.deployment import init_deployment

    vkey = init_deployment(data_dir, origin)
    typer.echo(f"initialised {data_dir}")
    typer.echo(f"log verifier key: {vkey}")


@app.command()
def serve(
    data_dir: DataDir,
    listen: Annotated[str | None, typer.Option(help="HOST:PORT to listen on.")] = None,
) -> None:
    """Serve the log's tlog-tiles read API and proofs over HTTP."""
    from ombud.api.server import run_server
    from ombud.config import Settings

    settings = Settings.load(data_dir)
    if listen is not None:
        settings = replace(settings, server=replace(settings.server, listen=listen))
    run_server(settings)


@app.command()
def demo(
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Keep the demo's deployment here (default: a temp dir)."),
    ] = None,
    events: Annotated[int, typer.Option(help="Simulated events to append.", min=1)] = 20_000,
    seed: Annotated[int, typer.Option(help="Seed of the simulated city.")] = 2026,
) -> None:
    """Run a simulated city end to end: events, checkpoints, export, verification."""
    from ombud.cli.demo import run_demo

    run_demo(data_dir, events=events, seed=seed)


@app.command()
def verify(
    source: Annotated[str, typer.Argument(help="A tlog-tiles directory or an http(s) URL.")],
    key: LogKey,
    witness: Witnesses = None,
    quorum: Quorum = None,
    state: Annotated[
        Path | None, typer.Option(help="File remembering the last checkpoint trusted.")
    ] = None,
    origin: Annotated[
        str | None, typer.Option(help="Expected checkpoint origin (default: the key's name).")
    ] = None,
) -> None:
    """Verify a log: signatures, witness quorum, every tile and the root, and consistency."""
    from ombud.cli.verify import run_verify

    run_verify(source, key, witness or [], quorum, state, origin)


@log_app.command("init")
def log_init(
    directory: Annotated[Path, typer.Argument(help="Directory to create the log in.")],
    origin: Annotated[str, typer.Option(help="The log's origin, e.g. city.example/ombud.")],
) -> None:
    """Create a log (key generated, private key file mode 0600) and print its vkey."""
    from ombud.ledger.logdir import init_log

    typer.echo(init_log(directory, origin).vkey)


@log_app.command("append")
def log_append(directory: Annotated[Path, typer.Argument(help="The log's directory.")]) -> None:
    """Append stdin's lines as entries; print each index once the entry is durable."""
    from ombud.cli.log import run_append

    run_append(directory)


@log_app.command("checkpoint")
def log_checkpoint(directory: Annotated[Path, typer.Argument(help="The log's directory.")]) -> None:
    """Sign and print a checkpoint of the integrated tree."""
    from ombud.ledger.logdir import open_log

    log = open_log(directory)
    try:
        sys.stdout.buffer.write(log.checkpoint().to_bytes())
    finally:
        log.close()


@log_app.command("export")
def log_export(
    directory: Annotated[Path, typer.Argument(help="The log's directory.")],
    out: Annotated[Path, typer.Argument(help="Directory to write the tlog-tiles tree to.")],
) -> None:
    """Write the log as a static tlog-tiles tree: checkpoint, tiles, entry bundles."""
    from ombud.cli.log import run_export

    run_export(directory, out)


@log_app.command("prove")
def log_prove(
    directory: Annotated[Path, typer.Argument(help="The log's directory.")],
    index: Annotated[int, typer.Option(help="0-based index of the entry.", min=0)],
) -> None:
    """Print a C2SP tlog-proof bundle for the entry at INDEX."""
    from ombud.cli.log import run_prove

    run_prove(directory, index)


@log_app.command("status")
def log_status(directory: Annotated[Path, typer.Argument(help="The log's directory.")]) -> None:
    """Show the log's origin, size and latest checkpoint."""
    from ombud.cli.log import run_status

    run_status(directory)


@proof_app.command("verify")
def proof_verify(
    bundle: Annotated[Path, typer.Argument(help="A .tlog-proof file.")],
    key: LogKey,
    entry: Annotated[
        Path | None,
        typer.Option(help="File holding the entry (default: the bundle's extra data)."),
    ] = None,
    witness: Witnesses = None,
    quorum: Quorum = None,
) -> None:
    """Verify a tlog-proof bundle offline."""
    from ombud.cli.verify import run_proof_verify

    run_proof_verify(bundle, key, entry, witness or [], quorum)
