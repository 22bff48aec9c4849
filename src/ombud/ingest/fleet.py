"""Simulated sensors: Smart Data Model observations with daily rhythms, each device signing.

Threat model: none of its own; it stands in for real devices in the demo, the tests and the
benchmarks, and behaves like an honest one: its own Ed25519 key, a counter that only grows, a
coarse location (the centre of its district's grid cell, never a street address). The core is
pure — the clock and the random generator are passed in — so a run can be replayed exactly.

Daily shapes: traffic has a morning and an evening rush hour; noise follows traffic on a
logarithmic scale; NO₂ follows traffic with an hour's lag over a background level; parking fills
during working hours. Each reading adds Gaussian noise from the generator.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ombud.dataintegrity.multikey import DidKey
from ombud.ingest.devices import Device
from ombud.ingest.models import MODELS
from ombud.ingest.signer import DeviceSigner

__all__ = ["DISTRICTS", "SimulatedSensor", "make_fleet", "reading", "traffic_level"]

DISTRICTS = {
    "centre": (2.170, 41.387),
    "harbour": (2.185, 41.372),
    "north": (2.165, 41.420),
    "riverside": (2.205, 41.405),
    "old-town": (2.176, 41.382),
    "university": (2.115, 41.386),
}
"""District id → centre of its grid cell (longitude, latitude): all a reading says of place."""


def traffic_level(at: datetime) -> float:
    """0..1: how busy the streets are at ``at`` (two rush hours, quiet nights, calmer weekends)."""
    hour = at.hour + at.minute / 60
    rush = math.exp(-((hour - 8.0) ** 2) / 2.0) + 0.9 * math.exp(-((hour - 18.0) ** 2) / 3.0)
    day = 0.35 * math.exp(-((hour - 13.0) ** 2) / 12.0)
    level = 0.05 + rush + day
    if at.weekday() >= 5:
        level *= 0.6
    return min(level, 1.0)


def _time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def reading(
    model: str, device_id: str, district: str, at: datetime, rng: random.Random
) -> dict[str, Any]:
    """One NGSI-LD normalized entity of ``model`` as the device measures it at ``at``."""
    lon, lat = DISTRICTS.get(district, (2.17, 41.39))
    entity: dict[str, Any] = {
        "id": f"urn:ngsi-ld:{model}:{device_id}",
        "type": model,
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}},
    }
    traffic = traffic_level(at)
    if model == "TrafficFlowObserved":
        intensity = max(0, round(900 * traffic + rng.gauss(0, 25)))
        entity |= {
            "dateObserved": _prop(_time(at)),
            "intensity": _prop(intensity),
            "averageVehicleSpeed": _prop(round(max(5.0, 50 - 30 * traffic + rng.gauss(0, 3)), 1)),
        }
    elif model == "NoiseLevelObserved":
        laeq = 45 + 10 * math.log10(1 + 30 * traffic) + rng.gauss(0, 1.5)
        entity |= {
            "dateObservedFrom": _prop(_time(at - timedelta(minutes=5))),
            "dateObservedTo": _prop(_time(at)),
            "LAeq": _prop(round(laeq, 1)),
        }
    elif model == "AirQualityObserved":
        lagged = traffic_level(at - timedelta(hours=1))
        entity |= {
            "dateObserved": _prop(_time(at)),
            "no2": _prop(round(max(0.0, 14 + 45 * lagged + rng.gauss(0, 3)), 1)),
            "pm10": _prop(round(max(0.0, 12 + 20 * lagged + rng.gauss(0, 2.5)), 1)),
        }
    elif model == "OnStreetParking":
        hour = at.hour + at.minute / 60
        busy = 0.25 + 0.65 * math.exp(-((hour - 13.0) ** 2) / 18.0)
        total = 40
        occupied = min(total, max(0, round(total * busy + rng.gauss(0, 2))))
        entity |= {
            "totalSpotNumber": _prop(total),
            "availableSpotNumber": _prop(total - occupied),
            "occupancyRate": _prop(round(occupied / total, 3)),
            "category": _prop(["forDisabled", "feeCharged"] if total else []),
        }
    elif model == "ParkingSpot":
        hour = at.hour + at.minute / 60
        busy = 0.25 + 0.65 * math.exp(-((hour - 13.0) ** 2) / 18.0)
        entity |= {
            "status": _prop("occupied" if rng.random() < busy else "free"),
            "category": _prop(["onStreet"]),
            "refParkingSite": {
                "type": "Relationship",
                "object": f"urn:ngsi-ld:OnStreetParking:{district}-street",
            },
        }
    else:
        raise ValueError(f"no simulation for model {model!r}")
    return entity


@dataclass
class SimulatedSensor:
    """A device of the simulated city: its registry record and its signer."""

    device: Device
    signer: DeviceSigner
    rng: random.Random = field(repr=False)

    def observe(self, at: datetime) -> dict[str, Any]:
        """A signed observation measured at ``at`` (signed at the signer's clock)."""
        d = self.device
        return self.signer.sign(reading(d.model, d.id, d.district, at, self.rng))


def make_fleet(
    count: int,
    rng: random.Random,
    *,
    clock: Callable[[], datetime],
    models: tuple[str, ...] = MODELS,
    districts: tuple[str, ...] = tuple(DISTRICTS),
    prefix: str = "sim",
) -> Iterator[SimulatedSensor]:
    """``count`` sensors spread over the districts and models, each with its own key."""
    for i in range(count):
        model = models[i % len(models)]
        key = Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
        device = Device(
            f"{prefix}-{model[:5].lower()}-{i:04d}",
            DidKey.from_key(key.public_key()),
            model,
            districts[(i // len(models)) % len(districts)],
            "city",
        )
        yield SimulatedSensor(device, DeviceSigner(key, clock=clock), random.Random(rng.random()))
