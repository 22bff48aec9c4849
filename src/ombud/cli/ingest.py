"""``ombud device …``, ``ombud token …``, ``ombud ingest mqtt`` and ``ombud simulate sensors``.

Threat model: see ``ombud.cli``. A token is printed once, on stdout alone (so a script can
capture it), and never again: only its hash is kept. Device secret keys stay in their 0600
files; the simulator derives its devices' keys from a seed and never writes them anywhere.

``ombud ingest mqtt`` is restarted by a supervisor after a crash and its share of the fleet
queues at the broker meanwhile, so it imports only what a worker needs (not the API, not rich)
and takes the compiled Smart Data Models from the deployment's cache.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ombud.dataintegrity.multikey import DidKey
from ombud.ingest.devices import Device

if TYPE_CHECKING:
    from ombud.deployment import Deployment
    from ombud.ingest.mqtt import MqttIngest

__all__ = [
    "run_device_add",
    "run_device_list",
    "run_device_revoke",
    "run_ingest_mqtt",
    "run_simulate",
    "run_token_create",
    "run_token_list",
    "run_token_revoke",
]


def _now() -> datetime:
    return datetime.now(UTC)


def _deployment(data_dir: Path) -> Deployment:
    """The deployment, its log without the signing key (the server's next checkpoint covers
    what a command appends); parts are built on first use, so registering a device does not
    load the Smart Data Models."""
    from ombud.deployment import Deployment

    return Deployment.open(data_dir, with_key=False)


def run_device_add(
    data_dir: Path, device_id: str, model: str, key: str, district: str, owner: str
) -> None:
    with _deployment(data_dir) as deployment:
        device = Device(device_id, DidKey.parse(key), model, district, owner)
        record = deployment.registry.add(device)
    typer.echo(
        f"registered device {device_id} ({model}, district {district}): "
        f"device.registered at ledger index {record.registered_index}"
    )


def run_device_revoke(data_dir: Path, device_id: str, reason: str) -> None:
    with _deployment(data_dir) as deployment:
        record = deployment.registry.revoke(device_id, reason)
    typer.echo(f"revoked device {device_id}: device.revoked at ledger index {record.revoked_index}")


def run_device_list(data_dir: Path, as_json: bool) -> None:
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


def run_token_create(data_dir: Path, scopes: list[str], note: str) -> None:
    with _deployment(data_dir) as deployment:
        info, token = deployment.tokens.create(set(scopes), note, now=deployment.clock())
    print(
        f"token {info.id} with scope {' '.join(sorted(info.scopes))}; shown once:", file=sys.stderr
    )
    typer.echo(token)


def run_token_list(data_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    with _deployment(data_dir) as deployment:
        tokens = list(deployment.tokens.list())
    table = Table("id", "scopes", "created", "revoked", "note")
    for t in tokens:
        table.add_row(
            t.id, " ".join(sorted(t.scopes)), t.created, "yes" if t.revoked else "", t.note
        )
    Console(emoji=False, markup=False).print(table)


def run_token_revoke(data_dir: Path, token_id: str) -> None:
    with _deployment(data_dir) as deployment:
        deployment.tokens.revoke(token_id)
    typer.echo(f"revoked token {token_id}")


def run_ingest_mqtt(
    data_dir: Path,
    broker: str,
    group: str | None,
    client_id: str | None,
    *,
    stats_every_s: float = 10.0,
) -> None:
    from ombud.ingest.mqtt import MqttIngest

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    with _deployment(data_dir) as deployment:
        _serve_mqtt(deployment, MqttIngest, broker, group, client_id, stats_every_s)


def _serve_mqtt(
    deployment: Deployment,
    worker_class: type[MqttIngest],
    broker: str,
    group: str | None,
    client_id: str | None,
    stats_every_s: float,
) -> None:
    logger = logging.getLogger("ombud.ingest.mqtt")
    worker = worker_class(
        deployment.intake,
        broker,
        group=group,
        client_id=client_id,
        reorder_window=deployment.settings.ingest.mqtt_reorder_window,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        worker.start()
        while not stop.wait(stats_every_s):
            s = worker.stats
            drops = "not visible (the broker publishes no $SYS)"
            if worker.watch is not None:
                seen = worker.watch.figures
                if seen.counter is not None:
                    drops = f"{seen.dropped_since_start} since start (counter {seen.counter})"
                elif seen.watching:
                    drops = "0 since start (the counter has not moved)"
                elif seen.watching is None:
                    drops = "not read yet"
            logger.info(
                "received %d, accepted %d, duplicates %d, refused %d; broker drops: %s",
                s.received, s.accepted, s.duplicates, s.refused, drops,
            )  # fmt: skip
    finally:
        worker.stop()


# --- the simulator ---------------------------------------------------------------------------


def run_simulate(
    devices: int,
    rate: float,
    target: str,
    count: int | None,
    seed: int,
    data_dir: Path | None,
    admin_url: str | None,
    token: str | None,
) -> None:
    from ombud.ingest.simulation import make_simulated_fleet, register_fleet, send

    fleet = make_simulated_fleet(devices, seed, clock=_now)
    if data_dir is not None:
        with _deployment(data_dir) as deployment:
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
        clock=_now,
        on_refusal=lambda message: print(message, file=sys.stderr),
    )
    verb = "published" if target.startswith("mqtt://") else "accepted"
    typer.echo(
        f"{devices} devices: {result.accepted} observations {verb}, {result.refused} refused"
    )
