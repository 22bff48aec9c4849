"""Observations: a signed Smart Data Model entity, checked before anything is stored.

Threat model: the entity may be forged (no key of a registered device signed it), replayed
(its counter was seen), redirected (a noise sensor posting parking data), malformed (an id,
context or Relationship object that is not a plain ASCII URI would later break the headers and
URLs that carry it), dated in the future to sort ahead of honest data, or, from a device a
resident hosts, precise enough to locate their home (a point to the centimetre, an address),
which every reader of the public API would see. ``check_observation``
refuses each with a clear error and a distinct type; it is pure (devices, models and the clock
are passed in). The counter check needs the store's last counter and runs atomically where the
observation is stored (``check_counter``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ombud.canonical import CanonicalMembers
from ombud.dataintegrity.eddsa_jcs_2022 import DataIntegrityProof, verify_proof
from ombud.dataintegrity.multikey import DidKey
from ombud.errors import MalformedError, NotFoundError, ReplayError
from ombud.ingest.devices import RESIDENT_OWNER, Device
from ombud.ingest.models import AttributeSpec, ModelSpec

__all__ = [
    "COARSE_DECIMALS",
    "MAX_CLOCK_SKEW",
    "Observation",
    "check_coarse",
    "check_counter",
    "check_observation",
]

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
"""Signing times before this are refused: no sensor of ombud's signed anything earlier, and a
time near year 1 cannot even be converted to UTC."""
MAX_CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future a proof's ``created`` may be, for devices with drifting clocks."""
_COUNTER = re.compile(r"0|[1-9][0-9]{0,18}")
COARSE_DECIMALS = 2
"""Decimal places a resident-hosted device's coordinates may have: 0.01 degree, about a
kilometre of latitude, the size of a grid cell rather than a home."""


_RESIDENT_KEYS = frozenset({"type", "value", "observedAt", "unitCode"})
"""What an attribute of a resident-hosted device may hold: no sub-attribute, no datasetId."""
_PLACES = frozenset({"address", "bbox", "coordinates"})
"""Attributes that say where a device is besides ``location`` (which is checked coarse)."""


def _coordinates(value: Any) -> Iterator[Any]:
    if isinstance(value, list):
        for item in value:
            yield from _coordinates(item)
    else:
        yield value


def _is_coarse(geometry: Any) -> bool:
    coordinates = geometry.get("coordinates") if isinstance(geometry, Mapping) else None
    return all(
        not isinstance(x, bool) and isinstance(x, int | float) and round(x, COARSE_DECIMALS) == x
        for x in _coordinates(coordinates)
    )


def _is_closed(value: Any, spec: AttributeSpec) -> bool:
    """A number, a yes/no, or a string the model checked against its listed values or as a
    date-time (or a list of them): nothing free text could say."""
    if isinstance(value, bool | int | float):
        return True
    if isinstance(value, str):
        return spec.enum is not None or spec.format == "date-time"
    if isinstance(value, list):
        return all(_is_closed(item, spec) for item in value)
    return False


def check_coarse(entity: Mapping[str, Any], model: ModelSpec, device_id: str) -> None:
    """Refuse what could locate the home of device ``device_id``, which a resident hosts,
    since its readings are public: a ``location`` finer than ``COARSE_DECIMALS`` decimal
    places, any other attribute that places it (an address, a bounding box), and every channel
    for free text that could (an entity id other than ``urn:ngsi-ld:<model>:<device id>``, an
    attribute the model does not declare, a name or description, a relationship's id, a
    sub-attribute). It sends its model's measurements: numbers, yes/no, dates and the model's
    listed values. The entity is signed, so it is refused rather than rounded."""
    named = f"urn:ngsi-ld:{model.name}:{device_id}"
    if entity.get("id") != named:
        raise MalformedError(
            f"id: a device a resident hosts names its entity {named}, the id it was "
            "registered with (any other could say where its home is)"
        )
    for name, attribute in entity.items():
        if name in ("id", "type", "@context"):
            continue
        where = f"{name}: a device a resident hosts"
        spec = model.attributes.get(name)
        if spec is None or name in _PLACES:
            raise MalformedError(
                f"{where} sends its model's measurements and a coarse location only "
                "(this attribute could say where its home is)"
            )
        if not isinstance(attribute, Mapping):
            continue  # the model's validation refused it already
        extra = sorted(set(attribute) - _RESIDENT_KEYS)
        if attribute.get("type") == "Relationship" or extra:
            raise MalformedError(
                f"{where} sends no relationship and no sub-attribute ({', '.join(extra) or 'an id'}"
                " could name a place)"
            )
        value = attribute.get("value")
        if attribute.get("type") == "GeoProperty":
            if not _is_coarse(value):
                raise MalformedError(
                    f"{where} sends coordinates rounded to {COARSE_DECIMALS} decimal places "
                    "(a grid cell, not their home)"
                )
        elif not _is_closed(value, spec):
            raise MalformedError(
                f"{where} sends numbers, yes/no, dates and its model's listed values, not free "
                "text (it could say where its home is)"
            )


@dataclass(frozen=True)
class Observation:
    """An observation whose signature, device, model and time all checked out."""

    device: Device
    counter: int
    created: datetime
    entity: Mapping[str, Any]
    """The whole signed entity, proof included, exactly as received."""
    canonical: bytes
    """RFC 8785 form of ``entity``: what is stored, and what its ledger commitment hashes."""

    @property
    def entity_id(self) -> str:
        return str(self.entity["id"])


def _counter(nonce: str | None) -> int:
    if nonce is None or not _COUNTER.fullmatch(nonce) or int(nonce) >= 1 << 63:
        raise MalformedError(
            "the proof's nonce must be the device's counter, a decimal below 2**63 "
            "without leading zeroes"
        )
    return int(nonce)


def check_observation(
    entity: Mapping[str, Any],
    *,
    devices: Callable[[DidKey], Device | None],
    models: Mapping[str, ModelSpec],
    now: datetime,
    max_skew: timedelta = MAX_CLOCK_SKEW,
) -> Observation:
    """Check everything about ``entity`` that does not depend on what was stored before."""
    proof = DataIntegrityProof.from_document(entity)
    if proof.proof_purpose != "assertionMethod":
        raise MalformedError("an observation's proof purpose is 'assertionMethod'")
    counter = _counter(proof.nonce)
    key = proof.key
    device = devices(key)
    if device is None:
        raise NotFoundError(f"no device is registered with key {key.did}")
    device.check_active()
    if entity.get("type") != device.model:
        raise MalformedError(
            f"device {device.id} is registered for {device.model}, not {entity.get('type')!r}"
        )
    unsigned = {k: v for k, v in entity.items() if k != "proof"}
    models[device.model].validate(unsigned)
    if device.owner == RESIDENT_OWNER:
        check_coarse(unsigned, models[device.model], device.id)
    if proof.created < EARLIEST:
        raise MalformedError(
            f"the proof was created at {proof.created.isoformat()}, before {EARLIEST.year}"
        )
    if proof.created > now + max_skew:
        raise MalformedError(
            f"the proof was created at {proof.created.isoformat()}, in the future "
            f"(more than {int(max_skew.total_seconds())} s ahead of this server)"
        )
    members = CanonicalMembers(dict(entity), "the observation")
    verify_proof(entity, key.ed25519(), proof, members=members)
    return Observation(device, counter, proof.created, entity, members.whole())


def check_counter(observation: Observation, last: int | None) -> None:
    """Refuse a counter that does not exceed the last one accepted from the device."""
    if last is not None and observation.counter <= last:
        raise ReplayError(
            f"device {observation.device.id} counter {observation.counter} is not above "
            f"{last}, the last accepted: a replay or a reordering"
        )
