"""``ombud log …``: append from stdin, export, prove, status."""

from __future__ import annotations

import os
import select
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from ombud.config import Settings
from ombud.deployment import open_log
from ombud.errors import EntryTooLargeError, NotFoundError, UnavailableError
from ombud.ledger.export import export_log
from ombud.ledger.log import BatchPolicy
from ombud.ledger.tiles import MAX_ENTRY_SIZE

_CHUNK = 1 << 20


def stdin_batches(fd: int, policy: BatchPolicy) -> Iterator[list[bytes]]:
    """Lines of ``fd`` (without their newline) in batches closed by size or by age.

    A batch closes at ``policy.max_entries`` lines, or ``policy.max_age`` seconds after its
    first line arrived if no more come. A line over the entry size limit ends the stream: the
    lines before it are yielded, then ``EntryTooLargeError`` names the line.
    """
    pending: list[bytes] = []
    deadline = 0.0
    buffer = b""
    lines_read = 0
    while True:
        if pending and not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
            yield pending
            pending = []
            continue
        chunk = os.read(fd, _CHUNK)
        if chunk:
            lines = (buffer + chunk).split(b"\n")
            buffer = lines.pop()
        else:
            lines, buffer = ([buffer] if buffer else []), b""
        too_large = None
        if lines and max(map(len, lines)) > MAX_ENTRY_SIZE:
            bad = next(i for i, line in enumerate(lines) if len(line) > MAX_ENTRY_SIZE)
            too_large = f"line {lines_read + bad + 1} is {len(lines[bad])} bytes"
            lines = lines[:bad]
        elif len(buffer) > MAX_ENTRY_SIZE:
            too_large = f"line {lines_read + len(lines) + 1} is longer than {MAX_ENTRY_SIZE} bytes"
        if lines and not pending:
            deadline = time.monotonic() + policy.max_age
        lines_read += len(lines)
        pending.extend(lines)
        while len(pending) >= policy.max_entries:
            yield pending[: policy.max_entries]
            pending = pending[policy.max_entries :]
        if too_large is not None or not chunk:
            if pending:
                yield pending
            if too_large is not None:
                raise EntryTooLargeError(
                    f"{too_large}; entries are at most {MAX_ENTRY_SIZE} bytes (tlog-tiles). "
                    "Entries before it were appended."
                )
            return


def run_append(directory: Path) -> None:
    """Append stdin's lines; print each index, flushed, only once its batch is durable."""
    settings = Settings.for_directory(directory)
    policy = BatchPolicy(settings.log.batch_max_entries, settings.log.batch_max_age_ms / 1000)
    out = sys.stdout.buffer

    def acknowledge(first: int, count: int) -> None:
        out.write(("\n".join(map(str, range(first, first + count))) + "\n").encode())
        out.flush()

    log = open_log(directory, settings)
    try:
        log.append_stream(stdin_batches(sys.stdin.fileno(), policy), acknowledge)
    finally:
        log.close()


def run_export(directory: Path, out: Path) -> None:
    from ombud.cli._progress import progress_bar

    log = open_log(directory, Settings.for_directory(directory))
    try:
        with progress_bar("exporting tiles") as progress:
            report = export_log(log, out, progress=progress)
    finally:
        log.close()
    cp = report.checkpoint.checkpoint
    print(f"exported {cp.origin} at size {cp.size} to {out} ({report.files} files)")


def run_checkpoint(directory: Path) -> None:
    """Sign a checkpoint, publish it under the witness policy, print the published note."""
    from ombud.witness.publisher import publish_once  # HTTP client: not on the append path

    settings = Settings.for_directory(directory)
    log = open_log(directory, settings)
    try:
        outcome = publish_once(log, settings.witnesses)
        if not outcome.published:
            raise UnavailableError(outcome.summary())
        published = log.published_checkpoint()
        assert published is not None
    finally:
        log.close()
    sys.stdout.buffer.write(published.note)


def run_prove(directory: Path, index: int) -> None:
    """A tlog-proof for entry ``index`` in the latest published checkpoint (cosignatures in)."""
    log = open_log(directory, Settings.for_directory(directory))
    try:
        log.catch_up()
        bundle = log.prove(index, with_entry=True)
        if bundle is None:
            published = log.published_checkpoint()
            size = published.size if published else 0
            raise NotFoundError(
                f"entry {index} is not in the published checkpoint (size {size}) yet"
            )
    finally:
        log.close()
    sys.stdout.buffer.write(bundle.to_bytes())


def run_status(directory: Path) -> None:
    from ombud.witness.publisher import PublishOutcome

    settings = Settings.for_directory(directory)
    log = open_log(directory, settings, with_key=False)
    try:
        state = log.state()
        latest = log.latest_checkpoint()
        published = log.published_checkpoint()
        status = log.store.publish_status()
    finally:
        log.close()
    policy = settings.witnesses
    print(f"origin      {log.origin}")
    print(f"size        {state.size} entries integrated")
    if latest is None:
        print("checkpoint  none signed yet (run `ombud log checkpoint`)")
    else:
        behind = state.size - latest.size
        print(
            f"checkpoint  size {latest.size} signed"
            + (f" ({behind} entries not yet checkpointed)" if behind else "")
        )
    if policy.quorum:
        names = ", ".join(w.name for w in policy.witness)
        print(f"witnesses   quorum {policy.quorum} of {len(policy.witness)}: {names}")
    else:
        print("witnesses   none: every signed checkpoint is published unwitnessed")
    print(f"published   size {published.size}" if published else "published   nothing yet")
    if latest is not None and (published is None or published.size < latest.size):
        print(f"PUBLISHING BLOCKED: checkpoint {latest.size} has no witness quorum yet")
    if status is not None:
        outcome = PublishOutcome.from_json(status)
        when = datetime.fromtimestamp(outcome.at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        print(f"last round  {when}: {outcome.summary()}")
