"""``ombud demo``: the main job, end to end on the embedded SQLite store.

Three independent witnesses (an ombudsman, a university, a newspaper) are started as real
``ombud witness serve`` processes on loopback and made the log's witness policy (quorum 2).
Simulated sensors register through the admin API of a real ``ombud serve`` and send signed
observations over NGSI-LD; tampered, replayed, unregistered and revoked ones are refused, and
one reading is proven in a witnessed checkpoint (``ombud.cli.demo_sensors``).
A simulated city's events are appended in durable batches; checkpoints are published as the log
grows, each only once two witnesses cosigned it. The operator then tries to fork the log and is
refused, leaving evidence anyone can check; the log is exported as a tlog-tiles tree, and an
independent verifier recomputes it, enforces the witness quorum, checks an offline proof and
catches a deliberately flipped byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import shutil
import socket
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from ombud.cli._progress import progress_bar, stderr
from ombud.cli.demo_city import DEFAULT, QUICK, CitySize, city_act
from ombud.cli.demo_sensors import sensor_act
from ombud.config import SETTINGS_FILE, Settings
from ombud.deployment import Deployment, init_deployment, open_log, set_witness_policy
from ombud.errors import UnavailableError, VerificationError
from ombud.events import Event
from ombud.ledger import note
from ombud.ledger.checkpoint import Checkpoint
from ombud.ledger.evidence import ForkEvidence, verify_evidence
from ombud.ledger.export import export_log
from ombud.ledger.log import Log
from ombud.ledger.logdir import LOG_VKEY
from ombud.ledger.note import Verifier
from ombud.ledger.proof_bundle import ProofBundle, verify_proof_bundle
from ombud.ledger.verifier import DirectorySource, audit_log
from ombud.simulator import simulate_events
from ombud.witness.local import LocalWitness
from ombud.witness.policy import WitnessEndpoint, WitnessPolicy
from ombud.witness.protocol import AddCheckpoint
from ombud.witness.publisher import Publisher

_CHECKPOINT_EVERY = 2  # batches
WITNESSES = ("ombudsman", "university", "newspaper")
QUORUM = 2
PORTAL_PORT = 8000


def run_demo(
    data_dir: Path | None,
    *,
    events: int,
    seed: int,
    quick: bool = False,
    city: bool = True,
    serve: bool = True,
    port: int = PORTAL_PORT,
) -> None:
    temp = None
    if data_dir is None:
        temp = tempfile.TemporaryDirectory(prefix="ombud-demo-")
        data_dir = Path(temp.name) / "city"
    try:
        if quick:
            _quick(data_dir, seed)
        else:
            _demo(data_dir, events, seed, city)
        if serve:
            serve_portal(data_dir, stderr, port=port)
    finally:
        if temp is not None:
            temp.cleanup()


def _listening(port: int) -> socket.socket:
    """A socket listening on 127.0.0.1:``port``, or on a free port when that one is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def serve_portal(data_dir: Path, console: Console, *, port: int = PORTAL_PORT) -> None:
    """Serve the demo city's portal and API on loopback until Ctrl-C (no checkpoints are
    signed meanwhile: what a resident changes shows once the log publishes again)."""
    import uvicorn

    from ombud.cli.demo_city import RESIDENT_KEY_FILE
    from ombud.web import create_portal

    sock = _listening(port)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    try:
        settings = Settings.load(data_dir)
        if not settings.server.public_url:  # the demo's public address: the loopback it serves
            settings = replace(settings, server=replace(settings.server, public_url=url))
        with Deployment.open(data_dir, with_key=False, settings=settings) as deployment:
            app = create_portal(deployment)
            console.print(f"[bold]portal[/] {url} (Ctrl-C to stop)", soft_wrap=True)
            if (data_dir / RESIDENT_KEY_FILE).exists():
                console.print(
                    f"[bold]my data[/] sign in at {url}me with the simulated resident's key in "
                    f"{data_dir / RESIDENT_KEY_FILE}",
                    soft_wrap=True,
                )
            config = uvicorn.Config(app, log_level="warning", server_header=False)
            with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl-C on exit
                uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
    console.print("[bold]portal[/] stopped")


def _start_witnesses(data_dir: Path, console: Console, *, wait: bool = True) -> list[LocalWitness]:
    """Start the demo's witnesses; on a first run, make them the log's policy (quorum 2).
    With ``wait`` False they are launched and the caller waits (``wait_ready``) before it
    needs them, so their start-up overlaps its own work."""
    log_vkey = (data_dir / LOG_VKEY).read_text(encoding="ascii").strip()
    witnesses = [
        LocalWitness(data_dir / "witnesses" / name, f"{name}.demo.ombud.localhost", [log_vkey])
        for name in WITNESSES
    ]
    started: list[LocalWitness] = []
    try:
        for w in witnesses:  # all three start at once, then each is waited for
            w.launch()
            started.append(w)
        for w in witnesses if wait else ():
            w.wait_ready()
    except BaseException:
        for w in started:
            w.stop()
        raise
    settings = Settings.load(data_dir)
    endpoints = tuple(WitnessEndpoint(w.vkey, w.url) for w in witnesses)
    # A rerun's witnesses listen on new ports: their URLs are saved, and the policy (which
    # keys cosign, and how many) goes on the ledger only where it changed, on a first run.
    recorded = settings.witnesses.witness != endpoints and set_witness_policy(
        data_dir, WitnessPolicy(quorum=QUORUM, witness=endpoints)
    )
    names = ", ".join(WITNESSES)
    console.print(
        f"[bold]witnesses started[/] {names} (quorum {QUORUM} of {len(witnesses)})"
        + ("; the policy recorded on the ledger (witness.policy_changed)" if recorded else "")
    )
    return witnesses


def _city(
    data_dir: Path, seed: int, size: CitySize, console: Console, witnesses: list[LocalWitness]
) -> None:
    """The city act, its checkpoints published once the witnesses cosign them."""
    if (data_dir / "demo-truth.json").exists():
        console.print("[bold]city[/] already simulated in this directory; see insight.json")
        return
    runner = asyncio.Runner()
    publishers: list[Publisher] = []  # one, made on first use: it holds the witnesses' clients

    def publish(deployment: Deployment) -> None:
        if not publishers:
            for w in witnesses:  # launched before the act; ready long before now
                w.wait_ready()
            publishers.append(Publisher(deployment.log, Settings.load(data_dir).witnesses))
        outcome = runner.run(publishers[0].publish())
        if not outcome.published:
            raise UnavailableError(outcome.summary())

    try:
        city_act(data_dir, seed, size, publish, console)
    finally:
        for publisher in publishers:
            runner.run(publisher.aclose())
        runner.close()


def _quick(data_dir: Path, seed: int) -> None:
    """The city act alone, on a small city (``ombud demo --quick``)."""
    if not (data_dir / SETTINGS_FILE).exists():
        init_deployment(data_dir, "demo.ombud.localhost/city")
    witnesses = _start_witnesses(data_dir, stderr, wait=False)
    try:
        _city(data_dir, seed, QUICK, stderr, witnesses)
    finally:
        for w in witnesses:
            w.stop()


def _demo(data_dir: Path, count: int, seed: int, city: bool) -> None:
    console = stderr
    if not (data_dir / SETTINGS_FILE).exists():
        init_deployment(data_dir, "demo.ombud.localhost/city")
        console.print(f"[bold]initialised[/] {data_dir}")
    witnesses = _start_witnesses(data_dir, console)
    try:
        if city:
            _city(data_dir, seed, DEFAULT, console, witnesses)
        sensor_rows = sensor_act(
            data_dir,
            seed,
            [Verifier.from_vkey(w.vkey) for w in witnesses],
            QUORUM,
            lambda message: console.print(f"[bold]sensors[/] {message}"),
        )
    except BaseException:
        for w in witnesses:
            w.stop()
        raise
    runner = asyncio.Runner()
    settings = Settings.load(data_dir)
    log = open_log(data_dir, settings)
    publisher = Publisher(log, settings.witnesses)
    rng = random.Random(seed)
    start = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
    timings: dict[str, float] = {}
    latencies: list[float] = []
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
                        outcome = runner.run(publisher.publish())
                        if not outcome.published:
                            raise UnavailableError(outcome.summary())
                        latencies.append(outcome.latency)
                        checkpoints += 1
                    progress(done, count)
        timings["append"] = time.perf_counter() - t0

        export_dir = data_dir / "export"
        t0 = time.perf_counter()
        with progress_bar("exporting tlog-tiles") as progress:
            exported = export_log(log, export_dir, progress=progress)
        timings["export"] = time.perf_counter() - t0

        fork_message = _fork_attempt(log, witnesses[0])

        vkey = log.verifier()
        witness_keys = [Verifier.from_vkey(w.vkey) for w in witnesses]
        t0 = time.perf_counter()
        with progress_bar("verifying the export") as progress:
            report = audit_log(
                DirectorySource(export_dir),
                [vkey],
                witnesses=witness_keys,
                quorum=QUORUM,
                progress=progress,
            )
        timings["verify"] = time.perf_counter() - t0

        cp = report.checkpoint.checkpoint
        index = first_index + rng.randrange(cp.size - first_index)
        entry = log.entry(index)
        bundle = ProofBundle(
            index, tuple(log.inclusion_proof(index, cp.size)), exported.checkpoint.to_bytes()
        )
        verify_proof_bundle(
            ProofBundle.from_bytes(bundle.to_bytes()),
            entry,
            [vkey],
            witnesses=witness_keys,
            quorum=QUORUM,
        )
        sample = Event.from_bytes(entry)

        tamper_message = _tamper_check(export_dir, [vkey])
    finally:
        runner.run(publisher.aclose())
        runner.close()
        log.close()
        for w in witnesses:
            w.stop()

    table = Table(title="ombud demo", show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("data directory", str(data_dir))
    table.add_row("log verifier key", vkey.vkey)
    table.add_row(
        "events appended",
        f"{count:,} in {timings['append']:.2f} s ({count / timings['append']:,.0f}/s)",
    )
    cosigners = ", ".join(v.verifier.name.split(".")[0] for v in report.checkpoint.cosigners)
    table.add_row(
        "witnesses",
        f"{len(witnesses)} processes ({', '.join(WITNESSES)}), quorum {QUORUM}",
    )
    table.add_row(
        "checkpoints published",
        f"{checkpoints}, each cosigned by ≥ {QUORUM} witnesses (publishing latency median "
        f"{statistics.median(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms)",
    )
    for name, text in sensor_rows:
        table.add_row(name, text)
    table.add_row("latest checkpoint", f"size {cp.size:,}, cosigned by {cosigners}")
    table.add_row("fork attempt", fork_message)
    table.add_row("tiles exported", f"{exported.files:,} files in {timings['export']:.2f} s")
    table.add_row(
        "independent verification",
        f"{report.entries:,} entries, {report.tiles:,} tiles recomputed "
        f"and witness quorum checked in {timings['verify']:.2f} s: OK",
    )
    table.add_row(
        "offline proof", f"entry {index} ({sample.kind}) proven in checkpoint {cp.size:,}: OK"
    )
    table.add_row("tamper check", tamper_message)
    console.print(table)
    console.print("[bold]published checkpoint[/]")
    console.print(report.checkpoint.to_bytes().decode(), highlight=False, soft_wrap=True, end="")


def _fork_attempt(log: Log, witness: LocalWitness) -> str:
    """The operator signs a second tree at the published size; a witness must refuse it."""
    published = log.published_checkpoint()
    assert published is not None
    forged_root = hashlib.sha256(b"a history the city would rather tell").digest()
    forged = note.sign(Checkpoint(log.origin, published.size, forged_root).to_text(), log.signer)  # type: ignore[arg-type]
    body = AddCheckpoint.build(published.size, [], forged).to_bytes()
    response = httpx.post(witness.url + "/add-checkpoint", content=body, timeout=10)
    if response.status_code != 422:
        raise VerificationError(f"a witness answered a fork with HTTP {response.status_code}")
    [evidence_file] = sorted((witness.state / "evidence").glob("fork-*.json"))[-1:]
    verify_evidence(ForkEvidence.from_bytes(evidence_file.read_bytes()), [log.verifier()])
    return (
        f"a second root signed for size {published.size:,} → {witness.state.name} refused it "
        f"(HTTP 422) and kept evidence that verifies: {evidence_file.name}"
    )


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
