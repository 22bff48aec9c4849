"""``ombud ingest mqtt``: a worker storing signed observations from the MQTT broker.

Threat model: see ``ombud.cli``. The worker is restarted by a supervisor after a crash and its
share of the fleet queues at the broker meanwhile, so it imports only what a worker needs (not
the API, not rich) and takes the compiled Smart Data Models from the deployment's cache.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import TYPE_CHECKING, Annotated

import typer

from ombud.cli.options import DataDir
from ombud.deployment import Deployment

if TYPE_CHECKING:
    from ombud.ingest.mqtt import MqttIngest

__all__ = ["ingest_app"]

ingest_app = typer.Typer(help="Sensor ingest workers.", no_args_is_help=True)


@ingest_app.command(
    "mqtt",
    help="Ingest signed observations from ombud/v1/<device_id>/attrs (QoS 1, shared).\n\n"
    "Run two or more workers in the same group, each with its own --client-id, under a "
    "supervisor that restarts them: while one is down the others go on storing, and the broker "
    "queues only the absent worker's share for it.\n\n"
    "Give the broker the configuration ombud ships (ombud/ingest/mosquitto/ombud.conf in the "
    "installed package): with Mosquitto's defaults it drops messages it has already "
    "acknowledged once 1,000 wait for one worker. Each worker watches the broker's "
    "$SYS/broker/publish/messages/dropped counter, logs any increase as an ERROR and records "
    "it for the /metrics of `ombud serve` (ombud_mqtt_broker_dropping).",
)
def ingest_mqtt(
    data_dir: DataDir,
    broker: Annotated[str, typer.Option(help="mqtt://HOST[:PORT]")] = "mqtt://127.0.0.1:1883",
    group: Annotated[
        str, typer.Option(help="Shared-subscription group: workers of one group share messages.")
    ] = "ombud",
    exclusive: Annotated[
        bool,
        typer.Option(
            help="One worker, an ordinary (unshared) subscription: survives broker restarts "
            "that drop shared subscriptions (Mosquitto 2.0)."
        ),
    ] = False,
    client_id: Annotated[
        str | None,
        typer.Option(
            help="MQTT client id: its persistent session keeps what arrives while it is down. "
            "Default: derived from host, database and group; give each further worker its own."
        ),
    ] = None,
) -> None:
    """Ingest signed observations from ombud/v1/<device_id>/attrs (QoS 1, shared)."""
    from ombud.ingest.mqtt import MqttIngest

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # The log without the signing key: the server's next checkpoint covers what is appended.
    with Deployment.open(data_dir, with_key=False) as deployment:
        _serve_mqtt(deployment, MqttIngest, broker, None if exclusive else group, client_id)


def _serve_mqtt(
    deployment: Deployment,
    worker_class: type[MqttIngest],
    broker: str,
    group: str | None,
    client_id: str | None,
    stats_every_s: float = 10.0,
) -> None:
    logger = logging.getLogger("ombud.ingest.mqtt")
    worker = worker_class(
        deployment.intake,
        broker,
        group=group,
        client_id=client_id,
        max_entities=deployment.settings.ingest.max_batch,
        reorder_window=deployment.settings.ingest.mqtt_reorder_window,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        # A resumed session's backlog arrives before the broker's SUBACK, and on a loaded
        # machine that can take a while: a worker gives up on the subscription only after 60 s.
        worker.start(timeout=60.0)
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
