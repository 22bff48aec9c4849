"""The witness: cosign a log's checkpoint only if it extends the last one cosigned for that log.

Threat model: the log operator is the adversary. It may send forks (two trees of one size), roll
back (an older size), replay old requests, race requests against each other, or send proofs and
signatures that do not verify. The witness cosigns only a checkpoint signed by a key it was
configured to trust for that origin, and only after proving it consistent (RFC 9162 §2.1.4.2)
with the checkpoint it last cosigned, in the same atomic, durable step that records it
(``state``). Two validly signed checkpoints of one size with different roots are kept as
evidence (c2sp.org/tlog-witness: "the witness MAY log the request ... as it might be proof of
log misbehavior").

Checks follow c2sp.org/tlog-witness §add-checkpoint, mapped to the error hierarchy:
``MalformedError`` → 400, ``SignatureError`` → 403, ``NotFoundError`` → 404,
``ConflictError`` → 409, ``InconsistentTreeError`` → 422.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass

from ombud.errors import ConflictError, InconsistentTreeError, MalformedError, NotFoundError
from ombud.ledger import note
from ombud.ledger.checkpoint import Checkpoint, open_checkpoint, verify_extends
from ombud.ledger.evidence import ForkEvidence
from ombud.ledger.merkle import EMPTY_ROOT
from ombud.witness.protocol import AddCheckpoint
from ombud.witness.state import CosignedCheckpoint, WitnessState

__all__ = ["Witness", "check_advance", "origin_hash"]

logger = logging.getLogger("ombud.witness")


def check_advance(
    stored: CosignedCheckpoint | None, request: AddCheckpoint, checkpoint: Checkpoint
) -> None:
    """Decide whether ``checkpoint`` may replace ``stored``; raise the refusal if not.

    Pure: the caller runs it atomically with the write of the new state.
    """
    current = stored.size if stored is not None else 0
    if request.old_size != current:
        raise ConflictError(
            f"old size {request.old_size} is not the size {current} last cosigned for "
            f"{checkpoint.origin}",
            current,
        )
    if checkpoint.size == 0 and checkpoint.root != EMPTY_ROOT:
        raise InconsistentTreeError("a checkpoint of size 0 must have the root of the empty tree")
    if request.old_size == 0:
        if request.proof:
            raise InconsistentTreeError("a request from old size 0 takes an empty proof")
        if stored is not None and stored.root != checkpoint.root:  # both of size 0
            raise InconsistentTreeError("two different roots for the empty tree")
        return
    assert stored is not None  # old_size == current > 0
    if request.old_size == checkpoint.size and stored.root != checkpoint.root:
        raise InconsistentTreeError(
            f"checkpoint of size {checkpoint.size} has a different root than the one cosigned "
            "at that size: the log forked"
        )
    verify_extends(stored, checkpoint, request.proof)


@dataclass(frozen=True)
class _Accepted:
    checkpoint: Checkpoint
    cosignature: bytes
    stored_note: bytes


class Witness:
    """A witness key, the logs it vouches for, and its durable state.

    ``clock`` (seconds since the epoch) stamps the state's ``updated_at``; the signer carries the
    clock its cosignatures are timestamped with, normally the same one.
    """

    def __init__(
        self,
        signer: note.Signer,
        log_keys: Iterable[note.Verifier],
        state: WitnessState,
        *,
        clock: Callable[[], float],
        on_evidence: Callable[[ForkEvidence], None] | None = None,
    ) -> None:
        if signer.sig_type != note.ALG_COSIGNATURE_V1:
            raise MalformedError("a witness cosigns with an Ed25519 cosignature (0x04) key")
        self.signer = signer
        self.logs: dict[str, list[note.Verifier]] = {}
        for key in log_keys:
            if key.is_cosigner:
                raise MalformedError(f"log key {key.name} is a cosigner key, not a log's key")
            self.logs.setdefault(key.name, []).append(key)
        self._by_hash = {origin_hash(origin): origin for origin in self.logs}
        self.state = state
        self._clock = clock
        self._on_evidence = on_evidence

    def _open(self, request: AddCheckpoint) -> tuple[Checkpoint, note.Note]:
        """Verify the checkpoint's log signature: 404 for an unknown origin, 403 if unsigned."""
        text = note.parse(request.checkpoint).text
        origin = Checkpoint.from_text(text).origin
        keys = self.logs.get(origin)
        if keys is None:
            raise NotFoundError(f"this witness does not witness the log {origin!r}")
        signed = open_checkpoint(request.checkpoint, keys, origin=origin)
        if request.old_size > signed.checkpoint.size:
            raise MalformedError(
                f"old size {request.old_size} is larger than the checkpoint size "
                f"{signed.checkpoint.size}"
            )
        return signed.checkpoint, signed.note

    def add_checkpoint(self, body: bytes) -> Future[bytes]:
        """Handle one add-checkpoint request body.

        Malformed, unsigned or unknown-log requests raise at once; the returned future resolves
        to the cosignature line once the new state is durable, or raises ``ConflictError`` /
        ``InconsistentTreeError``.
        """
        request = AddCheckpoint.from_bytes(body)
        checkpoint, opened = self._open(request)
        cosignature = self.signer.signature_line(opened.text)
        trusted = {(v.verifier.name, v.verifier.key_id) for v in opened.verified}
        log_lines = b"".join(
            sig.line() for sig in opened.signatures if (sig.name, sig.key_id) in trusted
        )
        accepted = _Accepted(checkpoint, cosignature, opened.text + b"\n" + log_lines + cosignature)

        def check(stored: CosignedCheckpoint | None) -> CosignedCheckpoint:
            try:
                check_advance(stored, request, checkpoint)
            except InconsistentTreeError:
                if stored is not None and stored.size == checkpoint.size:
                    self._record_fork(stored, request.checkpoint)
                raise
            return CosignedCheckpoint(
                checkpoint.origin,
                checkpoint.size,
                checkpoint.root,
                accepted.stored_note,
                int(self._clock()),
            )

        outer: Future[bytes] = Future()
        inner = self.state.update(checkpoint.origin, check)

        def done(f: Future[CosignedCheckpoint]) -> None:
            exc = f.exception()
            if exc is not None:
                outer.set_exception(exc)
            else:
                outer.set_result(accepted.cosignature)

        inner.add_done_callback(done)
        return outer

    def _record_fork(self, stored: CosignedCheckpoint, submitted: bytes) -> None:
        try:
            evidence = ForkEvidence.same_size(stored.note, submitted)
        except MalformedError as exc:  # cannot happen for notes this witness verified
            logger.error("could not build fork evidence: %s", exc)
            return
        logger.error(
            "FORK: log %s signed two checkpoints of size %d with different roots",
            stored.origin,
            stored.size,
        )
        if self._on_evidence is not None:
            self._on_evidence(evidence)

    def latest(self, origin_hash: str) -> CosignedCheckpoint:
        """The latest cosigned checkpoint of the log whose origin hashes to ``origin_hash``."""
        origin = self._by_hash.get(origin_hash)
        record = self.state.get(origin) if origin is not None else None
        if record is None:
            raise NotFoundError("this witness has not cosigned a checkpoint of that log")
        return record


def origin_hash(origin: str) -> str:
    """Lowercase hex SHA-256 of the origin: the monitoring path of a log (tlog-witness)."""
    return hashlib.sha256(origin.encode()).hexdigest()
