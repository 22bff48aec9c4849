"""One token per resident per period: Privacy Pass token type 0x0002 (RFC 9578 §6) over RSA
blind signatures (RFC 9474, ``voice.blind_rsa``).

Threat model: the issuer (the city's identity service) knows who each resident is and signs one
blinded token request per resident and period, but never sees the token, so it cannot link a
post to a person; the platform sees tokens and never learns who asked for them. A token is
bound to a challenge (issuer, period, platform) and spent once: the platform keeps its
nullifier (SHA-256 of the token) and refuses it a second time. The issuer could try to tag
residents with per-person keys; each period's key is therefore published on the ledger and a
token is checked against that key only (its key id is in the token). The variant is
RSABSSA-SHA384-PSS-Deterministic, as RFC 9578 uses: the token input already carries a fresh
32-byte client nonce, so the randomized variant's message prefix would add nothing, and keeping
the Privacy Pass layout lets standard clients and test vectors interoperate.

Layouts (RFC 9578): TokenChallenge §2.1.1; TokenRequest ``token_type ‖ truncated_token_key_id
‖ blinded_msg`` (§6.1); TokenResponse ``blind_sig`` (§6.2); Token ``token_type ‖ nonce ‖
challenge_digest ‖ token_key_id ‖ authenticator`` (§2.2, §6.3).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ombud.errors import MalformedError, VerificationError
from ombud.voice.blind_rsa import Variant, blind, blind_sign, finalize, verify_signature

__all__ = [
    "TOKEN_TYPE",
    "VARIANT",
    "PendingToken",
    "Token",
    "TokenChallenge",
    "finalize_token",
    "issue",
    "load_public_key",
    "nullifier",
    "period_challenge",
    "public_key_bytes",
    "request_token",
    "token_key_id",
    "verify_token",
]

TOKEN_TYPE = 0x0002
VARIANT = Variant.PSS_DETERMINISTIC
_NK = 256  # RSA-2048 modulus length, RFC 9578 §6
_NONCE = 32

# AlgorithmIdentifier of id-RSASSA-PSS with SHA-384, MGF1-SHA-384 and a 48-byte salt
# (RFC 4055 §3.1), the encoding RFC 9578 §6.5 requires for the issuer's public key.
_PSS_ALGORITHM = bytes.fromhex(
    "303d06092a864886f70d01010a3030a00d300b0609608648016503040202a11a301806092a864886f70d01"
    "0108300b0609608648016503040202a203020130"
)


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def public_key_bytes(public_key: rsa.RSAPublicKey) -> bytes:
    """The issuer key as RFC 9578 §6.5 encodes it: a SubjectPublicKeyInfo with the
    id-RSASSA-PSS algorithm identifier (``cryptography`` writes only rsaEncryption)."""
    rsa_public_key = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.PKCS1
    )
    bit_string = b"\x03" + _der_length(len(rsa_public_key) + 1) + b"\x00" + rsa_public_key
    body = _PSS_ALGORITHM + bit_string
    return b"\x30" + _der_length(len(body)) + body


def load_public_key(data: bytes) -> rsa.RSAPublicKey:
    """An issuer key in the RFC 9578 §6.5 encoding (and no other), checked."""
    try:
        key = serialization.load_der_public_key(data)
    except ValueError:
        raise MalformedError("not a DER SubjectPublicKeyInfo") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise MalformedError("a token issuer key is an RSA key")
    _check_key(key)
    if public_key_bytes(key) != data:
        raise MalformedError("an issuer key is encoded as id-RSASSA-PSS (SHA-384, salt 48)")
    return key


def period_challenge(issuer_name: str, period: str, origin: str) -> TokenChallenge:
    """The challenge of one period: the redemption context is SHA-256 of the period's name,
    so a token of one period does not verify in another."""
    context = hashlib.sha256(b"ombud voice period " + period.encode()).digest()
    return TokenChallenge(issuer_name, context, origin)


def token_key_id(public_key: rsa.RSAPublicKey) -> bytes:
    """SHA-256 of the encoded issuer key (RFC 9578 §6.5)."""
    return hashlib.sha256(public_key_bytes(public_key)).digest()


def _check_key(public_key: rsa.RSAPublicKey) -> None:
    if public_key.key_size != 8 * _NK:
        raise MalformedError(
            f"token type 0x0002 needs a 2048-bit RSA key, not {public_key.key_size}"
        )


def _opaque(data: bytes, size: int, name: str, low: int, high: int) -> bytes:
    if not low <= len(data) <= high:
        raise MalformedError(f"{name} is {low}..{high} bytes, not {len(data)}")
    return len(data).to_bytes(size, "big") + data


@dataclass(frozen=True)
class TokenChallenge:
    """RFC 9578 §2.1.1 (RFC 9577 §2.1): who issues, in which context, for which origins."""

    issuer_name: str
    redemption_context: bytes = b""
    origin_info: str = ""

    def __post_init__(self) -> None:
        if len(self.redemption_context) not in (0, 32):
            raise MalformedError("a redemption context is empty or 32 bytes")

    def to_bytes(self) -> bytes:
        return (
            TOKEN_TYPE.to_bytes(2, "big")
            + _opaque(self.issuer_name.encode(), 2, "issuer_name", 1, 0xFFFF)
            + _opaque(self.redemption_context, 1, "redemption_context", 0, 32)
            + _opaque(self.origin_info.encode(), 2, "origin_info", 0, 0xFFFF)
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> TokenChallenge:
        def take(size: int) -> bytes:
            nonlocal data
            if len(data) < size:
                raise MalformedError("a token challenge is truncated")
            head, data = data[:size], data[size:]
            return head

        if int.from_bytes(take(2), "big") != TOKEN_TYPE:
            raise MalformedError("not a token type 0x0002 challenge")
        issuer = take(int.from_bytes(take(2), "big"))
        context = take(take(1)[0])
        origin = take(int.from_bytes(take(2), "big"))
        if data:
            raise MalformedError("trailing bytes after a token challenge")
        try:
            return cls(issuer.decode(), context, origin.decode())
        except UnicodeDecodeError:
            raise MalformedError("a token challenge's names are UTF-8") from None

    def digest(self) -> bytes:
        return hashlib.sha256(self.to_bytes()).digest()


@dataclass(frozen=True)
class Token:
    """RFC 9578 §2.2: what a resident presents, once."""

    nonce: bytes
    challenge_digest: bytes
    token_key_id: bytes
    authenticator: bytes

    def token_input(self) -> bytes:
        return (
            TOKEN_TYPE.to_bytes(2, "big") + self.nonce + self.challenge_digest + self.token_key_id
        )

    def to_bytes(self) -> bytes:
        return self.token_input() + self.authenticator

    @classmethod
    def from_bytes(cls, data: bytes) -> Token:
        if len(data) != 2 + _NONCE + 32 + 32 + _NK:
            raise MalformedError(f"a type 0x0002 token is {2 + _NONCE + 64 + _NK} bytes")
        if int.from_bytes(data[:2], "big") != TOKEN_TYPE:
            raise MalformedError("not a token of type 0x0002")
        return cls(data[2:34], data[34:66], data[66:98], data[98:])


@dataclass(frozen=True)
class PendingToken:
    """The client's state between its request and the issuer's response (keep it private:
    ``inv`` unblinds)."""

    token_input: bytes
    inv: int
    request: bytes
    """The TokenRequest to send to the issuer."""


def request_token(
    public_key: rsa.RSAPublicKey,
    challenge: TokenChallenge,
    *,
    rng: Callable[[int], bytes] = os.urandom,
    salt: bytes | None = None,
    r: int | None = None,
) -> PendingToken:
    """The client's TokenRequest (RFC 9578 §6.1). ``salt`` and ``r`` are for test vectors."""
    _check_key(public_key)
    key_id = token_key_id(public_key)
    nonce = rng(_NONCE)
    token_input = TOKEN_TYPE.to_bytes(2, "big") + nonce + challenge.digest() + key_id
    blinded = blind(public_key, token_input, VARIANT, salt=salt, r=r)
    request = TOKEN_TYPE.to_bytes(2, "big") + key_id[-1:] + blinded.blinded_msg
    return PendingToken(token_input, blinded.inv, request)


def issue(private_key: rsa.RSAPrivateKey, token_request: bytes) -> bytes:
    """The issuer's TokenResponse (RFC 9578 §6.2): the blind signature, checked before it is
    returned. Whether this resident may have a token this period is the caller's decision."""
    public_key = private_key.public_key()
    _check_key(public_key)
    if len(token_request) != 3 + _NK:
        raise MalformedError(f"a type 0x0002 token request is {3 + _NK} bytes")
    if int.from_bytes(token_request[:2], "big") != TOKEN_TYPE:
        raise MalformedError("not a token request of type 0x0002")
    if token_request[2] != token_key_id(public_key)[-1]:
        raise MalformedError("the token request names another issuer key")
    return blind_sign(private_key, token_request[3:])


def finalize_token(
    public_key: rsa.RSAPublicKey, pending: PendingToken, token_response: bytes
) -> Token:
    """Unblind the issuer's response into a Token (RFC 9578 §6.3), verified."""
    authenticator = finalize(public_key, pending.token_input, token_response, pending.inv, VARIANT)
    return Token.from_bytes(pending.token_input + authenticator)


def verify_token(public_key: rsa.RSAPublicKey, token: Token, challenge: TokenChallenge) -> None:
    """The platform's check (RFC 9578 §6.4): the token is for this challenge and this key,
    and its authenticator verifies. Returns nothing, or raises ``VerificationError``."""
    if not hmac.compare_digest(token.challenge_digest, challenge.digest()):
        raise VerificationError("the token was issued for another challenge (issuer or period)")
    if not hmac.compare_digest(token.token_key_id, token_key_id(public_key)):
        raise VerificationError("the token was issued under another issuer key")
    verify_signature(public_key, token.token_input(), token.authenticator, VARIANT)


def nullifier(token: Token) -> bytes:
    """What the platform keeps of a spent token: SHA-256 of it, to refuse it a second time."""
    return hashlib.sha256(token.to_bytes()).digest()
