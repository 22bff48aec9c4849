"""``ombud decision …``: motions and votes — a member signs their vote on their own machine,
the clerk casts it, the decision is recorded with its tally once voting closed.

Threat model: see ``ombud.governance.decisions``. Tabling a motion is a privileged action
(``ombud roster propose --action motion.table``); a member's key never leaves their machine
(``sign``), and the vote names the deployment it is cast on (``--origin``, the log's origin),
so it counts there only; ``cast`` records a vote or its refusal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ombud.cli._files import private_key, read_json
from ombud.cli.options import DataDir
from ombud.deployment import Deployment

__all__ = ["decision_app"]

decision_app = typer.Typer(
    help="Motions, members' signed votes, and decisions anyone can recount.",
    no_args_is_help=True,
)
MotionId = Annotated[str, typer.Argument(help="The motion's id.")]


@decision_app.command("list")
def list_motions(
    data_dir: DataDir,
    as_json: Annotated[bool, typer.Option("--json", help="As a JSON array.")] = False,
) -> None:
    """Every motion: its title, the body that decides, and the outcome once decided."""
    with Deployment.open(data_dir, with_key=False) as deployment:
        found: list[dict[str, Any]] = [
            {
                "id": r.motion.id,
                "title": r.motion.title,
                "body": r.motion.body,
                "tally": None if r.tally is None else r.tally.to_json(),
            }
            for r in deployment.decisions.all()
        ]
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    for m in found:
        outcome = m["tally"]["outcome"] if m["tally"] else "voting"
        typer.echo(f"{m['id']:<20} {outcome:<10} {m['title']}")


@decision_app.command()
def show(data_dir: DataDir, motion_id: MotionId) -> None:
    """The motion (JSON, with its text: what members sign their votes on); the deployment's
    origin, which a vote names, on standard error."""
    with Deployment.open(data_dir, with_key=False) as deployment:
        record = deployment.decisions.get(motion_id)
        origin = deployment.log.origin
    typer.echo(json.dumps(record.motion.to_json(), indent=2))
    typer.echo(f"votes on {motion_id} are signed for this deployment: --origin {origin}", err=True)


@decision_app.command()
def sign(
    motion_file: Annotated[Path, typer.Argument(help="The motion (from `decision show`).")],
    holder: Annotated[str, typer.Option(help="Your holder id.")],
    choice: Annotated[str, typer.Option(help="yes, no or abstain.")],
    key: Annotated[Path, typer.Option(help="Your roster key (PEM).")],
    out: Annotated[Path, typer.Option(help="Where to write your signed vote.")],
    origin: Annotated[
        str,
        typer.Option(
            help="The deployment the vote is for: its log's origin (the first line of its "
            "checkpoint; `ombud decision show` names it). A vote signed for another "
            "deployment, or without one, is refused."
        ),
    ],
) -> None:
    """On your own machine: sign your vote on a motion, for one deployment (vote version 2)."""
    from ombud.governance.decisions import Motion, sign_vote
    from ombud.governance.roster import check_origin

    motion = Motion.from_json(read_json(motion_file, "the motion"))
    made = sign_vote(
        motion, holder, choice, private_key(key), origin=check_origin(origin, "a vote")
    )
    out.write_text(json.dumps(made.to_json(), indent=2) + "\n", encoding="utf-8")
    typer.echo(f"{holder} votes {choice} on {motion.id} on {origin}; the vote is in {out}")


@decision_app.command()
def cast(
    data_dir: DataDir,
    vote_file: Annotated[Path, typer.Argument(help="A signed vote.")],
) -> None:
    """Record a member's signed vote (refused and recorded when late, twice, by a
    non-member, or forged; refused with nothing written when signed for another deployment,
    or of version 1, which names none)."""
    from ombud.governance.decisions import Vote

    made = Vote.from_json(read_json(vote_file, "the vote"))
    with Deployment.open(data_dir, with_key=False) as deployment:
        index = deployment.decisions.cast(made, actor="clerk")
    typer.echo(f"vote of {made.holder} on {made.motion} recorded at ledger index {index}")


@decision_app.command()
def decide(data_dir: DataDir, motion_id: MotionId) -> None:
    """Once voting closed: record the decision with its tally (``ombud serve`` does it too)."""
    with Deployment.open(data_dir, with_key=False) as deployment:
        index = deployment.decisions.decide(motion_id, actor="operator")
        record = deployment.decisions.get(motion_id)
    assert record.tally is not None
    t = record.tally
    typer.echo(
        f"{motion_id}: {t.outcome} ({t.yes} yes, {t.no} no, {t.abstain} abstain) at ledger "
        f"index {index}"
    )


@decision_app.command()
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
    """Verify every vote a log records, from your genesis roster: each signed by a member of
    its motion's deciding body in the roster then in force, on a motion the log tabled, for
    this log (its origin, the checkpoint's: with --key, authenticated), once per member, before
    the motion's close and decision; and every decision: after the close, once, with the tally
    of the votes before it, recomputed. Exit 0 with the counts, or exit 1 naming the first
    entry that does not hold: a vote signed for another deployment, one of version 1 (which
    names none) after the log's first version-2 vote, a late or second vote, or a decision
    whose tally the votes do not give."""
    from ombud.cli._source import read_verified
    from ombud.cli.verify import read_vkey
    from ombud.governance.roster import Roster
    from ombud.governance.signed_audit import audit_votes

    held = Roster.from_json(read_json(genesis, "the genesis roster"))
    keys = [read_vkey(key)] if key else []
    audit = read_verified(
        source, keys, lambda entries, head: audit_votes(entries, held, origin=head.origin)
    )
    typer.echo(
        f"OK: {audit.votes} vote(s) on {audit.motions} motion(s), each signed by a member of "
        f"the deciding body for this log ({audit.unbound} of version 1, from before votes "
        f"named their deployment); {audit.decisions} decision(s), each the tally of its votes"
    )
