"""``ombud simulate sensors``: simulated devices with daily rhythms, signing what they send.

Threat model: see ``ombud.cli``. The simulator derives its devices' keys from a seed and never
writes them anywhere.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ombud.clock import utc_now
from ombud.deployment import Deployment

__all__ = ["simulate_app"]

simulate_app = typer.Typer(help="Simulated sources of data.", no_args_is_help=True)


@simulate_app.command("sensors")
def simulate_sensors(
    target: Annotated[str, typer.Option(help="http://HOST:PORT of `ombud serve`, or mqtt://…")],
    devices: Annotated[int, typer.Option(help="Simulated devices.", min=1, max=100_000)] = 20,
    rate: Annotated[
        float, typer.Option(help="Observations per second, all devices together (0: flat out).")
    ] = 10.0,
    count: Annotated[
        int | None, typer.Option(help="Stop after this many observations.", min=1)
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the devices' keys and readings.")] = 2026,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Register the devices in this deployment.")
    ] = None,
    admin_url: Annotated[
        str | None, typer.Option(help="Or register them through this server's admin API.")
    ] = None,
    token: Annotated[str | None, typer.Option(help="Token with devices:write.")] = None,
) -> None:
    """Simulated sensors with daily rhythms, each signing its observations."""
    from ombud.ingest.simulation import make_simulated_fleet, register_fleet, send

    fleet = make_simulated_fleet(devices, seed, clock=utc_now)
    if data_dir is not None:
        with Deployment.open(data_dir, with_key=False) as deployment:
            register_fleet(fleet, registry=deployment.registry)
    elif admin_url is not None:
        register_fleet(fleet, admin_url=admin_url, token=token)
    else:
        print(
            "ombud: note: the devices are not registered here (no --data-dir, no --admin-url); "
            "the server refuses observations of devices it does not know",
            file=sys.stderr,
        )
    result = send(
        fleet,
        target,
        rate=rate,
        count=count,
        clock=utc_now,
        on_refusal=lambda message: print(message, file=sys.stderr),
    )
    verb = "published" if target.startswith("mqtt://") else "accepted"
    typer.echo(
        f"{devices} devices: {result.accepted} observations {verb}, {result.refused} refused"
    )
