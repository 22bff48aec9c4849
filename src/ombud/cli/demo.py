"""``ombud demo``: the main job, end to end on the embedded SQLite store.

A simulated city's events are appended to the log in durable batches, checkpoints are signed
as it grows, the log is exported as a tlog-tiles tree, and an independent verifier recomputes
that tree, checks an offline proof, and catches a deliberately flipped byte.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.table import Table

from ombud.cli._progress import progress_bar, stderr
from ombud.config import SETTINGS_FILE, Settings
from ombud.deployment import init_deployment
from ombud.errors import VerificationError
from ombud.events import Event
from ombud.ledger.export import export_log
from ombud.ledger.logdir import open_log
from ombud.ledger.note import Verifier
from ombud.ledger.proof_bundle import ProofBundle, verify_proof_bundle
from ombud.ledger.verifier import DirectorySource, audit_log
from ombud.simulator import simulate_events

_CHECKPOINT_EVERY = 2  # batches


def run_demo(data_dir: Path | None, *, events: int, seed: int) -> None:
    temp = None
    if data_dir is None:
        temp = tempfile.TemporaryDirectory(prefix="ombud-demo-")
        data_dir = Path(temp.name) / "city"
    try:
        _demo(data_dir, events, seed)
    finally:
        if temp is not None:
            temp.cleanup()


def _demo(data_dir: Path, count: int, seed: int) -> None:
    console = stderr
    if not (data_dir / SETTINGS_FILE).exists():
        init_deployment(data_dir, "demo.ombud.localhost/city")
        console.print(f"[bold]initialised[/] {data_dir}")
    settings = Settings.load(data_dir)
    log = open_log(data_dir, settings)
    rng = random.Random(seed)
    start = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
    timings: dict[str, float] = {}
    try:
        first_index = log.size
        batch_size = settings.log.batch_max_entries
        checkpoints = batches = 0
        t0 = time.perf_counter()
        with progress_bar("appending city events") as progress:
            batch: list[bytes] = []
            stream = simulate_events(rng, start, count)
            for done, event in enumerate(stream, 1):
                batch.append(event.to_bytes())
                if len(batch) == batch_size or done == count:
                    log.append_batch(batch)
                    batch = []
                    batches += 1
                    if batches % _CHECKPOINT_EVERY == 0 or done == count:
                        log.checkpoint()
                        checkpoints += 1
                    progress(done, count)
        timings["append"] = time.perf_counter() - t0

        export_dir = data_dir / "export"
        t0 = time.perf_counter()
        with progress_bar("exporting tlog-tiles") as progress:
            exported = export_log(log, export_dir, progress=progress)
        timings["export"] = time.perf_counter() - t0

        vkey = log.verifier()
        t0 = time.perf_counter()
        with progress_bar("verifying the export") as progress:
            report = audit_log(DirectorySource(export_dir), [vkey], progress=progress)
        timings["verify"] = time.perf_counter() - t0

        cp = report.checkpoint.checkpoint
        index = first_index + rng.randrange(cp.size - first_index)
        entry = log.entry(index)
        bundle = ProofBundle(
            index, tuple(log.inclusion_proof(index, cp.size)), exported.checkpoint.to_bytes()
        )
        verify_proof_bundle(ProofBundle.from_bytes(bundle.to_bytes()), entry, [vkey])
        sample = Event.from_bytes(entry)

        tamper_message = _tamper_check(export_dir, [vkey])
    finally:
        log.close()

    table = Table(title="ombud demo", show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("data directory", str(data_dir))
    table.add_row("log verifier key", vkey.vkey)
    table.add_row(
        "events appended",
        f"{count:,} in {timings['append']:.2f} s ({count / timings['append']:,.0f}/s)",
    )
    table.add_row("checkpoints signed", f"{checkpoints} (latest: size {cp.size:,})")
    table.add_row("tiles exported", f"{exported.files:,} files in {timings['export']:.2f} s")
    table.add_row(
        "independent verification",
        f"{report.entries:,} entries, {report.tiles:,} tiles recomputed "
        f"in {timings['verify']:.2f} s: OK",
    )
    table.add_row(
        "offline proof", f"entry {index} ({sample.kind}) proven in checkpoint {cp.size:,}: OK"
    )
    table.add_row("tamper check", tamper_message)
    console.print(table)
    console.print("[bold]published checkpoint[/]")
    console.print(report.checkpoint.to_bytes().decode(), highlight=False, soft_wrap=True, end="")


def _tamper_check(export_dir: Path, keys: list[Verifier]) -> str:
    """Flip one bit of the first entry bundle in a copy of the export; verify must fail."""
    with tempfile.TemporaryDirectory(prefix="ombud-tamper-") as tmp:
        copy = Path(tmp) / "export"
        shutil.copytree(export_dir, copy)
        bundles = sorted((copy / "tile" / "entries").rglob("*"))
        target = next(p for p in bundles if p.is_file())
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0x01
        target.write_bytes(bytes(data))
        try:
            audit_log(DirectorySource(copy), keys)
        except VerificationError as exc:
            return f"flipped a bit in {target.relative_to(copy)} → caught: {exc}"
    raise VerificationError("a tampered export verified; this must never happen")
