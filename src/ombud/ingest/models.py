"""Smart Data Models as ombud accepts them: NGSI-LD normalized entities, validated offline.

Threat model: an observation is input from a device that may be buggy or hostile. Before its
signature is even worth checking, its shape must be one a city can store and aggregate: the
model's required attributes present, each attribute of the NGSI-LD kind the model declares
(Property, GeoProperty, Relationship), each value of the model's JSON type and, where the model
lists them, one of its enumerated values. Nothing is fetched: the models' metadata ships inside
the ``pysmartdatamodels`` package (attribute types, NGSI types, enums, formats, required lists)
and is compiled once per process into the ``ModelSpec`` objects below.

Attributes a model does not know are kept, not refused: the models' JSON Schemas allow them
(none sets ``additionalProperties: false``), and NGSI-LD entities routinely carry extra ones.
What the metadata does not record — numeric ranges, and integer-ness (it files the schemas'
integers as numbers) — is not checked here: an implausible value is quarantined later (physical
range checks, DESIGN §5), not refused at the door.

Identifiers are checked strictly, because they leave the JSON: an entity id ends up in
``Location`` headers and request paths, a context in ``Link`` headers, a Relationship's object
in the next request a client makes. Each must be a URI as RFC 3986 §3 defines it, with its
scheme (ASCII only: no spaces, no control or non-ASCII characters, none of the characters RFC
3986 never allows, such as angle brackets, quotes, braces, ``|`` or ``^``), of bounded length.
``@context`` is a URI or a list of URIs: ombud never fetches or resolves a context, so an inline
context object is refused.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ombud.errors import ConfigError, MalformedError

__all__ = [
    "CONTEXT_URI",
    "ENTITY_ID",
    "MAX_CONTEXT_URI",
    "MAX_ENTITY_ID",
    "MODELS",
    "AttributeSpec",
    "ModelSpec",
    "check_context",
    "load_models",
]

MODELS = (
    "AirQualityObserved",
    "NoiseLevelObserved",
    "TrafficFlowObserved",
    "ParkingSpot",
    "OnStreetParking",
)


def _uri_pattern() -> str:
    """RFC 3986 Appendix A, transcribed: ``scheme ":" hier-part [ "?" query ] [ "#" fragment ]``
    with a non-empty hier-part (ombud never needs ``urn:`` alone)."""
    hexdig = "[0-9A-Fa-f]"
    unreserved = r"A-Za-z0-9\-._~"
    sub_delims = "!$&'()*+,;="
    pct_encoded = f"%{hexdig}{hexdig}"
    pchar = f"(?:[{unreserved}{sub_delims}:@]|{pct_encoded})"
    h16 = f"{hexdig}{{1,4}}"
    dec_octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
    ipv4 = rf"{dec_octet}(?:\.{dec_octet}){{3}}"
    ls32 = f"(?:{h16}:{h16}|{ipv4})"

    def before(most: int) -> str:  # [ *n( h16 ":" ) h16 ]
        return f"(?:(?:{h16}:){{0,{most}}}{h16})?"

    ipv6 = "|".join(
        (
            f"(?:{h16}:){{6}}{ls32}",
            f"::(?:{h16}:){{5}}{ls32}",
            f"{before(0)}::(?:{h16}:){{4}}{ls32}",
            f"{before(1)}::(?:{h16}:){{3}}{ls32}",
            f"{before(2)}::(?:{h16}:){{2}}{ls32}",
            f"{before(3)}::{h16}:{ls32}",
            f"{before(4)}::{ls32}",
            f"{before(5)}::{h16}",
            f"{before(6)}::",
        )
    )
    ipvfuture = rf"v{hexdig}+\.[{unreserved}{sub_delims}:]+"
    host = rf"(?:\[(?:{ipv6}|{ipvfuture})\]|(?:[{unreserved}{sub_delims}]|{pct_encoded})*)"
    userinfo = f"(?:[{unreserved}{sub_delims}:]|{pct_encoded})*"
    authority = f"(?:{userinfo}@)?{host}(?::[0-9]*)?"
    segments = f"(?:/{pchar}*)*"
    hier_part = f"(?://{authority}{segments}|/(?:{pchar}+{segments})?|{pchar}+{segments})"
    query = f"(?:{pchar}|[/?])*"
    return rf"[A-Za-z][A-Za-z0-9+\-.]*:{hier_part}(?:\?{query})?(?:#{query})?"


_URI = _uri_pattern()
MAX_ENTITY_ID = 256
MAX_CONTEXT_URI = 2048
ENTITY_ID = re.compile(rf"(?=[\x21-\x7e]{{1,{MAX_ENTITY_ID}}}\Z){_URI}")
"""An entity id (and a Relationship's object): an absolute URI as RFC 3986 defines it, ASCII
only, at most 256 characters, as NGSI-LD §4.5.1 requires. Use with ``fullmatch``."""
CONTEXT_URI = re.compile(rf"(?=[\x21-\x7e]{{1,{MAX_CONTEXT_URI}}}\Z){_URI}")
"""A JSON-LD context reference (or a URI in a query): an absolute RFC 3986 URI of at most 2048
characters, short enough for any client to read back in a ``Link`` header."""
NGSI_TYPES = frozenset({"Property", "GeoProperty", "Relationship"})
_GEOMETRIES = frozenset(
    {"Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon"}
)
_CORE = frozenset({"id", "type", "@context"})
_JSON_TYPES: Mapping[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


@dataclass(frozen=True)
class AttributeSpec:
    """One top-level attribute of a model, as pysmartdatamodels describes it."""

    name: str
    json_type: str
    ngsi_type: str | None
    """None where the metadata does not say (then any NGSI-LD kind is accepted)."""
    enum: tuple[Any, ...] | None = None
    format: str | None = None
    units: str | None = None


def _is_date_time(text: str) -> bool:
    """ISO 8601 date and time. The models' own examples omit the offset (then UTC is meant)."""
    if "T" not in text:
        return False
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _check_value(spec: AttributeSpec, value: Any) -> None:
    if spec.json_type == "string" and isinstance(value, dict) and value.get("@type") == "DateTime":
        # NGSI-LD's typed date-time literal {"@type": "DateTime", "@value": "..."}
        value = value.get("@value")
        if not isinstance(value, str) or not _is_date_time(value):
            raise MalformedError(f"{spec.name}: a DateTime @value is an ISO 8601 date-time")
        return
    expected = _JSON_TYPES.get(spec.json_type)
    if expected is not None:
        if isinstance(value, bool) and spec.json_type != "boolean":
            raise MalformedError(f"{spec.name}: expected {spec.json_type}, got a boolean")
        if not isinstance(value, expected):
            raise MalformedError(
                f"{spec.name}: expected {spec.json_type}, got {type(value).__name__}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise MalformedError(f"{spec.name}: NaN and infinities are not JSON numbers")
    if spec.enum is not None and value not in spec.enum:
        allowed = ", ".join(map(str, spec.enum))
        raise MalformedError(f"{spec.name}: {value!r} is not one of: {allowed}")
    if spec.format == "date-time" and (not isinstance(value, str) or not _is_date_time(value)):
        raise MalformedError(f"{spec.name}: {str(value)[:40]!r} is not an ISO 8601 date-time")


def _check_geometry(name: str, value: Any) -> None:
    if not isinstance(value, dict) or value.get("type") not in _GEOMETRIES:
        raise MalformedError(f"{name}: a GeoProperty value is a GeoJSON geometry")
    if not isinstance(value.get("coordinates"), list):
        raise MalformedError(f"{name}: a GeoJSON geometry needs its coordinates")


def _shown(text: str) -> str:
    """``text`` quoted for an error message, shortened, with anything not ASCII escaped."""
    return ascii(text[:80]) + ("…" if len(text) > 80 else "")


_URI_RULES = (
    "ASCII letters, digits, - . _ ~ : / ? # [ ] @ ! $ & ' ( ) * + , ; = and %-escapes only: "
    "no spaces, control or non-ASCII characters (percent-encode their UTF-8 bytes, RFC 3987 §3.1)"
)


def _check_object(name: str, target: Any) -> None:
    targets = target if isinstance(target, list) else [target]
    if not targets or not all(isinstance(t, str) for t in targets):
        raise MalformedError(f"{name}: a Relationship's object is an entity URI (or a list)")
    for t in targets:
        if not ENTITY_ID.fullmatch(t):
            raise MalformedError(
                f"{name}: a Relationship's object is an entity URI (RFC 3986, at most "
                f"{MAX_ENTITY_ID} characters: {_URI_RULES}), not {_shown(t)}"
            )


def check_context(context: Any) -> None:
    """Refuse a JSON-LD ``@context`` that is not a URI or a non-empty list of URIs.

    ombud stores contexts and hands them back (the first in a ``Link`` header) but never fetches
    or expands them, so an inline context object would be stored unread and could not be
    served as a link: it is refused, as is anything a header could not carry.
    """
    items = context if isinstance(context, list) else [context]
    if not items:
        raise MalformedError("@context is an empty list: give at least one context URI")
    for item in items:
        if isinstance(item, dict):
            raise MalformedError(
                "@context: inline context objects are not accepted (ombud never resolves "
                "contexts): publish the context and give its URI"
            )
        if not isinstance(item, str):
            raise MalformedError("@context is a URI or a list of URIs")
        if not CONTEXT_URI.fullmatch(item):
            raise MalformedError(
                f"@context {_shown(item)} is not an absolute URI (RFC 3986, at most "
                f"{MAX_CONTEXT_URI} characters: {_URI_RULES})"
            )


@dataclass(frozen=True)
class ModelSpec:
    """A compiled Smart Data Model: what its NGSI-LD normalized entities must look like."""

    name: str
    version: str
    required: tuple[str, ...]
    attributes: Mapping[str, AttributeSpec]

    def validate(self, entity: Mapping[str, Any]) -> None:
        """Raise ``MalformedError`` naming the first thing wrong with ``entity``.

        ``entity`` is an NGSI-LD normalized entity without its ``proof`` member.
        """
        if not isinstance(entity, Mapping):
            raise MalformedError("an entity is a JSON object")
        entity_id = entity.get("id")
        if not isinstance(entity_id, str) or not ENTITY_ID.fullmatch(entity_id):
            raise MalformedError(
                f"entity id must be a URI (RFC 3986, at most {MAX_ENTITY_ID} characters: "
                f"{_URI_RULES}), e.g. urn:ngsi-ld:<type>:<id>"
            )
        if entity.get("type") != self.name:
            raise MalformedError(f"entity type must be {self.name!r}")
        if "@context" in entity:
            check_context(entity["@context"])
        missing = [name for name in self.required if name not in entity]
        if missing:
            raise MalformedError(f"{self.name} requires {', '.join(missing)}")
        for name, attribute in entity.items():
            if name in _CORE:
                continue
            self._check_attribute(name, attribute)

    def _check_attribute(self, name: str, attribute: Any) -> None:
        if not isinstance(attribute, Mapping):
            raise MalformedError(f"{name}: a normalized attribute is an object with a 'type'")
        kind = attribute.get("type")
        if kind not in NGSI_TYPES:
            raise MalformedError(f"{name}: type must be Property, GeoProperty or Relationship")
        spec = self.attributes.get(name)
        if spec is not None and spec.ngsi_type is not None and kind != spec.ngsi_type:
            raise MalformedError(f"{name}: {self.name} declares it a {spec.ngsi_type}")
        observed = attribute.get("observedAt")
        if observed is not None and (not isinstance(observed, str) or not _is_date_time(observed)):
            raise MalformedError(f"{name}: observedAt must be an ISO 8601 date-time")
        if kind == "Relationship":
            if "object" not in attribute:
                raise MalformedError(f"{name}: a Relationship needs an 'object'")
            _check_object(name, attribute["object"])
            return
        if "value" not in attribute:
            raise MalformedError(f"{name}: a {kind} needs a 'value'")
        if kind == "GeoProperty":
            _check_geometry(name, attribute["value"])
        elif spec is not None:
            _check_value(spec, attribute["value"])


def _package_assets() -> Path:
    """The model-assets folder of pysmartdatamodels, found without importing the package
    (its import pulls in half of PyPI)."""
    spec = importlib.util.find_spec("pysmartdatamodels")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("pysmartdatamodels is not installed (it ships the models offline)")
    return Path(next(iter(spec.submodule_search_locations))) / "model-assets"


def compile_models(
    attributes: Iterable[Mapping[str, Any]],
    metadata: Iterable[Mapping[str, Any]],
    names: Iterable[str] = MODELS,
) -> dict[str, ModelSpec]:
    """Build ``ModelSpec`` objects from pysmartdatamodels' attribute and model metadata."""
    wanted = set(names)
    specs: dict[str, dict[str, AttributeSpec]] = {name: {} for name in wanted}
    for row in attributes:
        model = row.get("dataModel")
        if model not in wanted or "parentId" in row:  # sub-attributes of an object attribute
            continue
        name = row["property"]
        if name in _CORE:
            continue
        enum = row.get("enum")
        specs[model][name] = AttributeSpec(
            name=name,
            json_type=str(row.get("type")),
            ngsi_type=row.get("typeNGSI"),
            enum=tuple(enum) if isinstance(enum, list) else None,
            format=row.get("format"),
            units=row.get("units"),
        )
    out: dict[str, ModelSpec] = {}
    for entry in metadata:
        name = entry.get("dataModel")
        if name in wanted and name not in out:
            out[name] = ModelSpec(
                name=name,
                version=str(entry.get("version")),
                required=tuple(entry.get("required", ("id", "type"))),
                attributes=MappingProxyType(specs[name]),
            )
    absent = wanted - set(out)
    if absent:
        raise ConfigError(f"pysmartdatamodels does not describe {sorted(absent)}")
    return out


@functools.cache
def load_models() -> Mapping[str, ModelSpec]:
    """The models ombud ingests, compiled once per process from pysmartdatamodels."""
    assets = _package_assets()
    try:
        with gzip.open(assets / "smartdatamodels.json.gz", "rt", encoding="utf-8") as f:
            attributes = json.load(f)
        metadata = json.loads((assets / "datamodels_metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the Smart Data Models in {assets}: {exc}") from exc
    return MappingProxyType(compile_models(attributes, metadata))
