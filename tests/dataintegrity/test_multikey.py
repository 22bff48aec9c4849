"""Multikey and did:key, against the W3C Data Integrity EdDSA v1.0 test vectors (keyPair.json,
written here as literals: TestVectors/keyPair.json of w3c/vc-di-eddsa, W3C Software and
Document License) and the README of ../shared/vectors/w3c-eddsa-jcs-2022."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from ombud.dataintegrity.multikey import (
    DidKey,
    decode_base58btc,
    encode_base58btc,
    public_key_multibase,
    secret_key_from_multibase,
    secret_key_multibase,
)
from ombud.errors import MalformedError

PUBLIC = "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
SECRET = "z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq"
RAW_PUBLIC = bytes.fromhex("b00d8d938e7f773d51565aad36a623f5344f7f5d1960f9cf3e8e12620ea2810f")


def test_the_vector_key_pair() -> None:
    key = DidKey.from_multibase(PUBLIC)
    assert key.public_key == RAW_PUBLIC
    assert key.verification_method == f"did:key:{PUBLIC}#{PUBLIC}"
    secret = secret_key_from_multibase(SECRET)
    assert public_key_multibase(secret.public_key()) == PUBLIC
    assert secret_key_multibase(secret) == SECRET
    assert DidKey.from_verification_method(key.verification_method) == key
    assert DidKey.parse(key.did) == key


def test_every_ed25519_did_key_starts_z6mk() -> None:
    for _ in range(20):
        key = DidKey.from_key(Ed25519PrivateKey.generate().public_key())
        assert key.multibase.startswith("z6Mk")
        assert DidKey.from_multibase(key.multibase) == key


@pytest.mark.parametrize(
    "bad",
    [
        "6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2",  # no multibase prefix
        "f" + RAW_PUBLIC.hex(),  # base16, not base58btc
        "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ0",  # '0' is not in the alphabet
        encode_base58btc(b"\xec\x01" + RAW_PUBLIC),  # x25519-pub, not ed25519-pub
        encode_base58btc(b"\xed\x01" + RAW_PUBLIC[:31]),  # short
        SECRET,  # a secret key where a public key belongs
    ],
)
def test_other_keys_and_spellings_are_refused(bad: str) -> None:
    with pytest.raises(MalformedError):
        DidKey.from_multibase(bad)


def test_verification_method_must_name_the_same_key() -> None:
    other = DidKey.from_key(Ed25519PrivateKey.generate().public_key()).multibase
    for bad in (f"did:key:{PUBLIC}", f"did:key:{PUBLIC}#{other}", f"did:web:x#{PUBLIC}", 7):
        with pytest.raises(MalformedError):
            DidKey.from_verification_method(bad)  # type: ignore[arg-type]


def test_base58btc_is_canonical() -> None:
    assert decode_base58btc(encode_base58btc(b"\x00\x00ab"), "x") == b"\x00\x00ab"
    with pytest.raises(MalformedError, match="start with 'z'"):
        decode_base58btc("", "x")


@settings(max_examples=300)
@given(st.binary(min_size=1, max_size=80))
def test_base58_decoding_agrees_with_the_base58_package(data: bytes) -> None:
    import base58

    text = "z" + base58.b58encode(data).decode()
    assert decode_base58btc(text, "x") == data == base58.b58decode(text[1:])
