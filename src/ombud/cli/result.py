"""``ombud result …``: tracked results — the responsible office signs each update on its own
machine, the clerk records it; anyone exports the results as Decidim accountability rows.

Threat model: see ``ombud.governance.results``. The office's key never leaves its machine
(``sign``), and the update names the deployment it is for (``--origin``, the log's origin);
``record`` refuses an update out of turn, by another office, forged, for another deployment or
of version 1 (which names none).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ombud.cli._files import private_key, read_json
from ombud.cli.options import DataDir
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
    origin: Annotated[
        str,
        typer.Option(
            help="The deployment the update is for: its log's origin (the first line of its "
            "checkpoint; `ombud log status` names it). An update signed for another "
            "deployment, or without one, is refused."
        ),
    ],
    note: Annotated[str, typer.Option(help="What changed, for the record.")] = "",
    definition: Annotated[
        Path | None, typer.Option(help="With sequence 0: the result (JSON).")
    ] = None,
) -> None:
    """On the office's machine: sign an update (or, with sequence 0, the result itself) for
    one deployment (update version 2)."""
    from ombud.governance.results import Result, sign_update
    from ombud.governance.roster import check_origin

    result = None if definition is None else Result.from_json(read_json(definition, "the result"))
    made = sign_update(
        result_id, sequence, status, progress, note, holder, private_key(key), result,
        origin=check_origin(origin, "a result update"),
    )  # fmt: skip
    out.write_text(json.dumps(made.to_json(), indent=2) + "\n", encoding="utf-8")
    typer.echo(f"update {sequence} of {result_id} signed by {holder} for {origin}: {out}")


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


@result_app.command()
def verify(
    source: Annotated[str, typer.Argument(help="A tlog-tiles directory or an http(s) URL.")],
    genesis: Annotated[Path, typer.Option(help="The genesis roster you hold (JSON).")],
    key: Annotated[
        str | None,
        typer.Option(
            help="The log's verifier key (or a file): its checkpoint must be signed by it "
            "before any entry is read, and its origin is the deployment votes and updates "
            "must name."
        ),
    ] = None,
) -> None:
    """Verify every result update a log records, from your genesis roster: each signed, in
    sequence, by the office that answers for the result, a holder of the roster then in force,
    for this log (its origin, the checkpoint's: with --key, authenticated). Exit 0 with the
    counts, or exit 1 naming the first entry that does not hold: an update signed for another
    deployment, or one of version 1 (which names none) after the log's first version-2 one."""
    from ombud.cli._source import read_verified
    from ombud.cli.verify import read_vkey
    from ombud.governance.roster import Roster
    from ombud.governance.signed_audit import audit_updates

    held = Roster.from_json(read_json(genesis, "the genesis roster"))
    keys = [read_vkey(key)] if key else []
    audit = read_verified(
        source, keys, lambda entries, head: audit_updates(entries, held, origin=head.origin)
    )
    typer.echo(
        f"OK: {audit.updates} update(s) of {audit.results} result(s), each signed by the "
        f"office that answers for it for this log ({audit.unbound} of version 1, from before "
        "updates named their deployment)"
    )
