"""C2SP tlog-proof: an offline-verifiable proof that an entry is in a log (c2sp.org/tlog-proof).

Threat model: a bundle is handed around by untrusted parties. Its ``extra`` data is never
trusted by itself; an entry is accepted only if its leaf hash, the inclusion proof and a
checkpoint signed by the log's key (and, by policy, cosigned by a quorum of witnesses) agree.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass

from ombud.errors import MalformedError, ProofError
from ombud.ledger import merkle, note
from ombud.ledger.checkpoint import open_checkpoint, parse_decimal, verify_quorum

__all__ = ["HEADER", "MAX_BUNDLE_SIZE", "ProofBundle", "verify_proof_bundle"]

HEADER = b"c2sp.org/tlog-proof@v1"
MAX_BUNDLE_SIZE = 2 * note.MAX_NOTE_SIZE


@dataclass(frozen=True)
class ProofBundle:
    """Index, inclusion proof, signed checkpoint, and optional unauthenticated extra data."""

    index: int
    proof: tuple[bytes, ...]
    checkpoint: bytes
    extra: bytes | None = None

    def to_bytes(self) -> bytes:
        lines = [HEADER]
        if self.extra is not None:
            lines.append(b"extra " + base64.b64encode(self.extra))
        lines.append(b"index %d" % self.index)
        lines.extend(base64.b64encode(h) for h in self.proof)
        return b"\n".join(lines) + b"\n\n" + self.checkpoint

    @classmethod
    def from_bytes(cls, data: bytes) -> ProofBundle:
        if len(data) > MAX_BUNDLE_SIZE:
            raise MalformedError(f"proof bundle is larger than {MAX_BUNDLE_SIZE} bytes")
        head, sep, checkpoint = data.partition(b"\n\n")
        if not sep:
            raise MalformedError("proof bundle has no blank line before its checkpoint")
        lines = head.split(b"\n")
        if lines[0] != HEADER:
            raise MalformedError(f"proof bundle does not start with {HEADER.decode()}")
        pos = 1
        extra = None
        if pos < len(lines) and lines[pos].startswith(b"extra "):
            extra = note.b64decode(lines[pos][6:], "proof bundle extra data")
            pos += 1
        if pos >= len(lines) or not lines[pos].startswith(b"index "):
            raise MalformedError("proof bundle has no index line")
        index = parse_decimal(lines[pos][6:].decode("ascii", "replace"), "proof bundle index")
        proof = []
        for number, line in enumerate(lines[pos + 1 :], 1):
            node = note.b64decode(line, f"proof bundle hash {number}")
            if len(node) != merkle.HASH_SIZE:
                raise MalformedError(f"proof bundle hash {number} is not 32 bytes")
            proof.append(node)
        if len(proof) > 64:
            raise MalformedError("proof bundle has more than 64 proof hashes")
        return cls(index, tuple(proof), checkpoint, extra)


def verify_proof_bundle(
    bundle: ProofBundle,
    entry: bytes,
    log_keys: Iterable[note.Verifier],
    *,
    origin: str | None = None,
    witnesses: Iterable[note.Verifier] = (),
    quorum: int = 0,
) -> None:
    """Verify that ``entry`` is at ``bundle.index`` in the log that signed the bundle's checkpoint.

    tlog-proof §"Verifying a tlog proof": the checkpoint's log signature, then the witness quorum,
    then the inclusion proof of the entry's leaf hash. Raises a ``VerificationError`` on any
    failure, returns None on success.
    """
    witnesses = list(witnesses)
    signed = open_checkpoint(bundle.checkpoint, log_keys, origin=origin, witnesses=witnesses)
    if quorum:
        verify_quorum(signed, witnesses, quorum)
    cp = signed.checkpoint
    if bundle.index >= cp.size:
        raise ProofError(f"index {bundle.index} is not in the checkpoint of size {cp.size}")
    merkle.verify_inclusion(merkle.leaf_hash(entry), bundle.index, cp.size, bundle.proof, cp.root)
