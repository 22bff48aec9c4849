"""``ombud insight``: what the city learns, from public data only, and its recomputation.

Threat model: read-only. The report is computed from the DP releases and the sensor readings
as they stood at the latest witnessed checkpoint; ``verify`` recomputes a report anyone gives
it and says whether it matches, so nobody has to take the city's word for it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from ombud.canonical import parse_json
from ombud.cli.options import DataDir
from ombud.errors import MalformedError
from ombud.storage import read_capped

__all__ = ["insight_app"]

insight_app = typer.Typer(
    help="Satisfaction per district x service x week, its changes and the sensors beside it.",
    no_args_is_help=True,
)
_MAX_REPORT = 64 << 20
"""Bytes of a report ``verify`` reads (a deployment's report is a few MiB)."""
_MAX_DEPTH = 16
"""Nesting a report may have (``report --json`` writes six levels)."""
Timezone = Annotated[
    str, typer.Option(help="The city's time zone (IANA name), for day, evening and night.")
]


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise MalformedError(f"unknown time zone {name[:60]!r}") from None


def _compute(data_dir: Path, timezone: str) -> dict[str, Any]:
    from ombud.deployment import Deployment
    from ombud.insight import compute, gather

    with Deployment.open(data_dir) as deployment:
        return compute(gather(deployment.log, deployment.db, _zone(timezone)))


@insight_app.command("report")
def report(
    data_dir: DataDir,
    district: Annotated[str | None, typer.Option(help="Only this district.")] = None,
    service: Annotated[str | None, typer.Option(help="Only this service.")] = None,
    week: Annotated[str | None, typer.Option(help="Only this ISO week, e.g. 2026-W46.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    timezone: Timezone = "UTC",
) -> None:
    """The insight at the latest witnessed checkpoint."""
    from ombud.insight import view

    out = view(_compute(data_dir, timezone), district=district, service=service, week=week)
    if as_json:
        typer.echo(json.dumps(out, indent=1, ensure_ascii=False))
        return
    cp = out["checkpoint"]
    typer.echo(f"checkpoint {cp['origin']} size {cp['size']} root {cp['root']}")
    typer.echo(f"releases {', '.join(r['period'] + ' ' + r['id'] for r in out['releases'])}")
    for c in out["cells"]:
        if not c["suppressed"]:
            typer.echo(
                f"{c['period']} {c['district']:<12} {c['service']:<13} "
                f"{c['satisfaction']:+.2f} [{c['low']:+.2f}, {c['high']:+.2f}] ({c['posts']} posts)"
            )
    for c in out["changes"]:
        typer.echo(
            f"change {c['period']} {c['district']} {c['service']}: {c['delta']:+.2f} "
            f"[{c['low']:+.2f}, {c['high']:+.2f}] against {c['against']}"
        )
    typer.echo(f"digest {out['digest']}")


@insight_app.command("verify")
def verify(
    data_dir: DataDir,
    report_file: Annotated[Path, typer.Argument(help="A report printed by `report --json`.")],
    timezone: Timezone = "UTC",
) -> None:
    """Recompute a report from the deployment's public data; exit 0 only if it matches."""
    from ombud.deployment import Deployment
    from ombud.insight import gather, verify_insight

    try:
        data = read_capped(report_file, _MAX_REPORT)
    except OSError as exc:
        raise MalformedError(f"cannot read the report {report_file}: {exc}") from None
    # strictly, and at most _MAX_DEPTH deep: a deeply nested file was a RecursionError
    # traceback (exit 1, "did not verify") in the comparison; it is bad input (exit 2)
    claimed = parse_json(data, f"the report {report_file}", max_depth=_MAX_DEPTH)
    if not isinstance(claimed, dict):
        raise MalformedError("a report is a JSON object")
    with Deployment.open(data_dir) as deployment:
        verify_insight(claimed, gather(deployment.log, deployment.db, _zone(timezone)))
    typer.echo(f"OK: the insight {claimed.get('digest')} recomputes from public data")
