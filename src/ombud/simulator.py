"""A simulated city: districts, sensors and residents producing a plausible stream of events.

Threat model: none of its own — it feeds demos and benchmarks with deterministic data (the
random generator and the start time are passed in) and never produces personal data: posts
appear only as salted commitments, as the real platform records them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from ombud.events import Event, commit

__all__ = ["DISTRICTS", "SENSOR_TYPES", "SERVICES", "Device", "simulate_events"]

DISTRICTS = ("centre", "harbour", "north", "riverside", "old-town", "university")
SERVICES = (
    "waste", "transport", "roads", "lighting", "noise", "air",
    "parking", "water", "green spaces", "safety", "other",
)  # fmt: skip
SENSOR_TYPES = {
    "AirQualityObserved": ("no2", 12.0, 55.0),
    "NoiseLevelObserved": ("LAeq", 42.0, 72.0),
    "TrafficFlowObserved": ("intensity", 20.0, 900.0),
    "OnStreetParking": ("occupancyRate", 0.1, 0.95),
}
"""Smart Data Model type → (attribute, night level, rush-hour level)."""


@dataclass(frozen=True)
class Device:
    device_id: str
    model: str
    district: str


def _daily_level(low: float, high: float, at: datetime) -> float:
    hour = at.hour + at.minute / 60
    rush = max(math.exp(-((hour - 8.5) ** 2) / 3), math.exp(-((hour - 17.5) ** 2) / 4))
    return low + (high - low) * rush


def simulate_events(
    rng: random.Random, start: datetime, count: int, *, devices_per_district: int = 8
) -> Iterator[Event]:
    """``count`` events: device registrations first, then observations and resident posts."""
    devices = [
        Device(f"urn:ngsi-ld:Device:{district}-{i:03d}", model, district)
        for district in DISTRICTS
        for i, model in enumerate(
            rng.choice(list(SENSOR_TYPES)) for _ in range(devices_per_district)
        )
    ]
    emitted = 0
    for device in devices[:count]:
        yield Event(
            "device.registered",
            start,
            "role:operator",
            {"v": 1, "device": device.device_id, "type": device.model, "district": device.district},
        )
        emitted += 1
    at = start
    while emitted < count:
        at += timedelta(seconds=rng.randint(1, 20))
        if rng.random() < 0.08:
            text = f"post {emitted} about {rng.choice(SERVICES)}".encode()
            salt = rng.randbytes(32)
            # As ombud.voice.posts writes them: the labels stay off the public ledger.
            yield Event(
                "post.accepted",
                at,
                "role:voice",
                {
                    "v": 2,
                    "period": at.strftime("%Y-%m"),
                    "nullifier": rng.randbytes(32).hex(),
                    "commitment": commit(text, salt).hex(),
                },
            )
        else:
            device = rng.choice(devices)
            attribute, low, high = SENSOR_TYPES[device.model]
            value = _daily_level(low, high, at) * rng.lognormvariate(0, 0.1)
            yield Event(
                "observation.accepted",
                at,
                device.device_id,
                {
                    "v": 1,
                    "type": device.model,
                    "district": device.district,
                    "observedAt": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    attribute: round(value, 3),
                },
            )
        emitted += 1
