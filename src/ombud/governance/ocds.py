"""Tenders as the Open Contracting Data Standard publishes them: OCDS 1.1 releases (tender,
then award and contract, with the bids extension's ``bids.details``), release packages and
compiled records.

Threat model: an export that says something the ledger does not. Every release is built here
from the recorded tender, commitments, reveals and evaluation — nothing is typed in twice — and
each names the ledger entry it rests on, so a reader checks it against the log. Pure: values in,
JSON out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ombud.clock import format_time
from ombud.governance.tenders import Commitment, Evaluation, Tender

__all__ = [
    "BIDS_EXTENSION",
    "award_release",
    "compiled_record",
    "published_package",
    "release_package",
    "tender_release",
]

BIDS_EXTENSION = (
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_bid_extension/"
    "v1.1.5/extension.json"
)
"""The bids extension (v1.1.5, for OCDS 1.1.5) the releases use: ``bids.details``."""


def _buyer(tender: Tender) -> dict[str, Any]:
    return {"id": "buyer", "name": tender.buyer}


def _tender_section(tender: Tender, status: str) -> dict[str, Any]:
    return {
        "id": tender.ocid,
        "title": tender.title,
        "description": tender.description,
        "status": status,
        "procuringEntity": _buyer(tender),
        "value": {"amount": tender.budget, "currency": tender.currency},
        "items": [{"id": lot.id, "description": lot.title} for lot in tender.lots],
        "lots": [{"id": lot.id, "title": lot.title} for lot in tender.lots],
        "procurementMethod": "open",
        "awardCriteria": "priceOnly" if tender.price_only else "ratedCriteria",
        "awardCriteriaDetails": tender.formula(),
        "submissionMethod": ["electronicSubmission"],
        "submissionMethodDetails": (
            "Sealed bids: before the deadline a commitment SHA-256(bid document || salt) "
            "signed with the bidder's key, on the city's witnessed ledger; after it, the "
            f"document and salt, by {format_time(tender.reveal_by)}."
        ),
        "tenderPeriod": {"endDate": format_time(tender.deadline)},
        "documents": [
            {
                "id": d.id,
                "title": d.title,
                "documentType": "tenderNotice",
                "description": f"SHA-256 {d.sha256}",
                "sha256": d.sha256,
            }
            for d in tender.documents
        ],
    }


def _release(
    tender: Tender, tag: list[str], suffix: str, at: datetime, index: int
) -> dict[str, Any]:
    return {
        "ocid": tender.ocid,
        "id": f"{tender.ocid}-{suffix}",
        "date": format_time(at),
        "tag": tag,
        "initiationType": "tender",
        "language": "en",
        "ledgerIndex": index,
        "buyer": _buyer(tender),
        "parties": [{**_buyer(tender), "roles": ["buyer", "procuringEntity"]}],
    }


def tender_release(tender: Tender, at: datetime, index: int) -> dict[str, Any]:
    """The ``tender`` release: the call as published at ledger entry ``index``."""
    return {
        **_release(tender, ["tender"], "tender", at, index),
        "tender": _tender_section(tender, "active"),
    }


def award_release(
    tender: Tender,
    commitments: Sequence[tuple[int, datetime, Commitment]],
    evaluation: Evaluation,
    at: datetime,
    index: int,
) -> dict[str, Any]:
    """The ``award`` and ``contract`` release: every bid with its status (``valid`` or
    ``disqualified``, the reason in its description), the award to the winner, or an
    unsuccessful tender, and the contract pending signature."""
    dates = {c.bidder: (i, when) for i, when, c in commitments}
    outcome = {b.bidder: b for b in evaluation.bids}
    release = _release(tender, ["award", "contract"], "award", at, index)
    release["parties"] = [
        *release["parties"],
        *(
            {"id": b.bidder, "name": b.name, "roles": ["tenderer"]
             + (["supplier"] if b.bidder == evaluation.winner else [])}
            for b in evaluation.bids
        ),
    ]  # fmt: skip
    release["tender"] = {
        **_tender_section(tender, "complete" if evaluation.winner else "unsuccessful"),
        "numberOfTenderers": len(evaluation.bids),
        "tenderers": [{"id": b.bidder, "name": b.name} for b in evaluation.bids],
    }
    release["bids"] = {
        "details": [
            {
                "id": f"{tender.ocid}-bid-{bidder}",
                "date": format_time(dates[bidder][1]),
                "status": outcome[bidder].status,
                "tenderers": [{"id": bidder, "name": outcome[bidder].name}],
                **(
                    {"value": {"amount": outcome[bidder].amount, "currency": tender.currency}}
                    if outcome[bidder].amount is not None
                    else {}
                ),
                "description": outcome[bidder].reason or f"valid; score {outcome[bidder].score:g}",
                "committedIndex": dates[bidder][0],
            }
            for bidder in (b.bidder for b in evaluation.bids)
        ]
    }
    if evaluation.winner is not None:
        won = outcome[evaluation.winner]
        award_id = f"{tender.ocid}-award-1"
        release["awards"] = [
            {
                "id": award_id,
                "title": tender.title,
                "status": "active",
                "date": format_time(at),
                "value": {"amount": won.amount, "currency": tender.currency},
                "suppliers": [{"id": won.bidder, "name": won.name}],
                "relatedBid": f"{tender.ocid}-bid-{won.bidder}",
            }
        ]
        release["contracts"] = [
            {
                "id": f"{tender.ocid}-contract-1",
                "awardID": award_id,
                "title": tender.title,
                "status": "pending",
                "value": {"amount": won.amount, "currency": tender.currency},
            }
        ]
    return release


def _package(uri: str, publisher: str, published: datetime) -> dict[str, Any]:
    return {
        "uri": uri,
        "version": "1.1",
        "extensions": [BIDS_EXTENSION],
        "publishedDate": format_time(published),
        "publisher": {"name": publisher},
    }


def release_package(
    releases: Sequence[Mapping[str, Any]], *, uri: str, publisher: str, published: datetime
) -> dict[str, Any]:
    """An OCDS 1.1 release package of ``releases``."""
    return {**_package(uri, publisher, published), "releases": list(releases)}


def published_package(
    releases: Sequence[Mapping[str, Any]], *, origin: str, published: datetime, record: bool
) -> dict[str, Any]:
    """What a deployment publishes for one tender: its release package, or with ``record``
    its record package, at its ``/ocds/…`` address under the log's origin."""
    ocid = releases[0]["ocid"] if releases else ""
    kind = "records" if record else "releases"
    make = compiled_record if record else release_package
    return make(
        releases, uri=f"https://{origin}/ocds/{kind}/{ocid}", publisher=origin, published=published
    )


def _merge(base: Any, update: Any) -> Any:
    """OCDS compilation: objects merge field by field, arrays of objects with ids merge by id,
    anything else the later release replaces."""
    if isinstance(base, dict) and isinstance(update, dict):
        merged = dict(base)
        for key, value in update.items():
            merged[key] = _merge(base[key], value) if key in base else value
        return merged
    if (
        isinstance(base, list)
        and isinstance(update, list)
        and all(isinstance(x, dict) and "id" in x for x in base + update)
    ):
        by_id = {x["id"]: x for x in base}
        for x in update:
            by_id[x["id"]] = _merge(by_id[x["id"]], x) if x["id"] in by_id else x
        return list(by_id.values())
    return update


def compiled_record(
    releases: Sequence[Mapping[str, Any]], *, uri: str, publisher: str, published: datetime
) -> dict[str, Any]:
    """An OCDS record package: the releases linked, and the compiled release."""
    compiled: dict[str, Any] = {}
    for release in sorted(releases, key=lambda r: (r["date"], r["id"])):
        compiled = _merge(compiled, dict(release))
    if compiled:
        compiled["id"] = f"{compiled['ocid']}-compiled"
        compiled["tag"] = ["compiled"]
    ocid = releases[0]["ocid"] if releases else None
    return {
        **_package(uri, publisher, published),
        "records": [
            {
                "ocid": ocid,
                "releases": [
                    {"url": f"{uri}#{r['id']}", "date": r["date"], "tag": r["tag"]}
                    for r in releases
                ],
                "compiledRelease": compiled,
            }
        ],
    }
