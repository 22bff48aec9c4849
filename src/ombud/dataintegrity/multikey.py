"""Ed25519 keys as Multikey strings and ``did:key`` identifiers.

Threat model: keys arrive as text from devices and operators. Decoding is strict — multibase
prefix ``z`` (base58btc) only, the exact multicodec prefix (``0xed01`` for an Ed25519 public
key, ``0x8026`` for a secret key) and the exact length — so one key has one spelling, and a
key of another type is refused rather than misread (W3C Controlled Identifiers v1.0 §2.2.2
Multikey; did:key Method v0.7 §3.1).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import base58
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ombud.errors import MalformedError

__all__ = [
    "DidKey",
    "decode_base58btc",
    "encode_base58btc",
    "public_key_multibase",
    "secret_key_from_multibase",
    "secret_key_multibase",
]

_ED25519_PUB = b"\xed\x01"
"""Unsigned-varint multicodec ``ed25519-pub`` (0xed)."""
_ED25519_PRIV = b"\x80\x26"
"""Unsigned-varint multicodec ``ed25519-priv`` (0x1300)."""
_DID_KEY = "did:key:"
_MAX_MULTIBASE = 256
_BASE58 = re.compile(r"[1-9A-HJ-NP-Za-km-z]+")


def encode_base58btc(data: bytes) -> str:
    """Multibase base58btc: ``z`` followed by the Bitcoin-alphabet base58 of ``data``."""
    return "z" + base58.b58encode(data).decode("ascii")


def decode_base58btc(value: str, what: str) -> bytes:
    """Decode a multibase base58btc string, refusing any other base or a non-canonical form."""
    if not isinstance(value, str) or not value.startswith("z"):
        raise MalformedError(f"{what} is not multibase base58btc (it must start with 'z')")
    if len(value) > _MAX_MULTIBASE:
        raise MalformedError(f"{what} is longer than {_MAX_MULTIBASE} characters")
    # Only alphabet characters: then decoding is a bijection (leading '1's are the zero bytes,
    # the rest one integer), so the spelling is canonical without re-encoding to compare.
    if not _BASE58.fullmatch(value, 1):
        raise MalformedError(f"{what} is not valid base58btc")
    return _b58decode(value[1:])


_B58_DIGITS = {
    c: i for i, c in enumerate("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")
}


def _b58decode(text: str) -> bytes:
    """Base58 (Bitcoin alphabet) of alphabet-checked ``text``: one big integer, plus a zero
    byte per leading '1'. The ``base58`` package converts to bytes digit by digit with
    ``divmod``; on the ingest hot path (one signature per observation) ``int.to_bytes`` is
    several times faster. Both are checked to agree in the tests."""
    n = 0
    for char in text:
        n = n * 58 + _B58_DIGITS[char]
    zeros = len(text) - len(text.lstrip("1"))
    return b"\0" * zeros + n.to_bytes((n.bit_length() + 7) // 8, "big")


def public_key_multibase(key: Ed25519PublicKey) -> str:
    """``z6Mk…``: the Multikey encoding of an Ed25519 public key."""
    return encode_base58btc(_ED25519_PUB + key.public_bytes_raw())


def secret_key_multibase(key: Ed25519PrivateKey) -> str:
    """``z3u2…``: the Multikey encoding of an Ed25519 secret key (its 32-byte seed)."""
    return encode_base58btc(_ED25519_PRIV + key.private_bytes_raw())


def secret_key_from_multibase(value: str) -> Ed25519PrivateKey:
    raw = decode_base58btc(value, "secret key")
    if len(raw) != 34 or raw[:2] != _ED25519_PRIV:
        raise MalformedError("secret key is not an Ed25519 Multikey (0x8026 + 32 bytes)")
    return Ed25519PrivateKey.from_private_bytes(raw[2:])


@dataclass(frozen=True)
class DidKey:
    """An Ed25519 ``did:key``: the DID is the key, so no resolver (and no network) is needed."""

    public_key: bytes
    """The raw 32-byte Ed25519 public key."""

    def __post_init__(self) -> None:
        if len(self.public_key) != 32:
            raise MalformedError("an Ed25519 public key is 32 bytes")

    @classmethod
    def from_key(cls, key: Ed25519PublicKey) -> DidKey:
        return cls(key.public_bytes_raw())

    @classmethod
    def from_multibase(cls, value: str) -> DidKey:
        raw = decode_base58btc(value, "public key")
        if len(raw) != 34 or raw[:2] != _ED25519_PUB:
            raise MalformedError("public key is not an Ed25519 Multikey (0xed01 + 32 bytes)")
        return cls(raw[2:])

    @classmethod
    def parse(cls, did: str) -> DidKey:
        """``did:key:z6Mk…`` (a bare DID, without a fragment)."""
        if not isinstance(did, str) or not did.startswith(_DID_KEY):
            raise MalformedError("a did:key identifier starts with 'did:key:'")
        return cls.from_multibase(did[len(_DID_KEY) :])

    @classmethod
    def from_verification_method(cls, method: str) -> DidKey:
        """``did:key:z6Mk…#z6Mk…``: the fragment must name the same key (did:key §3.1.2)."""
        if not isinstance(method, str):
            raise MalformedError("verificationMethod must be a string")
        return _from_verification_method(method)

    @classmethod
    def _parse_verification_method(cls, method: str) -> DidKey:
        did, sep, fragment = method.partition("#")
        key = cls.parse(did)
        if not sep or fragment != key.multibase:
            raise MalformedError("verificationMethod of a did:key is did:key:<key>#<the same key>")
        return key

    # Cached: each observation names its key, and base58 is slow in pure Python.
    @functools.cached_property
    def multibase(self) -> str:
        return encode_base58btc(_ED25519_PUB + self.public_key)

    @functools.cached_property
    def did(self) -> str:
        return _DID_KEY + self.multibase

    @functools.cached_property
    def verification_method(self) -> str:
        return f"{self.did}#{self.multibase}"

    def ed25519(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.public_key)


@functools.lru_cache(maxsize=4096)
def _from_verification_method(method: str) -> DidKey:
    """Parsing is pure, and a fleet's devices name the same few thousand keys again and again."""
    return DidKey._parse_verification_method(method)
