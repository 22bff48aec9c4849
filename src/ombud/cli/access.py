"""``ombud access …``: third parties' requests for residents' data — recorded, approved by two
officers of the roster (who sign with ``ombud roster sign`` on their own machines), read within
their scope, sealed and disclosed on schedule, and reported to the ombudsman.

Threat model: see ``ombud.access``. These commands run on the operator's host; ``read`` prints
a resident's data to the operator acting for an approved requester, and only what the request
names — every read, refused ones too, is on the ledger. Nothing else here prints a subject.
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from ombud.cli._files import read_json, read_signed, write_signed
from ombud.cli.options import DataDir
from ombud.deployment import Deployment

__all__ = ["access_app"]

access_app = typer.Typer(
    help="Third parties' requests for residents' data: approved, scoped, recorded, sealed.",
    no_args_is_help=True,
)


@access_app.command()
def request(
    data_dir: DataDir,
    request_file: Annotated[Path, typer.Argument(help="The request (JSON, see the README).")],
) -> None:
    """Record a request (``access.requested``: its public record, or only its seal)."""
    from ombud.access.requests import AccessRequest

    made = AccessRequest.from_json(read_json(request_file, "the access request"))
    with Deployment.open(data_dir, with_key=False) as deployment:
        index = deployment.access.request(made, actor="operator")
    sealed = f", sealed until {made.to_json()['sealedUntil']}" if made.sealed_until else ""
    typer.echo(f"access request {made.id} recorded at ledger index {index}{sealed}")


@access_app.command()
def approval(
    data_dir: DataDir,
    request_id: Annotated[str, typer.Argument(help="The access request's id.")],
    out: Annotated[Path, typer.Option(help="The approval file the officers sign.")],
    hours: Annotated[int, typer.Option(help="Hours the signatures stay good.", min=1)] = 72,
) -> None:
    """Write the approval of a request for the officers to sign (``ombud roster sign``)."""
    from ombud.access.book import APPROVE
    from ombud.governance.roster import ActionRequest

    with Deployment.open(data_dir, with_key=False) as deployment:
        stored = deployment.access.get(request_id)
        roster = deployment.roster.current().roster
        now = deployment.clock()
        origin = deployment.log.origin
    action = ActionRequest(
        APPROVE,
        deployment.access.approval_params(request_id),
        roster.version,
        roster.digest,
        stored.request.requester.person,
        secrets.token_hex(16),
        now.replace(microsecond=0) + timedelta(hours=hours),
        origin,
    )
    write_signed(out, action, [])
    typer.echo(f"approval of {request_id} written to {out}; officers sign it with `roster sign`")


@access_app.command()
def approve(
    data_dir: DataDir,
    approval_file: Annotated[Path, typer.Argument(help="A signed approval file.")],
) -> None:
    """Approve a request: only with the signatures the roster's policy asks for."""
    action, approvals = read_signed(approval_file)
    request_id = str(action.params.get("request", ""))
    with Deployment.open(data_dir, with_key=False) as deployment:
        index = deployment.access.approve(request_id, action, approvals, actor="operator")
    typer.echo(f"access request {request_id} approved at ledger index {index}")


@access_app.command()
def deny(
    data_dir: DataDir,
    request_id: Annotated[str, typer.Argument(help="The access request's id.")],
    officer: Annotated[str, typer.Option(help="The deciding officer's holder id.")],
    reason: Annotated[str, typer.Option(help="Why, for the record.")],
) -> None:
    """Refuse a pending request (``access.denied``)."""
    with Deployment.open(data_dir, with_key=False) as deployment:
        index = deployment.access.deny(request_id, officer, reason, actor="operator")
    typer.echo(f"access request {request_id} denied at ledger index {index}")


@access_app.command()
def read(
    data_dir: DataDir,
    request_id: Annotated[str, typer.Argument(help="The approved request's id.")],
    subject: Annotated[str, typer.Option(help="A subject pseudonym the request names.")],
    category: Annotated[str, typer.Option(help="A data category the request names.")],
) -> None:
    """Read, for an approved requester, what the request names (recorded either way)."""
    with Deployment.open(data_dir, with_key=False) as deployment:
        items = deployment.access.read(request_id, subject, category, actor="operator")
    for item in items:
        typer.echo(item.decode("utf-8", "replace"))
    typer.echo(f"{len(items)} item(s) read under {request_id}; the read is on the ledger", err=True)


@access_app.command("list")
def list_requests(data_dir: DataDir) -> None:
    """Every request: who asked, on what basis, its status (sealed ones as sealed)."""
    with Deployment.open(data_dir, with_key=False) as deployment:
        stored = deployment.access.all()
    for s in stored:
        r = s.request
        if s.sealed:
            typer.echo(f"{r.id}  sealed until {r.to_json()['sealedUntil']}  {s.status}")
        else:
            who = f"{r.requester.organisation}/{r.requester.person}"
            typer.echo(f"{r.id}  {who}  {r.legal_basis}  {s.status}")


@access_app.command()
def unseal(data_dir: DataDir) -> None:
    """Disclose every sealed request whose time has come (``ombud serve`` does it too)."""
    with Deployment.open(data_dir, with_key=False) as deployment:
        count = deployment.access.disclose_due()
    typer.echo(f"{count} sealed request(s) disclosed")


@access_app.command()
def report(
    data_dir: DataDir,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
) -> None:
    """For the ombudsman: requests per requester and legal basis, decisions, refused reads,
    overdue seals, reads per request."""
    with Deployment.open(data_dir, with_key=False) as deployment:
        found = deployment.access.report()
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    for row in found["requests"]:
        typer.echo(f"{row['count']:>4}  {row['organisation']}  {row['legalBasis']}")
    typer.echo(f"decisions: {found['statuses']}; refused reads: {found['refusedReads']}")
    typer.echo(f"overdue seals: {len(found['overdueSeals'])}")
