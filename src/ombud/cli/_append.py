"""``ombud log append DIR``: stdin's lines appended in durable batches.

The one hot path of the CLI (bulk appends are timed end to end, process start included):
``ombud.cli.main`` runs it without importing typer, so this module imports no command line.
"""

from __future__ import annotations

import os
import select
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from ombud.config import Settings
from ombud.deployment import open_log
from ombud.errors import EntryTooLargeError
from ombud.ledger.log import BatchPolicy
from ombud.ledger.tiles import MAX_ENTRY_SIZE

__all__ = ["run_append", "stdin_batches"]

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
