"""``ombud integrity …``: the streaming anomaly detector on a CSV series, screening, the
quarantine report, releases and district indicators.

Threat model: see ``ombud.cli``. The input file may be malformed: a row that is not
``timestamp,value`` with a finite number stops the run with its line number (exit 2), after
the rows before it were written — the detector reads row by row and never looks ahead.
Releases are an operator's acts on the deployment's own files; they go on the ledger.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, BinaryIO

import typer

from ombud.cli.options import DataDir
from ombud.clock import format_time
from ombud.config import Settings
from ombud.deployment import Deployment
from ombud.errors import MalformedError
from ombud.integrity.aggregate import Estimator

__all__ = ["integrity_app"]

integrity_app = typer.Typer(
    help="Checks that catch faulty and poisoned data.", no_args_is_help=True
)


def _deployment(data_dir: Path, *, settle_s: int | None = None) -> Deployment:
    """The deployment, its log opened without the signing key (releases and screening append
    events, which the server's next checkpoint covers); ``settle_s`` overrides the setting."""
    settings = Settings.load(data_dir)
    if settle_s is not None:
        settings = replace(settings, integrity=replace(settings.integrity, settle_s=settle_s))
    return Deployment.open(data_dir, with_key=False, settings=settings)


@integrity_app.command("detect")
def integrity_detect(
    csv_file: Annotated[
        Path,
        typer.Option(
            "--csv",
            help="A timestamp,value series (header optional). Timestamps in ISO 8601 or "
            "seconds since 1970 date the series' first day, in which nothing is flagged; "
            "others leave it counting 320 readings.",
        ),
    ],
) -> None:
    """Run the streaming anomaly detector row by row; CSV timestamp,value,anomaly_score,flag."""
    import csv

    from ombud.integrity.detector import AnomalyDetector

    detector = AnomalyDetector()
    out = csv.writer(sys.stdout, lineterminator="\n")
    with open(csv_file, "rb") as f:
        out.writerow(["timestamp", "value", "anomaly_score", "flag"])
        rows = csv.reader(_text_lines(f, csv_file))
        while True:
            try:
                row = next(rows)
            except StopIteration:
                break
            except csv.Error as exc:
                raise MalformedError(f"{csv_file}:{rows.line_num}: {exc}") from None
            line = rows.line_num
            if not row:
                continue  # a blank line
            if line == 1 and row[0].strip().lower() == "timestamp":
                continue  # the header
            if len(row) != 2:
                raise MalformedError(f"{csv_file}:{line}: expected timestamp,value")
            timestamp, text = row[0].strip(), row[1].strip()
            try:
                value = float(text)
            except ValueError:
                raise MalformedError(f"{csv_file}:{line}: {text[:40]!r} is not a number") from None
            try:
                score, flag = detector.update(value, _seconds(timestamp))
            except MalformedError as exc:
                raise MalformedError(f"{csv_file}:{line}: {exc}") from None
            out.writerow([timestamp, text, f"{score:.6f}", int(flag)])


_LINE_BYTES = 1 << 20


_EPOCH_SECONDS = 1e11
"""Numbers beyond this are not seconds since 1970 (year 5138): milliseconds, most likely."""


def _seconds(timestamp: str) -> float | None:
    """A CSV timestamp in seconds: ISO 8601 (UTC unless it says otherwise) or a number of
    seconds since 1970; None for anything else (the detector then counts readings instead)."""
    try:
        moment = datetime.fromisoformat(timestamp)
    except ValueError:
        try:
            seconds = float(timestamp)
        except ValueError:
            return None
        return seconds if abs(seconds) < _EPOCH_SECONDS else None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _text_lines(f: BinaryIO, path: Path) -> Iterator[str]:
    """The file's lines as text, one at a time: a line that is not UTF-8, or longer than 1 MiB,
    stops the run with its number."""
    number = 0
    while raw := f.readline(_LINE_BYTES):
        number += 1
        if len(raw) == _LINE_BYTES and not raw.endswith(b"\n"):
            raise MalformedError(f"{path}:{number}: a line longer than 1 MiB")
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedError(f"{path}:{number}: not UTF-8") from None


@integrity_app.command("report")
def integrity_report(
    data_dir: DataDir,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
) -> None:
    """The quarantine: every suspect observation, its checks and evidence, released or not."""
    from rich.console import Console
    from rich.table import Table

    with _deployment(data_dir) as deployment:
        found = deployment.quarantine.list(limit=100_000)
        devices = deployment.quarantine.devices(limit=100_000)
    if as_json:
        print(
            json.dumps(
                {
                    "observations": [q.to_json() for q in found],
                    "devices": [d.to_json() for d in devices],
                },
                indent=2,
            )
        )
        return
    console = Console(emoji=False, markup=False)
    table = Table("device", "counter", "district", "checks", "reason", "ledger", "released")
    for q in found:
        table.add_row(
            q.device,
            str(q.counter),
            q.district,
            ", ".join(q.checks),
            q.reason,
            str(q.ledger_index),
            _released(q.released_index, q.release_reason),
        )
    console.print(table)
    held = sum(1 for q in found if q.released_index is None)
    console.print(f"{len(found)} observations quarantined, {held} still held")
    if devices:
        table = Table("device", "district", "since", "reason", "ledger", "released")
        for d in devices:
            table.add_row(
                d.device,
                d.district,
                format_time(d.since),
                d.reason,
                str(d.ledger_index),
                _released(d.released_index, d.release_reason),
            )
        console.print(table)
    held = sum(1 for d in devices if d.released_index is None)
    console.print(f"{len(devices)} devices quarantined as a whole, {held} still held")


def _released(index: int | None, reason: str | None) -> str:
    return "" if index is None else f"at {index}: {reason}"


@integrity_app.command("release")
def integrity_release(
    data_dir: DataDir,
    device: Annotated[str, typer.Option(help="The device's id.")],
    counter: Annotated[int, typer.Option(help="The observation's counter.", min=0)],
    reason: Annotated[str, typer.Option(help="Why (goes on the ledger).")],
) -> None:
    """Release a quarantined observation (observation.released on the ledger)."""
    with _deployment(data_dir) as d:
        released = d.quarantine.release(
            d.log, device, counter, reason, actor="operator", clock=d.clock
        )
    print(
        f"released observation {counter} of {device}: observation.released at ledger index "
        f"{released.released_index}"
    )


@integrity_app.command("release-device")
def integrity_release_device(
    data_dir: DataDir,
    device: Annotated[str, typer.Option(help="The device's id.")],
    reason: Annotated[str, typer.Option(help="Why (goes on the ledger).")],
) -> None:
    """Put a device quarantined as a whole back into aggregates (device.released)."""
    with _deployment(data_dir) as d:
        released = d.quarantine.release_device(
            d.log, device, reason, actor="operator", clock=d.clock
        )
    print(f"released device {device}: device.released at ledger index {released.released_index}")


@integrity_app.command("screen")
def integrity_screen(
    data_dir: DataDir,
    settle: Annotated[
        int | None,
        typer.Option(
            help="Seconds an observation must have aged (default: integrity.settle_s).", min=0
        ),
    ] = None,
) -> None:
    """Screen stored observations against their history and neighbours, once."""
    # What ``ombud serve`` does on its own every ``integrity.screen_interval_s``: every settled
    # observation not yet screened.
    from rich.progress import Progress

    with _deployment(data_dir, settle_s=settle) as deployment, Progress(transient=True) as bar:
        task = bar.add_task("screening", total=None)
        result = deployment.screener.screen_all(lambda r: bar.advance(task, r.screened))
    print(
        f"screened {result.screened} observations: {result.quarantined} quarantined, "
        f"{len(result.devices)} devices quarantined as a whole"
        + (f" ({', '.join(result.devices)})" if result.devices else "")
    )


@integrity_app.command("indicator")
def integrity_indicator(
    data_dir: DataDir,
    district: Annotated[str, typer.Option(help="District id.")],
    model: Annotated[str, typer.Option("--type", help="Smart Data Model type.")],
    attribute: Annotated[str, typer.Option(help="Numeric attribute, e.g. LAeq.")],
    since: Annotated[datetime, typer.Option(help="Start (UTC), inclusive.")],
    until: Annotated[datetime, typer.Option(help="End (UTC), exclusive.")],
    estimator: Annotated[Estimator, typer.Option(help="Robust estimator.")] = Estimator.MEDIAN,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a line.")] = False,
) -> None:
    """A district's robust figure over a period, quarantined readings and devices left out."""
    from ombud.sensors.indicators import district_indicator

    def utc(at: datetime) -> datetime:
        return at.replace(tzinfo=UTC) if at.tzinfo is None else at

    since, until = utc(since), utc(until)
    with _deployment(data_dir) as deployment:
        found = district_indicator(
            deployment.db, district, model, attribute, since, until, estimator
        )
    if as_json:
        print(json.dumps(found.to_json(), indent=2))
        return
    i = found.indicator
    print(
        f"{district} {model}.{attribute} {format_time(since)} .. {format_time(until)}: "
        f"{i.estimator.value} {i.value:.6g} (p10 {i.p10:.6g}, p90 {i.p90:.6g}) over "
        f"{i.readings} readings of {i.devices} devices; left out as quarantined: "
        f"{i.quarantined_readings} readings, {i.quarantined_devices} devices entirely"
    )
