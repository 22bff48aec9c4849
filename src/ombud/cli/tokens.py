"""``ombud token …``: scoped bearer tokens for the admin API.

Threat model: see ``ombud.cli``. A token is printed once, on stdout alone (so a script can
capture it), and never again: only its hash is kept.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ombud.cli.options import DataDir
from ombud.deployment import Deployment
from ombud.tokens import SCOPES

__all__ = ["token_app"]

token_app = typer.Typer(help="Scoped bearer tokens for the admin API.", no_args_is_help=True)


@token_app.command("create")
def token_create(
    data_dir: DataDir,
    scope: Annotated[
        list[str],
        typer.Option(
            help="Repeatable; one of: "
            + "; ".join(f"{name}: {what}" for name, what in SCOPES.items())
            + "."
        ),
    ],
    note: Annotated[str, typer.Option(help="What the token is for.")] = "",
) -> None:
    """Create a bearer token; it is printed once and only its hash is kept."""
    with Deployment.open(data_dir, with_key=False) as deployment:
        info, token = deployment.tokens.create(set(scope), note, now=deployment.clock())
    print(
        f"token {info.id} with scope {' '.join(sorted(info.scopes))}; shown once:", file=sys.stderr
    )
    typer.echo(token)


@token_app.command("list")
def token_list(data_dir: DataDir) -> None:
    """List tokens (ids and scopes; secrets are not kept)."""
    from rich.console import Console
    from rich.table import Table

    with Deployment.open(data_dir, with_key=False) as deployment:
        tokens = list(deployment.tokens.list())
    table = Table("id", "scopes", "created", "revoked", "note")
    for t in tokens:
        table.add_row(
            t.id, " ".join(sorted(t.scopes)), t.created, "yes" if t.revoked else "", t.note
        )
    Console(emoji=False, markup=False).print(table)


@token_app.command("revoke")
def token_revoke(
    data_dir: DataDir,
    token_id: Annotated[str, typer.Argument(help="The token's id (ombud_<id>_…).")],
) -> None:
    """Revoke a token."""
    with Deployment.open(data_dir, with_key=False) as deployment:
        deployment.tokens.revoke(token_id)
    typer.echo(f"revoked token {token_id}")
