"""Intake: the one path every observation takes, from HTTP or MQTT, into the store and ledger.

Threat model: everything that arrives is hostile until proven otherwise. The pure checks
(shape, schema, device, signature, time) run first, outside any lock; then, inside the one
write transaction that also appends the ledger events, the checks that depend on what was
stored: the device is still active, its counter grows (a replay or reordering is refused), the
entity is not another device's. Each entity of a batch gets its own verdict — nothing is
dropped silently — and an accepted observation is acknowledged only once its row and its
``observation.accepted`` event are committed together.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from ombud.base64url import b64url
from ombud.clock import to_micros
from ombud.database import Tx
from ombud.errors import (
    AlreadyExistsError,
    ForbiddenError,
    MalformedError,
    OmbudError,
    ReplayError,
)
from ombud.events import Event
from ombud.ingest.devices import DeviceRegistry, DeviceStatus
from ombud.ingest.models import ModelSpec, load_models
from ombud.ingest.observation import MAX_CLOCK_SKEW, Observation, check_observation
from ombud.integrity.checks import screen_entity
from ombud.ledger.log import Log
from ombud.sensors.observations import NewObservation, ObservationStore
from ombud.sensors.quarantine import QuarantineStore, quarantine_event

__all__ = [
    "Accepted",
    "Duplicate",
    "Intake",
    "Refused",
    "Verdict",
    "VerdictCounts",
]


@dataclass(frozen=True)
class Accepted:
    entity_id: str
    device: str
    counter: int
    ledger_index: int
    created_entity: bool
    """True when this observation created the entity (its first observation)."""
    quarantined: bool = False
    """Stored, but quarantined by a check (and excluded from aggregates)."""


@dataclass(frozen=True)
class Duplicate:
    """The very observation (same device, counter and bytes) was accepted before: nothing new
    is stored. MQTT treats this as success (QoS 1 redelivers); HTTP reports it as a replay."""

    entity_id: str
    device: str
    counter: int


@dataclass(frozen=True)
class Refused:
    entity_id: str | None
    error: OmbudError


Verdict = Accepted | Duplicate | Refused


_PARALLEL_MIN = 64
"""Batches at least this large have their signatures checked on several threads."""


class VerdictCounts:
    """How many observations this process accepted, found duplicated and refused (by error
    type), for ``/metrics``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.accepted = 0
        self.duplicates = 0
        self.refused: dict[str, int] = {}

    def add(self, verdicts: Sequence[Verdict]) -> None:
        with self._lock:
            for verdict in verdicts:
                if isinstance(verdict, Accepted):
                    self.accepted += 1
                elif isinstance(verdict, Duplicate):
                    self.duplicates += 1
                else:
                    reason = type(verdict.error).__name__
                    self.refused[reason] = self.refused.get(reason, 0) + 1


def _entity_id(entity: object) -> str | None:
    if isinstance(entity, Mapping) and isinstance(entity.get("id"), str):
        return str(entity["id"])[:256]
    return None


def _digest(canonical: bytes) -> str:
    return b64url(hashlib.sha256(canonical).digest())


def _event(o: Observation, now: datetime) -> bytes:
    """The ``observation.accepted`` leaf: who, which counter and entity, and the SHA-256 of the
    observation exactly as stored (base64url) — the reading itself stays off the ledger."""
    return Event(
        "observation.accepted",
        now,
        f"device:{o.device.id}",
        {
            "v": 1,
            "device": o.device.id,
            "counter": o.counter,
            "entity": o.entity_id,
            "type": o.device.model,
            "district": o.device.district,
            "digest": _digest(o.canonical),
        },
    ).to_bytes()


class Intake:
    """Checks and stores observations for one deployment (thread-safe)."""

    def __init__(
        self,
        log: Log,
        registry: DeviceRegistry,
        store: ObservationStore,
        *,
        quarantine: QuarantineStore,
        clock: Callable[[], datetime],
        models: Mapping[str, ModelSpec] | None = None,
        max_skew: timedelta = MAX_CLOCK_SKEW,
        threads: int | None = None,
    ) -> None:
        self.log = log
        self.registry = registry
        self.store = store
        self._clock = clock
        self._models = models if models is not None else load_models()
        self._max_skew = max_skew
        self.counts = VerdictCounts()
        self.quarantine = quarantine
        self._threads = threads if threads is not None else min(os.cpu_count() or 1, 8)
        self._pool = (
            ThreadPoolExecutor(self._threads, thread_name_prefix="ombud-check")
            if self._threads > 1
            else None
        )

    def close(self) -> None:
        """Stop the checking threads (work already handed to them finishes first)."""
        if self._pool is not None:
            self._pool.shutdown()

    def submit(
        self,
        entities: Sequence[object],
        *,
        create_only: bool = False,
        sent_by: Sequence[str] | None = None,
        reorder_window: int = 0,
    ) -> list[Verdict]:
        """One verdict per entity, in order. ``create_only`` refuses entities that exist
        (NGSI-LD create); otherwise a new observation of an entity updates it (upsert).
        ``sent_by`` names the device each entity claims to come from (an MQTT topic's device
        id): an entity signed by another device is refused.

        Counters must grow. ``reorder_window`` > 0 also accepts a counter up to that far below
        the device's highest one if it was never accepted — for transports that may reorder
        (MQTT shared subscriptions hand one device's messages to several workers). Replay
        protection is unchanged: each signed observation is accepted at most once, as in the
        anti-replay windows of IPsec (RFC 4303 §3.4.3) and DTLS (RFC 9147 §4.5.1).
        """
        now = self._clock()
        verdicts: list[Verdict | None] = [None] * len(entities)
        checked: list[tuple[int, Observation]] = []
        for position, outcome in self._check_all(entities, sent_by, now):
            if isinstance(outcome, Refused):
                verdicts[position] = outcome
            else:
                checked.append((position, outcome))
        if checked:
            self._store(checked, verdicts, now, create_only, reorder_window)
        result = [v for v in verdicts if v is not None]
        self.counts.add(result)
        return result

    def _check_all(
        self, entities: Sequence[object], sent_by: Sequence[str] | None, now: datetime
    ) -> list[tuple[int, Observation | Refused]]:
        """The pure checks of every entity, in order. Large batches are split over a thread
        per core: Ed25519 verification (half the work) runs outside the GIL."""
        positions = range(len(entities))
        if self._pool is None or len(entities) < _PARALLEL_MIN:
            return self._check_range(entities, sent_by, now, positions)
        step = -(-len(entities) // self._threads)
        chunks = [positions[i : i + step] for i in range(0, len(entities), step)]
        futures = [
            self._pool.submit(self._check_range, entities, sent_by, now, chunk) for chunk in chunks
        ]
        return [outcome for future in futures for outcome in future.result()]

    def _check_range(
        self,
        entities: Sequence[object],
        sent_by: Sequence[str] | None,
        now: datetime,
        positions: range,
    ) -> list[tuple[int, Observation | Refused]]:
        outcomes: list[tuple[int, Observation | Refused]] = []
        for position in positions:
            entity = entities[position]
            try:
                if not isinstance(entity, Mapping):
                    raise MalformedError("an entity is a JSON object")
                observation = check_observation(
                    entity,
                    devices=self.registry.by_key,
                    models=self._models,
                    now=now,
                    max_skew=self._max_skew,
                )
                if sent_by is not None and sent_by[position] != observation.device.id:
                    raise ForbiddenError(
                        f"an observation sent as device {sent_by[position][:80]} is signed by "
                        f"device {observation.device.id}"
                    )
                outcomes.append((position, observation))
            except OmbudError as exc:
                outcomes.append((position, Refused(_entity_id(entity), exc)))
        return outcomes

    def _store(
        self,
        checked: list[tuple[int, Observation]],
        verdicts: list[Verdict | None],
        now: datetime,
        create_only: bool,
        reorder_window: int,
    ) -> None:
        accepted: list[tuple[int, Observation, bool]] = []
        # What each appended entry is: an observation's acceptance or its quarantine.
        layout: list[tuple[str, int]] = []

        # The events are built before the write transaction, so the lock is held only for what
        # depends on the stored state; those of refused observations are simply not used.
        event_of = {position: _event(o, now) for position, o in checked}
        # The checks that need no history run on every observation: a reading outside its
        # physical range, or a missing-value code, is stored — and quarantined with it.
        suspects_of = {
            position: found for position, o in checked if (found := screen_entity(o.entity))
        }
        quarantine_of = {
            position: quarantine_event(o.device.id, o.counter, suspects_of[position], now)
            for position, o in checked
            if position in suspects_of
        }

        def build(tx: Tx) -> list[bytes]:
            accepted.clear()
            layout.clear()
            for position, _ in checked:  # a retried transaction starts over
                verdicts[position] = None
            state = DeviceRegistry.states_in(tx, (o.device.id for _, o in checked))
            owners = ObservationStore.owners(tx, [o.entity_id for _, o in checked])
            in_batch: dict[tuple[str, int], bytes] = {}  # accepted above, not yet stored
            events = []
            for position, o in checked:
                status, last = state.get(o.device.id, (DeviceStatus.REVOKED.value, None))
                try:
                    if status != DeviceStatus.ACTIVE.value:
                        raise ForbiddenError(f"device {o.device.id} is {status}")
                    if last is not None and o.counter <= last:
                        earlier = in_batch.get((o.device.id, o.counter)) or ObservationStore.stored(
                            tx, o.device.id, o.counter
                        )
                        if earlier == o.canonical:
                            verdicts[position] = Duplicate(o.entity_id, o.device.id, o.counter)
                            continue
                        if earlier is not None or o.counter <= last - reorder_window:
                            raise ReplayError(
                                f"device {o.device.id} counter {o.counter} is not above {last}, "
                                "the last accepted: a replay or a reordering"
                            )
                        # An unseen counter within the reordering window: late, not replayed.
                    owner = owners.get(o.entity_id)
                    if owner is not None and owner != o.device.id:
                        raise ForbiddenError(
                            f"entity {o.entity_id} is reported by device {owner}, not {o.device.id}"
                        )
                    if owner is not None and create_only:
                        raise AlreadyExistsError(
                            f"entity {o.entity_id} already exists; send new observations of it "
                            "with entityOperations/upsert"
                        )
                except OmbudError as exc:
                    verdicts[position] = Refused(o.entity_id, exc)
                    continue
                state[o.device.id] = (status, max(o.counter, last or 0))
                owners[o.entity_id] = o.device.id
                in_batch[(o.device.id, o.counter)] = o.canonical
                accepted.append((position, o, owner is None))
                events.append(event_of[position])
                layout.append(("accepted", position))
                if position in quarantine_of:
                    events.append(quarantine_of[position])
                    layout.append(("quarantined", position))
            return events

        def record(tx: Tx, first: int) -> None:
            index_of = {entry: first + offset for offset, entry in enumerate(layout)}
            rows = [
                NewObservation(
                    o.device.id,
                    o.counter,
                    o.entity_id,
                    o.device.model,
                    to_micros(o.created),
                    index_of[("accepted", position)],
                    o.canonical,
                    o.device.district,
                )
                for position, o, _ in accepted
            ]
            ObservationStore.insert(tx, rows)
            for position, o, _ in accepted:
                if ("quarantined", position) in index_of:
                    QuarantineStore.insert(
                        tx,
                        o.device.id,
                        o.counter,
                        o.device.district,
                        suspects_of[position],
                        to_micros(now),
                        index_of[("quarantined", position)],
                    )
            last: dict[str, int] = {}
            for _, o, _ in accepted:
                last[o.device.id] = max(o.counter, last.get(o.device.id, 0))
            DeviceRegistry.advance_in(tx, last)

        first = self.log.append_with(build, record)
        index_of = {entry: first + offset for offset, entry in enumerate(layout)}
        for position, o, created in accepted:
            verdicts[position] = Accepted(
                o.entity_id,
                o.device.id,
                o.counter,
                index_of[("accepted", position)],
                created,
                quarantined=position in quarantine_of,
            )
