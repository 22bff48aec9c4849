"""eddsa-jcs-2022 against the W3C specification's test vectors, step by step.

Literals are from w3c/vc-di-eddsa TestVectors (W3C Software and Document License), the
"Representation: eddsa-jcs-2022" appendix of Data Integrity EdDSA Cryptosuites v1.0; the whole
files are also read from ../shared/vectors/w3c-eddsa-jcs-2022 when it is present.
"""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ombud.dataintegrity.eddsa_jcs_2022 import (
    DataIntegrityProof,
    ProofOptions,
    hash_data,
    parse_created,
    sign_document,
    verify_proof,
)
from ombud.dataintegrity.multikey import DidKey, secret_key_from_multibase
from ombud.errors import MalformedError, SignatureError

from ..conftest import VECTORS

PUBLIC = "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
SECRET = "z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq"
UNSIGNED: dict[str, Any] = {
    "@context": [
        "https://www.w3.org/ns/credentials/v2",
        "https://www.w3.org/ns/credentials/examples/v2",
    ],
    "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
    "type": ["VerifiableCredential", "AlumniCredential"],
    "name": "Alumni Credential",
    "description": "A minimum viable example of an Alumni Credential.",
    "issuer": "https://vc.example/issuers/5678",
    "validFrom": "2023-01-01T00:00:00Z",
    "credentialSubject": {"id": "did:example:abcdefgh", "alumniOf": "The School of Examples"},
}
CREATED = "2023-02-24T23:36:38Z"
PROOF_HASH = "66ab154f5c2890a140cb8388a22a160454f80575f6eae09e5a097cabe539a1db"
PROOF_VALUE = (
    "z2HnFSSPPBzR36zdDgK8PbEHeXbR56YF24jwMpt3R1eHXQzJDMWS93FCzpvJpwTWd3GAVFuUfjoJdcnTMuVor51aX"
)
FOLDER = VECTORS / "w3c-eddsa-jcs-2022"


def signed_vector() -> dict[str, Any]:
    options = ProofOptions(f"did:key:{PUBLIC}#{PUBLIC}", CREATED)
    return sign_document(UNSIGNED, secret_key_from_multibase(SECRET), options)


def test_signing_reproduces_the_published_proof() -> None:
    signed = signed_vector()
    assert signed["proof"]["proofValue"] == PROOF_VALUE
    config = {k: v for k, v in signed["proof"].items() if k != "proofValue"}
    assert hashlib.sha256(rfc8785.dumps(config)).hexdigest() == PROOF_HASH  # @context included
    verify_proof(signed, DidKey.from_multibase(PUBLIC).ed25519())


def _read(name: str) -> str:
    path = FOLDER / name
    if not path.is_file():
        pytest.skip(f"public vectors not available: {path} (../shared is absent)")
    return path.read_text(encoding="utf-8")


def test_every_intermediate_value_of_the_shared_vectors() -> None:
    unsigned = json.loads(_read("unsigned.json"))
    config = json.loads(_read("proofConfigJCS.json"))
    assert rfc8785.dumps(unsigned).decode() == _read("canonDocJCS.txt")
    assert rfc8785.dumps(config).decode() == _read("proofCanonJCS.txt")
    combined = hash_data(config, unsigned)
    assert combined.hex() == _read("combinedHashJCS.txt")
    assert combined[:32].hex() == _read("proofHashJCS.txt")
    assert combined[32:].hex() == _read("docHashJCS.txt")
    key = secret_key_from_multibase(json.loads(_read("keyPair.json"))["privateKeyMultibase"])
    assert key.sign(combined).hex() == _read("sigHexJCS.txt")
    signed = json.loads(_read("signedJCS.json"))
    assert signed["proof"]["proofValue"] == _read("sigBTC58JCS.txt")
    assert signed == signed_vector()
    verify_proof(signed, key.public_key())


def test_any_change_breaks_the_proof() -> None:
    key = DidKey.from_multibase(PUBLIC).ed25519()
    mutations = [
        lambda d: d["credentialSubject"].update(alumniOf="Another School"),
        lambda d: d["proof"].update(created="2023-02-24T23:36:39Z"),
        lambda d: d["proof"].update(nonce="1"),
        lambda d: d.update({"@context": [*d["@context"], "https://example.org/extra"]}),
        lambda d: d["proof"].pop("@context"),
        lambda d: d.update(extra=True),
    ]
    for mutate in mutations:
        signed = signed_vector()
        mutate(signed)
        with pytest.raises(SignatureError):
            verify_proof(signed, key)
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(SignatureError):
        verify_proof(signed_vector(), other)


def test_nonce_and_parsed_proof() -> None:
    key = Ed25519PrivateKey.generate()
    did = DidKey.from_key(key.public_key())
    document = {"id": "urn:ngsi-ld:NoiseLevelObserved:1", "type": "NoiseLevelObserved"}
    options = ProofOptions(did.verification_method, "2026-11-25T10:00:00Z", nonce="42")
    signed = sign_document(document, key, options)
    proof = DataIntegrityProof.from_document(signed)
    assert (proof.nonce, proof.key, proof.proof_purpose) == ("42", did, "assertionMethod")
    assert "@context" not in proof.options  # the document has none
    verify_proof(signed, proof.key.ed25519(), proof)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.update(type="Ed25519Signature2020"), "type"),
        (lambda p: p.update(cryptosuite="eddsa-rdfc-2022"), "cryptosuite"),
        (lambda p: p.update(proofValue="u" + "A" * 86), "base58btc"),
        (lambda p: p.update(proofValue="z3"), "64-byte"),
        (lambda p: p.update(created="2023-02-24 23:36:38"), "created"),
        (lambda p: p.update(created="2023-02-24T23:36:38"), "time zone"),
        (lambda p: p.update(created="2023-W08-5T23:36:38Z"), "dateTimeStamp"),  # ISO week
        (lambda p: p.update(created="20230224T233638Z"), "dateTimeStamp"),  # ISO basic form
        (lambda p: p.update(created="2023-02-24T23:36:38+00:00:30"), "dateTimeStamp"),
        (lambda p: p.update(created="2023-02-24T23Z"), "dateTimeStamp"),
        (lambda p: p.update(created="2023-02-30T23:36:38Z"), "not a valid date-time"),
        (lambda p: p.pop("verificationMethod"), "verificationMethod"),
        (lambda p: p.update(nonce=7), "nonce"),
    ],
)
def test_malformed_proofs_are_refused(change: Any, message: str) -> None:
    signed = copy.deepcopy(signed_vector())
    change(signed["proof"])
    with pytest.raises(MalformedError, match=message):
        DataIntegrityProof.from_document(signed)


def test_documents_that_cannot_be_canonicalised() -> None:
    key = Ed25519PrivateKey.generate()
    options = ProofOptions(DidKey.from_key(key.public_key()).verification_method, CREATED)
    with pytest.raises(MalformedError, match="RFC 8785"):
        sign_document({"value": float("nan")}, key, options)
    with pytest.raises(MalformedError, match="already"):
        sign_document(signed_vector(), key, options)
    with pytest.raises(MalformedError, match="no 'proof'"):
        DataIntegrityProof.from_document(UNSIGNED)
    with pytest.raises(MalformedError, match="proof sets"):
        DataIntegrityProof.from_document({**UNSIGNED, "proof": [signed_vector()["proof"]]})


def test_created_may_have_more_fraction_digits_than_python_reads() -> None:
    """dateTimeStamp allows any number of fraction digits: past six they are dropped from the
    time (the signature still covers the text as written)."""
    assert parse_created("2023-02-24T23:36:38.1234567890123+01:00") == datetime(
        2023, 2, 24, 23, 36, 38, 123456, tzinfo=timezone(timedelta(hours=1))
    )
    assert parse_created("2023-02-24T23:36:38.5Z").microsecond == 500000
