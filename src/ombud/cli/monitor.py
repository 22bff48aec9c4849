"""``ombud monitor`` and ``ombud verify-evidence``: watch a log, and check an accusation.

Threat model: the log watched is untrusted, and so are the files given (a saved checkpoint,
evidence from someone else): each is read up to a cap; with ``--watch`` whatever the log serves
that does not verify is an alert, never the end of the watch.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer

from ombud.cli.verify import read_vkey, witness_policy
from ombud.clock import utc_now
from ombud.errors import NotFoundError, StorageError, VerificationError
from ombud.ledger import note
from ombud.ledger.evidence import MAX_EVIDENCE_SIZE, ForkEvidence, verify_evidence
from ombud.ledger.verifier import open_source
from ombud.monitor import ForkDetectedError, check_log
from ombud.storage import read_capped, write_atomically


def _say(message: str) -> None:
    stamp = utc_now().strftime("%Y-%m-%dT%H:%M:%SZ")
    print(f"{stamp} {message}", file=sys.stderr, flush=True)


def run_monitor(
    source: str,
    key: str,
    witness: list[str],
    quorum: int | None,
    state: Path,
    evidence: Path | None,
    watch: bool,
    interval: float,
) -> None:
    log_key = read_vkey(key)
    witnesses, k = witness_policy(witness, quorum)
    evidence_path = evidence or state.with_name(state.name + ".evidence.json")
    trusted = read_capped(state, note.MAX_NOTE_SIZE) if state.exists() else None
    while True:
        tiles = open_source(source)
        try:
            report = check_log(tiles, [log_key], witnesses=witnesses, quorum=k, trusted=trusted)
        except ForkDetectedError as exc:
            write_atomically(evidence_path, exc.evidence.to_bytes())
            message = (
                f"{exc}; evidence written to {evidence_path} "
                f"(check it with `ombud verify-evidence {evidence_path} --key {log_key.vkey}`)"
            )
            if not watch:
                raise ForkDetectedError(message, exc.evidence) from None
            _say(f"ALERT {message}")
        except VerificationError as exc:
            if not watch:
                raise
            _say(f"ALERT {exc}")
        except (NotFoundError, StorageError) as exc:
            if not watch:
                raise
            _say(f"WARNING cannot read {source}: {exc}")
        else:
            cp = report.checkpoint.checkpoint
            if report.previous is None or report.entries:
                write_atomically(state, report.checkpoint.to_bytes())
                trusted = report.checkpoint.to_bytes()
            since = (
                f"consistent with trusted size {report.previous.size}"
                if report.previous is not None
                else "first checkpoint trusted"
            )
            line = f"OK {cp.origin} size {cp.size}: {report.entries} entries verified; {since}"
            if watch:
                _say(line)
            else:
                typer.echo(line)
        finally:
            tiles.close()
        if not watch:
            return
        time.sleep(interval)


def run_verify_evidence(path: Path, key: str) -> None:
    evidence = ForkEvidence.from_bytes(read_capped(path, MAX_EVIDENCE_SIZE))
    verify_evidence(evidence, [read_vkey(key)])
    typer.echo(f"VALID evidence of misbehaviour: {evidence.describe()}")
