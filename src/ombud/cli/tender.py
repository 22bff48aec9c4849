"""``ombud tender …``: tenders with sealed bids — a bidder seals its bid on its own machine,
commits it, reveals it after the deadline; the city closes and awards by the published rule;
anyone lists, exports (OCDS) and recomputes the award from an exported log.

Threat model: see ``ombud.governance.tenders``. Publishing a tender is a privileged action
(``ombud roster propose --action tender.publish``). A bidder's key and salt stay with the
bidder until the reveal; the bid and its reveal name the deployment they are for (``seal
--origin``: the log's origin), so they count there only. ``verify`` trusts nothing from the
source but what verifies against the log key given — and, for the witnesses judging the
deadline, the keys pinned or the policy the roster authorised (``--genesis``) — exit 1 naming
what does not hold.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Annotated

import typer

from ombud.cli._files import private_key, read_json
from ombud.cli.options import DataDir
from ombud.deployment import Deployment
from ombud.errors import MalformedError

__all__ = ["tender_app"]

tender_app = typer.Typer(
    help="Tenders with sealed bids, closed by witnessed ledger time, exported as OCDS.",
    no_args_is_help=True,
)

_SALT_FILE = 130
Ocid = Annotated[str, typer.Argument(help="The tender's Open Contracting ID.")]


@tender_app.command("list")
def list_tenders(
    data_dir: DataDir,
    as_json: Annotated[bool, typer.Option("--json", help="As a JSON array.")] = False,
) -> None:
    """Every tender: its ocid, title, stage (open, closed, awarded), deadline and winner."""
    from ombud.clock import format_time

    with Deployment.open(data_dir, with_key=False) as deployment:
        found = [
            {
                "ocid": r.tender.ocid,
                "title": r.tender.title,
                "stage": r.stage,
                "deadline": format_time(r.tender.deadline),
                "publishedIndex": r.published_index,
                "winner": r.evaluation.winner if r.evaluation else None,
            }
            for r in deployment.tenders.all()
        ]
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    for t in found:
        winner = f", won by {t['winner']}" if t["winner"] else ""
        typer.echo(f"{t['ocid']}  {t['stage']:<8} deadline {t['deadline']}  {t['title']}{winner}")


@tender_app.command()
def export(
    data_dir: DataDir,
    ocid: Ocid,
    record: Annotated[
        bool, typer.Option("--record", help="The compiled record package instead.")
    ] = False,
) -> None:
    """Print the tender's OCDS 1.1 release package (with the bids extension)."""
    from ombud.governance.ocds import published_package

    with Deployment.open(data_dir, with_key=False) as deployment:
        package = published_package(
            deployment.tenders.releases(ocid),
            origin=deployment.log.origin,
            published=deployment.clock(),
            record=record,
        )
    typer.echo(json.dumps(package, indent=2))


@tender_app.command()
def seal(
    document: Annotated[Path, typer.Argument(help="Your bid document (JSON).")],
    ocid: Annotated[str, typer.Option(help="The tender's ocid.")],
    bidder: Annotated[str, typer.Option(help="Your bidder id.")],
    name: Annotated[str, typer.Option(help="Your organisation's name.")],
    key: Annotated[Path, typer.Option(help="Your Ed25519 private key (PEM).")],
    out: Annotated[Path, typer.Option(help="Where to write the signed commitment (JSON).")],
    salt_out: Annotated[Path, typer.Option(help="Where to keep the salt (keep it secret).")],
    origin: Annotated[
        str,
        typer.Option(
            help="The deployment the bid is for: its log's origin (the first line of its "
            "checkpoint; the publisher.name of `ombud tender export`). A bid signed for another "
            "deployment, or without one, is refused."
        ),
    ],
) -> None:
    """On the bidder's machine: commit to a bid document (SHA-256 of it and a fresh salt),
    signed with the bidder's key for one deployment (bid version 2). Keep the document and the
    salt for the reveal."""
    from ombud.canonical import canonical_json
    from ombud.governance.roster import check_origin
    from ombud.governance.tenders import commit_to, sign_commitment

    body = canonical_json(read_json(document, "the bid document"), "the bid document")
    bound = check_origin(origin, "a commitment")
    salt = secrets.token_bytes(32)
    commitment = sign_commitment(
        ocid, bidder, name, private_key(key), commit_to(body, salt), origin=bound
    )
    fd = os.open(salt_out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(salt.hex().encode() + b"\n")
    out.write_text(json.dumps(commitment.to_json(), indent=2) + "\n", encoding="utf-8")
    typer.echo(
        f"commitment {commitment.commitment} for {origin} written to {out}; the salt is in "
        f"{salt_out}"
    )


@tender_app.command()
def commit(
    data_dir: DataDir,
    commitment: Annotated[Path, typer.Argument(help="A signed commitment (from `seal`).")],
) -> None:
    """Record a sealed bid before the tender closes (refused, and recorded, when late;
    refused with nothing written when signed for another deployment, or of version 1, which
    names none)."""
    from ombud.governance.tenders import Commitment

    made = Commitment.from_json(read_json(commitment, "the commitment"))
    with Deployment.open(data_dir, with_key=False) as deployment:
        index = deployment.tenders.commit(made, actor=f"bidder:{made.bidder}")
    typer.echo(f"bid of {made.bidder} committed at ledger index {index}")


@tender_app.command()
def reveal(
    data_dir: DataDir,
    ocid: Annotated[str, typer.Option(help="The tender's ocid.")],
    bidder: Annotated[str, typer.Option(help="Your bidder id.")],
    document: Annotated[Path, typer.Option(help="The bid document you sealed.")],
    salt: Annotated[Path, typer.Option(help="The salt file `seal` wrote.")],
    key: Annotated[Path, typer.Option(help="The key that signed the commitment (PEM).")],
) -> None:
    """After the tender closed: publish the bid document and salt that open the commitment,
    signed with the bidder's key for this deployment (its log's origin)."""
    from ombud.canonical import canonical_json
    from ombud.governance.tenders import sign_reveal

    body = canonical_json(read_json(document, "the bid document"), "the bid document")
    with salt.open("rb") as f:
        raw = f.read(_SALT_FILE).strip()  # 64 hex digits and a newline; no more is read
    try:
        salt_bytes = bytes.fromhex(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise MalformedError(f"{salt} does not hold a hex salt") from None
    with Deployment.open(data_dir, with_key=False) as deployment:
        made = sign_reveal(
            ocid, bidder, private_key(key), body, salt_bytes, origin=deployment.log.origin
        )
        index = deployment.tenders.reveal(made, actor=f"bidder:{bidder}")
    typer.echo(f"bid of {bidder} revealed at ledger index {index}")


@tender_app.command()
def close(data_dir: DataDir, ocid: Ocid) -> None:
    """Close the tender if a published checkpoint's witnesses cosigned past its deadline
    (``ombud serve`` does it on its own); exit 2 while none has."""
    from ombud.errors import ConflictError

    with Deployment.open(data_dir, with_key=False) as deployment:
        index = deployment.tenders.close(ocid, actor="operator")
        record = deployment.tenders.get(ocid)
    if index is None:
        raise ConflictError("no published checkpoint is cosigned past the deadline yet")
    typer.echo(f"tender {ocid} closed at ledger index {index}: bids below entry {record.cut}")


@tender_app.command()
def award(data_dir: DataDir, ocid: Ocid) -> None:
    """Evaluate by the published rule and record the award (``ombud serve`` does it too)."""
    with Deployment.open(data_dir, with_key=False) as deployment:
        index = deployment.tenders.award(ocid, actor="operator")
        evaluation = deployment.tenders.get(ocid).evaluation
    assert evaluation is not None
    for b in evaluation.bids:
        typer.echo(f"  {b.bidder:<20} {b.status:<12} {b.reason or f'score {b.score:g}'}")
    typer.echo(f"awarded to {evaluation.winner or 'nobody'} at ledger index {index}")


@tender_app.command()
def verify(
    ocid: Ocid,
    source: Annotated[str, typer.Option(help="A tlog-tiles export directory or URL.")],
    key: Annotated[str, typer.Option(help="The log's verifier key (or a file holding it).")],
    witness: Annotated[
        list[str] | None,
        typer.Option(help="Pin a witness key that judges the deadline (repeatable)."),
    ] = None,
    genesis: Annotated[
        Path | None,
        typer.Option(
            help="The genesis roster you hold (JSON). Without --witness, the deadline is judged "
            "by the witness policy the roster authorised (recorded with the genesis, or set by "
            "a witness.change its quorum signed); the chain of rosters starts here, or, "
            "without it, at the log's own first roster."
        ),
    ] = None,
) -> None:
    """Recompute the tender's evaluation from an exported log: exit 0 when it matches the
    published award, 1 (naming what differs) when it does not. Each bid and reveal must be
    signed for this log (the checkpoint's origin), and a witness policy the roster did not
    authorise is not trusted."""
    from ombud.cli._source import read_verified
    from ombud.cli.verify import read_vkey
    from ombud.governance.roster import Roster
    from ombud.governance.tender_audit import audit_tender

    log_key = read_vkey(key)
    pinned = [read_vkey(w, cosigner=True) for w in witness] if witness else None
    held = Roster.from_json(read_json(genesis, "the genesis roster")) if genesis else None
    evaluation = read_verified(
        source,
        [log_key],
        lambda entries, _: audit_tender(entries, ocid, log_key, pinned, genesis=held),
    )
    typer.echo(
        f"OK: the award of {ocid} is what its published rule gives: "
        f"{evaluation.winner or 'no valid bid'}; {len(evaluation.bids)} bid(s), deadline at "
        f"entry {evaluation.cut}"
    )
