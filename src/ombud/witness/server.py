"""``ombud witness serve``: a witness process on a loopback address.

Threat model: see ``ombud.witness.witness``; this shell only wires the key, the trusted log keys
and the state directory to uvicorn, and closes the state (flushing its writer) on shutdown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from ombud.ledger import note
from ombud.ledger.evidence import ForkEvidence
from ombud.listen import parse_listen
from ombud.witness.app import create_witness_app
from ombud.witness.state import WitnessState
from ombud.witness.statedir import STATE_DB, read_witness_key, save_evidence
from ombud.witness.witness import Witness

__all__ = ["run_witness"]

logger = logging.getLogger("ombud.witness")


def run_witness(state_dir: Path, log_keys: Sequence[note.Verifier], listen: str) -> None:
    host, port = parse_listen(listen)
    signer = read_witness_key(state_dir, clock=time.time)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    def keep(evidence: ForkEvidence) -> None:
        path = save_evidence(state_dir, evidence)
        logger.error("fork evidence written to %s: %s", path, evidence.describe())

    state = WitnessState(state_dir / STATE_DB)
    witness = Witness(signer, log_keys, state, clock=time.time, on_evidence=keep)

    def shutdown() -> None:  # from the ASGI lifespan: uvicorn re-raises SIGTERM after it
        witness.close()
        logger.info("state: %d updates in %d transactions", state.updates, state.commits)
        state.close()

    logger.info(
        "witness %s witnessing %s on %s:%d",
        signer.verifier().vkey,
        ", ".join(sorted(witness.logs)),
        host,
        port,
    )
    uvicorn.run(
        create_witness_app(witness, on_shutdown=shutdown),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,  # a witness is addressed directly; X-Forwarded-* is not trusted
    )
