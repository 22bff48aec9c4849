"""The simulated city's weeks: who posts about what and how they feel, what the sensors read,
and the events that move both.

Threat model: none of its own — it feeds the demo with deterministic data (the generator and
the weeks are passed in) and produces no personal data: residents are numbers, locations are
districts. Its truth (each post's true sentiment, each event) is what the platform's answer is
checked against.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ombud.ingest.fleet import traffic_level

__all__ = ["SERVICES", "Event", "Scenario", "default_events", "reading"]

SERVICES = (
    "waste", "transport", "roads", "lighting", "noise", "air",
    "parking", "water", "green_spaces", "safety", "other",
)  # fmt: skip
INTEREST = {
    "waste": 0.16, "transport": 0.15, "roads": 0.11, "lighting": 0.08, "noise": 0.12,
    "air": 0.06, "parking": 0.12, "water": 0.06, "green_spaces": 0.06, "safety": 0.05,
    "other": 0.03,
}  # fmt: skip
"""How often a resident writes about each service in an ordinary week."""


@dataclass(frozen=True)
class Event:
    name: str
    district: str
    service: str
    weeks: tuple[int, ...]
    """Indexes of the weeks it lasts (0 is the first)."""
    feeling: tuple[float, float, float]
    """P(negative, neutral, positive) of the residents who write about it."""
    pull: float
    """Share of the district's posts that week about this service."""
    sensors: str
    """What it does to the sensors, in words (the effect itself is in ``reading``)."""


def default_events() -> tuple[Event, ...]:
    return (
        Event("night construction noise", "north", "noise", (1,), (0.84, 0.11, 0.05), 0.40,
              "L_night +14 dB, L_evening +6 dB on the district's noise sensors"),
        Event("waste-collection strike", "centre", "waste", (2,), (0.86, 0.10, 0.04), 0.42,
              "none: no sensor measures bins"),
        Event("streetlight outage", "riverside", "lighting", (3,), (0.84, 0.11, 0.05), 0.38,
              "none: no sensor measures lighting"),
        Event("bus line cut", "university", "transport", (2, 3), (0.84, 0.11, 0.05), 0.40,
              "more cars: traffic flow +30%, speeds down (congestion)"),
    )  # fmt: skip


@dataclass
class Scenario:
    """Who lives where, what they usually feel about each service, and the events."""

    rng: random.Random
    districts: tuple[str, ...]
    weights: Mapping[str, float]
    residents: int
    weeks: int
    post_rate: float
    events: tuple[Event, ...]
    polluted: str | None = "harbour"
    """A district whose NO₂ is past the WHO guideline all along while residents are content."""
    baseline: dict[tuple[str, str], tuple[float, float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        touched = {(e.district, e.service) for e in self.events}
        for d in self.districts:
            for s in SERVICES:
                # an event is a fall from an ordinary state: its cell starts fairly content
                low = 0.15 if (d, s) in touched else -0.1
                satisfaction = self.rng.uniform(low, 0.45)
                neutral = self.rng.uniform(0.25, 0.4)
                positive = (1 - neutral + satisfaction) / 2
                self.baseline[d, s] = (1 - neutral - positive, neutral, positive)

    def homes(self) -> list[str]:
        """Each resident's district."""
        total = sum(self.weights[d] for d in self.districts)
        out: list[str] = []
        for d in self.districts:
            out += [d] * round(self.residents * self.weights[d] / total)
        return out

    def event_of(self, district: str, service: str, week: int) -> Event | None:
        for e in self.events:
            if e.district == district and e.service == service and week in e.weeks:
                return e
        return None

    def choose(self, district: str, week: int) -> tuple[str, str]:
        """What one resident of ``district`` writes about in ``week``, and how they feel."""
        pulled = [e for e in self.events if e.district == district and week in e.weeks]
        if pulled and self.rng.random() < pulled[0].pull:
            service = pulled[0].service
        else:
            service = self.rng.choices(SERVICES, weights=[INTEREST[s] for s in SERVICES])[0]
        event = self.event_of(district, service, week)
        feeling = event.feeling if event else self.baseline[district, service]
        sentiment = self.rng.choices(("negative", "neutral", "positive"), weights=feeling)[0]
        return service, sentiment

    def effects(self, district: str, week: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for e in self.events:
            if e.district == district and week in e.weeks:
                if e.service == "noise":
                    out["construction"] = True
                if e.service == "transport":
                    out["traffic"] = 1.3
        if district == self.polluted:
            out["no2"] = 22.0
        return out


def reading(
    model: str,
    device_id: str,
    centre: tuple[float, float],
    at: datetime,
    effects: Mapping[str, Any],
    rng: random.Random,
    *,
    compromised: bool = False,
) -> dict[str, Any]:
    """One NGSI-LD normalized entity of ``model``, as measured at ``at`` in a district with
    ``effects``; a ``compromised`` noise sensor reads 25 dB too loud."""

    def prop(value: Any) -> dict[str, Any]:
        return {"type": "Property", "value": value}

    def stamp(t: datetime) -> str:
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")

    entity: dict[str, Any] = {
        "id": f"urn:ngsi-ld:{model}:{device_id}",
        "type": model,
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": list(centre)},
        },
    }
    factor = float(effects.get("traffic", 1.0))
    traffic = min(1.0, traffic_level(at) * factor)
    hour = at.hour
    if model == "TrafficFlowObserved":
        speed = 50 - 30 * traffic * (1.3 if factor > 1 else 1.0)
        entity |= {
            "dateObserved": prop(stamp(at)),
            "intensity": prop(max(0, round(800 * traffic * factor + rng.gauss(0, 20)))),
            "averageVehicleSpeed": prop(round(max(5.0, speed + rng.gauss(0, 3)), 1)),
        }
    elif model == "NoiseLevelObserved":
        laeq = 36 + 9 * math.log10(1 + 30 * traffic) + rng.gauss(0, 1.5)
        if effects.get("construction"):
            laeq += 14 if (hour >= 23 or hour < 7) else 6 if hour >= 19 else 0
        if compromised:
            laeq += 25
        entity |= {
            "dateObservedFrom": prop(stamp(at - timedelta(minutes=5))),
            "dateObservedTo": prop(stamp(at)),
            "LAeq": prop(round(laeq, 1)),
        }
    elif model == "AirQualityObserved":
        lagged = traffic_level(at - timedelta(hours=1))
        extra = float(effects.get("no2", 0.0))
        entity |= {
            "dateObserved": prop(stamp(at)),
            "no2": prop(round(max(0.0, 6 + extra + 18 * lagged + rng.gauss(0, 2)), 1)),
            "pm10": prop(round(max(0.0, 10 + 12 * lagged + rng.gauss(0, 2)), 1)),
            "pm25": prop(round(max(0.0, 5 + 6 * lagged + rng.gauss(0, 1)), 1)),
        }
    elif model == "OnStreetParking":
        busy = 0.25 + 0.55 * math.exp(-((hour - 13.0) ** 2) / 18.0)
        total = 40
        occupied = min(total, max(0, round(total * busy + rng.gauss(0, 2))))
        entity |= {
            "totalSpotNumber": prop(total),
            "availableSpotNumber": prop(total - occupied),
            "occupancyRate": prop(round(occupied / total, 3)),
            "category": prop(["feeCharged"]),
        }
    elif model == "ParkingSpot":
        busy = 0.25 + 0.55 * math.exp(-((hour - 13.0) ** 2) / 18.0)
        entity |= {
            "status": prop("occupied" if rng.random() < busy else "free"),
            "category": prop(["onStreet"]),
            "refParkingSite": {
                "type": "Relationship",
                "object": f"urn:ngsi-ld:OnStreetParking:{device_id}-site",
            },
        }
    else:
        raise ValueError(f"no simulation for model {model!r}")
    return entity
