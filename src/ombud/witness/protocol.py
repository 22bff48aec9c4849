"""The wire format of C2SP tlog-witness: add-checkpoint bodies and 409 size bodies.

Threat model: request bodies come from anyone on the network. Parsing is strict (decimal sizes
without leading zeroes, canonical base64 hashes, at most 63 proof lines, every line ending in a
newline) and bounded, so one byte string has exactly one meaning; nothing here is trusted until
the witness has verified the checkpoint's signature.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

from ombud.errors import MalformedError
from ombud.ledger import note
from ombud.ledger.checkpoint import parse_decimal
from ombud.ledger.merkle import HASH_SIZE

__all__ = [
    "MAX_PROOF_LINES",
    "SIZE_MEDIA_TYPE",
    "AddCheckpoint",
    "encode_size",
    "parse_size",
]

MAX_PROOF_LINES = 63
"""c2sp.org/tlog-witness §add-checkpoint: "The client MUST NOT send more than 63 proof lines"."""
SIZE_MEDIA_TYPE = "text/x.tlog.size"


@dataclass(frozen=True)
class AddCheckpoint:
    """``old <size>\\n``, consistency proof lines, a blank line, then a signed checkpoint note."""

    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: bytes
    """The signed checkpoint note, exactly as sent (verified by the witness, not here)."""

    def to_bytes(self) -> bytes:
        lines = [b"old %d\n" % self.old_size]
        lines.extend(base64.b64encode(h) + b"\n" for h in self.proof)
        return b"".join(lines) + b"\n" + self.checkpoint

    @classmethod
    def build(cls, old_size: int, proof: Sequence[bytes], checkpoint: bytes) -> AddCheckpoint:
        if len(proof) > MAX_PROOF_LINES or any(len(h) != HASH_SIZE for h in proof):
            raise MalformedError("a consistency proof is at most 63 hashes of 32 bytes")
        return cls(old_size, tuple(proof), checkpoint)

    @classmethod
    def from_bytes(cls, body: bytes) -> AddCheckpoint:
        """Parse a request body (c2sp.org/tlog-witness §add-checkpoint)."""
        head, sep, checkpoint = body.partition(b"\n\n")
        if not sep:
            raise MalformedError("request has no empty line before the checkpoint")
        lines = head.split(b"\n")
        if not lines[0].startswith(b"old "):
            raise MalformedError("request does not start with an 'old <size>' line")
        try:
            old_text = lines[0][4:].decode("ascii")
        except UnicodeDecodeError:
            raise MalformedError("the old size is not an ASCII decimal") from None
        old_size = parse_decimal(old_text, "old size")
        if len(lines) - 1 > MAX_PROOF_LINES:
            raise MalformedError(f"the consistency proof has more than {MAX_PROOF_LINES} lines")
        proof = []
        for number, line in enumerate(lines[1:], 1):
            h = note.b64decode(line, f"consistency proof line {number}")
            if len(h) != HASH_SIZE:
                raise MalformedError(f"consistency proof line {number} is not a 32-byte hash")
            proof.append(h)
        if not checkpoint:
            raise MalformedError("request has no checkpoint after the empty line")
        return cls(old_size, tuple(proof), checkpoint)


def encode_size(size: int) -> bytes:
    """The body of a 409 Conflict: the witness's latest cosigned size and a newline."""
    return b"%d\n" % size


def parse_size(body: bytes) -> int:
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise MalformedError("a text/x.tlog.size body is an ASCII decimal") from None
    if not text.endswith("\n"):
        raise MalformedError("a text/x.tlog.size body ends with a newline")
    return parse_decimal(text[:-1], "witness tree size")
