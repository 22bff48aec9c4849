"""``ombud device …``, ``ombud token …``, ``ombud ingest mqtt`` and ``ombud simulate sensors``.

Threat model: see ``ombud.cli``. A token is printed once, on stdout alone (so a script can
capture it), and never again: only its hash is kept. Device secret keys stay in their 0600
files; the simulator derives its devices' keys from a seed and never writes them anywhere.
"""

from __future__ import annotations

import json
import logging
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ombud.config import Settings
from ombud.errors import ConfigError, OmbudError, UnavailableError
from ombud.ingest.devices import Device, DeviceRegistry
from ombud.ingest.intake import open_intake
from ombud.ingest.sensors import SimulatedSensor, make_fleet
from ombud.integrity.multikey import DidKey

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


def _registry(data_dir: Path) -> tuple[DeviceRegistry, Callable[[], None]]:
    intake = open_intake(Settings.load(data_dir), clock=_now)
    return intake.registry, intake.log.close


def run_device_add(
    data_dir: Path, device_id: str, model: str, key: str, district: str, owner: str
) -> None:
    registry, close = _registry(data_dir)
    try:
        device = Device(device_id, DidKey.parse(key), model, district, owner)
        record = registry.add(device)
    finally:
        close()
    typer.echo(
        f"registered device {device_id} ({model}, district {district}): "
        f"device.registered at ledger index {record.registered_index}"
    )


def run_device_revoke(data_dir: Path, device_id: str, reason: str) -> None:
    registry, close = _registry(data_dir)
    try:
        record = registry.revoke(device_id, reason)
    finally:
        close()
    typer.echo(f"revoked device {device_id}: device.revoked at ledger index {record.revoked_index}")


def run_device_list(data_dir: Path, as_json: bool) -> None:
    registry, close = _registry(data_dir)
    try:
        devices = list(registry.list())
    finally:
        close()
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


def _tokens(data_dir: Path):  # type: ignore[no-untyped-def]
    from ombud.api.auth import TokenStore
    from ombud.ledger.logdir import open_database_of

    settings = Settings.load(data_dir)
    db = open_database_of(data_dir, settings)
    return TokenStore(db), db.close


def run_token_create(data_dir: Path, scopes: list[str], note: str) -> None:
    store, close = _tokens(data_dir)
    try:
        info, token = store.create(set(scopes), note, now=_now())
    finally:
        close()
    print(
        f"token {info.id} with scope {' '.join(sorted(info.scopes))}; shown once:", file=sys.stderr
    )
    typer.echo(token)


def run_token_list(data_dir: Path) -> None:
    store, close = _tokens(data_dir)
    try:
        tokens = list(store.list())
    finally:
        close()
    table = Table("id", "scopes", "created", "revoked", "note")
    for t in tokens:
        table.add_row(
            t.id, " ".join(sorted(t.scopes)), t.created, "yes" if t.revoked else "", t.note
        )
    Console(emoji=False, markup=False).print(table)


def run_token_revoke(data_dir: Path, token_id: str) -> None:
    store, close = _tokens(data_dir)
    try:
        store.revoke(token_id)
    finally:
        close()
    typer.echo(f"revoked token {token_id}")


def run_ingest_mqtt(data_dir: Path, broker: str, group: str | None, client_id: str | None) -> None:
    from ombud.ingest.mqtt import MqttIngest

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = Settings.load(data_dir)
    intake = open_intake(settings, clock=_now)
    worker = MqttIngest(
        intake,
        broker,
        group=group,
        client_id=client_id,
        reorder_window=settings.ingest.mqtt_reorder_window,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        worker.start()
        while not stop.wait(10):
            s = worker.stats
            logging.getLogger("ombud.ingest.mqtt").info(
                "received %d, accepted %d, duplicates %d, refused %d",
                s.received, s.accepted, s.duplicates, s.refused,
            )  # fmt: skip
    finally:
        worker.stop()
        intake.log.close()


# --- the simulator ---------------------------------------------------------------------------


def _fleet(devices: int, seed: int) -> list[SimulatedSensor]:
    fleet = list(make_fleet(devices, random.Random(seed), clock=_now))
    # The counter starts from the clock (microseconds), so a restarted simulator's devices
    # continue above what they sent before instead of replaying old counters.
    start = time.time_ns() // 1000
    for sensor in fleet:
        sensor.signer.counter = start
    return fleet


def _register(
    fleet: list[SimulatedSensor], data_dir: Path | None, admin: str | None, token: str | None
) -> None:
    if data_dir is not None:
        registry, close = _registry(data_dir)
        try:
            for sensor in fleet:
                try:
                    registry.get(sensor.device.id)
                except OmbudError:
                    registry.add(sensor.device, actor="simulator")
        finally:
            close()
    elif admin is not None:
        import httpx

        if token is None:
            raise ConfigError("--admin-url needs --token (scope devices:write)")
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=admin, headers=headers, timeout=10) as client:
            for sensor in fleet:
                d = sensor.device
                body = {
                    "id": d.id,
                    "type": d.model,
                    "key": d.key.did,
                    "district": d.district,
                    "owner": d.owner,
                }
                r = client.post("/admin/devices", json=body)
                if r.status_code not in (201, 409):
                    raise UnavailableError(f"registering {d.id}: {r.status_code} {r.text[:200]}")


def _observations(
    fleet: list[SimulatedSensor], rate: float, count: int | None
) -> Iterator[list[tuple[str, dict[str, object]]]]:
    """Batches of signed observations, paced at ``rate`` per second in all (0: unpaced)."""
    sent = 0
    started = time.monotonic()
    i = 0
    while count is None or sent < count:
        size = max(1, min(len(fleet), int(rate / 10) if rate else len(fleet)))
        if count is not None:
            size = min(size, count - sent)
        now = _now()
        sensors = [fleet[(i + k) % len(fleet)] for k in range(size)]
        batch = [(sensor.device.id, sensor.observe(now)) for sensor in sensors]
        i += size
        sent += size
        yield batch
        if rate:
            ahead = sent / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)


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
    fleet = _fleet(devices, seed)
    _register(fleet, data_dir, admin_url, token)
    accepted = refused = 0
    if target.startswith(("http://", "https://")):
        import httpx

        url = target.rstrip("/") + "/ngsi-ld/v1/entityOperations/upsert"
        with httpx.Client(timeout=30) as client:
            for batch in _observations(fleet, rate, count):
                r = client.post(
                    url,
                    content=json.dumps([entity for _, entity in batch]),
                    headers={"Content-Type": "application/json"},
                )
                if r.status_code in (201, 204):
                    accepted += len(batch)
                elif r.status_code == 207:
                    body = r.json()
                    accepted += len(body["success"])
                    refused += len(body["errors"])
                    for error in body["errors"][:3]:
                        print(
                            f"refused {error['entityId']}: {error['error']['detail']}",
                            file=sys.stderr,
                        )
                else:
                    raise UnavailableError(f"{url} answered {r.status_code}: {r.text[:200]}")
    elif target.startswith("mqtt://"):
        import paho.mqtt.client as mqtt

        from ombud.ingest.mqtt import parse_broker, topic_for

        host, port = parse_broker(target)
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"ombud-sim-{seed}")
        client.max_inflight_messages_set(200)
        client.connect(host, port)
        client.loop_start()
        try:
            pending = []
            for batch in _observations(fleet, rate, count):
                for device_id, entity in batch:
                    pending.append(client.publish(topic_for(device_id), json.dumps(entity), qos=1))
                if len(pending) > 2000:
                    for info in pending:
                        info.wait_for_publish(30)
                    accepted += len(pending)
                    pending.clear()
            for info in pending:
                info.wait_for_publish(30)
            accepted += len(pending)
        finally:
            client.disconnect()
            client.loop_stop()
    else:
        raise ConfigError(f"target {target!r} is neither http(s)://… nor mqtt://…")
    verb = "published" if target.startswith("mqtt://") else "accepted"
    typer.echo(f"{devices} devices: {accepted} observations {verb}, {refused} refused")
