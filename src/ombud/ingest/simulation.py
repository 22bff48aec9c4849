"""The sensor simulator's I/O shell: register a simulated fleet, pace it, send its observations
to a server over HTTP (NGSI-LD batch upsert) or to a broker over MQTT (QoS 1).

Threat model: it acts as a set of honest devices and as an operator registering them; it holds
the devices' secret keys in memory only (derived from a seed, never written), and registers
through the admin API with a scoped token, or directly in a deployment it is given.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ombud.errors import AlreadyExistsError, ConfigError, UnavailableError
from ombud.ingest.devices import DeviceRegistry
from ombud.ingest.fleet import DISTRICTS, SimulatedSensor, make_fleet
from ombud.ingest.models import MODELS

__all__ = ["SendResult", "make_simulated_fleet", "paced_batches", "register_fleet", "send"]


@dataclass(frozen=True)
class SendResult:
    accepted: int
    refused: int


def make_simulated_fleet(
    devices: int,
    seed: int | str,
    *,
    clock: Callable[[], datetime],
    prefix: str = "sim",
    models: tuple[str, ...] = MODELS,
    districts: tuple[str, ...] = tuple(DISTRICTS),
) -> list[SimulatedSensor]:
    """``devices`` sensors whose keys derive from ``seed``; counters start from the clock (in
    microseconds), so a restarted simulator continues above what its devices sent before
    instead of replaying old counters."""
    fleet = list(
        make_fleet(
            devices,
            random.Random(seed),
            clock=clock,
            prefix=prefix,
            models=models,
            districts=districts,
        )
    )
    start = time.time_ns() // 1000
    for sensor in fleet:
        sensor.signer.counter = start
    return fleet


def register_fleet(
    fleet: list[SimulatedSensor],
    *,
    registry: DeviceRegistry | None = None,
    admin_url: str | None = None,
    token: str | None = None,
) -> int:
    """Register the devices not yet registered; returns how many were new."""
    new = 0
    if registry is not None:
        for sensor in fleet:
            try:
                registry.add(sensor.device, actor="simulator")
                new += 1
            except AlreadyExistsError:
                pass
        return new
    if admin_url is None or token is None:
        raise ConfigError("register with a deployment, or with --admin-url and --token")
    import httpx

    with httpx.Client(
        base_url=admin_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
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
            if r.status_code == 201:
                new += 1
            elif r.status_code != 409:
                raise UnavailableError(f"registering {d.id}: HTTP {r.status_code} {r.text[:200]}")
    return new


def paced_batches(
    fleet: list[SimulatedSensor], rate: float, count: int | None, now: Callable[[], datetime]
) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Batches of ``(device id, signed observation)``, round-robin over the fleet, paced at
    ``rate`` observations per second in all (0: as fast as they can be signed)."""
    sent = 0
    started = time.monotonic()
    position = 0
    while count is None or sent < count:
        size = max(1, min(len(fleet), int(rate / 10) if rate else len(fleet)))
        if count is not None:
            size = min(size, count - sent)
        at = now()
        sensors = [fleet[(position + k) % len(fleet)] for k in range(size)]
        yield [(s.device.id, s.observe(at)) for s in sensors]
        position += size
        sent += size
        if rate:
            ahead = sent / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)


def send(
    fleet: list[SimulatedSensor],
    target: str,
    *,
    rate: float,
    count: int | None,
    clock: Callable[[], datetime],
    on_refusal: Callable[[str], None] = lambda message: None,
) -> SendResult:
    """Send the fleet's observations to ``http(s)://server`` or ``mqtt://broker``; ``clock``
    dates the readings."""
    batches = paced_batches(fleet, rate, count, clock)
    if target.startswith(("http://", "https://")):
        return _send_http(target, batches, on_refusal)
    if target.startswith("mqtt://"):
        return _send_mqtt(target, batches)
    raise ConfigError(f"target {target!r} is neither http(s)://… nor mqtt://…")


def _send_http(
    target: str,
    batches: Iterator[list[tuple[str, dict[str, Any]]]],
    on_refusal: Callable[[str], None],
) -> SendResult:
    import httpx

    accepted = refused = 0
    url = target.rstrip("/") + "/ngsi-ld/v1/entityOperations/upsert"
    with httpx.Client(timeout=60) as client:
        for batch in batches:
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
                for error in body["errors"]:
                    on_refusal(f"refused {error['entityId']}: {error['error']['detail']}")
            else:
                raise UnavailableError(f"{url} answered HTTP {r.status_code}: {r.text[:200]}")
    return SendResult(accepted, refused)


def _send_mqtt(target: str, batches: Iterator[list[tuple[str, dict[str, Any]]]]) -> SendResult:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from ombud.ingest.mqtt import parse_broker, topic_for

    host, port = parse_broker(target)
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    acknowledged: set[int] = set()
    client.on_publish = lambda c, u, mid, *rest: acknowledged.add(mid)
    client.max_queued_messages_set(0)
    client.connect(host, port)
    client.loop_start()
    published: list[int] = []
    try:
        for batch in batches:
            for device_id, entity in batch:
                published.append(
                    client.publish(topic_for(device_id), json.dumps(entity), qos=1).mid
                )
        deadline = time.monotonic() + 60
        while not acknowledged.issuperset(published):
            if time.monotonic() > deadline:
                raise UnavailableError("the broker did not acknowledge every observation")
            time.sleep(0.01)
    finally:
        client.disconnect()
        client.loop_stop()
    return SendResult(len(published), 0)
