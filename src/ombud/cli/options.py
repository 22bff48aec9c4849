"""Option and argument types that more than one command group takes (``typing.Annotated``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["DataDir", "LogDir", "LogKey", "Quorum", "Witnesses"]

DataDir = Annotated[
    Path, typer.Option("--data-dir", help="The deployment's data directory (see `ombud init`).")
]
LogDir = Annotated[Path, typer.Argument(help="The log's directory.")]
LogKey = Annotated[str, typer.Option(help="The log's verifier key (vkey), or a file holding it.")]
Witnesses = Annotated[list[str] | None, typer.Option(help="A witness cosigner vkey (repeatable).")]
Quorum = Annotated[
    int | None, typer.Option(help="Witness cosignatures required (default: all given).")
]
