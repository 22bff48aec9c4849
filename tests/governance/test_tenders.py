"""Sealed bids, pure: the evaluation of three bidders (one late, one whose reveal does not open
its commitment, one honest winner) and the weighted rule; the deadline judged by witnesses'
cosignature timestamps, never the server's clock; commitments signed by the bidder's key; and
the OCDS exports valid against the OCDS 1.1.5 schemas with the bids extension, offline."""

from __future__ import annotations

import json
import math
import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ombud.canonical import canonical_json
from ombud.errors import (
    ForeignBidError,
    MalformedError,
    SignatureError,
    UnboundBidError,
    VerificationError,
)
from ombud.governance.ocds import award_release, compiled_record, release_package, tender_release
from ombud.governance.tenders import (
    Commitment,
    Criterion,
    Lot,
    Reveal,
    Tender,
    TenderDocument,
    commit_to,
    evaluate,
    sign_commitment,
    sign_reveal,
    verify_bid_origin,
    verify_deadline,
)
from ombud.ledger import note
from ombud.ledger.checkpoint import Checkpoint
from tests.conftest import VECTORS

DEADLINE = datetime(2026, 12, 10, 12, tzinfo=UTC)
TENDER = Tender(
    "ocds-0mbud0-2026-001",
    "Street lighting on the harbour front",
    "Replace 120 sodium lamps with LED luminaires, with five years of maintenance.",
    "Port Ombud, Public Works",
    250_000.0,
    "EUR",
    (Lot("lot-1", "Luminaires and installation"),),
    (TenderDocument("spec", "Technical specification", "ab" * 32),),
    (Criterion("price", 1.0, "lower"),),
    DEADLINE,
    DEADLINE + timedelta(days=2),
)
KEYS = {b: Ed25519PrivateKey.generate() for b in ("lumen-co", "bright-ltd", "late-llc", "quiet")}
ORIGIN = "tenders.example/log"
"""The deployment the tests' bids are signed for (``witnessed`` sets up its log)."""


def bid(bidder: str, amount: float, **attributes: float) -> tuple[bytes, bytes]:
    document = canonical_json(
        {
            "v": 1,
            "ocid": TENDER.ocid,
            "bidder": bidder,
            "value": {"amount": amount, "currency": "EUR"},
            "attributes": attributes,
        }
    )
    return document, secrets.token_bytes(32)


def committed(
    bidder: str, document: bytes, salt: bytes, *, origin: str | None = ORIGIN
) -> Commitment:
    return sign_commitment(
        TENDER.ocid, bidder, bidder.title(), KEYS[bidder], commit_to(document, salt), origin=origin
    )


def revealed(bidder: str, document: bytes, salt: bytes, *, origin: str | None = ORIGIN) -> Reveal:
    return sign_reveal(TENDER.ocid, bidder, KEYS[bidder], document, salt, origin=origin)


def test_three_bidders_late_mismatched_and_an_honest_winner() -> None:
    docs = {
        "lumen-co": bid("lumen-co", 198_000),
        "bright-ltd": bid("bright-ltd", 150_000),  # cheapest, but its reveal will not open
        "late-llc": bid("late-llc", 120_000),  # cheaper still, but after the deadline
        "quiet": bid("quiet", 170_000),  # never revealed
    }
    commitments = [
        (10, committed("lumen-co", *docs["lumen-co"])),
        (11, committed("bright-ltd", *docs["bright-ltd"])),
        (12, committed("quiet", *docs["quiet"])),
        (40, committed("late-llc", *docs["late-llc"])),
    ]
    other, _ = bid("bright-ltd", 90_000)  # a different document than the one committed
    reveals = {
        "lumen-co": revealed("lumen-co", *docs["lumen-co"]),
        "bright-ltd": revealed("bright-ltd", other, docs["bright-ltd"][1]),
        "late-llc": revealed("late-llc", *docs["late-llc"]),
    }
    result = evaluate(TENDER, commitments, 30, reveals)
    status = {b.bidder: (b.status, b.reason) for b in result.bids}
    assert status == {
        "lumen-co": ("valid", None),
        "bright-ltd": ("disqualified", "the reveal does not open its commitment"),
        "quiet": ("disqualified", "not revealed"),
        "late-llc": ("disqualified", "committed after the deadline"),
    }
    assert result.winner == "lumen-co"
    # A reveal not signed by the committed key opens nothing, even with the right document.
    forged = Reveal(TENDER.ocid, "lumen-co", *docs["lumen-co"], signature=b"\1" * 64)
    spoiled = evaluate(TENDER, commitments, 30, {**reveals, "lumen-co": forged})
    assert spoiled.bids[0].status == "disqualified"
    # The evaluation is a pure function of what the ledger holds: the same inputs, any order.
    assert evaluate(TENDER, commitments[::-1], 30, dict(reversed(reveals.items()))) == result


def test_the_weighted_rule_and_documents_that_do_not_fit() -> None:
    weighted = Tender(
        **{
            **TENDER.__dict__,
            "criteria": (
                Criterion("price", 70, "lower"),
                Criterion("warranty-years", 30, "higher"),
            ),
        }
    )
    a, b = bid("lumen-co", 200_000, **{"warranty-years": 10}), bid("bright-ltd", 180_000)
    over = bid("quiet", 300_000, **{"warranty-years": 5})
    commitments = [
        (1, committed("lumen-co", *a)),
        (2, committed("bright-ltd", *b)),
        (3, committed("quiet", *over)),
    ]
    reveals = {
        "lumen-co": revealed("lumen-co", *a),
        "bright-ltd": revealed("bright-ltd", *b),
        "quiet": revealed("quiet", *over),
    }
    result = evaluate(weighted, commitments, 10, reveals)
    by = {x.bidder: x for x in result.bids}
    assert by["bright-ltd"].reason is not None and "warranty-years" in by["bright-ltd"].reason
    assert by["quiet"].reason is not None and "over the tender's budget" in by["quiet"].reason
    assert by["lumen-co"].score == 100.0 and result.winner == "lumen-co"
    # weights whose sum is no number score as the same weights scaled down, never as NaN
    huge = replace(
        weighted,
        criteria=(
            Criterion("price", 1.26e308, "lower"),
            Criterion("warranty-years", 5.4e307, "higher"),
        ),
    )
    assert math.isinf(sum(c.weight for c in huge.criteria))
    again = {x.bidder: x.score for x in evaluate(huge, commitments, 10, reveals).bids}
    assert again == {x.bidder: x.score for x in result.bids}


def test_a_bid_figure_beyond_a_float_disqualifies_only_that_bid() -> None:
    """A bid document is parsed from the bidder's bytes, never canonicalised: an integer of
    400 digits once raised ``OverflowError`` in the evaluation, so no award could be made."""
    weighted = replace(
        TENDER, criteria=(Criterion("price", 70, "lower"), Criterion("warranty", 30, "higher"))
    )
    honest = bid("lumen-co", 200_000, warranty=5)
    salt = secrets.token_bytes(32)
    figures = {"quiet": (b"1" * 400, b"5"), "bright-ltd": (b"1000", b"1" * 400)}
    commitments, reveals = [(1, committed("lumen-co", *honest))], {}
    reveals["lumen-co"] = revealed("lumen-co", *honest)
    for index, (bidder, (amount, warranty)) in enumerate(figures.items(), start=2):
        document = (
            b'{"v":1,"ocid":"%s","bidder":"%s","value":{"amount":%s,"currency":"EUR"},'
            b'"attributes":{"warranty":%s}}'
        ) % (TENDER.ocid.encode(), bidder.encode(), amount, warranty)
        commitments.append((index, committed(bidder, document, salt)))
        reveals[bidder] = revealed(bidder, document, salt)
    result = evaluate(weighted, commitments, 10, reveals)
    assert result.winner == "lumen-co"
    assert {b.bidder: b.status for b in result.bids} == {
        "lumen-co": "valid",
        "quiet": "disqualified",
        "bright-ltd": "disqualified",
    }
    canonical_json(result.to_json())  # and the evaluation can be recorded


def test_a_large_figure_that_only_scores_is_held_to_the_rule_awards_were_made_under() -> None:
    """Review finding: refusing every whole number past 2**53 disqualified a warranty of 1e17
    that was always valid, so a recorded award could no longer be audited as it was made. Only
    figures written into the evaluation (the price) must be ones canonical JSON carries."""
    weighted = replace(
        TENDER, criteria=(Criterion("price", 70, "lower"), Criterion("warranty", 30, "higher"))
    )
    honest = bid("lumen-co", 200_000, warranty=5)
    long_lived = (  # a bid document is the bidder's bytes, never canonicalised
        b'{"v":1,"ocid":"%s","bidder":"quiet","value":{"amount":210000,"currency":"EUR"},'
        b'"attributes":{"warranty":100000000000000000}}' % TENDER.ocid.encode(),
        secrets.token_bytes(32),
    )
    commitments = [(1, committed("lumen-co", *honest)), (2, committed("quiet", *long_lived))]
    reveals = {"lumen-co": revealed("lumen-co", *honest), "quiet": revealed("quiet", *long_lived)}
    result = evaluate(weighted, commitments, 10, reveals)
    assert {b.bidder: b.status for b in result.bids} == {"lumen-co": "valid", "quiet": "valid"}
    assert result.winner == "quiet"
    canonical_json(result.to_json())


def test_commitments_are_signed_by_the_bidder() -> None:
    document, salt = bid("lumen-co", 1)
    good = committed("lumen-co", document, salt)
    good.verify()
    assert Commitment.from_json(json.loads(json.dumps(good.to_json()))) == good
    forged = Commitment(
        good.ocid, "bright-ltd", good.name, good.key, good.commitment, good.signature, ORIGIN
    )
    with pytest.raises(SignatureError):
        forged.verify()
    for bad in ({**good.to_json(), "key": "x"}, {**good.to_json(), "extra": 1}, []):
        with pytest.raises(MalformedError):
            Commitment.from_json(bad)


def test_a_bid_and_its_reveal_name_their_deployment_since_version_2() -> None:
    """Version 2 binds the deployment's origin in what the bidder signs (its own domain), for
    the commitment and the reveal alike: one for another deployment is refused by name, even
    as recorded history; a version-1 one keeps its exact bytes and counts only as recorded
    history (``recorded``); moving a version-2 one to another deployment, or stripping its
    origin, breaks its signature."""
    document, salt = bid("lumen-co", 198_000)
    sealed, opened = committed("lumen-co", document, salt), revealed("lumen-co", document, salt)
    for made, kind in ((sealed, Commitment), (opened, Reveal)):
        assert made.version == 2 and made.to_json()["v"] == 2
        assert made.to_json()["origin"] == ORIGIN and kind.from_json(made.to_json()) == made
        assert b'"origin":"tenders.example/log"' in made.signed_message()
        verify_bid_origin(made, ORIGIN)
        with pytest.raises(ForeignBidError, match=r"signed for deployment 'tenders\.example/log'"):
            verify_bid_origin(made, "staging.example/log")
        with pytest.raises(ForeignBidError):  # recorded history must be this log's too
            verify_bid_origin(made, "staging.example/log", recorded=True)
    assert sealed.signed_message().startswith(b"ombud-bid-commitment/v2\n")
    assert opened.signed_message().startswith(b"ombud-bid-reveal/v2\n")
    sealed.verify()
    opened.verify(sealed)
    for moved in ("staging.example/log", None):  # re-addressed, or downgraded to version 1
        with pytest.raises(SignatureError):
            replace(sealed, origin=moved).verify()
        with pytest.raises(SignatureError):
            replace(opened, origin=moved).verify(sealed)
    old = committed("lumen-co", document, salt, origin=None)
    assert old.version == 1 and set(old.to_json()) == {
        "ocid", "bidder", "name", "key", "commitment", "signature"
    }  # fmt: skip
    assert old.signed_message() == b"ombud-bid-commitment/v1\n" + canonical_json(
        {k: v for k, v in old.to_json().items() if k != "signature"}
    )
    old_reveal = revealed("lumen-co", document, salt, origin=None)
    assert old_reveal.signed_message().startswith(b"ombud-bid-reveal/v1\n{")
    assert set(old_reveal.to_json()) == {"ocid", "bidder", "document", "salt", "signature"}
    old_reveal.verify(old)
    opened.verify(old)  # a version-2 reveal opens a version-1 bid recorded before the upgrade
    for made in (old, old_reveal):
        with pytest.raises(UnboundBidError, match="names no deployment"):
            verify_bid_origin(made, ORIGIN)
        verify_bid_origin(made, ORIGIN, recorded=True)
    for bad in (
        {**sealed.to_json(), "v": 1},
        {**sealed.to_json(), "origin": "has space"},
        {**old.to_json(), "origin": ORIGIN},
        {**old_reveal.to_json(), "v": 2},
        {**opened.to_json(), "origin": None},
    ):
        with pytest.raises(MalformedError):
            (Reveal if "salt" in bad else Commitment).from_json(bad)


def _checkpoint(times: list[float]) -> tuple[bytes, note.Verifier, list[note.Verifier]]:
    log = note.Signer.generate("city.example/log")
    text = Checkpoint("city.example/log", 35, b"\1" * 32).to_text()
    signed = text + b"\n" + log.signature_line(text)
    witnesses = []
    for i, t in enumerate(times):
        w = note.Signer.generate(
            f"w{i}.example", sig_type=note.ALG_COSIGNATURE_V1, clock=lambda t=t: t
        )
        signed += w.signature_line(text)
        witnesses.append(w.verifier())
    return signed, log.verifier(), witnesses


def test_the_deadline_is_the_witnesses_time_not_the_servers() -> None:
    after = DEADLINE.timestamp() + 3
    signed, log, witnesses = _checkpoint([after, after + 1, DEADLINE.timestamp() - 60])
    assert verify_deadline(signed, log, witnesses, 2, DEADLINE).checkpoint.size == 35
    with pytest.raises(VerificationError, match="needs 3"):
        verify_deadline(signed, log, witnesses, 3, DEADLINE)  # one witness cosigned before
    with pytest.raises(VerificationError):
        verify_deadline(signed, log, witnesses[2:], 1, DEADLINE)
    stranger = note.Signer.generate("x.example", sig_type=note.ALG_COSIGNATURE_V1).verifier()
    with pytest.raises(VerificationError):
        verify_deadline(signed, log, [stranger], 1, DEADLINE)


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396, to apply an OCDS extension to the core schema."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge_patch(out.get(key), value)
    return out


def _validators() -> tuple[Any, Any]:
    jsonschema = pytest.importorskip("jsonschema")
    referencing = pytest.importorskip("referencing")
    folder = VECTORS / "ocds"
    if not folder.is_dir():
        pytest.skip("the OCDS schemas are not available (../shared is absent)")
    core = json.loads((folder / "release-schema.json").read_text())
    bids = json.loads((folder / "bid-extension-v1.1.5" / "release-schema.json").read_text())
    release = _merge_patch(core, bids)
    package = json.loads((folder / "release-package-schema.json").read_text())
    registry = referencing.Registry().with_resource(
        core["id"], referencing.Resource.from_contents(release, referencing.jsonschema.DRAFT4)
    )
    check = jsonschema.Draft4Validator
    return (
        check(package, registry=registry, format_checker=check.FORMAT_CHECKER),
        check(release, format_checker=check.FORMAT_CHECKER),
    )


def test_ocds_exports_validate_against_the_schemas() -> None:
    package_check, release_check = _validators()
    docs = {b: bid(b, amount) for b, amount in (("lumen-co", 198_000), ("quiet", 170_000))}
    commitments = [(10, committed(b, *docs[b])) for b in docs]
    reveals = {"lumen-co": revealed("lumen-co", *docs["lumen-co"])}
    result = evaluate(TENDER, commitments, 30, reveals)
    at = DEADLINE + timedelta(days=3)
    releases = [
        tender_release(TENDER, DEADLINE - timedelta(days=20), 3),
        award_release(TENDER, [(i, DEADLINE, c) for i, c in commitments], result, at, 50),
    ]
    package = release_package(releases, uri="https://x.example/p", publisher="P", published=at)
    errors = sorted(package_check.iter_errors(package), key=str)
    assert not errors, [e.message for e in errors]
    assert [d["status"] for d in releases[1]["bids"]["details"]] == ["valid", "disqualified"]
    record = compiled_record(releases, uri="https://x.example/r", publisher="P", published=at)
    compiled = record["records"][0]["compiledRelease"]
    assert not sorted(release_check.iter_errors(compiled), key=str)
    assert compiled["awards"][0]["suppliers"][0]["id"] == "lumen-co"
    assert compiled["tender"]["status"] == "complete"
    broken = {**package, "releases": [{k: v for k, v in releases[0].items() if k != "ocid"}]}
    assert any(
        "'ocid' is a required property" in e.message for e in package_check.iter_errors(broken)
    )
