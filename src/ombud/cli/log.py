"""``ombud log …``: append from stdin, export, prove, status."""

from __future__ import annotations

import os
import select
import sys
import time
from pathlib import Path

import typer

from ombud.config import SETTINGS_FILE, LogSettings, Settings
from ombud.errors import EntryTooLargeError
from ombud.ledger.export import export_log
from ombud.ledger.log import BatchPolicy, Log
from ombud.ledger.logdir import open_log
from ombud.ledger.proof_bundle import ProofBundle
from ombud.ledger.tiles import MAX_ENTRY_SIZE

_CHUNK = 1 << 20


def log_settings(directory: Path) -> LogSettings:
    """A deployment's log settings, or the defaults for a bare log directory."""
    if (directory / SETTINGS_FILE).is_file():
        return Settings.load(directory).log
    return LogSettings()


class _Acknowledger:
    """Commits batches and prints their indexes, flushed, only after each commit."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.out = sys.stdout.buffer
        self.appended = 0

    def commit(self, batch: list[bytes]) -> None:
        if not batch:
            return
        first = self.log.append_batch(batch)
        self.out.write(("\n".join(map(str, range(first, first + len(batch)))) + "\n").encode())
        self.out.flush()
        self.appended += len(batch)


def run_append(directory: Path) -> None:
    """Read entries from stdin, one per line, batching by size and age (the sequencer policy).

    A line over the entry size limit stops the run: everything before it is committed and
    acknowledged, nothing after it is read, and the error names the line.
    """
    settings = log_settings(directory)
    policy = BatchPolicy(settings.batch_max_entries, settings.batch_max_age_ms / 1000)
    log = open_log(directory, settings)
    ack = _Acknowledger(log)
    fd = sys.stdin.fileno()
    pending: list[bytes] = []
    deadline = 0.0
    buffer = b""
    lines_read = 0
    too_large: EntryTooLargeError | None = None
    try:
        while too_large is None:
            if pending:
                timeout = max(0.0, deadline - time.monotonic())
                if not select.select([fd], [], [], timeout)[0]:
                    ack.commit(pending)
                    pending = []
                    continue
            chunk = os.read(fd, _CHUNK)
            if chunk:
                lines = (buffer + chunk).split(b"\n")
                buffer = lines.pop()
            else:
                lines = [buffer] if buffer else []
                buffer = b""
            if lines and max(map(len, lines)) > MAX_ENTRY_SIZE:
                bad = next(i for i, line in enumerate(lines) if len(line) > MAX_ENTRY_SIZE)
                too_large = EntryTooLargeError(
                    f"line {lines_read + bad + 1} is {len(lines[bad])} bytes; entries are at most "
                    f"{MAX_ENTRY_SIZE} bytes (tlog-tiles). Entries before it were appended."
                )
                lines = lines[:bad]
            elif len(buffer) > MAX_ENTRY_SIZE:
                too_large = EntryTooLargeError(
                    f"line {lines_read + len(lines) + 1} is longer than {MAX_ENTRY_SIZE} bytes "
                    "(tlog-tiles). Entries before it were appended."
                )
            if lines and not pending:
                deadline = time.monotonic() + policy.max_age
            lines_read += len(lines)
            pending.extend(lines)
            while len(pending) >= policy.max_entries:
                ack.commit(pending[: policy.max_entries])
                pending = pending[policy.max_entries :]
            if not chunk:
                break
        ack.commit(pending)
    finally:
        log.close()
    if too_large is not None:
        raise too_large


def run_export(directory: Path, out: Path) -> None:
    from ombud.cli._progress import progress_bar

    log = open_log(directory, log_settings(directory))
    try:
        with progress_bar("exporting tiles") as progress:
            report = export_log(log, out, progress=progress)
    finally:
        log.close()
    cp = report.checkpoint.checkpoint
    typer.echo(f"exported {cp.origin} at size {cp.size} to {out} ({report.files} files)")


def run_prove(directory: Path, index: int) -> None:
    log = open_log(directory, log_settings(directory))
    try:
        signed = log.checkpoint()
        size = signed.checkpoint.size
        proof = log.inclusion_proof(index, size)
        bundle = ProofBundle(index, tuple(proof), signed.to_bytes(), extra=log.entry(index))
    finally:
        log.close()
    sys.stdout.buffer.write(bundle.to_bytes())


def run_status(directory: Path) -> None:
    log = open_log(directory, log_settings(directory), with_key=False)
    try:
        state = log.state()
        latest = log.latest_checkpoint()
    finally:
        log.close()
    typer.echo(f"origin      {log.origin}")
    typer.echo(f"size        {state.size} entries integrated")
    if latest is None:
        typer.echo("checkpoint  none signed yet (run `ombud log checkpoint`)")
    else:
        behind = state.size - latest.size
        typer.echo(f"checkpoint  size {latest.size}" + (f" ({behind} entries not yet checkpointed)" if behind else ""))
