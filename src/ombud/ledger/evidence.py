"""Evidence that a log forked: two checkpoints it signed that cannot both be honest.

Threat model: evidence is published to accuse a log operator, so it must convince anyone who
holds only the log's public key, and must never be forgeable from honest behaviour. It holds two
checkpoints signed by the log and, when their sizes differ, the root the larger tree has at the
smaller size together with an RFC 9162 consistency proof binding it to the larger checkpoint
(§2.1.4.2). Then either the sizes are equal and the roots differ, or the larger tree provably
contains a different tree at the smaller size: both are impossible for an append-only log.

The file is canonical JSON (RFC 8785) so that it can be hashed, signed or posted anywhere.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ombud.canonical import canonical_json, parse_json
from ombud.errors import MalformedError, ProofError, VerificationError
from ombud.ledger import merkle, note
from ombud.ledger.checkpoint import Checkpoint, open_checkpoint

__all__ = ["EVIDENCE_TYPE", "MAX_EVIDENCE_SIZE", "ForkEvidence", "verify_evidence"]

EVIDENCE_TYPE = "ombud.fork-evidence/v1"
MAX_EVIDENCE_SIZE = 4 * note.MAX_NOTE_SIZE


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise MalformedError(f"evidence {what} must be a base64 string")
    return note.b64decode(value, f"evidence {what}")


def _checkpoint(signed_note: bytes) -> Checkpoint:
    return Checkpoint.from_text(note.parse(signed_note).text)


@dataclass(frozen=True)
class ForkEvidence:
    """Two signed checkpoints of one origin, and (for different sizes) the proof of the split.

    ``first`` is the smaller (or equal) tree. ``root_at_first_size`` and ``proof`` are set when
    the sizes differ: the root the second tree has at the first's size, and the consistency proof
    from that root to the second checkpoint.
    """

    first: bytes
    second: bytes
    root_at_first_size: bytes | None = None
    proof: tuple[bytes, ...] = ()

    @classmethod
    def same_size(cls, a: bytes, b: bytes) -> ForkEvidence:
        if _checkpoint(a).size != _checkpoint(b).size:
            raise MalformedError("same-size evidence needs two checkpoints of one size")
        return cls(a, b)

    @classmethod
    def split(
        cls, smaller: bytes, larger: bytes, root_at_smaller: bytes, proof: Sequence[bytes]
    ) -> ForkEvidence:
        if _checkpoint(smaller).size >= _checkpoint(larger).size:
            raise MalformedError("split evidence names the smaller checkpoint first")
        return cls(smaller, larger, root_at_smaller, tuple(proof))

    def checkpoints(self) -> tuple[Checkpoint, Checkpoint]:
        return _checkpoint(self.first), _checkpoint(self.second)

    def describe(self) -> str:
        a, b = self.checkpoints()
        if a.size == b.size:
            return (
                f"{a.origin} signed two checkpoints of size {a.size} with different roots "
                f"({_b64(a.root)} and {_b64(b.root)})"
            )
        assert self.root_at_first_size is not None
        return (
            f"{a.origin} signed a checkpoint of size {a.size} (root {_b64(a.root)}) and one of "
            f"size {b.size} whose tree has root {_b64(self.root_at_first_size)} at size {a.size}"
        )

    def to_bytes(self) -> bytes:
        body: dict[str, Any] = {
            "type": EVIDENCE_TYPE,
            "checkpoints": [self.first.decode(), self.second.decode()],
        }
        if self.root_at_first_size is not None:
            body["root_at_first_size"] = _b64(self.root_at_first_size)
            body["proof"] = [_b64(h) for h in self.proof]
        return canonical_json(body, "evidence") + b"\n"

    @classmethod
    def from_bytes(cls, data: bytes) -> ForkEvidence:
        if len(data) > MAX_EVIDENCE_SIZE:
            raise MalformedError(f"evidence is larger than {MAX_EVIDENCE_SIZE} bytes")
        body = parse_json(data, "evidence")
        if not isinstance(body, dict) or body.get("type") != EVIDENCE_TYPE:
            raise MalformedError(f"evidence is not of type {EVIDENCE_TYPE}")
        unknown = set(body) - {"type", "checkpoints", "root_at_first_size", "proof"}
        if unknown:
            raise MalformedError(f"evidence has unknown fields {sorted(unknown)}")
        notes = body.get("checkpoints")
        if (
            not isinstance(notes, list)
            or len(notes) != 2
            or not all(isinstance(n, str) for n in notes)
        ):
            raise MalformedError("evidence must hold exactly two checkpoint notes")
        first, second = (n.encode() for n in notes)
        if "root_at_first_size" not in body:
            if "proof" in body:
                raise MalformedError("a proof needs root_at_first_size")
            return cls(first, second)
        proof = body.get("proof")
        if not isinstance(proof, list):
            raise MalformedError("evidence proof must be a list of base64 hashes")
        return cls(
            first,
            second,
            _unb64(body["root_at_first_size"], "root_at_first_size"),
            tuple(_unb64(h, "proof hash") for h in proof),
        )


def verify_evidence(evidence: ForkEvidence, log_keys: Sequence[note.Verifier]) -> None:
    """Check that ``evidence`` proves the log signed two irreconcilable checkpoints.

    Raises ``VerificationError`` when it does not (an unsigned note, two views of one honest
    log, a proof that does not verify).
    """
    if not log_keys:
        raise VerificationError("fork evidence is judged against the log's key: none was given")
    a = open_checkpoint(evidence.first, log_keys, origin=log_keys[0].name).checkpoint
    b = open_checkpoint(evidence.second, log_keys, origin=log_keys[0].name).checkpoint
    if a.size == b.size:
        if evidence.root_at_first_size is not None or evidence.proof:
            raise VerificationError("evidence for one size carries no proof")
        if a.root == b.root:
            raise VerificationError(f"both checkpoints have the same root at size {a.size}")
        return
    if a.size > b.size:
        raise VerificationError("evidence must name the smaller checkpoint first")
    claimed = evidence.root_at_first_size
    if claimed is None:
        raise VerificationError("checkpoints of different sizes need the root and a proof")
    if claimed == a.root:
        raise VerificationError(
            f"the larger tree has the same root at size {a.size}: no split is shown"
        )
    try:
        merkle.verify_consistency(a.size, b.size, evidence.proof, claimed, b.root)
    except ProofError as exc:
        raise VerificationError(f"the consistency proof in the evidence fails: {exc}") from exc
