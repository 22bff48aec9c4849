"""Witness fixtures: an in-process witness over a fresh state, and helpers for real processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ombud.ledger.evidence import ForkEvidence
from ombud.ledger.log import Log
from ombud.witness.local import LocalWitness
from ombud.witness.state import WitnessState
from ombud.witness.statedir import STATE_DB, init_witness, read_witness_key
from ombud.witness.witness import Witness


class Clock:
    def __init__(self, now: float = 1_790_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def evidence() -> list[ForkEvidence]:
    return []


@pytest.fixture
def witness(tmp_path: Path, log: Log, evidence: list[ForkEvidence]) -> Iterator[Witness]:
    init_witness(tmp_path / "w", "witness.test/w1")
    state = WitnessState(tmp_path / "w" / STATE_DB)
    clock = Clock()
    the_witness = Witness(
        read_witness_key(tmp_path / "w", clock=clock),
        [log.verifier()],
        state,
        clock=clock,
        on_evidence=evidence.append,
    )
    yield the_witness
    the_witness.close()
    the_witness.state.close()


@pytest.fixture
def witness_processes(tmp_path: Path) -> Iterator[list[LocalWitness]]:
    """Witness processes a test starts; every one still running is stopped at the end."""
    started: list[LocalWitness] = []
    yield started
    for w in started:
        w.stop()
