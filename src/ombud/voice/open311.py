"""Open311 GeoReport v2 intake, and the Smart Data Model IssueReporting view of a post.

Threat model: Open311 clients send a point (``lat``/``long``), an address and contact details
by habit; ombud keeps none of them in clear: a point or an address is refused with the reason,
and contact details go to the privacy vault only under the resident's consent and with their
access key, so nobody files details under another's account or probes its consents. The
district travels in ``address_id``. A request is a post like any other and must carry a
resident token. See https://wiki.open311.org/GeoReport_v2 (service list, POST
Service Request) and the IssueReporting model of smart-data-models/dataModel.IssueTracking.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ombud.clock import format_time
from ombud.errors import MalformedError
from ombud.voice.posts import Post, Submission, refuse_personal

__all__ = [
    "CONTACT_FIELDS",
    "FOLLOW_UP",
    "SERVICES",
    "Contact",
    "issue_reporting",
    "parse_request",
    "service_list",
    "split_contact",
]

SERVICES: Mapping[str, tuple[str, str]] = {
    "waste": ("Waste and recycling", "Bins, collection, litter, fly-tipping, recycling."),
    "transport": ("Public transport", "Buses, trams, trains, stops, timetables."),
    "roads": ("Roads and pavements", "Potholes, pavements, crossings, road works, cycle lanes."),
    "lighting": ("Street lighting", "Street lights out, flickering or on all day."),
    "noise": ("Noise", "Noise from traffic, works, venues or neighbours."),
    "air": ("Air quality", "Smog, fumes, smoke, smells, dust."),
    "parking": ("Parking", "Parking places, permits, meters, illegal parking."),
    "water": ("Water and drains", "Leaks, floods, blocked drains, water supply."),
    "green_spaces": ("Parks and green spaces", "Parks, trees, playgrounds, grass."),
    "safety": ("Safety", "Unsafe places, vandalism, crime, dangerous crossings."),
    "other": ("Other", "Anything else about the city's services."),
}
"""service_code → (service_name, description)."""

_TAKEN = {"service_code", "description", "address_id", "api_key", "token", "jurisdiction_id"}


def service_list() -> list[dict[str, Any]]:
    """``GET services.json``: every service, without extra metadata (attributes)."""
    return [
        {
            "service_code": code,
            "service_name": name,
            "description": description,
            "metadata": False,
            "type": "realtime",
            "keywords": "",
            "group": "city services",
        }
        for code, (name, description) in SERVICES.items()
    ]


CONTACT_FIELDS = ("email", "first_name", "last_name", "phone")
"""GeoReport v2 contact fields: personal data, kept only in the vault under a consent."""
FOLLOW_UP = ("service-request-follow-up", "contact-details")
"""The consent (purpose, data category) under which contact details are kept."""


@dataclass(frozen=True)
class Contact:
    """Contact details given with a request, and who gives them: the account (the resident's
    id with the city, under which their consent to follow-up was recorded) and the resident's
    access key, which proves the caller is that resident."""

    account: str
    resident_key: str = field(repr=False)
    details: Mapping[str, str] = field(repr=False)


def split_contact(form: dict[str, list[str]]) -> Contact | None:
    """Take the contact fields, ``account_id`` and ``resident_key`` out of ``form``.

    Contact details are personal data filed under an account: they need the account id and
    the resident's access key for it (``ombud_resident_…``, issued with their consent), so
    nobody can file details under — or learn anything about the consents of — an account that
    is not theirs."""
    contact: dict[str, str] = {}
    for name in CONTACT_FIELDS:
        if name in form:
            values = form.pop(name)
            if len(values) != 1 or not 0 < len(values[0].strip()) <= 200:
                raise MalformedError(f"{name} must be given once, 1 to 200 characters")
            contact[name] = values[0].strip()
    given: dict[str, str] = {}
    for name in ("account_id", "resident_key"):
        if name in form:
            values = form.pop(name)
            if len(values) != 1 or not 0 < len(values[0].strip()) <= 200:
                raise MalformedError(f"{name} must be given once, 1 to 200 characters")
            given[name] = values[0].strip()
    if not contact:
        if given:
            raise MalformedError("account_id and resident_key come with contact details only")
        return None
    if set(given) != {"account_id", "resident_key"}:
        raise MalformedError(
            "contact details need an account_id (the resident's id with the city, under which "
            "their consent to follow-up was recorded) and that resident's access key "
            "(resident_key)"
        )
    return Contact(given["account_id"], given["resident_key"], MappingProxyType(contact))


def parse_request(form: Mapping[str, Sequence[str]]) -> Submission:
    """A GeoReport v2 POST Service Request (form fields) as a post submission."""
    refuse_personal(form)
    unknown = sorted(k for k in form if k not in _TAKEN and not k.startswith("attribute["))
    if unknown:
        raise MalformedError(f"unknown field(s) {unknown}")
    if any(k.startswith("attribute[") for k in form):
        raise MalformedError("ombud's services define no attributes (metadata is false)")
    values: dict[str, str] = {}
    for name in ("service_code", "description", "address_id"):
        given = form.get(name, ())
        if len(given) != 1 or not given[0].strip():
            raise MalformedError(
                f"{name} is required once"
                + (
                    " (the district id: ombud takes no point or address)"
                    if name == "address_id"
                    else ""
                )
            )
        values[name] = given[0]
    if values["service_code"] not in SERVICES:
        raise MalformedError(
            f"unknown service_code {values['service_code'][:40]!r}; see services.json"
        )
    return Submission(values["description"], values["address_id"], values["service_code"])


def issue_reporting(post: Post, *, with_text: bool = False) -> dict[str, Any]:
    """The post as a Smart Data Model ``IssueReporting`` entity (key-values form).

    ``wardId`` is the district; ``comments`` is the text, only for a reader allowed to see it
    and while it is retained."""
    name, _ = SERVICES[post.service]
    entity: dict[str, Any] = {
        "id": f"urn:ngsi-ld:IssueReporting:ombud:{post.id}",
        "type": "IssueReporting",
        "reportId": post.id,
        "category": name,
        "categoryCode": post.service,
        "wardId": post.district,
        "observationDateTime": format_time(post.received),
        "resolutionStatus": "Open",
        "dateCreated": format_time(post.received),
        "areaServed": post.district,
    }
    if with_text and post.text is not None:
        entity["comments"] = post.text
    return entity
