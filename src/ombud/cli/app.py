"""The ``ombud`` commands (typer): argument parsing and help; the work is in the library.

This module holds the root command and the commands that belong to no group; each group's
sub-app and commands are in their own module (``ombud.cli.log``, ``ombud.cli.voice``, …),
which keeps the heavy parts (the API, the voice stack, rich) behind the commands that use them.

Threat model: see ``ombud.cli`` — every command is a thin shell whose errors become one line.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from ombud.cli.access import access_app
from ombud.cli.decision import decision_app
from ombud.cli.devices import device_app
from ombud.cli.ingest import ingest_app
from ombud.cli.insight import insight_app
from ombud.cli.integrity import integrity_app
from ombud.cli.log import log_app
from ombud.cli.options import DataDir, LogKey, Quorum, Witnesses
from ombud.cli.privacy import privacy_app
from ombud.cli.result import result_app
from ombud.cli.roster import roster_app
from ombud.cli.simulate import simulate_app
from ombud.cli.tender import tender_app
from ombud.cli.tokens import token_app
from ombud.cli.verify import proof_app, run_verify
from ombud.cli.voice import voice_app
from ombud.cli.witness import witness_app

__all__ = ["app"]

app = typer.Typer(
    name="ombud",
    help="A city's sensors and residents, heard through a witnessed, tamper-evident ledger.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(log_app, name="log")
app.add_typer(roster_app, name="roster")
app.add_typer(access_app, name="access")
app.add_typer(tender_app, name="tender")
app.add_typer(decision_app, name="decision")
app.add_typer(result_app, name="result")
app.add_typer(proof_app, name="proof")
app.add_typer(witness_app, name="witness")
app.add_typer(device_app, name="device")
app.add_typer(token_app, name="token")
app.add_typer(ingest_app, name="ingest")
app.add_typer(simulate_app, name="simulate")
app.add_typer(integrity_app, name="integrity")
app.add_typer(voice_app, name="voice")
app.add_typer(privacy_app, name="privacy")
app.add_typer(insight_app, name="insight")


@app.command()
def init(
    data_dir: DataDir,
    origin: Annotated[
        str | None,
        typer.Option(help="The log's origin, e.g. city.example/ombud (default: a random one)."),
    ] = None,
    database_url: Annotated[
        str,
        typer.Option(
            help="A postgresql:// URL to keep everything in (default: SQLite in the data dir). "
            "Keep passwords out of it: use ~/.pgpass or PGPASSWORD."
        ),
    ] = "",
) -> None:
    """Create a deployment's data directory: settings file, log origin and key, databases."""
    from ombud.deployment import init_deployment

    vkey = init_deployment(data_dir, origin, database_url=database_url)
    typer.echo(f"initialised {data_dir}")
    typer.echo(f"log verifier key: {vkey}")


@app.command()
def migrate(data_dir: DataDir) -> None:
    """Bring the deployment's database to this version's schema (stop every ombud process using
    it and back it up first)."""
    from ombud.deployment import migrate_deployment

    before, now = migrate_deployment(data_dir)
    if before == now:
        typer.echo(f"{data_dir} is at schema revision {now}: nothing to do")
    else:
        typer.echo(f"{data_dir} migrated from schema revision {before or 'none'} to {now}")


@app.command()
def serve(
    data_dir: DataDir,
    listen: Annotated[str | None, typer.Option(help="HOST:PORT to listen on.")] = None,
) -> None:
    """Serve the API (the log's tiles and proofs, ingest, voice, privacy, insight) and the
    transparency portal under / over HTTP."""
    from ombud.api.server import run_server
    from ombud.config import Settings
    from ombud.web import create_portal

    settings = Settings.load(data_dir)
    if listen is not None:
        settings = replace(settings, server=replace(settings.server, listen=listen))
    run_server(settings, create_portal)


@app.command()
def demo(
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Keep the demo's deployment here (default: a temp dir)."),
    ] = None,
    events: Annotated[int, typer.Option(help="Simulated events to append.", min=1)] = 20_000,
    seed: Annotated[int, typer.Option(help="Seed of the simulated city.")] = 2026,
    quick: Annotated[
        bool, typer.Option("--quick", help="A small city and no other acts (for tests).")
    ] = False,
    city: Annotated[
        bool, typer.Option("--city/--no-city", help="Simulate the city (the main act).")
    ] = True,
    no_serve: Annotated[
        bool,
        typer.Option("--no-serve", help="Exit after the summary instead of serving the portal."),
    ] = False,
    port: Annotated[
        int,
        typer.Option(
            help="Serve the portal on 127.0.0.1:PORT (a free one if taken).", min=1, max=65535
        ),
    ] = 8000,
) -> None:
    """Run a simulated city end to end: sensors, residents, witnesses, DP releases, and what
    the city learns from them; then the log's checkpoints, export and verification; then
    serve the portal on 127.0.0.1 until Ctrl-C."""
    from ombud.cli.demo import run_demo

    run_demo(
        data_dir, events=events, seed=seed, quick=quick, city=city, serve=not no_serve, port=port
    )


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
    run_verify(source, key, witness or [], quorum, state, origin)


@app.command()
def monitor(
    source: Annotated[str, typer.Argument(help="A tlog-tiles directory or an http(s) URL.")],
    key: LogKey,
    state: Annotated[Path, typer.Option(help="File holding the last checkpoint trusted.")],
    witness: Witnesses = None,
    quorum: Quorum = None,
    evidence: Annotated[
        Path | None,
        typer.Option(help="Where to write fork evidence (default: STATE.evidence.json)."),
    ] = None,
    watch: Annotated[bool, typer.Option(help="Keep following the log; alert, never exit.")] = False,
    interval: Annotated[
        float, typer.Option(help="Seconds between rounds with --watch.", min=0.1)
    ] = 10.0,
) -> None:
    """Follow a log: verify new entries and consistency; write evidence if it forks."""
    from ombud.cli.monitor import run_monitor

    run_monitor(source, key, witness or [], quorum, state, evidence, watch, interval)


@app.command("verify-evidence")
def verify_evidence(
    file: Annotated[Path, typer.Argument(help="An evidence file written by a monitor or witness.")],
    key: LogKey,
) -> None:
    """Check fork evidence: exit 0 if it proves the log signed two irreconcilable trees."""
    from ombud.cli.monitor import run_verify_evidence

    run_verify_evidence(file, key)
