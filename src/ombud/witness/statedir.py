"""A witness's directory: its cosigning key (mode 0600), its vkey, state and fork evidence.

Threat model: the cosigning key is the witness's word; it is created once, never overwritten and
never printed. Evidence files are written atomically so a crash never leaves half an accusation.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

from ombud.errors import ConfigError, MalformedError, StorageError
from ombud.keyfile import write_private_key
from ombud.ledger import note
from ombud.ledger.evidence import ForkEvidence
from ombud.ledger.logdir import read_signer
from ombud.storage import write_atomically
from ombud.witness.state import WitnessState

__all__ = [
    "STATE_DB",
    "WITNESS_KEY",
    "WITNESS_VKEY",
    "init_witness",
    "read_witness_key",
    "save_evidence",
]

WITNESS_KEY = "witness.key"
WITNESS_VKEY = "witness.vkey"
STATE_DB = "state.sqlite"
EVIDENCE_DIR = "evidence"


def init_witness(
    directory: Path, name: str, *, random_bytes: Callable[[int], bytes] = os.urandom
) -> note.Verifier:
    """Create a witness in ``directory`` (created if missing, mode 0700); return its vkey."""
    try:
        note.check_key_name(name)
    except MalformedError as exc:
        raise ConfigError(f"witness name {name!r} cannot name a key: {exc}") from None
    if (directory / WITNESS_KEY).exists() or (directory / STATE_DB).exists():
        raise ConfigError(f"{directory} already holds a witness")
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    signer = note.Signer.generate(name, sig_type=note.ALG_COSIGNATURE_V1, random_bytes=random_bytes)
    write_private_key(directory / WITNESS_KEY, signer.skey)
    verifier = signer.verifier()
    (directory / WITNESS_VKEY).write_text(verifier.vkey + "\n", encoding="ascii")
    WitnessState.create(directory / STATE_DB)
    return verifier


def read_witness_key(directory: Path, *, clock: Callable[[], float] = time.time) -> note.Signer:
    """The witness's cosigning key; ``clock`` gives its cosignatures their timestamps."""
    if not (directory / WITNESS_KEY).exists():
        raise ConfigError(
            f"{directory} holds no witness; create one with "
            f"`ombud witness init --state {directory} --name NAME`"
        )
    signer = read_signer(directory / WITNESS_KEY, clock=clock)
    if signer.sig_type != note.ALG_COSIGNATURE_V1:
        raise ConfigError(f"{directory / WITNESS_KEY} is not a cosignature (type 0x04) key")
    return signer


def save_evidence(directory: Path, evidence: ForkEvidence) -> Path:
    """Write ``evidence`` under ``directory/evidence/``, named by its content hash."""
    data = evidence.to_bytes()
    path = directory / EVIDENCE_DIR / f"fork-{hashlib.sha256(data).hexdigest()[:16]}.json"
    try:
        path.parent.mkdir(exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot write evidence to {path}: {exc}") from exc
    write_atomically(path, data)
    return path
