"""Real processes on loopback: three ``ombud witness serve`` and a log with quorum 2."""

from __future__ import annotations

import concurrent.futures
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ombud.deployment import open_log
from ombud.ledger import note
from ombud.ledger.checkpoint import Checkpoint, open_checkpoint
from ombud.witness.local import LocalWitness, free_port
from ombud.witness.protocol import AddCheckpoint
from ombud.witness.witness import origin_hash

from ..conftest import ombud

ORIGIN = "city.test/log"


@pytest.fixture
def city(tmp_path: Path) -> Path:
    data = tmp_path / "city"
    assert ombud("init", "--data-dir", data, "--origin", ORIGIN).returncode == 0
    return data


def log_vkey(city: Path) -> str:
    return (city / "log.vkey").read_text().strip()


def append(city: Path, count: int) -> None:
    lines = "".join(f"entry {i}\n" for i in range(count))
    done = ombud("log", "append", city, input=lines)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def three(tmp_path: Path, city: Path, witness_processes: list[LocalWitness]) -> list[LocalWitness]:
    for i in (1, 2, 3):
        w = LocalWitness(tmp_path / f"w{i}", f"w{i}.test/witness", [log_vkey(city)])
        w.start()
        witness_processes.append(w)
        assert ombud("log", "witness", "add", city, w.vkey, w.url).returncode == 0
    done = ombud("log", "witness", "quorum", city, "2")
    assert done.returncode == 0 and "quorum 2 of 3" in done.stdout
    return witness_processes


def witness_size(w: LocalWitness) -> int:
    served = httpx.get(f"{w.url}/{origin_hash(ORIGIN)}/checkpoint", timeout=5)
    assert served.status_code == 200
    return Checkpoint.from_text(note.parse(served.content).text).size


def test_witness_init_contract(tmp_path: Path) -> None:
    done = ombud("witness", "init", "--state", tmp_path / "w", "--name", "paper.example/w")
    assert done.returncode == 0
    vkey = note.Verifier.from_vkey(done.stdout.strip())
    assert vkey.name == "paper.example/w" and vkey.is_cosigner
    assert stat.S_IMODE((tmp_path / "w" / "witness.key").stat().st_mode) == 0o600
    assert done.stdout.count("PRIVATE") == 0
    again = ombud("witness", "init", "--state", tmp_path / "w", "--name", "paper.example/w")
    assert again.returncode == 2 and "already holds a witness" in again.stderr
    serve = ombud("witness", "serve", "--state", tmp_path / "w", "--listen", "127.0.0.1:1")
    assert serve.returncode == 2 and "--log" in serve.stderr


def test_quorum_publishing_through_outages(
    city: Path, three: list[LocalWitness], tmp_path: Path
) -> None:
    _, w2, w3 = three
    append(city, 100)
    done = ombud("log", "checkpoint", city)
    assert done.returncode == 0, done.stderr
    keys = [note.Verifier.from_vkey(w.vkey) for w in three]
    log_key = note.Verifier.from_vkey(log_vkey(city))
    published = open_checkpoint(done.stdout.encode(), [log_key], witnesses=keys)
    assert published.checkpoint.size == 104 and len(published.cosigners) == 3  # 4 policy events

    w3.stop()  # one down: still published
    append(city, 10)
    assert ombud("log", "checkpoint", city).returncode == 0

    w2.stop()  # two down: refused, said why, and appends go on
    append(city, 10)
    refused = ombud("log", "checkpoint", city)
    assert refused.returncode == 2
    assert "NOT published: 1 of the 2 witness cosignatures required" in refused.stderr
    assert "w2.test/witness" in refused.stderr and "w3.test/witness" in refused.stderr
    status = ombud("log", "status", city).stdout
    assert "published   size 114" in status
    assert "PUBLISHING BLOCKED: checkpoint 124" in status
    export = tmp_path / "export"
    assert ombud("log", "export", city, export).returncode == 0
    assert Checkpoint.from_text(note.parse((export / "checkpoint").read_bytes()).text).size == 114

    w2.start()  # back: publishing resumes with proofs across the gap
    w3.start()
    append(city, 10)
    assert ombud("log", "checkpoint", city).returncode == 0
    assert [witness_size(w) for w in three] == [134, 134, 134]
    shutil.rmtree(export)
    assert ombud("log", "export", city, export).returncode == 0
    verify = ombud(
        "verify",
        export,
        "--key",
        log_vkey(city),
        *[a for w in three for a in ("--witness", w.vkey)],
        "--quorum",
        "3",
    )
    assert verify.returncode == 0, verify.stderr
    assert "3/3 witnesses cosigned (quorum 3)" in verify.stdout


def test_serve_publishes_only_witnessed_checkpoints(city: Path, three: list[LocalWitness]) -> None:
    settings = (
        (city / "ombud.toml")
        .read_text()
        .replace("checkpoint_interval_s = 5", "checkpoint_interval_s = 1")
    )
    (city / "ombud.toml").write_text(settings)
    append(city, 50)
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ombud",
            "serve",
            "--data-dir",
            str(city),
            "--listen",
            f"127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        checkpoint = _wait_for(lambda: _get(base + "/checkpoint"))
        opened = open_checkpoint(
            checkpoint,
            [note.Verifier.from_vkey(log_vkey(city))],
            witnesses=[note.Verifier.from_vkey(w.vkey) for w in three],
        )
        assert opened.checkpoint.size == 54 and len(opened.cosigners) >= 2
        three[1].stop()
        three[2].stop()
        append(city, 5)
        metrics = _wait_for(
            lambda: (m := _get(base + "/metrics")) and b"\nombud_publish_blocked 1\n" in m and m
        )
        assert b"ombud_checkpoint_published_size 54" in metrics
        assert b"ombud_checkpoint_signed_size 59" in metrics
        assert b'ombud_witness_failures_total{witness="w2.test/witness"}' in metrics
        # Readers are still served the witnessed checkpoint, not the unwitnessed one.
        assert Checkpoint.from_text(note.parse(_get(base + "/checkpoint")).text).size == 54
        assert httpx.get(base + "/proof/inclusion?index=56").status_code == 404
    finally:
        server.terminate()
        _, err = server.communicate(timeout=10)
    assert b"checkpoint 59 NOT published" in err


def _get(url: str) -> bytes | None:
    try:
        response = httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None
    return response.content if response.status_code == 200 else None


def _wait_for(probe, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.fixture
def paper(city: Path, tmp_path: Path, witness_processes: list[LocalWitness]) -> LocalWitness:
    """One witness process (a newspaper's) for the city's log."""
    w = LocalWitness(tmp_path / "w", "paper.test/w", [log_vkey(city)])
    w.start()
    witness_processes.append(w)
    return w


def test_split_view_is_refused_and_becomes_evidence(
    city: Path, tmp_path: Path, paper: LocalWitness
) -> None:
    w = paper
    append(city, 20)
    fork_dir = shutil.copytree(city, tmp_path / "fork")
    append(city, 5)
    log = open_log(city)
    fork = open_log(fork_dir)
    try:
        honest = log.checkpoint().to_bytes()
        fork.append_batch([b"forged %d" % i for i in range(5)])
        forged = fork.checkpoint().to_bytes()
    finally:
        log.close()
        fork.close()
    first = httpx.post(
        f"{w.url}/add-checkpoint", content=AddCheckpoint.build(0, [], honest).to_bytes()
    )
    assert first.status_code == 200
    second = httpx.post(
        f"{w.url}/add-checkpoint", content=AddCheckpoint.build(25, [], forged).to_bytes()
    )
    assert second.status_code == 422
    [kept] = list((w.state / "evidence").iterdir())
    checked = ombud("verify-evidence", kept, "--key", log_vkey(city))
    assert checked.returncode == 0 and "VALID evidence" in checked.stdout
    assert "FORK" in w.server_log()

    # A monitor that trusted the honest view and is then shown the forged one.
    assert ombud("log", "export", city, tmp_path / "honest").returncode == 0
    assert ombud("log", "export", fork_dir, tmp_path / "forged").returncode == 0
    state = tmp_path / "monitor.state"
    ok = ombud("monitor", tmp_path / "honest", "--key", log_vkey(city), "--state", state)
    assert ok.returncode == 0 and "first checkpoint trusted" in ok.stdout
    caught = ombud("monitor", tmp_path / "forged", "--key", log_vkey(city), "--state", state)
    assert caught.returncode == 1
    evidence = tmp_path / "monitor.state.evidence.json"
    assert "evidence written to" in caught.stderr and evidence.exists()
    assert ombud("verify-evidence", evidence, "--key", log_vkey(city)).returncode == 0
    other_key = note.Signer.generate(ORIGIN).verifier().vkey
    assert ombud("verify-evidence", evidence, "--key", other_key).returncode == 1


def test_restarted_witness_refuses_rollback_and_races(city: Path, paper: LocalWitness) -> None:
    w = paper
    log = open_log(city)
    try:
        notes = {}
        for _ in range(30):
            log.append_batch([b"x"] * 7)
            cp = log.checkpoint()
            notes[cp.checkpoint.size] = cp.to_bytes()
        sizes = sorted(notes)

        def send(size: int, old: int) -> httpx.Response:
            proof = log.consistency_proof(old, size) if 0 < old < size else []
            body = AddCheckpoint.build(old, proof, notes[size]).to_bytes()
            return httpx.post(f"{w.url}/add-checkpoint", content=body, timeout=10)

        # Racing clients, each starting from a stale old size and following 409s.
        def client(size: int) -> int | None:
            old = 0
            for _ in range(50):
                response = send(size, old)
                if response.status_code == 200:
                    return size
                assert response.status_code in (409, 400), response.text
                if response.status_code == 400:
                    return None
                old = int(response.text)
                if old > size:
                    return None
            raise AssertionError("never settled")

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            accepted = [s for s in pool.map(client, sizes) if s is not None]
        assert witness_size(w) == max(accepted)

        w.stop()
        w.start()
        latest = witness_size(w)
        older = sizes[0]
        replay = send(older, older)
        assert replay.status_code == 409 and int(replay.text) == latest
        assert send(older, latest).status_code == 400
    finally:
        log.close()
