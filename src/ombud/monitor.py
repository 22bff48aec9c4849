"""The monitor: follow a log, and catch it the moment it forks or rewrites its history.

Threat model: the log (and whoever serves it) is the adversary; the monitor trusts only the
log's and witnesses' public keys and the checkpoint it trusted last (its state file). Each new
checkpoint must be validly signed (and cosigned by the witness quorum, when given), every entry
and tile it commits to is recomputed, and it must be provably consistent (RFC 9162 §2.1.4) with
the trusted one. A fork the log signed — two roots for one size, or a larger tree whose root at
the trusted size differs — becomes ``ForkEvidence`` that convinces anyone holding the log key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ombud.errors import (
    InconsistentTreeError,
    MalformedError,
    NotFoundError,
    OmbudError,
    VerificationError,
)
from ombud.ledger import note
from ombud.ledger.checkpoint import (
    Checkpoint,
    SignedCheckpoint,
    open_checkpoint,
    verify_extends,
    verify_quorum,
)
from ombud.ledger.evidence import ForkEvidence, verify_evidence
from ombud.ledger.verifier import TileSource, audit_log, served_consistency

__all__ = ["ForkDetectedError", "MonitorReport", "check_log"]


class ForkDetectedError(InconsistentTreeError):
    """The log signed two checkpoints that cannot both be true; ``evidence`` proves it."""

    def __init__(self, message: str, evidence: ForkEvidence) -> None:
        super().__init__(message)
        self.evidence = evidence


@dataclass(frozen=True)
class MonitorReport:
    checkpoint: SignedCheckpoint
    """The checkpoint now trusted."""
    previous: Checkpoint | None
    entries: int
    """Entries recomputed this round (0 when the log did not move)."""


def _fork(evidence: ForkEvidence, log_keys: Sequence[note.Verifier]) -> ForkDetectedError:
    verify_evidence(evidence, log_keys)  # never accuse on evidence that does not hold up
    return ForkDetectedError(f"the log forked: {evidence.describe()}", evidence)


def check_log(
    source: TileSource,
    log_keys: Sequence[note.Verifier],
    *,
    witnesses: Sequence[note.Verifier] = (),
    quorum: int = 0,
    trusted: bytes | None = None,
) -> MonitorReport:
    """One monitoring round against ``trusted`` (the note trusted last, or None at first).

    Raises ``ForkDetectedError`` with evidence for a provable fork, another
    ``VerificationError`` for anything else that does not verify (a rollback, bad tiles).
    """
    if trusted is None:
        report = audit_log(source, log_keys, witnesses=witnesses, quorum=quorum)
        return MonitorReport(report.checkpoint, None, report.entries)
    previous = open_checkpoint(trusted, log_keys, witnesses=witnesses)
    raw = source.fetch("checkpoint")
    if raw is None:
        raise NotFoundError(f"no checkpoint at {source.description}")
    try:
        served = open_checkpoint(raw, log_keys, witnesses=witnesses)
    except MalformedError as exc:  # what the log serves: it did not verify (an alert, exit 1)
        raise VerificationError(f"checkpoint: {exc}") from exc
    if quorum:
        verify_quorum(served, witnesses, quorum)
    # A same-size fork is proven by the two notes alone: check before reading any tile.
    if not _grew(previous, trusted, served, raw, log_keys):
        return MonitorReport(previous, previous.checkpoint, 0)
    report = audit_log(source, log_keys, witnesses=witnesses, quorum=quorum)
    latest = report.checkpoint.to_bytes()
    if not _grew(previous, trusted, report.checkpoint, latest, log_keys):  # it moved meanwhile
        return MonitorReport(previous, previous.checkpoint, 0)
    prev, cp = previous.checkpoint, report.checkpoint.checkpoint
    proof, root_then = served_consistency(source, prev.size, cp.size)
    if root_then == prev.root:
        verify_extends(prev, cp, proof)
        return MonitorReport(report.checkpoint, prev, report.entries)
    try:
        fork = _fork(ForkEvidence.split(trusted, latest, root_then, proof), log_keys)
    except OmbudError as exc:  # the served proof does not bind: bad tiles, not a provable fork
        raise InconsistentTreeError(
            f"checkpoint {cp.size} is not consistent with trusted {prev.size}: {exc}"
        ) from exc
    raise fork


def _grew(
    previous: SignedCheckpoint,
    previous_note: bytes,
    served: SignedCheckpoint,
    served_note: bytes,
    log_keys: Sequence[note.Verifier],
) -> bool:
    """False if ``served`` is the trusted checkpoint, True if it is larger; raise otherwise."""
    prev, cp = previous.checkpoint, served.checkpoint
    if cp.size == prev.size:
        if cp.root != prev.root:
            raise _fork(ForkEvidence.same_size(previous_note, served_note), log_keys)
        return False
    if cp.size < prev.size:
        raise InconsistentTreeError(
            f"rollback: the log serves checkpoint {cp.size} after checkpoint {prev.size} "
            "was trusted"
        )
    return True
