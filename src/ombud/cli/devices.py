"""``ombud device …``: device signing keys, and the registry of devices on the ledger.

Threat model: see ``ombud.cli``. A device's secret key is written to its own file, mode 0600,
and never printed; only its public did:key is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ombud.cli.options import DataDir
from ombud.deployment import Deployment

__all__ = ["device_app"]

device_app = typer.Typer(help="Sensors and their signing keys.", no_args_is_help=True)


def _deployment(data_dir: Path) -> Deployment:
    """The deployment, its log without the signing key (the server's next checkpoint covers
    what a command appends); parts are built on first use, so registering a device does not
    load the Smart Data Models."""
    return Deployment.open(data_dir, with_key=False)


@device_app.command("keygen")
def device_keygen(
    out: Annotated[Path, typer.Option(help="File to write the device's secret key to (0600).")],
) -> None:
    """Create a device signing key (Ed25519, Multikey) and print its did:key."""
    from ombud.ingest.signer import generate_device_key

    typer.echo(generate_device_key(out).did)


@device_app.command("add")
def device_add(
    data_dir: DataDir,
    device_id: Annotated[str, typer.Option("--id", help="The device's id.")],
    model: Annotated[str, typer.Option("--type", help="Smart Data Model of its observations.")],
    key: Annotated[str, typer.Option(help="Its public key, did:key:z6Mk….")],
    district: Annotated[
        str, typer.Option(help="District id or grid cell (coarse; never an address).")
    ],
    owner: Annotated[str, typer.Option(help="Organisation or account id owning it.")] = "city",
) -> None:
    """Register a device (recorded on the ledger as device.registered)."""
    from ombud.dataintegrity.multikey import DidKey
    from ombud.ingest.devices import Device

    with _deployment(data_dir) as deployment:
        device = Device(device_id, DidKey.parse(key), model, district, owner)
        record = deployment.registry.add(device)
    typer.echo(
        f"registered device {device_id} ({model}, district {district}): "
        f"device.registered at ledger index {record.registered_index}"
    )


@device_app.command("revoke")
def device_revoke(
    data_dir: DataDir,
    device_id: Annotated[str, typer.Option("--id", help="The device's id.")],
    reason: Annotated[str, typer.Option(help="Why (goes on the ledger).")],
) -> None:
    """Revoke a device: its later observations are refused (device.revoked on the ledger)."""
    with _deployment(data_dir) as deployment:
        record = deployment.registry.revoke(device_id, reason)
    typer.echo(f"revoked device {device_id}: device.revoked at ledger index {record.revoked_index}")


@device_app.command("list")
def device_list(
    data_dir: DataDir,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
) -> None:
    """List the registered devices."""
    from rich.console import Console
    from rich.table import Table

    with _deployment(data_dir) as deployment:
        devices = list(deployment.registry.list())
    if as_json:
        typer.echo(json.dumps([d.to_json() for d in devices], indent=2))
        return
    table = Table("id", "type", "district", "owner", "status", "last counter", "key")
    for d in devices:
        table.add_row(
            d.device.id,
            d.device.model,
            d.device.district,
            d.device.owner,
            d.device.status.value,
            "" if d.last_counter is None else str(d.last_counter),
            d.device.key.did,
        )
    Console(emoji=False, markup=False).print(table)
