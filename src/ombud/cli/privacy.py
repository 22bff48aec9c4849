"""``ombud privacy …``: the master key, consents, erasure, exports, retention and
differentially private releases.

Threat model: see ``ombud.cli`` and ``ombud.privacy``. These commands run on the operator's
host with the deployment's master key; they print personal data only where that is the point
(``export``, to the operator answering a resident's request), never a key, and a new master
key is written mode 0600 and never printed.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ombud.cli.options import DataDir
from ombud.config import Settings
from ombud.deployment import Deployment
from ombud.errors import ConsentError, MalformedError, UnknownSubjectError
from ombud.privacy.consent import Grant
from ombud.privacy.master_key import MASTER_KEY_ENV, create_master_key, rotate_master_key_file
from ombud.privacy.vault import ERASURE_BASES

if TYPE_CHECKING:  # the office pulls in the voice stack (scipy, onnxruntime): loaded when used
    from ombud.privacy.office import PrivacyOffice

__all__ = ["privacy_app"]

privacy_app = typer.Typer(
    help="Residents' personal data: consent, vault, erasure, retention, DP releases.",
    no_args_is_help=True,
)
retention_app = typer.Typer(help="Purge personal data past its retention.", no_args_is_help=True)
privacy_app.add_typer(retention_app, name="retention")


@contextlib.contextmanager
def _office(data_dir: Path, *, with_key: bool = False) -> Iterator[PrivacyOffice]:
    with Deployment.open(data_dir, with_key=with_key) as deployment:
        yield deployment.privacy()


def _print(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


@privacy_app.command("init-key")
def init_key(data_dir: DataDir) -> None:
    """Create the vault's master key (mode 0600) for a deployment made before it had one."""
    settings = Settings.load(data_dir)
    path = data_dir / settings.privacy.master_key_file
    key = create_master_key(path)
    typer.echo(f"master key {key.key_id} written to {path} (mode 0600); back it up offline")


@privacy_app.command("rotate-key")
def rotate_key(data_dir: DataDir) -> None:
    """Re-wrap every subject key under a new master key; payloads are not touched.
    Safe to run again if interrupted, and while ``ombud serve`` runs (it takes the new key up)."""
    if os.environ.get(MASTER_KEY_ENV):
        raise MalformedError(
            f"the master key comes from {MASTER_KEY_ENV}; rotate the file-held key, or unset it"
        )
    with _office(data_dir) as office:
        path = data_dir / office.settings.master_key_file
        new, moved = rotate_master_key_file(office.vault, path)
    typer.echo(f"master key rotated to {new.key_id}: {moved} keys re-wrapped")


@privacy_app.command("grant")
def grant(
    data_dir: DataDir,
    subject: Annotated[str, typer.Option(help="The city's pseudonym for the resident.")],
    purpose: Annotated[list[str], typer.Option(help="A purpose (repeatable).")],
    category: Annotated[list[str], typer.Option(help="A data category (repeatable).")],
    controller: Annotated[str, typer.Option(help="Who decides on the processing.")],
    legal_basis: Annotated[str, typer.Option(help="GDPR Art. 6(1) basis.")] = "consent",
    retention_days: Annotated[int, typer.Option(help="How long data is kept.")] = 365,
    valid_days: Annotated[int | None, typer.Option(help="Days the consent is valid.")] = None,
    resident_key: Annotated[
        bool, typer.Option(help="Issue the resident's access key (printed once).")
    ] = False,
) -> None:
    """Record a consent (consent.granted); prints the record."""
    record = Grant(
        subject=subject,
        purposes=tuple(purpose),
        data_categories=tuple(category),
        controller=controller,
        legal_basis=legal_basis,
        retention_days=retention_days,
        valid_days=valid_days,
    )
    with _office(data_dir) as office:
        made, key = office.consents.grant(record, actor="operator", access_key=resident_key)
    out = {**made.to_json(), "ledgerIndex": made.ledger_index}
    if key is not None:
        out["residentKey"] = key
    _print(out)


@privacy_app.command("withdraw")
def withdraw(
    data_dir: DataDir, record_id: Annotated[str, typer.Argument(help="The consent record id.")]
) -> None:
    """Withdraw a consent (consent.withdrawn)."""
    with _office(data_dir) as office:
        record = office.consents.withdraw(record_id, actor="operator")
    typer.echo(f"consent {record_id} withdrawn at ledger index {record.ledger_index}")


@privacy_app.command("check")
def check(
    data_dir: DataDir,
    subject: Annotated[str, typer.Argument()],
    purpose: Annotated[str, typer.Argument()],
    category: Annotated[str, typer.Argument()],
) -> None:
    """Whether a consent covers processing SUBJECT's CATEGORY data for PURPOSE (exit 1 if not)."""
    with _office(data_dir) as office:
        try:
            record = office.consents.check(subject, purpose, category)
        except (ConsentError, UnknownSubjectError) as exc:
            # "no" is an answer, not an error: exit 1 with the reason (2 stays bad input)
            typer.echo(f"ombud: not allowed: {exc}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"allowed under consent {record.record_id} (version {record.version})")


@privacy_app.command("erase")
def erase(
    data_dir: DataDir,
    subject: Annotated[str, typer.Argument(help="The subject's id.")],
    basis: Annotated[
        str, typer.Option(help=f"Why: one of {', '.join(ERASURE_BASES)}.")
    ] = "resident-request",
) -> None:
    """Crypto-shred everything held about SUBJECT (subject.erased); resumable."""
    with _office(data_dir) as office:
        erasure = office.erase(office.vault.ref(subject), actor="operator", basis=basis)
    typer.echo(
        f"erased at ledger index {erasure.ledger_index}: subject key, "
        f"{erasure.payloads} payloads and their salts destroyed"
    )
    if not erasure.scrubbed:
        typer.echo(
            "ombud: the database files could not be scrubbed yet (readers busy?); "
            "`ombud privacy retention run` or erasing again finishes it",
            err=True,
        )


@privacy_app.command("export")
def export(
    data_dir: DataDir, subject: Annotated[str, typer.Argument(help="The subject's id.")]
) -> None:
    """Everything held about SUBJECT, as JSON with ledger proofs (GDPR Art. 15, 20)."""
    with _office(data_dir, with_key=True) as office:
        office.log.catch_up()  # an unwitnessed log signs, so the proofs reach the newest events
        _print(office.export(office.vault.ref(subject)))


@retention_app.command("run")
def retention_run(data_dir: DataDir) -> None:
    """Purge vault payloads and post texts past their retention (payload.purged events)."""
    with _office(data_dir) as office:
        report = office.retention()
    typer.echo(
        f"purged {report.payloads} payloads and {report.post_texts} post texts; "
        f"{report.scrubbed} interrupted erasures finished"
    )


@privacy_app.command("release")
def release(
    data_dir: DataDir,
    period: Annotated[
        str,
        typer.Option(
            help="The token period for satisfaction; the ISO week (2026-W49) for imported."
        ),
    ],
    dataset: Annotated[str, typer.Option(help="satisfaction or imported.")] = "satisfaction",
    as_json: Annotated[bool, typer.Option("--json", help="Print the release as JSON.")] = False,
) -> None:
    """A differentially private release of mean satisfaction per district x service
    (dp.released; spends privacy budget)."""
    with _office(data_dir) as office:
        made = office.release(dataset, period, actor="operator")
        spent = office.releases.spent(dataset, period)
        budget = office.settings.dp_rho_per_period
    if as_json:
        _print(made.to_json())
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{dataset} {period}: mean satisfaction (-1..1), 95% error")
    for column in ("district", "service", "contributors", "mean", "±95%"):
        table.add_column(column)
    for cell in made.result["cells"]:
        if cell["suppressed"]:
            continue
        table.add_row(
            cell["district"],
            cell["service"],
            str(cell["contributors"]),
            f"{cell['meanSatisfaction']:+.3f}",
            f"{cell['error95']:.3f}",
        )
    console = Console()
    console.print(table)
    suppressed = sum(c["suppressed"] for c in made.result["cells"])
    console.print(
        f"release {made.id} at ledger index {made.ledger_index}: rho {made.rho:g} spent, "
        f"{spent:g} of {budget:g} this period; {suppressed} cells suppressed (fewer than "
        f"{made.result['kThreshold']} contributors)"
    )


@privacy_app.command("budget")
def budget(data_dir: DataDir) -> None:
    """Privacy budget (zCDP rho) spent per dataset and period."""
    with _office(data_dir) as office:
        _print(office.releases.budget())
