"""The tamper-evident ledger: an RFC 9162 Merkle log with C2SP checkpoints, tiles and proofs.

Threat model: whoever runs the log may try to rewrite or fork history. Everything here is
built so that anyone holding the log's public key (and its witnesses') can detect that
offline: proofs verify against signed checkpoints, tiles are recomputed from entries, and a
checkpoint must be consistent with every earlier one.

Public API (stable; external checks call ``merkle`` directly):

* ``merkle`` — ``leaf_hash``, ``node_hash``, ``root``, ``inclusion_proof``,
  ``consistency_proof``, ``verify_inclusion``, ``verify_consistency``;
* ``note`` — C2SP signed notes: ``Signer``, ``Verifier``, ``sign``, ``open``;
* ``checkpoint`` / ``cosignature`` / ``tiles`` / ``proof_bundle`` — the C2SP formats;
* ``Log`` over a ``LogStore`` (``SqlStore``, on SQLite or PostgreSQL), ``init_log`` /
  ``open_log_dir`` for directories,
  ``export_log`` and ``audit_log`` for publishing and verifying tile trees.
"""

from ombud.ledger import checkpoint, cosignature, merkle, note, proof_bundle, tiles
from ombud.ledger.checkpoint import Checkpoint, SignedCheckpoint, open_checkpoint, verify_quorum
from ombud.ledger.export import export_log
from ombud.ledger.log import BatchPolicy, Log, Sequencer
from ombud.ledger.logdir import init_log, open_log_dir
from ombud.ledger.proof_bundle import ProofBundle, verify_proof_bundle
from ombud.ledger.store import LogStore
from ombud.ledger.store_sql import SqlStore
from ombud.ledger.verifier import AuditReport, audit_log, open_source

__all__ = [
    "AuditReport",
    "BatchPolicy",
    "Checkpoint",
    "Log",
    "LogStore",
    "ProofBundle",
    "Sequencer",
    "SignedCheckpoint",
    "SqlStore",
    "audit_log",
    "checkpoint",
    "cosignature",
    "export_log",
    "init_log",
    "merkle",
    "note",
    "open_checkpoint",
    "open_log_dir",
    "open_source",
    "proof_bundle",
    "tiles",
    "verify_proof_bundle",
    "verify_quorum",
]
