"""The districts of a city, read from a GeoJSON FeatureCollection (RFC 7946).

Threat model: the file is configuration a city supplies; it is validated strictly (ids are
district ids, geometries polygons, weights positive) so a bad file is refused with what is
wrong, not half-read. Districts are coarse areas by design: nothing finer is ever used.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ombud.errors import ConfigError

__all__ = ["City", "District", "city_from_file", "load_city", "shipped_city"]

_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


@dataclass(frozen=True)
class District:
    id: str
    name: str
    weight: float
    """Relative number of residents."""
    centre: tuple[float, float]
    """Longitude, latitude of the centre of its bounding box."""


@dataclass(frozen=True)
class City:
    name: str
    timezone: str
    districts: tuple[District, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(d.id for d in self.districts)


def _centre(geometry: Any, where: str) -> tuple[float, float]:
    if not isinstance(geometry, dict) or geometry.get("type") != "Polygon":
        raise ConfigError(f"{where}: a district's geometry is a GeoJSON Polygon")
    try:
        ring = [(float(x), float(y)) for x, y in geometry["coordinates"][0]]
    except (KeyError, IndexError, TypeError, ValueError):
        raise ConfigError(f"{where}: a Polygon's first ring is a list of [lon, lat]") from None
    if len(ring) < 4 or ring[0] != ring[-1]:
        raise ConfigError(f"{where}: a Polygon's ring is closed and has at least 4 positions")
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    if not (-180 <= min(xs) <= max(xs) <= 180 and -90 <= min(ys) <= max(ys) <= 90):
        raise ConfigError(f"{where}: positions are longitude, latitude in degrees")
    return (round((min(xs) + max(xs)) / 2, 5), round((min(ys) + max(ys)) / 2, 5))


def load_city(data: bytes, source: str = "the city file") -> City:
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{source} is not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise ConfigError(f"{source} is a GeoJSON FeatureCollection")
    city = doc.get("city", {})
    districts = []
    for number, feature in enumerate(doc.get("features") or ()):
        where = f"{source}, feature {number}"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise ConfigError(f"{where}: not a GeoJSON Feature")
        district = feature.get("id")
        if not isinstance(district, str) or not _ID.fullmatch(district):
            raise ConfigError(f"{where}: its id is a district id (a-z, 0-9, . _ -)")
        props = feature.get("properties") or {}
        weight = props.get("residents", 1.0)
        if not isinstance(weight, int | float) or not 0 < weight <= 1000:
            raise ConfigError(f"{where}: residents is a positive relative weight")
        name = str(props.get("name", district))[:100]
        districts.append(
            District(district, name, float(weight), _centre(feature.get("geometry"), where))
        )
    if not districts:
        raise ConfigError(f"{source} has no districts")
    if len({d.id for d in districts}) != len(districts):
        raise ConfigError(f"{source} names a district twice")
    return City(
        str(city.get("name", "a city"))[:100], str(city.get("timezone", "UTC")), tuple(districts)
    )


def shipped_city() -> City:
    """Port Ombud, the fictional city shipped with the package."""
    path = resources.files("ombud.citysim") / "data" / "city.geojson"
    return load_city(path.read_bytes(), "city.geojson")


def city_from_file(path: Path) -> City:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    return load_city(data, str(path))
