"""MQTT ingest: signed observations on ``ombud/v1/<device_id>/attrs``, through the same intake.

Threat model: the broker is a relay, not an authority — anyone who can publish to it can
publish anything, so every message goes through ``Intake`` exactly like an HTTP request (the
device's signature, counter and registration decide), and the topic's device id must be the
device that signed. The topic convention is the FIWARE IoT Agent's, with a per-device
signature where the IoT Agent has one shared API key per device group.

Delivery: QoS 1 on a persistent session, with PUBACK sent only once the observation is committed
(or refused for good) — so a crash or a database outage loses nothing the device was told was
delivered: the broker redelivers what was not acknowledged. A shared subscription can hand one
device's messages to two workers that store them out of order, so counters are checked with a
reordering window (``ingest.mqtt_reorder_window``): a counter below the device's highest is
accepted once if it was never seen, and refused as a replay otherwise. QoS 1 redelivers what
*was* stored too (a PUBACK lost on the way); the device counter makes that idempotent (a
``Duplicate`` verdict, acknowledged, stored once). Several workers share the load through an
MQTT shared subscription (``$share/<group>/ombud/v1/+/attrs``): each message goes to one of
them. Messages are handled in arrival order in small batches, and acknowledged in that order.

A persistent session belongs to a client id, and a session left behind keeps its place in the
shared group: the broker goes on handing it every n-th message, queued for a worker that never
returns. So the default client id is stable — derived from the host, the database and the group
— and a restarted worker resumes its own session; run further workers with their own stable
``--client-id``. ``stop(forget_session=True)`` removes a session for good.

Drops: a PUBACK from the broker means the *broker* holds the message. Mosquitto queues at most
``max_queued_messages`` (1,000 by default) per session and drops acknowledged messages past
that, e.g. the share of a worker that is restarting. Each worker therefore reads the broker's
``$SYS/broker/publish/messages/dropped`` counter (``ombud.ingest.broker_health``), logs every
increase as an ERROR and records it for ``/metrics``; the configuration ombud ships
(``broker_health.MOSQUITTO_CONFIG``) sizes the queues so that it stays at zero, and a restarted
worker is back in under a second (``ombud.ingest.model_cache``).

Broker restarts: Mosquitto (checked with 2.0.11) restores a persistent session after a restart
but not its *shared* subscriptions, so what devices publish between the broker's return and the
workers' re-subscribing matches no subscription and is dropped — after the broker acknowledged
it to the device. A single worker can subscribe without sharing (``group=None``, ``ombud ingest
mqtt --exclusive``): its ordinary subscription is restored with the session, and nothing the
broker acknowledged is lost across a restart (tests/ingest/test_restarts.py shows both).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import queue
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ombud.canonical import parse_json
from ombud.errors import (
    ConfigError,
    MalformedError,
    OmbudError,
    StorageError,
    UnavailableError,
)
from ombud.ingest.broker_health import SYS_DROPPED, SYS_UPTIME, BrokerWatch
from ombud.ingest.intake import Accepted, Duplicate, Intake, Refused, Verdict

__all__ = [
    "TOPIC_FILTER",
    "MqttIngest",
    "MqttStats",
    "default_client_id",
    "parse_broker",
    "topic_for",
]

logger = logging.getLogger("ombud.ingest.mqtt")

TOPIC_FILTER = "ombud/v1/+/attrs"
_TOPIC = re.compile(r"ombud/v1/([^/]+)/attrs")
MAX_PAYLOAD = 1 << 20
MAX_DEPTH = 16
MAX_QUEUED_BYTES = 64 << 20
"""Payload bytes received and not yet taken by the worker. Past it a QoS 0 message is shed
(at most once: nothing was promised) and a QoS 1 message waits, unacknowledged, for room."""


def default_client_id(database: str, group: str | None) -> str:
    """A client id stable across restarts of the same worker (host, database, group)."""
    seed = "\n".join((socket.gethostname(), database, group or "")).encode()
    return f"ombud-ingest-{hashlib.sha256(seed).hexdigest()[:16]}"


def topic_for(device_id: str) -> str:
    return f"ombud/v1/{device_id}/attrs"


def parse_broker(url: str) -> tuple[str, int]:
    """``mqtt://host[:port]`` → (host, port)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise ConfigError(f"broker {url!r} is not mqtt://HOST[:PORT]")
    try:
        port = parts.port or 1883
    except ValueError:
        raise ConfigError(f"broker {url!r} has an invalid port") from None
    return parts.hostname, port


@dataclass
class MqttStats:
    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    refused: int = 0
    retries: int = 0
    shed: int = 0
    """QoS 0 messages dropped unread because the worker was behind (``MAX_QUEUED_BYTES``)."""
    refusals: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Message:
    mid: int
    qos: int
    topic: str
    payload: bytes


class MqttIngest:
    """One ingest worker: subscribe, check and store, acknowledge. Start with ``start``."""

    def __init__(
        self,
        intake: Intake,
        broker: str,
        *,
        group: str | None = "ombud",
        client_id: str | None = None,
        batch: int = 200,
        max_entities: int = 1000,
        reorder_window: int = 1024,
        sleep: Callable[[float], None] = time.sleep,
        watch_broker: bool = True,
        sys_grace_s: float = 30.0,
    ) -> None:
        """``watch_broker``: read the broker's dropped-message counter (``$SYS``), log its
        increases and record them in the deployment's database; ``sys_grace_s``: how long to
        wait for it before saying (once) that the broker publishes none."""
        self.intake = intake
        self.host, self.port = parse_broker(broker)
        self.group = group
        self.topic_filter = TOPIC_FILTER if group is None else f"$share/{group}/{TOPIC_FILTER}"
        self.batch = batch
        self.max_entities = max_entities
        self.reorder_window = reorder_window
        self.stats = MqttStats()
        self._sleep = sleep
        self._queue: queue.Queue[_Message | None] = queue.Queue()
        self._queued_bytes = 0
        self._room = threading.Condition()
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._worker = threading.Thread(target=self._run, name="ombud-mqtt-ingest", daemon=True)
        self.client_id = client_id or default_client_id(intake.log.store.db.name, group)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=False,  # a persistent session: unacknowledged messages wait for us
            manual_ack=True,
        )
        self.client.max_inflight_messages_set(1000)
        self.client.reconnect_delay_set(min_delay=1, max_delay=10)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.watch: BrokerWatch | None = (
            BrokerWatch(
                f"{self.host}:{self.port}",
                self.client_id,
                intake.log.store.db,
                grace_s=sys_grace_s,
            )
            if watch_broker
            else None
        )

    # --- paho callbacks (network thread) --------------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            logger.error("broker %s:%d refused the connection: %s", self.host, self.port, reason)
            return
        # One SUBSCRIBE, one round trip: the observations, then (for the watch) the broker's
        # uptime before its dropped counter, so that retained values arrive in that order.
        topics = [(self.topic_filter, 1)]
        if self.watch is not None:
            topics += [(SYS_UPTIME, 0), (SYS_DROPPED, 0)]
        client.subscribe(topics)

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any
    ) -> None:
        if reasons[0].is_failure:
            logger.error("the broker refused the subscription: %s", reasons[0])
            return
        if self.watch is not None:
            self.watch.subscribed(not any(r.is_failure for r in reasons[1:]))
        self._subscribed.set()
        logger.info(
            "subscribed to %s on %s:%d as %s",
            self.topic_filter, self.host, self.port, self.client_id,
        )  # fmt: skip

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic.startswith("$SYS/"):
            if self.watch is not None:  # QoS 0: nothing to acknowledge
                self.watch.on_message(
                    message.topic, bytes(message.payload), retained=bool(message.retain)
                )
            return
        payload = bytes(message.payload)
        with self._room:
            # The broker bounds QoS 1 messages in flight, but not QoS 0 ones: a flood of them
            # once grew this queue (and the worker's memory) without bound.
            if self._queued_bytes and self._queued_bytes + len(payload) > MAX_QUEUED_BYTES:
                if message.qos == 0:
                    self.stats.shed += 1
                    if self.stats.shed == 1:
                        logger.warning("shedding QoS 0 messages: the worker is behind")
                    return
                while (
                    self._queued_bytes
                    and self._queued_bytes + len(payload) > MAX_QUEUED_BYTES
                    and not self._stop.is_set()
                ):
                    self._room.wait(1.0)
            self._queued_bytes += len(payload)
        self._queue.put(_Message(message.mid, message.qos, message.topic, payload))

    def _taken(self, message: _Message) -> None:
        with self._room:
            self._queued_bytes -= len(message.payload)
            self._room.notify_all()

    # --- the worker --------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Connect, subscribe and start handling messages (returns once subscribed)."""
        if self.watch is not None:
            self.watch.begin()
        try:
            self.client.connect(self.host, self.port, keepalive=30)
        except OSError as exc:
            raise UnavailableError(
                f"cannot reach the broker {self.host}:{self.port}: {exc}"
            ) from exc
        self.client.loop_start()
        self._worker.start()
        if not self._subscribed.wait(timeout):
            self.stop()
            raise UnavailableError(f"no subscription on {self.host}:{self.port} after {timeout} s")

    def stop(self, *, forget_session: bool = False) -> None:
        """Finish the messages in hand, then disconnect (unhandled ones stay with the broker).

        ``forget_session`` then ends the persistent session too: the broker drops this
        worker's place in the group and anything queued for it (only for workers retired for
        good).
        """
        self._stop.set()
        with self._room:
            self._room.notify_all()
        self._queue.put(None)
        if self._worker.is_alive():
            self._worker.join()
        if self.watch is not None:
            self.watch.tick(force=True)
        with contextlib.suppress(Exception):
            self.client.disconnect()
        self.client.loop_stop()
        if forget_session:
            cleaner = mqtt.Client(
                CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=True
            )
            with contextlib.suppress(OSError):
                cleaner.connect(self.host, self.port)
                cleaner.loop(1.0)
                cleaner.disconnect()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.watch is not None:
                self.watch.tick()
            try:
                first = self._queue.get(timeout=1.0)
            except queue.Empty:
                continue
            if first is None:
                break
            self._taken(first)
            messages = [first]
            while len(messages) < self.batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._stop.set()
                    break
                self._taken(item)
                messages.append(item)
            self._handle(messages)

    def _handle(self, messages: list[_Message]) -> None:
        """Store the messages' entities, at most ``max_entities`` a submission (as the HTTP
        API's batches), then acknowledge every message."""
        entities: list[object] = []
        senders: list[str] = []  # the device id of each entity's topic
        owners: list[int] = []  # which message each entity came from
        refused: dict[int, OmbudError] = {}

        def flush() -> None:
            verdicts = self._submit(entities, senders)
            for verdict, position in zip(verdicts, owners, strict=True):
                if isinstance(verdict, Accepted):
                    self.stats.accepted += 1
                elif isinstance(verdict, Duplicate):
                    self.stats.duplicates += 1
                elif isinstance(verdict, Refused):
                    refused.setdefault(position, verdict.error)
            entities.clear()
            senders.clear()
            owners.clear()

        try:
            for position, message in enumerate(messages):
                try:
                    items = self._decode(message)
                except MalformedError as exc:
                    refused[position] = exc
                    continue
                if len(entities) + len(items) > self.max_entities:
                    flush()
                entities += items
                senders += [message.topic.split("/")[2]] * len(items)
                owners += [position] * len(items)
            flush()
        except (StorageError, UnavailableError):
            # Stopped during an outage: nothing is acknowledged, so the broker redelivers every
            # message (what was stored already comes back as duplicates).
            return
        for position, error in refused.items():
            self.stats.refused += 1
            # Counted by the error's type, not its text: the text quotes what the sender chose
            # (a topic's device id), so one key per message would grow without bound.
            kind = type(error).__name__
            self.stats.refusals[kind] = self.stats.refusals.get(kind, 0) + 1
            logger.warning(
                "refused a message on %s: %s", messages[position].topic[:120], str(error)[:500]
            )
        self.stats.received += len(messages)
        for message in messages:
            if message.qos > 0:
                self.client.ack(message.mid, message.qos)

    def _submit(self, entities: list[object], senders: list[str]) -> list[Verdict]:
        """Verdicts for a batch. Storage outages are retried until storage is back (nothing is
        acknowledged meanwhile); anything else that fails a whole batch — a value the database
        refuses, a bug — is narrowed down entity by entity, so one poison message neither blocks
        the queue nor takes good messages with it."""
        if not entities:
            return []
        try:
            return self._retrying(lambda: self.intake.submit(
                entities, sent_by=senders, reorder_window=self.reorder_window
            ))  # fmt: skip
        except (StorageError, UnavailableError):
            raise
        except OmbudError as exc:
            if len(entities) == 1:
                return [Refused(None, exc)]
        except Exception as exc:
            if len(entities) == 1:
                # Refused and acknowledged, like any entity narrowed down to: raised, it would
                # end the worker's thread and nothing more would be consumed.
                logger.exception("an observation could not be handled")
                return [Refused(None, MalformedError(f"it could not be handled: {exc}"))]
        verdicts: list[Verdict] = []
        for entity, sender in zip(entities, senders, strict=True):
            verdicts += self._submit([entity], [sender])
        return verdicts

    def _retrying(self, submit: Callable[[], list[Verdict]]) -> list[Verdict]:
        delay = 0.5
        while True:
            try:
                return submit()
            except (StorageError, UnavailableError) as exc:
                # Nothing was acknowledged; hold the messages and retry until storage is back.
                self.stats.retries += 1
                logger.warning("storage unavailable, retrying in %.1f s: %s", delay, exc)
                if self._stop.is_set():
                    raise
                self._sleep(delay)
                delay = min(delay * 2, 5.0)

    def _decode(self, message: _Message) -> list[object]:
        match = _TOPIC.fullmatch(message.topic)
        if match is None:
            raise MalformedError(f"topic {message.topic[:80]!r} is not ombud/v1/<device_id>/attrs")
        if len(message.payload) > MAX_PAYLOAD:
            raise MalformedError(f"payloads are limited to {MAX_PAYLOAD} bytes")
        value = parse_json(message.payload, "the payload", max_depth=MAX_DEPTH)
        items = value if isinstance(value, list) else [value]
        if len(items) > self.max_entities:
            raise MalformedError(
                f"a message carries at most {self.max_entities} entities, not {len(items)}: "
                "nothing of it was stored; split it"
            )
        if not all(isinstance(item, dict) for item in items):
            raise MalformedError("the payload is an entity or an array of entities")
        return list(items)
