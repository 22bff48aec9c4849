"""``ombud access …``: third parties' requests for residents' data — recorded, approved by two
officers of the roster (who sign with ``ombud roster sign`` on their own machines), read within
their scope and with the requester's signature of each read (``sign-read``, on the requester's
machine), sealed and disclosed on schedule, reported to the ombudsman, and verified from a log.

Threat model: see ``ombud.access``. These commands run on the operator's host but ``keygen``
and ``sign-read`` (the requester's; their key never leaves them) and ``verify`` (anyone's: it
trusts nothing from the source but what verifies). ``read`` prints a resident's data to the
operator acting for an approved requester, only what the request names and the requester
signed for — every read, refused ones too, is on the ledger. Nothing else prints a subject.
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from ombud.cli._files import new_key, private_key, read_json, read_signed, write_signed
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
        commitments = deployment.access.get(made.id).request.commitments
    sealed = f", sealed until {made.to_json()['sealedUntil']}" if made.sealed_until else ""
    typer.echo(f"access request {made.id} recorded at ledger index {index}{sealed}")
    typer.echo("its subjects' commitments, in the request's order (the requester's signed reads")
    typer.echo("name them: `ombud access sign-read --commitment`):")
    for commitment in commitments:
        typer.echo(f"  {commitment}")


@access_app.command()
def keygen(
    out: Annotated[Path, typer.Option(help="Where to write the private key (PEM, mode 0600).")],
) -> None:
    """On the requester's machine: make their Ed25519 key; prints the public key (hex) that
    their request names as the requester's ``key``."""
    from ombud.governance.roster import public_key

    typer.echo(public_key(new_key(out)).hex())


@access_app.command("sign-read")
def sign_read(
    request_id: Annotated[str, typer.Argument(help="The approved request's id.")],
    commitment: Annotated[
        str,
        typer.Option(
            help="The subject, as the request's commitment to them (64 hex digits: printed "
            "when the request was recorded, in the order it names its subjects; public in "
            "an unsealed request's record)."
        ),
    ],
    category: Annotated[str, typer.Option(help="The data category to read.")],
    key: Annotated[Path, typer.Option(help="The requester's key (PEM, from `access keygen`).")],
    origin: Annotated[
        str,
        typer.Option(
            help="The deployment the read is for: its log's origin (the first line of its "
            "checkpoint). A read signed for another deployment is refused."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Where to write the signed read.")],
) -> None:
    """On the requester's machine: sign one read (the request, the subject's commitment, the
    category, a fresh nonce and the time now), for one deployment. It is good once, and only
    within 10 minutes of the time it names."""
    from ombud.access.reads import READ_WINDOW
    from ombud.access.reads import sign_read as sign
    from ombud.clock import utc_now
    from ombud.governance.roster import check_origin

    made = sign(
        request_id,
        commitment,
        category,
        private_key(key),
        origin=check_origin(origin, "a signed read"),
        at=utc_now().replace(microsecond=0),
        nonce=secrets.token_hex(16),
    )
    out.write_text(json.dumps(made.to_json(), indent=2) + "\n", encoding="utf-8")
    minutes = int(READ_WINDOW.total_seconds() // 60)
    typer.echo(
        f"read of {category} under {request_id} signed for {origin}, good once within "
        f"{minutes} minutes; it is in {out}"
    )


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
    signed: Annotated[
        Path,
        typer.Option(help="The requester's signed read of it (from `access sign-read`)."),
    ],
) -> None:
    """Read, for an approved requester, what the request names and the requester signed for
    (recorded either way; refused with nothing written when signed for another deployment)."""
    from ombud.access.reads import SignedRead

    statement = SignedRead.from_json(read_json(signed, "the signed read"))
    with Deployment.open(data_dir, with_key=False) as deployment:
        items = deployment.access.read(
            request_id, subject, category, signed=statement, actor="operator"
        )
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


@access_app.command()
def verify(
    source: Annotated[str, typer.Argument(help="A tlog-tiles directory or an http(s) URL.")],
    key: Annotated[
        str | None,
        typer.Option(
            help="The log's verifier key (or a file): its checkpoint must be signed by it "
            "before any entry is read, and its origin is the deployment reads must name."
        ),
    ] = None,
    genesis: Annotated[
        Path | None,
        typer.Option(
            help="The genesis roster you hold (JSON): approvals are checked against the chain "
            "of rosters from it; without it, from the log's own first roster."
        ),
    ] = None,
) -> None:
    """Verify that each read a log records was asked for by its requester and allowed by the
    roster: every allowed read of version 3 signed, with the key its request's record names,
    for exactly that read on this log (its origin, the checkpoint's: with --key,
    authenticated), near its time, its nonce used once; every allowed read (of any version)
    under a request approved before it with the signatures the roster in force required, never
    denied, before it expires, of a category and subject the request names; a sealed request's
    reads once its disclosure shows what they were of. Exit 0 with the counts, or exit 1 naming
    the entry that does not hold."""
    from ombud.access.audit import audit_reads
    from ombud.cli._source import read_verified
    from ombud.cli.verify import read_vkey
    from ombud.governance.roster import Roster

    keys = [read_vkey(key)] if key else []
    held = Roster.from_json(read_json(genesis, "the genesis roster")) if genesis else None
    audit = read_verified(
        source,
        keys,
        lambda entries, head: audit_reads(entries, origin=head.origin, genesis=held),
    )
    typer.echo(
        f"OK: {audit.signed} read(s) signed by their requester for this log; {audit.sealed} "
        f"under requests still sealed (nonces unique; what they read shows when the seal "
        f"opens); {audit.unsigned} unsigned, from before reads were signed; {audit.refused} "
        "refused"
    )
    trusted = "your genesis" if held else "the log's own first roster (pass --genesis)"
    typer.echo(
        f"{audit.approved} approval(s) signed as the roster in force required, from {trusted}; "
        f"{audit.unbound} of them name their request by id and requester only (an open request's "
        "or an old one's digest is salted with a salt the log does not publish)"
    )
