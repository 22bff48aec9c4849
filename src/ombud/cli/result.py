"""``ombud result …``: tracked results — the responsible office signs each update on its own
machine, the clerk records it; anyone exports the results as Decidim accountability rows.

Threat model: see ``ombud.governance.results``. The office's key never leaves its machine
(``sign``); ``record`` refuses an update out of turn, by another office or forged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ombud.cli._files import read_json
from ombud.cli.options import DataDir
from ombud.cli.tender import private_key
from ombud.deployment import Deployment

__all__ = ["result_app"]

result_app = typer.Typer(
    help="Results promised by decisions and contracts, updated by the office that answers.",
    no_args_is_help=True,
)


@result_app.command()
def sign(
    result_id: Annotated[str, typer.Argument(help="The result's id.")],
    sequence: Annotated[int, typer.Option(help="0 creates the result; then 1, 2, …")],
    status: Annotated[str, typer.Option(help="planned, in-progress, delayed, completed…")],
    progress: Annotated[int, typer.Option(help="0 to 100.")],
    holder: Annotated[str, typer.Option(help="Your office's holder id.")],
    key: Annotated[Path, typer.Option(help="Your roster key (PEM).")],
    out: Annotated[Path, typer.Option(help="Where to write the signed update.")],
    note: Annotated[str, typer.Option(help="What changed, for the record.")] = "",
    definition: Annotated[
        Path | None, typer.Option(help="With sequence 0: the result (JSON).")
    ] = None,
) -> None:
    """On the office's machine: sign an update (or, with sequence 0, the result itself)."""
    from ombud.governance.results import Result, sign_update

    result = None if definition is None else Result.from_json(read_json(definition, "the result"))
    made = sign_update(
        result_id, sequence, status, progress, note, holder, private_key(key), result
    )
    out.write_text(json.dumps(made.to_json(), indent=2) + "\n", encoding="utf-8")
    typer.echo(f"update {sequence} of {result_id} signed by {holder}: {out}")


@result_app.command()
def record(
    data_dir: DataDir,
    update_file: Annotated[Path, typer.Argument(help="A signed update.")],
) -> None:
    """Record a signed update (``result.updated``)."""
    from ombud.governance.results import ResultUpdate

    made = ResultUpdate.from_json(read_json(update_file, "the update"))
    with Deployment.open(data_dir, with_key=False) as deployment:
        index = deployment.results.record(made, actor="clerk")
    typer.echo(f"update {made.sequence} of {made.result_id} recorded at ledger index {index}")


@result_app.command()
def export(
    data_dir: DataDir,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV instead of JSON.")] = False,
) -> None:
    """Every result with its latest status and progress, as Decidim accountability rows."""
    from ombud.governance.results import decidim_csv

    with Deployment.open(data_dir, with_key=False) as deployment:
        rows = deployment.results.export()
    typer.echo(decidim_csv(rows) if as_csv else json.dumps(rows, indent=2), nl=not as_csv)
