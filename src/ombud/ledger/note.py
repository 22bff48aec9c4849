"""C2SP signed-note: text signed by one or more keys (c2sp.org/signed-note, v1.0.0).

Threat model: a note arrives from an untrusted party and may carry signatures by anyone. Its
text is trusted only if a configured key verified it; a known key whose signature fails rejects
the whole note, and unknown keys are ignored rather than trusted. Private keys never appear in
reprs, logs or error messages.

Two signature types are implemented, both Ed25519 (RFC 8032) via ``cryptography``:

* ``0x01`` — signatures by the log over the note text (signed-note §"Ed25519 signatures");
* ``0x04`` — timestamped cosignatures by witnesses (c2sp.org/tlog-cosignature §"Ed25519 signed
  message"): the signature is ``u64 timestamp || Ed25519(cosignature/v1\\ntime <t>\\n || text)``.

Keys use the Go/C2SP text forms: verifier keys ``<name>+<hex key ID>+<base64(type || public key)>``
and signer keys ``PRIVATE+KEY+<name>+<hex key ID>+<base64(type || seed)>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from ombud.errors import MalformedError, SignatureError
from ombud.ledger import cosignature

__all__ = [
    "ALG_COSIGNATURE_V1",
    "ALG_ED25519",
    "MAX_NOTE_SIZE",
    "MAX_SIGNATURES",
    "Note",
    "NoteSignature",
    "Signer",
    "VerifiedSignature",
    "Verifier",
    "b64decode",
    "check_key_name",
    "key_id",
    "open",
    "parse",
    "sign",
    "verify",
]

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04
_SUPPORTED = {ALG_ED25519: "Ed25519", ALG_COSIGNATURE_V1: "Ed25519 cosignature/v1"}

MAX_SIGNATURES = 100
"""Signature lines accepted in one note; the spec requires at least 16."""
MAX_NOTE_SIZE = 1 << 20
"""Bytes accepted in one note: 100 post-quantum signatures of ~5 kB fit comfortably."""

_EM_DASH = "\u2014 ".encode()
_CONTROL = re.compile(rb"[\x00-\x09\x0b-\x1f]")
_HEX8 = re.compile(r"[0-9a-f]{8}")


def b64decode(text: str | bytes, what: str) -> bytes:
    """Strict standard base64 (RFC 4648 §4): alphabet, padding and canonical trailing bits."""
    raw = text.encode("ascii", "replace") if isinstance(text, str) else text
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedError(f"{what} is not valid base64") from None
    if base64.b64encode(data) != raw:
        raise MalformedError(f"{what} is not canonical base64")
    return data


def check_key_name(name: str) -> str:
    """Key names are non-empty and contain no Unicode spaces and no '+' (signed-note §Format)."""
    if not name:
        raise MalformedError("key name is empty")
    if "+" in name or any(ch.isspace() for ch in name):
        raise MalformedError(f"key name {name[:80]!r} contains a space or '+'")
    if _CONTROL.search(name.encode()) or "\n" in name:
        raise MalformedError(f"key name {name[:80]!r} contains a control character")
    return name


def key_id(name: str, sig_type: int, public_key: bytes) -> int:
    """SHA-256(key name || 0x0A || signature type || public key)[:4] as a big-endian uint32."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def _check_type(sig_type: int) -> None:
    if sig_type not in _SUPPORTED:
        raise MalformedError(f"unsupported signature type 0x{sig_type:02x}")


def _public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Verifier:
    """A trusted public key: name, key ID, signature type and Ed25519 public key."""

    name: str
    key_id: int
    sig_type: int
    public_key: bytes
    _key: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_key_name(self.name)
        _check_type(self.sig_type)
        if len(self.public_key) != 32:
            raise MalformedError("an Ed25519 public key is 32 bytes")
        if self.key_id != key_id(self.name, self.sig_type, self.public_key):
            raise MalformedError(f"key ID {self.key_id:08x} does not match key {self.name!r}")
        object.__setattr__(self, "_key", Ed25519PublicKey.from_public_bytes(self.public_key))

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        """Parse ``<name>+<hex8 key ID>+<base64(type || key)>`` (signed-note §"Verifier keys")."""
        vkey = vkey.strip()
        parts = vkey.split("+", 2)  # base64 may itself contain '+'
        if len(parts) != 3:
            raise MalformedError("a verifier key has the form <name>+<hex key ID>+<base64 key>")
        name, hex_id, b64 = parts
        check_key_name(name)
        if not _HEX8.fullmatch(hex_id):
            raise MalformedError(f"verifier key ID {hex_id!r} is not 8 lowercase hex digits")
        material = b64decode(b64, "verifier key")
        if len(material) < 2:
            raise MalformedError("verifier key has no key material")
        _check_type(material[0])
        return cls(name, int(hex_id, 16), material[0], material[1:])

    @property
    def vkey(self) -> str:
        material = base64.b64encode(bytes([self.sig_type]) + self.public_key).decode()
        return f"{self.name}+{self.key_id:08x}+{material}"

    @property
    def is_cosigner(self) -> bool:
        return self.sig_type == ALG_COSIGNATURE_V1

    def verify(self, text: bytes, signature: bytes) -> int | None:
        """Verify ``signature`` (without its key ID) over ``text``.

        Returns the cosignature timestamp for type 0x04, None for type 0x01; raises
        ``SignatureError`` when the signature is wrong.
        """
        timestamp: int | None = None
        if self.sig_type == ALG_COSIGNATURE_V1:
            try:
                timestamp, signature = cosignature.decode_timestamped_signature(signature)
            except MalformedError as exc:
                raise SignatureError(f"cosignature by {self.name}: {exc}") from None
            message = cosignature.signed_message(text, timestamp)
        else:
            message = text
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            raise SignatureError(
                f"signature by {self.name} ({self.key_id:08x}) is invalid"
            ) from None
        return timestamp


class Signer:
    """A private key that signs notes (type 0x01) or cosigns checkpoints (type 0x04).

    Cosignatures are timestamped, so a cosigner takes a clock (seconds since the epoch).
    """

    __slots__ = ("_clock", "_key", "key_id", "name", "public_key", "sig_type")

    def __init__(
        self,
        name: str,
        seed: bytes,
        *,
        sig_type: int = ALG_ED25519,
        clock: Callable[[], float] = time.time,
    ) -> None:
        check_key_name(name)
        _check_type(sig_type)
        if len(seed) != 32:
            raise MalformedError("an Ed25519 private key seed is 32 bytes")
        self.name = name
        self.sig_type = sig_type
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key = _public_bytes(self._key.public_key())
        self.key_id = key_id(name, sig_type, self.public_key)
        self._clock = clock

    @classmethod
    def generate(
        cls,
        name: str,
        *,
        sig_type: int = ALG_ED25519,
        random_bytes: Callable[[int], bytes] = os.urandom,
        clock: Callable[[], float] = time.time,
    ) -> Signer:
        return cls(name, random_bytes(32), sig_type=sig_type, clock=clock)

    @classmethod
    def from_skey(cls, skey: str, *, clock: Callable[[], float] = time.time) -> Signer:
        """Parse ``PRIVATE+KEY+<name>+<hex8 key ID>+<base64(type || seed)>`` (Go's note format)."""
        parts = skey.strip().split("+", 4)  # base64 may itself contain '+'
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise MalformedError(
                "a signer key has the form PRIVATE+KEY+<name>+<hex ID>+<base64 key>"
            )
        name, hex_id, b64 = parts[2:]
        check_key_name(name)
        if not _HEX8.fullmatch(hex_id):
            raise MalformedError("signer key ID is not 8 lowercase hex digits")
        material = b64decode(b64, "signer key")
        if len(material) != 33:
            raise MalformedError("signer key material is not a type byte and a 32-byte seed")
        signer = cls(name, material[1:], sig_type=material[0], clock=clock)
        if signer.key_id != int(hex_id, 16):
            raise MalformedError("signer key ID does not match its key")
        return signer

    @property
    def skey(self) -> str:
        seed = self._key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        material = base64.b64encode(bytes([self.sig_type]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_id:08x}+{material}"

    def verifier(self) -> Verifier:
        return Verifier(self.name, self.key_id, self.sig_type, self.public_key)

    def sign(self, text: bytes) -> bytes:
        """The signature over ``text`` without the key ID prefix."""
        if self.sig_type == ALG_COSIGNATURE_V1:
            timestamp = int(self._clock())
            message = cosignature.signed_message(text, timestamp)
            return cosignature.encode_timestamped_signature(timestamp, self._key.sign(message))
        return self._key.sign(text)

    def signature_line(self, text: bytes) -> bytes:
        """``— <name> base64(key ID || signature)\\n`` for ``text``."""
        return NoteSignature(self.name, self.key_id, self.sign(text)).line()

    def __repr__(self) -> str:
        return f"Signer(name={self.name!r}, key_id={self.key_id:08x}, sig_type={self.sig_type})"


@dataclass(frozen=True)
class NoteSignature:
    """One signature line as it appears in a note, verified or not."""

    name: str
    key_id: int
    signature: bytes

    def line(self) -> bytes:
        blob = base64.b64encode(self.key_id.to_bytes(4, "big") + self.signature)
        return _EM_DASH + self.name.encode() + b" " + blob + b"\n"


@dataclass(frozen=True)
class VerifiedSignature:
    """A signature that a trusted key verified; ``timestamp`` is set for cosignatures."""

    verifier: Verifier
    timestamp: int | None


@dataclass(frozen=True)
class Note:
    """A parsed note: its text, every signature line, and those that trusted keys verified."""

    text: bytes
    signatures: tuple[NoteSignature, ...]
    verified: tuple[VerifiedSignature, ...] = ()

    def to_bytes(self) -> bytes:
        return self.text + b"\n" + b"".join(sig.line() for sig in self.signatures)


def _check_text(text: bytes) -> None:
    if not text.endswith(b"\n"):
        raise MalformedError("note text must end with a newline")
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedError("note is not valid UTF-8") from None
    if _CONTROL.search(text):
        raise MalformedError("note contains an ASCII control character other than newline")


def sign(text: bytes, *signers: Signer) -> bytes:
    """A signed note: ``text``, a blank line and one signature line per signer."""
    if not signers:
        raise MalformedError("a signed note needs at least one signer")
    _check_text(text)
    return text + b"\n" + b"".join(s.signature_line(text) for s in signers)


def parse(msg: bytes) -> Note:
    """Split a note into text and signature lines without verifying anything.

    The text must not be trusted on the strength of this call; use ``open``.
    """
    if len(msg) > MAX_NOTE_SIZE:
        raise MalformedError(f"note is {len(msg)} bytes; at most {MAX_NOTE_SIZE} are accepted")
    _check_text(msg)
    split = msg.rfind(b"\n\n")
    if split < 0:
        raise MalformedError("note has no blank line before its signatures")
    text, sig_block = msg[: split + 1], msg[split + 2 :]
    lines = sig_block.split(b"\n")[:-1]  # sig_block ends with "\n" (checked above)
    if not lines:
        raise MalformedError("note has no signature lines")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedError(f"note has {len(lines)} signatures; at most {MAX_SIGNATURES}")
    signatures = []
    for number, line in enumerate(lines, 1):
        if not line.startswith(_EM_DASH):
            raise MalformedError(f"signature line {number} does not start with an em dash")
        name_b, sep, blob = line[len(_EM_DASH) :].partition(b" ")
        if not sep:
            raise MalformedError(f"signature line {number} has no signature")
        name = check_key_name(name_b.decode())
        raw = b64decode(blob, f"signature line {number}")
        if len(raw) < 5:
            raise MalformedError(f"signature line {number} is shorter than a key ID and signature")
        signatures.append(NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:]))
    return Note(text, tuple(signatures))


def open(msg: bytes, verifiers: Iterable[Verifier]) -> Note:
    """Parse and verify a signed note (signed-note §Signatures); see ``verify``."""
    return verify(parse(msg), verifiers)


def verify(note: Note, verifiers: Iterable[Verifier]) -> Note:
    """Verify a parsed note's signatures; return it with those that trusted keys verified.

    Signatures from unknown keys (name and key ID not both matching) are ignored. A known key's
    failing signature rejects the note, and so does a note no known key verified. Each key is
    counted once, however many lines repeat it.
    """
    known: dict[tuple[str, int], Verifier] = {}
    for v in verifiers:
        other = known.setdefault((v.name, v.key_id), v)
        if other.public_key != v.public_key or other.sig_type != v.sig_type:
            raise MalformedError(
                f"two different trusted keys share name and ID {v.name}+{v.key_id:08x}"
            )
    verified: dict[tuple[str, int], VerifiedSignature] = {}
    checked: set[tuple[str, int, bytes]] = set()  # a line repeated verbatim is checked once
    for sig in note.signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None or (sig.name, sig.key_id, sig.signature) in checked:
            continue
        timestamp = verifier.verify(note.text, sig.signature)
        checked.add((sig.name, sig.key_id, sig.signature))
        verified.setdefault((sig.name, sig.key_id), VerifiedSignature(verifier, timestamp))
    if not verified:
        raise SignatureError("note is not signed by any trusted key")
    return Note(note.text, note.signatures, tuple(verified.values()))
