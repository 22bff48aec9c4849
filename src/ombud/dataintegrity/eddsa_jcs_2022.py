"""The ``eddsa-jcs-2022`` cryptosuite: Ed25519 over RFC 8785 canonical JSON.

Implements W3C "Data Integrity EdDSA Cryptosuites v1.0" §3.3 (eddsa-jcs-2022): the signature is
Ed25519 over ``SHA-256(JCS(proof configuration)) || SHA-256(JCS(document without proof))``,
carried in the document's ``proof`` member as a ``DataIntegrityProof`` whose ``proofValue`` is
multibase base58btc.

Threat model: the signer is a device that may be impersonated, and everything between it and
ombud may rewrite bytes. Verification recomputes both hashes from what was received, so a
changed value anywhere in the document or the proof options (its time, its nonce, its key) is
caught. Stricter than the specification where it costs an honest signer nothing: the document's
``@context`` must equal the proof's (the specification only requires a prefix, which would leave
appended contexts unsigned), and numbers that RFC 8785 cannot represent (NaN, ±Infinity) are
refused.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ombud.canonical import CanonicalMembers, canonical_json
from ombud.dataintegrity.multikey import DidKey, decode_base58btc, encode_base58btc
from ombud.errors import MalformedError, SignatureError

__all__ = [
    "CRYPTOSUITE",
    "PROOF_TYPE",
    "DataIntegrityProof",
    "ProofOptions",
    "create_proof",
    "hash_data",
    "sign_document",
    "verify_proof",
]

CRYPTOSUITE = "eddsa-jcs-2022"
PROOF_TYPE = "DataIntegrityProof"
_CONTEXT = "@context"


_DATE_TIME_STAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})", re.ASCII
)
"""XML Schema 1.1 ``dateTimeStamp``'s lexical form (years 0001-9999, which Python can hold)."""


def parse_created(value: object) -> datetime:
    """An XML Schema ``dateTimeStamp`` (a date and time with its offset), as a datetime;
    fraction digits past microseconds are dropped (the signature covers the text as sent)."""
    if not isinstance(value, str) or not _DATE_TIME_STAMP.fullmatch(value):
        raise MalformedError(
            "proof 'created' must be an XML Schema dateTimeStamp (a date and time with its "
            "time zone), e.g. 2026-12-04T10:00:00Z"
        )
    if "." in value:  # Python reads six fraction digits at most
        head, rest = value.split(".", 1)
        digits = len(rest) - len(rest.lstrip("0123456789"))
        value = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    try:
        created = datetime.fromisoformat(value)
    except ValueError:
        raise MalformedError(f"proof 'created' {value[:40]!r} is not a valid date-time") from None
    if created.tzinfo is None:
        raise MalformedError("proof 'created' must carry a time zone (e.g. 'Z')")
    return created


@dataclass(frozen=True)
class ProofOptions:
    """What a signer chooses for a proof (Data Integrity v1.0 §2.1 proof options)."""

    verification_method: str
    created: str
    proof_purpose: str = "assertionMethod"
    nonce: str | None = None

    def to_json(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "type": PROOF_TYPE,
            "cryptosuite": CRYPTOSUITE,
            "created": self.created,
            "verificationMethod": self.verification_method,
            "proofPurpose": self.proof_purpose,
        }
        if self.nonce is not None:
            options["nonce"] = self.nonce
        return options


@dataclass(frozen=True)
class DataIntegrityProof:
    """The ``proof`` member of a secured document, parsed but not yet verified."""

    options: Mapping[str, Any]
    """The proof without ``proofValue``: exactly what was hashed as the proof configuration."""
    signature: bytes
    verification_method: str
    created: datetime
    proof_purpose: str
    nonce: str | None = field(default=None)

    @property
    def key(self) -> DidKey:
        """The ``did:key`` the verification method names."""
        return DidKey.from_verification_method(self.verification_method)

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> DataIntegrityProof:
        """Parse the single ``DataIntegrityProof`` of ``document`` (eddsa-jcs-2022 only)."""
        if not isinstance(document, Mapping):
            raise MalformedError("a secured document is a JSON object")
        proof = document.get("proof")
        if proof is None:
            raise MalformedError("the document carries no 'proof'")
        if not isinstance(proof, Mapping):
            raise MalformedError("'proof' must be one JSON object (proof sets are not accepted)")
        if proof.get("type") != PROOF_TYPE:
            raise MalformedError(f"proof type must be {PROOF_TYPE!r}")
        if proof.get("cryptosuite") != CRYPTOSUITE:
            raise MalformedError(f"proof cryptosuite must be {CRYPTOSUITE!r}")
        for member in ("verificationMethod", "proofPurpose", "proofValue"):
            if not isinstance(proof.get(member), str):
                raise MalformedError(f"proof '{member}' must be a string")
        nonce = proof.get("nonce")
        if nonce is not None and not isinstance(nonce, str):
            raise MalformedError("proof 'nonce' must be a string")
        signature = decode_base58btc(proof["proofValue"], "proofValue")
        if len(signature) != 64:
            raise MalformedError("proofValue is not a 64-byte Ed25519 signature")
        options = {k: v for k, v in proof.items() if k != "proofValue"}
        return cls(
            options,
            signature,
            proof["verificationMethod"],
            parse_created(proof.get("created")),
            proof["proofPurpose"],
            nonce,
        )


def hash_data(
    proof_config: Mapping[str, Any],
    document: Mapping[str, Any],
    *,
    canonical_document: bytes | None = None,
) -> bytes:
    """§3.3.4 Hashing: SHA-256(JCS(proof config)) || SHA-256(JCS(document)), 64 bytes.

    ``canonical_document`` is JCS(document) when the caller already has it.
    """
    config_hash = hashlib.sha256(canonical_json(proof_config, "the proof configuration")).digest()
    if canonical_document is None:
        canonical_document = canonical_json(document, "the document")
    return config_hash + hashlib.sha256(canonical_document).digest()


def _unsecured(document: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "proof"}


def create_proof(
    document: Mapping[str, Any], key: Ed25519PrivateKey, options: ProofOptions
) -> dict[str, Any]:
    """§3.3.1 Create Proof: the ``proof`` member for ``document`` (which must not have one)."""
    if "proof" in document:
        raise MalformedError("the document already carries a proof")
    parse_created(options.created)
    proof = options.to_json()
    if _CONTEXT in document:  # step 2: the proof configuration carries the document's context
        proof[_CONTEXT] = document[_CONTEXT]
    proof["proofValue"] = encode_base58btc(key.sign(hash_data(proof, document)))
    return proof


def sign_document(
    document: Mapping[str, Any], key: Ed25519PrivateKey, options: ProofOptions
) -> dict[str, Any]:
    """``document`` with its ``proof`` member added."""
    return {**document, "proof": create_proof(document, key, options)}


def verify_proof(
    document: Mapping[str, Any],
    key: Ed25519PublicKey,
    proof: DataIntegrityProof | None = None,
    *,
    members: CanonicalMembers | None = None,
) -> None:
    """§3.3.2 Verify Proof: raise unless ``key`` signed ``document`` exactly as received.

    ``proof`` is the document's parsed proof, when the caller already parsed it (to find the
    key); otherwise it is parsed here. ``members`` are the document's members already
    serialised (the caller keeps the whole document's canonical form too).
    """
    if proof is None:
        proof = DataIntegrityProof.from_document(document)
    unsecured = _unsecured(document)
    if (_CONTEXT in proof.options or _CONTEXT in unsecured) and proof.options.get(
        _CONTEXT
    ) != unsecured.get(_CONTEXT):
        raise SignatureError("the document's @context is not the one its proof signed")
    try:
        canonical = members.without("proof") if members is not None else None
        key.verify(
            proof.signature,
            hash_data(proof.options, unsecured, canonical_document=canonical),
        )
    except InvalidSignature:
        raise SignatureError(
            f"the proof by {proof.verification_method[:60]} does not verify"
        ) from None
