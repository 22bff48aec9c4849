"""RFC 9474 RSA blind signatures against the Appendix A vectors (../shared/vectors/rfc9474)."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from ombud.errors import MalformedError, SignatureError, VerificationError
from ombud.voice.blind_rsa import (
    Variant,
    blind,
    blind_sign,
    emsa_pss_encode,
    finalize,
    prepare,
    verify_signature,
)
from tests.conftest import shared_vectors


def keys(v: dict[str, Any]) -> tuple[rsa.RSAPrivateKey, rsa.RSAPublicKey]:
    p, q, n, e, d = (int(v[k], 16) for k in ("p", "q", "n", "e", "d"))
    public = rsa.RSAPublicNumbers(e, n)
    private = rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q), public
    )
    return private.private_key(), public.public_key()


def vectors() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = shared_vectors("rfc9474/vectors.json")
    return found


@pytest.mark.parametrize("index", range(4))
def test_appendix_a_vectors(index: int) -> None:
    v = vectors()[index]
    variant = Variant.named(v["name"])
    private, public = keys(v)
    msg, prefix = bytes.fromhex(v["msg"]), bytes.fromhex(v["msg_prefix"])
    prepared = prepare(msg, variant, rng=lambda size: prefix[:size])
    assert prepared.hex() == v["prepared_msg"]
    n = int(v["n"], 16)
    salt = bytes.fromhex(v["salt"])
    assert emsa_pss_encode(prepared, n.bit_length() - 1, salt).hex() == v["encoded_msg"]
    inv = int(v["inv"], 16)
    blinded = blind(public, prepared, variant, salt=salt, r=pow(inv, -1, n))
    assert blinded.blinded_msg.hex() == v["blinded_msg"] and blinded.inv == inv
    blind_sig = blind_sign(private, blinded.blinded_msg)
    assert blind_sig.hex() == v["blind_sig"]
    sig = finalize(public, prepared, blind_sig, blinded.inv, variant)
    assert sig.hex() == v["sig"]
    verify_signature(public, prepared, sig, variant)
    with pytest.raises(VerificationError):
        verify_signature(public, prepared + b"!", sig, variant)


def test_the_other_published_a4_blinding_also_finalises() -> None:
    # RFC 9474 A.4 circulates with two blinding triples (see the vectors' README); both
    # must yield the same deterministic signature.
    v = vectors()[3]
    other = shared_vectors("rfc9474/a4_alternative_blinding.json")
    private, public = keys(v)
    blind_sig = blind_sign(private, bytes.fromhex(other["blinded_msg"]))
    assert blind_sig.hex() == other["blind_sig"]
    prepared = bytes.fromhex(v["prepared_msg"])
    sig = finalize(
        public, prepared, blind_sig, int(other["inv"], 16), Variant.PSSZERO_DETERMINISTIC
    )
    assert sig.hex() == v["sig"]


def test_a_round_trip_with_fresh_randomness_and_what_is_refused() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key()
    for variant in Variant:
        prepared = prepare(b"one voice, one period", variant)
        blinded = blind(public, prepared, variant)
        blind_sig = blind_sign(private, blinded.blinded_msg)
        sig = finalize(public, prepared, blind_sig, blinded.inv, variant)
        verify_signature(public, prepared, sig, variant)
        # The signer saw only the blinded message, which differs from the signature's input.
        assert blinded.blinded_msg != sig
    with pytest.raises(MalformedError):
        blind_sign(private, b"\x00" * 10)
    with pytest.raises(MalformedError):
        blind_sign(private, b"\xff" * 256)  # not below the modulus
    blinded = blind(public, b"x", Variant.PSS_DETERMINISTIC)
    tampered = bytearray(blind_sign(private, blinded.blinded_msg))
    tampered[-1] ^= 1
    with pytest.raises(VerificationError):
        finalize(public, b"x", bytes(tampered), blinded.inv, Variant.PSS_DETERMINISTIC)
    with pytest.raises(MalformedError):
        blind(public, b"x", Variant.PSS_DETERMINISTIC, salt=b"short")
    with pytest.raises(MalformedError):
        Variant.named("RSABSSA-SHA256-PSS")


def test_the_signer_refuses_to_return_a_faulty_signature() -> None:
    # A fault in one CRT half (here a wrong exponent mod p) yields s with s^e != m; returning
    # it would let anyone factor n (Boneh-DeMillo-Lipton). The self-check catches it.
    v = vectors()[2]
    private, _ = keys(v)
    good = private.private_numbers()

    class Faulty:
        def private_numbers(self) -> rsa.RSAPrivateNumbers:
            return rsa.RSAPrivateNumbers(
                good.p, good.q, good.d, good.dmp1 + 1, good.dmq1, good.iqmp, good.public_numbers
            )

    with pytest.raises(SignatureError):
        blind_sign(Faulty(), bytes.fromhex(v["blinded_msg"]))  # type: ignore[arg-type]
