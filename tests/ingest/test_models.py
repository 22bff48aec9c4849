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
from hypothesis import given, settings
from hypothesis import strategies as st
from referencing import Registry, Resource

from ombud.errors import MalformedError
from ombud.ingest.models import (
    CONTEXT_URI,
    ENTITY_ID,
    MODELS,
    ModelSpec,
    check_context,
    load_models,
)

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


# --- ids, Relationship objects and contexts are URIs (RFC 3986) ---------------------------------

RFC_3986_EXAMPLES = [
    # RFC 3986 §1.1.2
    "ftp://ftp.is.co.za/rfc/rfc1808.txt",
    "http://www.ietf.org/rfc/rfc2396.txt",
    "ldap://[2001:db8::7]/c=GB?objectClass?one",
    "mailto:John.Doe@example.com",
    "news:comp.infosystems.www.servers.unix",
    "tel:+1-816-555-1212",
    "telnet://192.0.2.16:80/",
    "urn:oasis:names:specification:docbook:dtd:xml:4.1.2",
    # RFC 3986 §3
    "foo://example.com:8042/over/there?name=ferret#nose",
    "urn:example:animal:ferret:nose",
    # RFC 3986 §3.2.2: IPv6 forms and IPvFuture
    "http://[::1]:8080/",
    "http://[::]/",
    "http://[1:2:3:4:5:6:7:8]/",
    "http://[::ffff:192.0.2.1]/",
    "http://[v7.fe80::a+en1]/",
    # NGSI-LD and Smart Data Models
    "urn:ngsi-ld:ParkingSpot:santander:daoiz_velarde_1_5:3",
    "urn:ngsi-ld:NoiseLevelObserved:Vitoria-2016-12-28T11:00:00_2016-12-28T12:00:00",
    "urn:ngsi-ld:NoiseLevelObserved:caf%C3%A9",  # an IRI mapped to a URI (RFC 3987 §3.1)
]

NOT_URIS = [
    "urn:ngsi-ld:NoiseLevelObserved:café",
    "urn:ngsi-ld:NoiseLevelObserved:caf€",
    "urn:x:a b",
    "urn:x:a\r\nb",
    "urn:x:a\x00",
    "urn:x:a\x7f",
    "urn:x:<a>",
    'urn:x:a"b',
    "urn:x:a{b}",
    "urn:x:a|b",
    "urn:x:a\\b",
    "urn:x:a^b",
    "urn:x:a`b",
    "urn:x:[a]",  # brackets only around an IP literal
    "urn:x:a#b#c",
    "urn:x:50%",
    "urn:x:%zz",
    "http://[::1/",
    "http://[1:2:3:4:5:6:7:8:9]/",
    "http://[fe80::1%eth0]/",  # a zone id needs RFC 6874
    "http://a:b@c:d/",  # a port is digits
    "urn:",
    "spot-1",
    "1urn:x",
    ":x",
    "",
]


@pytest.mark.parametrize("uri", RFC_3986_EXAMPLES)
def test_uris_from_rfc_3986_are_ids_and_contexts(uri: str) -> None:
    assert ENTITY_ID.fullmatch(uri) and CONTEXT_URI.fullmatch(uri)


@pytest.mark.parametrize("text", NOT_URIS)
def test_what_is_no_uri_is_neither_id_nor_context(text: str) -> None:
    assert not ENTITY_ID.fullmatch(text) and not CONTEXT_URI.fullmatch(text)


def test_ids_and_contexts_are_bounded() -> None:
    assert ENTITY_ID.fullmatch("urn:" + "x" * 252) and not ENTITY_ID.fullmatch("urn:" + "x" * 253)
    assert CONTEXT_URI.fullmatch("https://example.org/" + "c" * 2028)
    assert not CONTEXT_URI.fullmatch("https://example.org/" + "c" * 2029)


@settings(max_examples=500)
@given(st.text(max_size=300) | st.from_regex(r"[a-z]{1,5}:[\x20-\x7e]{0,40}", fullmatch=True))
def test_an_accepted_id_is_header_safe_text(text: str) -> None:
    """Whatever is accepted can go into a header and a path as it is: printable ASCII."""
    if ENTITY_ID.fullmatch(text):
        assert text.isascii() and text.isprintable() and " " not in text
        assert 3 <= len(text) <= 256 and ":" in text
        assert not set(text) & set('<>"{}|\\^`')


@pytest.mark.parametrize(
    "context",
    [
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
        ["https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld", "https://example.org/c"],
        "urn:example:context",
    ],
)
def test_a_context_uri_or_list_of_uris_is_accepted(context: Any) -> None:
    check_context(context)


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"@vocab": "https://example.org/"}, "inline context objects"),
        (["https://example.org/c", {"a": "https://example.org/a"}], "inline context objects"),
        ([], "empty list"),
        (None, "a URI or a list of URIs"),
        (7, "a URI or a list of URIs"),
        ([["https://example.org/c"]], "a URI or a list of URIs"),
        ("https://example.org/ctx€.jsonld", "not an absolute URI"),
        ("https://example.org/c\r\nSet-Cookie: a=b", "not an absolute URI"),
        ("context.jsonld", "not an absolute URI"),
        ("https://example.org/" + "c" * 3000, "not an absolute URI"),
    ],
)
def test_a_context_that_is_no_uri_is_refused_with_the_reason(context: Any, message: str) -> None:
    with pytest.raises(MalformedError, match=message) as refused:
        check_context(context)
    assert str(refused.value).isprintable()  # no line breaks or controls: safe to log


def test_a_context_is_checked_with_the_entity(models: Mapping[str, ModelSpec]) -> None:
    entity = example("NoiseLevelObserved")
    entity["@context"] = "https://example.org/ctx€.jsonld"
    with pytest.raises(MalformedError, match="@context"):
        models["NoiseLevelObserved"].validate(entity)


@pytest.mark.parametrize(
    "target",
    [
        "urn:ngsi-ld:ParkingSite:caf€",
        "urn:ngsi-ld:ParkingSite:a b",
        "urn:ngsi-ld:ParkingSite:a\r\nb",
        "urn:ngsi-ld:ParkingSite:" + "x" * 300,
        ["urn:ngsi-ld:ParkingSite:a", "ParkingSite b"],
    ],
)
def test_a_relationship_object_must_be_an_entity_uri(
    models: Mapping[str, ModelSpec], target: Any
) -> None:
    entity = example("ParkingSpot")
    entity["refParkingSite"]["object"] = target
    with pytest.raises(MalformedError, match="refParkingSite: a Relationship's object"):
        models["ParkingSpot"].validate(entity)
