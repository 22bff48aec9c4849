"""``ombud roster …``: the authority roster — a holder's key, the genesis, the roster in force,
a change proposed, signed by each holder on their own machine, carried out, and the chain
verified by anyone from a log export or URL.

Threat model: holders' private keys never reach the deployment: ``keygen`` writes one mode 0600
on the holder's machine and ``sign`` adds a signature to a request file there. ``apply`` runs a
change only when the quorum of the roster in force signed it (``ombud.governance.book``).
``verify`` trusts nothing from the source but what verifies against the genesis file given
(exit 1 naming the first broken link).
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from ombud.cli._files import new_key, private_key, read_json, read_signed, write_signed
from ombud.cli.options import DataDir
from ombud.deployment import Deployment
from ombud.errors import MalformedError

__all__ = ["roster_app"]

roster_app = typer.Typer(
    help="Who holds power: the authority roster, changed only by M-of-N signatures.",
    no_args_is_help=True,
)


def _roster_text(roster: Any, *, recovered: bool = False) -> str:
    lines = [f"roster version {roster.version} ({roster.digest[:16]}…)"]
    if recovered:
        lines[0] += ", put in force by the RECOVERY quorum"
    for h in roster.holders:
        lines.append(f"  {h.id:<20} {h.role:<12} {h.name}")
    for action, rule in roster.policy.items():
        who = " or ".join(rule.roles)
        eyes = ", not the requester" if rule.not_requester else ""
        lines.append(f"  {action}: {rule.count} of {who}{eyes}")
    return "\n".join(lines)


@roster_app.command()
def keygen(
    out: Annotated[Path, typer.Option(help="Where to write the private key (PEM, mode 0600).")],
) -> None:
    """Make a holder's Ed25519 key; prints the public key a roster file names."""
    from ombud.base64url import b64url
    from ombud.governance.roster import public_key

    typer.echo(b64url(public_key(new_key(out))))


@roster_app.command()
def init(
    data_dir: DataDir, genesis: Annotated[Path, typer.Argument(help="Genesis roster.")]
) -> None:
    """Record the deployment's genesis roster on the ledger (once)."""
    from ombud.governance.roster import Roster

    roster = Roster.from_json(read_json(genesis, "the genesis roster"))
    with Deployment.open(data_dir, with_key=False) as deployment:
        index = deployment.establish_roster(roster, actor="operator")
    typer.echo(
        f"genesis roster {roster.digest} recorded at ledger index {index}; from now on the "
        "witness policy, retention and privacy budget change only by its signatures"
    )


@roster_app.command()
def show(
    data_dir: DataDir,
    as_json: Annotated[bool, typer.Option("--json", help="The roster as JSON.")] = False,
) -> None:
    """The roster in force."""
    with Deployment.open(data_dir, with_key=False) as deployment:
        record = deployment.roster.current()
    if as_json:
        typer.echo(json.dumps(record.roster.to_json(), indent=2))
    else:
        typer.echo(_roster_text(record.roster, recovered=record.recovered))


@roster_app.command()
def actions(
    data_dir: DataDir,
    as_json: Annotated[bool, typer.Option("--json", help="As JSON.")] = False,
) -> None:
    """The latest privileged actions with their signers, and the refused attempts."""
    with Deployment.open(data_dir, with_key=False) as deployment:
        latest = [p.to_json() for p in deployment.actions.all(limit=50)]
        refused = deployment.actions.refusals()
    if as_json:
        typer.echo(json.dumps({"actions": latest, "refusals": refused}, indent=2))
        return
    for p in latest:
        signers = ", ".join(a["holder"] for a in p["approvals"]) or "nobody"
        request = p["request"]
        typer.echo(
            f"{p['digest'][:16]}…  {request['action']:<18} by {request['requester']:<16} "
            f"signed by {signers}; {p['status']}"
        )
    for r in refused:
        typer.echo(f"refused: {r['action']} {r['reason']} x{r['count']}")


@roster_app.command()
def propose(
    data_dir: DataDir,
    requester: Annotated[str, typer.Option(help="The holder id proposing it.")],
    out: Annotated[Path, typer.Option(help="The request file the holders sign.")],
    new_roster: Annotated[
        Path | None, typer.Argument(help="A proposed roster (JSON): a roster change.")
    ] = None,
    action: Annotated[
        str | None,
        typer.Option(
            help="Another action: witness.change, retention.change, budget.change, cover.change."
        ),
    ] = None,
    params: Annotated[
        Path | None, typer.Option(help="The action's parameters (JSON object), with --action.")
    ] = None,
    recover: Annotated[
        bool, typer.Option(help="Use the recovery quorum (an emergency; it shows loudly).")
    ] = False,
    hours: Annotated[int, typer.Option(help="Hours the signatures stay good.", min=1)] = 72,
) -> None:
    """Propose a privileged action, bound to the roster in force: a roster change (the next
    version), or --action with --params. It is recorded on the ledger (action.requested)
    and written to a file for the holders to sign."""
    from ombud.governance.roster import CHANGE_ROSTER, RECOVER_ROSTER, ActionRequest, Roster

    if (new_roster is None) == (action is None) or (action is None) != (params is None):
        raise MalformedError("give a proposed roster, or --action with --params")
    with Deployment.open(data_dir, with_key=False) as deployment:
        current = deployment.roster.current().roster
        if new_roster is not None:
            proposed = Roster.from_json(read_json(new_roster, "the proposed roster"))
            action = RECOVER_ROSTER if recover else CHANGE_ROSTER
            values = {"roster": proposed.to_json()}
        else:
            assert action is not None and params is not None
            values = read_json(params, "the action's parameters")
            if not isinstance(values, dict):
                raise MalformedError("an action's parameters are a JSON object")
        request = ActionRequest(
            action,
            values,
            current.version,
            current.digest,
            requester,
            secrets.token_hex(16),
            deployment.clock().replace(microsecond=0) + timedelta(hours=hours),
            deployment.log.origin,
        )
        index = deployment.propose(request, actor="operator")
    write_signed(out, request, [])
    typer.echo(
        f"request {request.digest} ({action}) recorded at ledger index {index} and written to "
        f"{out}; holders sign it with `roster sign`"
    )


@roster_app.command()
def sign(
    request_file: Annotated[Path, typer.Argument(help="A request file from `roster propose`.")],
    holder: Annotated[str, typer.Option(help="Your holder id.")],
    key: Annotated[Path, typer.Option(help="Your private key (PEM, from `roster keygen`).")],
) -> None:
    """Add your signature to a request file (on your own machine; the key stays there)."""
    from ombud.governance.roster import sign_request

    request, approvals = read_signed(request_file)
    private = private_key(key)
    approvals = [a for a in approvals if a.holder != holder]
    approvals.append(sign_request(request, holder, private))
    write_signed(request_file, request, approvals)
    typer.echo(f"signed by {holder}: {len(approvals)} signature(s) on {request.action}")


@roster_app.command()
def apply(
    data_dir: DataDir,
    request_file: Annotated[Path, typer.Argument(help="A signed request file.")],
) -> None:
    """Carry out a signed privileged action: each signature is recorded as it is checked, and
    the action runs only when the roster in force's policy is met (refusals are recorded)."""
    from ombud.governance.roster import CHANGE_ROSTER, RECOVER_ROSTER

    request, approvals = read_signed(request_file)
    with Deployment.open(data_dir, with_key=False) as deployment:
        index = deployment.submit(request, approvals, actor="operator")
        if request.action not in (CHANGE_ROSTER, RECOVER_ROSTER):
            typer.echo(f"{request.action} carried out at ledger index {index}")
            return
        record = deployment.roster.current()
    loud = " by the RECOVERY quorum" if record.recovered else ""
    typer.echo(f"roster version {record.roster.version} in force{loud}, ledger index {index}")


@roster_app.command()
def verify(
    source: Annotated[str, typer.Argument(help="A tlog-tiles directory or an http(s) URL.")],
    genesis: Annotated[Path, typer.Option(help="The genesis roster you hold (JSON).")],
    key: Annotated[
        str | None,
        typer.Option(
            help="The log's verifier key (or a file): its checkpoint must be signed by it "
            "before any entry is read."
        ),
    ] = None,
) -> None:
    """Verify the chain of rosters a log records, from your genesis roster: exit 0 and print
    the roster in force, or exit 1 naming the first broken link. The entries are checked
    against the checkpoint's root; with --key, the checkpoint's signature too (`ombud verify`
    checks who signed and cosigned it). A change signed for another deployment (its request
    names another origin than the checkpoint's) breaks the chain."""
    from ombud.cli._source import read_verified
    from ombud.cli.verify import read_vkey
    from ombud.governance.chain import roster_in_force
    from ombud.governance.roster import Roster

    held = Roster.from_json(read_json(genesis, "the genesis roster"))
    keys = [read_vkey(key)] if key else []
    links = read_verified(
        source, keys, lambda entries, head: roster_in_force(entries, held, origin=head.origin)
    )
    index, roster, recovered = links[-1]
    typer.echo(
        f"OK: {len(links)} roster(s) from genesis {held.digest[:16]}…, each signed by the "
        f"quorum of the one before; in force since entry {index}:"
    )
    typer.echo(_roster_text(roster, recovered=recovered))
