"""The ``ombud`` command line: thin shells over the library that turn errors into messages.

Threat model: the CLI is run by operators, witnesses and auditors on their own machines; it
prints no secrets, refuses uninitialised directories, and reports every failure as one line
naming what was wrong (exit 1: something did not verify; exit 2: bad input or setup) — never a
traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from ombud.errors import OmbudError, VerificationError

__all__ = ["main"]


def _run(command: Callable[[], object]) -> None:
    try:
        command()
    except VerificationError as exc:
        print(f"ombud: verification failed: {exc}", file=sys.stderr)
        sys.exit(1)
    except OmbudError as exc:
        print(f"ombud: {exc}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        print(f"ombud: {exc.strerror or exc}{where}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        try:
            sys.stdout.flush()
        except BrokenPipeError:  # the reader went away; say nothing more on stdout
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def main() -> None:
    """Entry point of the ``ombud`` command.

    ``ombud log append DIR`` is the one hot path (bulk appends are timed end to end, process
    start included), so its exact form skips importing typer and its dependencies (~0.1 s).
    """
    argv = sys.argv[1:]
    if len(argv) == 3 and argv[:2] == ["log", "append"] and not argv[2].startswith("-"):
        from ombud.cli._append import run_append

        _run(lambda: run_append(Path(argv[2])))
        return
    from ombud.cli.app import app

    _run(app)
