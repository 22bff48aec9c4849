"""Privacy Pass token type 0x0002 against the RFC 9578 vectors (../shared/vectors/rfc9578-type2),
and the checks a platform makes."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ombud.errors import MalformedError, VerificationError
from ombud.voice.tokens import (
    Token,
    TokenChallenge,
    finalize_token,
    issue,
    nullifier,
    public_key_bytes,
    request_token,
    token_key_id,
    verify_token,
)
from tests.conftest import shared_vectors


def issuer_key(v: dict[str, Any]) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(bytes.fromhex(v["skS"]), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@pytest.mark.parametrize("index", range(5))
def test_rfc9578_type2_vectors(index: int) -> None:
    v = shared_vectors("rfc9578-type2/vectors.json")[index]
    private = issuer_key(v)
    public = private.public_key()
    assert public_key_bytes(public).hex() == v["pkS"]
    challenge = TokenChallenge.from_bytes(bytes.fromhex(v["token_challenge"]))
    assert challenge.to_bytes().hex() == v["token_challenge"]
    nonce = bytes.fromhex(v["nonce"])
    pending = request_token(
        public,
        challenge,
        rng=lambda size: nonce[:size],
        salt=bytes.fromhex(v["salt"]),
        r=int(v["blind"], 16),
    )
    assert pending.request.hex() == v["token_request"]
    response = issue(private, pending.request)
    assert response.hex() == v["token_response"]
    token = finalize_token(public, pending, response)
    assert token.to_bytes().hex() == v["token"]
    verify_token(public, Token.from_bytes(bytes.fromhex(v["token"])), challenge)


def test_derived_values() -> None:
    v = shared_vectors("rfc9578-type2/vectors.json")[0]
    derived = shared_vectors("rfc9578-type2/derived.json")[0]
    public = issuer_key(v).public_key()
    assert token_key_id(public).hex() == derived["token_key_id"]
    challenge = TokenChallenge.from_bytes(bytes.fromhex(v["token_challenge"]))
    assert challenge.issuer_name == derived["challenge_issuer_name"]
    assert challenge.origin_info == derived["challenge_origin_info"]
    assert challenge.digest().hex() == derived["challenge_digest"]


def test_a_token_is_for_one_challenge_and_one_key() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key()
    period = TokenChallenge("id.city.example", hashlib.sha256(b"2026-12").digest(), "ombud")
    pending = request_token(public, period)
    token = finalize_token(public, pending, issue(private, pending.request))
    verify_token(public, token, period)
    assert nullifier(token) == hashlib.sha256(token.to_bytes()).digest()
    next_period = TokenChallenge("id.city.example", hashlib.sha256(b"2027-01").digest(), "ombud")
    with pytest.raises(VerificationError, match="another challenge"):
        verify_token(public, token, next_period)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    with pytest.raises(VerificationError, match="another issuer key"):
        verify_token(other, token, period)
    forged = Token(token.nonce, token.challenge_digest, token.token_key_id, b"\x01" * 256)
    with pytest.raises(VerificationError):
        verify_token(public, forged, period)
    with pytest.raises(MalformedError):
        Token.from_bytes(token.to_bytes()[:-1])
    with pytest.raises(MalformedError):
        issue(private, pending.request[:-1])
    with pytest.raises(MalformedError):
        issue(private, b"\x00\x02" + bytes([pending.request[2] ^ 1]) + pending.request[3:])
    with pytest.raises(MalformedError):
        TokenChallenge("x", b"short")
    with pytest.raises(MalformedError):
        TokenChallenge.from_bytes(period.to_bytes() + b"!")
