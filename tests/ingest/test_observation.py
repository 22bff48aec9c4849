"""Checking a signed observation: every refusal the ingest path promises, and its reason."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ombud.dataintegrity.eddsa_jcs_2022 import ProofOptions, sign_document
from ombud.dataintegrity.multikey import DidKey
from ombud.errors import (
    ForbiddenError,
    MalformedError,
    NotFoundError,
    ReplayError,
    SignatureError,
)
from ombud.ingest.devices import RESIDENT_OWNER, Device, DeviceStatus
from ombud.ingest.models import ModelSpec, load_models
from ombud.ingest.observation import check_counter, check_observation

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()
DEVICE = Device("noise-017", DidKey.from_key(KEY.public_key()), "NoiseLevelObserved", "D07", "city")


def entity(laeq: float = 61.5) -> dict[str, Any]:
    return {
        "id": "urn:ngsi-ld:NoiseLevelObserved:noise-017",
        "type": "NoiseLevelObserved",
        "LAeq": {"type": "Property", "value": laeq},
        "dateObservedFrom": {"type": "Property", "value": "2026-11-25T11:00:00Z"},
        "dateObservedTo": {"type": "Property", "value": "2026-11-25T11:05:00Z"},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [2.1, 41.4]}},
    }


def signed(
    doc: Mapping[str, Any],
    counter: str | None = "7",
    created: datetime = NOW,
    key: Ed25519PrivateKey = KEY,
    purpose: str = "assertionMethod",
) -> dict[str, Any]:
    did = DidKey.from_key(key.public_key())
    options = ProofOptions(
        did.verification_method, created.strftime("%Y-%m-%dT%H:%M:%SZ"), purpose, counter
    )
    return sign_document(doc, key, options)


@pytest.fixture(scope="module")
def models() -> Mapping[str, ModelSpec]:
    return load_models()


def check(doc: Mapping[str, Any], models: Mapping[str, ModelSpec], device: Device = DEVICE):  # type: ignore[no-untyped-def]
    return check_observation(
        doc, devices=lambda key: device if key == device.key else None, models=models, now=NOW
    )


def test_a_good_observation(models: Mapping[str, ModelSpec]) -> None:
    doc = signed(entity())
    accepted = check(doc, models)
    assert (accepted.device, accepted.counter, accepted.entity_id) == (
        DEVICE,
        7,
        "urn:ngsi-ld:NoiseLevelObserved:noise-017",
    )
    assert accepted.entity is doc and accepted.canonical.startswith(b'{"LAeq"')
    check_counter(accepted, None)
    check_counter(accepted, 6)
    with pytest.raises(ReplayError, match="not above 7"):
        check_counter(accepted, 7)  # the same message again
    with pytest.raises(ReplayError):
        check_counter(accepted, 9)  # an older message after a newer one


def test_refusals(models: Mapping[str, ModelSpec]) -> None:
    stranger = Ed25519PrivateKey.generate()
    with pytest.raises(NotFoundError, match="no device is registered"):
        check(signed(entity(), key=stranger), models)
    revoked = Device(
        DEVICE.id, DEVICE.key, DEVICE.model, DEVICE.district, DEVICE.owner, DeviceStatus.REVOKED
    )
    with pytest.raises(ForbiddenError, match="revoked"):
        check(signed(entity()), models, revoked)
    parking = Device("p-1", DEVICE.key, "ParkingSpot", "D07", "city")
    with pytest.raises(MalformedError, match="registered for ParkingSpot"):
        check(signed(entity()), models, parking)
    bad_schema = entity()
    del bad_schema["location"]
    with pytest.raises(MalformedError, match="requires location"):
        check(signed(bad_schema), models)
    with pytest.raises(MalformedError, match="in the future"):
        check(signed(entity(), created=NOW + timedelta(minutes=6)), models)
    check(signed(entity(), created=NOW + timedelta(minutes=4)), models)  # small clock drift
    for counter in (None, "007", "-1", "x", str(1 << 63)):
        with pytest.raises(MalformedError, match="counter"):
            check(signed(entity(), counter=counter), models)
    with pytest.raises(MalformedError, match="assertionMethod"):
        check(signed(entity(), purpose="authentication"), models)


def test_tampering_after_signing_is_caught(models: Mapping[str, ModelSpec]) -> None:
    doc = signed(entity(61.5))
    for change in (
        lambda d: d["LAeq"].update(value=35.0),  # a quieter street than measured
        lambda d: d["proof"].update(nonce="8"),  # a replay dressed up as new
        lambda d: d.update(id="urn:ngsi-ld:NoiseLevelObserved:other"),
    ):
        tampered = copy.deepcopy(doc)
        change(tampered)
        with pytest.raises(SignatureError):
            check(tampered, models)


def test_device_records_are_coarse_and_typed() -> None:
    with pytest.raises(MalformedError, match="never an address"):
        Device("n-1", DEVICE.key, "NoiseLevelObserved", "Carrer de Mallorca 401", "city")
    with pytest.raises(MalformedError, match="is not one of"):
        Device("n-1", DEVICE.key, "Thermometer", "D07", "city")
    with pytest.raises(MalformedError, match="device id"):
        Device("", DEVICE.key, "NoiseLevelObserved", "D07", "city")


def test_a_device_a_resident_hosts_sends_nothing_that_locates_their_home(
    models: Mapping[str, ModelSpec],
) -> None:
    """Its readings are public (NGSI-LD, /observations), so a point to the centimetre or an
    address would publish where the resident lives; the city's own devices may say where they
    stand."""
    home = Device(DEVICE.id, DEVICE.key, DEVICE.model, DEVICE.district, RESIDENT_OWNER)
    fine = entity()
    fine["location"]["value"]["coordinates"] = [2.1744553, 41.4036299]
    addressed = entity()
    addressed["address"] = {"type": "Property", "value": {"streetAddress": "Carrer 401"}}
    point = {"type": "Point", "coordinates": [2, 41.40362]}
    other_geo = entity()
    other_geo["where"] = {"type": "GeoProperty", "value": point}
    # what a review found to slip past a check of location and address alone
    as_property = entity()
    as_property["spot"] = {"type": "Property", "value": point}
    nested = entity()
    nested["LAeq"]["at"] = {"type": "GeoProperty", "value": point}
    named = entity()
    named["name"] = {"type": "Property", "value": "sensor at Keizersgracht 123"}
    served = entity()
    served["areaServed"] = {"type": "Property", "value": "Keizersgracht 123, Amsterdam"}
    related = entity()
    related["refPointOfInterest"] = {"type": "Relationship", "object": "urn:ngsi-ld:Home:k123"}
    renamed = entity()
    renamed["id"] = "urn:ngsi-ld:NoiseLevelObserved:keizersgracht-123"
    for doc, message in [
        (
            renamed,
            "id: a device a resident hosts names its entity "
            "urn:ngsi-ld:NoiseLevelObserved:noise-017, the id it was registered with",
        ),
        (fine, "location: a device a resident hosts sends coordinates rounded to 2 decimal"),
        (addressed, "address: a device a resident hosts sends its model's measurements"),
        (other_geo, "where: a device a resident hosts sends its model's measurements"),
        (as_property, "spot: a device a resident hosts sends its model's measurements"),
        (nested, "LAeq: a device a resident hosts sends no relationship and no sub-attribute"),
        (named, "name: a device a resident hosts sends numbers, yes/no, dates"),
        (served, "areaServed: a device a resident hosts sends numbers"),
        (related, "refPointOfInterest: a device a resident hosts sends no relationship"),
    ]:
        with pytest.raises(MalformedError, match=message):
            check(signed(doc), models, home)
        assert check(signed(doc), models).entity_id  # a city device's may be precise
    coarse = entity()
    coarse["location"]["value"]["coordinates"] = [2.17, 41.4]
    assert check(signed(coarse), models, home).device == home
