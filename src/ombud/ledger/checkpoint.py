"""C2SP tlog-checkpoint: the signed tree head of a log (c2sp.org/tlog-checkpoint).

Threat model: a checkpoint is the log's commitment to one history; clients trust its body only
through a signature by the log's key (``open_checkpoint``), and reject bodies that could be read
two ways (leading zeroes, non-canonical base64, empty extension lines).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ombud.errors import InconsistentTreeError, MalformedError, ProofError, SignatureError
from ombud.ledger import merkle, note
from ombud.ledger.merkle import HASH_SIZE
from ombud.ledger.note import Note, VerifiedSignature

__all__ = [
    "Checkpoint",
    "SignedCheckpoint",
    "TreeHead",
    "open_checkpoint",
    "parse_decimal",
    "verify_extends",
    "verify_quorum",
]

_DECIMAL = re.compile(r"0|[1-9][0-9]*")


def parse_decimal(text: str, what: str, *, limit: int = 1 << 64) -> int:
    """An ASCII decimal with no leading zeroes, below ``limit`` (the form every C2SP spec uses)."""
    if not _DECIMAL.fullmatch(text):
        raise MalformedError(f"{what} {text[:40]!r} is not a decimal number without leading zeroes")
    if len(text) > len(str(limit)):  # before int(): Python refuses over 4,300 digits itself
        raise MalformedError(f"{what} {text[:40]}… is too large")
    value = int(text)
    if value >= limit:
        raise MalformedError(f"{what} {text[:40]} is too large")
    return value


@dataclass(frozen=True)
class Checkpoint:
    """Origin, tree size and RFC 9162 root hash, plus optional opaque extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise MalformedError("checkpoint origin must be one non-empty line")
        if not 0 <= self.size < 1 << 64:
            raise MalformedError("checkpoint size must fit in 64 bits")
        if len(self.root) != HASH_SIZE:
            raise MalformedError("checkpoint root must be a 32-byte hash")
        for line in self.extensions:
            if not line or "\n" in line:
                raise MalformedError("checkpoint extension lines must be single non-empty lines")

    def to_text(self) -> bytes:
        """The note text: ``<origin>\\n<size>\\n<base64 root>\\n[<extension>\\n...]``."""
        lines = [
            self.origin,
            str(self.size),
            base64.b64encode(self.root).decode(),
            *self.extensions,
        ]
        return ("\n".join(lines) + "\n").encode()

    @classmethod
    def from_text(cls, text: bytes) -> Checkpoint:
        """Parse a checkpoint note text (without signatures)."""
        try:
            decoded = text.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedError("checkpoint is not valid UTF-8") from None
        if not decoded.endswith("\n"):
            raise MalformedError("checkpoint text must end with a newline")
        lines = decoded[:-1].split("\n")
        if len(lines) < 3:
            raise MalformedError("checkpoint needs an origin, a size and a root hash line")
        origin, size_line, root_line, *extensions = lines
        if not origin:
            raise MalformedError("checkpoint origin line is empty")
        size = parse_decimal(size_line, "checkpoint size")
        root = note.b64decode(root_line, "checkpoint root hash")
        if len(root) != HASH_SIZE:
            raise MalformedError("checkpoint root hash is not 32 bytes")
        return cls(origin, size, root, tuple(extensions))


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint whose log signature verified, with the note it came in."""

    checkpoint: Checkpoint
    note: Note

    def to_bytes(self) -> bytes:
        return self.note.to_bytes()

    @property
    def cosigners(self) -> tuple[VerifiedSignature, ...]:
        """The trusted witnesses whose cosignatures verified."""
        return tuple(v for v in self.note.verified if v.verifier.is_cosigner)


def open_checkpoint(
    msg: bytes,
    log_keys: Iterable[note.Verifier],
    *,
    origin: str | None = None,
    witnesses: Iterable[note.Verifier] = (),
) -> SignedCheckpoint:
    """Verify and parse a signed checkpoint.

    A log key (type 0x01) must have verified it — a cosignature alone does not make a checkpoint
    the log's — and its origin must be ``origin`` (by default, the log key's name).
    """
    log_keys = list(log_keys)
    if not log_keys or any(k.is_cosigner for k in log_keys):
        raise MalformedError("a checkpoint is opened with the log's Ed25519 (type 0x01) key")
    opened = note.open(msg, [*log_keys, *witnesses])
    logs = {(k.name, k.key_id) for k in log_keys}  # not any type-0x01 key among the witnesses
    if not any((v.verifier.name, v.verifier.key_id) in logs for v in opened.verified):
        raise SignatureError("checkpoint is not signed by the log's key")
    checkpoint = Checkpoint.from_text(opened.text)
    expected = origin if origin is not None else log_keys[0].name
    if checkpoint.origin != expected:
        raise SignatureError(f"checkpoint origin {checkpoint.origin[:100]!r} is not {expected!r}")
    return SignedCheckpoint(checkpoint, opened)


def verify_quorum(
    signed: SignedCheckpoint, witnesses: Iterable[note.Verifier], quorum: int
) -> None:
    """Require cosignatures by at least ``quorum`` distinct ``witnesses`` (tlog-proof §Verifying).

    ``signed`` must have been opened with the same witness keys, so that their cosignatures were
    verified; counting is by witness key, so repeating one witness's line does not count twice.
    """
    witnesses = list(witnesses)
    if any(not w.is_cosigner for w in witnesses):
        raise MalformedError("witness keys must be cosignature (type 0x04) verifier keys")
    if quorum < 0 or quorum > len(witnesses):
        raise MalformedError(f"quorum {quorum} is not between 0 and the {len(witnesses)} witnesses")
    trusted = {(w.name, w.key_id) for w in witnesses}
    cosigned = {(v.verifier.name, v.verifier.key_id) for v in signed.cosigners} & trusted
    if len(cosigned) < quorum:
        names = ", ".join(sorted(name for name, _ in cosigned)) or "none"
        raise SignatureError(
            f"checkpoint of size {signed.checkpoint.size} has {len(cosigned)} of the {quorum} "
            f"witness cosignatures required (verified: {names})"
        )


class TreeHead(Protocol):
    """Anything naming a tree by size and root: a checkpoint, a stored tree state."""

    @property
    def size(self) -> int: ...

    @property
    def root(self) -> bytes: ...


def verify_extends(old: TreeHead, new: TreeHead, proof: Sequence[bytes]) -> None:
    """Prove that ``new`` is an append-only extension of ``old`` (RFC 9162 §2.1.4.2).

    Raises ``InconsistentTreeError`` naming both tree heads — the evidence of a rollback or a
    fork — when it is not.
    """

    def heads() -> str:
        return (
            f"tree of size {new.size} ({base64.b64encode(new.root).decode()}) and tree of size "
            f"{old.size} ({base64.b64encode(old.root).decode()})"
        )

    if old.size > new.size:
        raise InconsistentTreeError(f"rollback: {heads()}")
    try:
        merkle.verify_consistency(old.size, new.size, proof, old.root, new.root)
    except ProofError as exc:
        raise InconsistentTreeError(f"not consistent: {heads()}: {exc}") from exc
