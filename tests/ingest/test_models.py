"""Smart Data Model validators: derived from pysmartdatamodels, checked against the official
schemas and examples in ../shared/data/smart-data-models (CC BY 4.0, Smart Data Models
Program), which are read here and never shipped."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource

from ombud.errors import MalformedError
from ombud.ingest.models import MODELS, ModelSpec, load_models

from ..conftest import SHARED

SDM = SHARED / "data" / "smart-data-models"
REMOTE = {  # the schemas' remote $refs, and the local copies (README of the folder)
    "https://smart-data-models.github.io/data-models/common-schema.json": "common-schema.json",
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/"
    "Environment-schema.json": "Environment-schema.json",
}


def shared(path: Path) -> Any:
    if not path.is_file():
        pytest.skip(f"Smart Data Models not available: {path} (../shared is absent)")
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def models() -> Mapping[str, ModelSpec]:
    return load_models()


def example(name: str) -> dict[str, Any]:
    return shared(SDM / name / "example-normalized.jsonld")  # type: ignore[no-any-return]


def key_values(entity: Mapping[str, Any]) -> dict[str, Any]:
    """The NGSI-LD key-values form of a normalized entity, which the JSON Schemas describe."""
    out: dict[str, Any] = {}
    for name, attribute in entity.items():
        if name in ("id", "type") or not isinstance(attribute, dict):
            out[name] = attribute
        elif attribute.get("type") == "Relationship":
            out[name] = attribute.get("object")
        else:
            value = attribute.get("value")
            if isinstance(value, dict) and value.get("@type") == "DateTime":
                value = value.get("@value")
            out[name] = value
    return out


def schema_validator(name: str) -> jsonschema.protocols.Validator:
    schema = shared(SDM / name / "schema.json")
    resources = [
        (url, Resource.from_contents(shared(SDM / "_common" / local)))
        for url, local in REMOTE.items()
    ]
    registry: Registry[Any] = Registry().with_resources(resources)
    return jsonschema.Draft202012Validator(schema, registry=registry)


@pytest.mark.parametrize("name", MODELS)
def test_the_official_examples_are_accepted(models: Mapping[str, ModelSpec], name: str) -> None:
    models[name].validate(example(name))


@pytest.mark.parametrize("name", MODELS)
def test_required_types_and_enums_agree_with_the_schema(
    models: Mapping[str, ModelSpec], name: str
) -> None:
    schema = shared(SDM / name / "schema.json")
    spec = models[name]
    assert spec.version == schema["$schemaVersion"]
    assert spec.required == tuple(schema["required"])
    declared: dict[str, Any] = {}
    for part in schema["allOf"]:
        declared.update(part.get("properties", {}))
    for attribute, rule in declared.items():
        if attribute in ("id", "type"):
            continue
        ours = spec.attributes[attribute]  # every attribute the schema declares is known
        if "type" in rule:
            # pysmartdatamodels records "integer" attributes as "number": a widening we accept.
            assert ours.json_type == rule["type"] or (rule["type"], ours.json_type) == (
                "integer",
                "number",
            ), attribute
        if "enum" in rule:
            assert ours.enum == tuple(rule["enum"]), attribute


def _mutations(spec: ModelSpec, entity: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Entities the schema must refuse, each with what was broken."""
    out = []
    for required in spec.required:
        if required not in ("id", "type"):
            broken = copy.deepcopy(entity)
            del broken[required]
            out.append((f"without {required}", broken))
    for name, attribute in entity.items():
        known = spec.attributes.get(name)
        if known is None or not isinstance(attribute, dict) or attribute["type"] != "Property":
            continue
        broken = copy.deepcopy(entity)
        if known.enum:
            broken[name]["value"] = "no-such-value"
            out.append((f"{name} outside its enum", broken))
        elif known.json_type in ("number", "string"):
            broken[name]["value"] = [] if known.json_type == "number" else 12
            out.append((f"{name} of the wrong type", broken))
    return out


UPSTREAM_INCONSISTENCIES = {
    # The official AirQualityObserved example breaks its own schema (at the copied commit):
    # windDirection 186 > maximum 180, and tsp (an integer in the schema) is 73.3.
    "AirQualityObserved": {"windDirection", "tsp"},
}


@pytest.mark.parametrize("name", MODELS)
def test_verdicts_agree_with_the_json_schema(models: Mapping[str, ModelSpec], name: str) -> None:
    """Differential: the official example and mutations of it, judged by both validators."""
    spec, entity, schema = models[name], example(name), schema_validator(name)
    faulty = {error.path[0] for error in schema.iter_errors(key_values(entity))}
    assert faulty == UPSTREAM_INCONSISTENCIES.get(name, set())
    for attribute in faulty:  # judge the rest of the example
        del entity[attribute]
    assert not list(schema.iter_errors(key_values(entity)))
    spec.validate(entity)
    mutations = _mutations(spec, entity)
    assert mutations
    for what, broken in mutations:
        assert list(schema.iter_errors(key_values(broken))), f"the schema accepts {what}"
        with pytest.raises(MalformedError):
            spec.validate(broken)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: e.update(type="ParkingLot"), "entity type"),
        (lambda e: e.update(id="spot-1"), "URI"),
        (lambda e: e.update(status="free"), "normalized attribute"),
        (lambda e: e["status"].update(type="Relationship"), "declares it a Property"),
        (lambda e: e["location"].update(value={"type": "Circle"}), "GeoJSON"),
        (lambda e: e["refParkingSite"].update(object=17), "entity URI"),
        (lambda e: e["status"].pop("value"), "needs a 'value'"),
        (lambda e: e["status"].update(observedAt="yesterday"), "observedAt"),
    ],
)
def test_malformed_entities_are_refused_with_the_reason(
    models: Mapping[str, ModelSpec], change: Any, message: str
) -> None:
    entity = example("ParkingSpot")
    change(entity)
    with pytest.raises(MalformedError, match=message):
        models["ParkingSpot"].validate(entity)


def test_numbers_must_be_finite_and_not_booleans(models: Mapping[str, ModelSpec]) -> None:
    entity = example("NoiseLevelObserved")
    for bad in (float("nan"), float("inf"), True):
        entity["LAeq"]["value"] = bad
        with pytest.raises(MalformedError):
            models["NoiseLevelObserved"].validate(entity)


def test_unknown_attributes_are_kept(models: Mapping[str, ModelSpec]) -> None:
    entity = example("NoiseLevelObserved")
    entity["sensorFirmware"] = {"type": "Property", "value": "2.1.0"}
    models["NoiseLevelObserved"].validate(entity)
