"""``ombud decision`` and ``ombud result``: a member signs a vote on their own machine and the
clerk casts it; a non-member's vote is refused (exit 2) and recorded; an office signs a
result's updates and the clerk records them; the results export as Decidim CSV."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from ombud.clock import utc_now
from ombud.deployment import Deployment, init_deployment
from ombud.events import Event
from tests.conftest import ombud
from tests.governance.test_chamber import table
from tests.governance.test_decisions import MOTION, vote
from tests.governance.test_procurement import Clock
from tests.governance.test_results import RESULT
from tests.governance.test_roster import GENESIS, KEYS


def _pem(tmp_path: Path, holder: str) -> Path:
    path = tmp_path / f"{holder}.pem"
    path.write_bytes(KEYS[holder].private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    return path


def test_votes_and_results_from_the_command_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "city"
    init_deployment(data_dir, "decisions.example/log")
    clock = Clock()
    clock.now = utc_now()
    motion = replace(MOTION, closes=clock.now + timedelta(days=1))
    with Deployment.open(data_dir, clock=clock) as deployment:
        deployment.establish_roster(GENESIS, actor="clerk")
        table(deployment, motion)
    shown = ombud("decision", "show", "--data-dir", data_dir, motion.id)
    assert shown.returncode == 0, shown.stderr
    (tmp_path / "motion.json").write_text(shown.stdout)
    for holder, choice in (("council-1", "yes"), ("council-2", "yes"), ("council-6", "no")):
        out = tmp_path / f"vote-{holder}.json"
        signed = ombud(
            "decision", "sign", tmp_path / "motion.json", "--holder", holder,
            "--choice", choice, "--key", _pem(tmp_path, holder), "--out", out,
            "--origin", "decisions.example/log",
        )  # fmt: skip
        assert signed.returncode == 0, signed.stderr
        cast = ombud("decision", "cast", "--data-dir", data_dir, out)
        if holder == "council-6":  # not on the roster
            assert cast.returncode == 2 and "holds no office" in cast.stderr
        else:
            assert cast.returncode == 0, cast.stderr
    ombud("decision", "cast", "--data-dir", data_dir, tmp_path / "vote-council-1.json")
    listed = json.loads(ombud("decision", "list", "--data-dir", data_dir, "--json").stdout)
    assert listed[0]["id"] == motion.id and listed[0]["tally"] is None
    assert ombud("decision", "decide", "--data-dir", data_dir, motion.id).returncode == 2  # open
    with Deployment.open(data_dir, clock=clock) as deployment:
        deployment.decisions.cast(vote("council-3", "yes", motion), actor="clerk")
        clock.now = motion.closes
        deployment.decisions.decide(motion.id, actor="ombud")
        refusals = [
            r for r in deployment.log.entries(0, deployment.log.size) if b"vote.refused" in r
        ]
    assert len(refusals) == 2  # the non-member's, and council-1's second vote
    result = replace(
        RESULT, decision=motion.id, start=date.today(), end=date.today() + timedelta(days=90)
    )
    (tmp_path / "result.json").write_text(json.dumps(result.to_json()))
    key = _pem(tmp_path, "officer-a")
    for sequence, status, progress, extra in (
        (0, "planned", 0, ["--definition", tmp_path / "result.json"]),
        (1, "in-progress", 20, ["--note", "works started"]),
    ):
        update = tmp_path / f"update-{sequence}.json"
        made = ombud(
            "result", "sign", result.id, "--sequence", str(sequence), "--status", status,
            "--progress", str(progress), "--holder", "officer-a", "--key", key, "--out", update,
            "--origin", "decisions.example/log", *extra,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        recorded = ombud("result", "record", "--data-dir", data_dir, update)
        assert recorded.returncode == 0, recorded.stderr
    exported = ombud("result", "export", "--data-dir", data_dir, "--csv")
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert rows[0]["progress"] == "20" and rows[0]["status"] == "in-progress"

    # Anyone re-verifies the votes and updates from an export, for the checkpoint's origin.
    (tmp_path / "genesis.json").write_text(json.dumps(GENESIS.to_json()))
    with Deployment.open(data_dir) as deployment:
        deployment.log.checkpoint()
    export = tmp_path / "export"
    assert ombud("log", "export", data_dir, export).returncode == 0
    votes = ombud("decision", "verify", export, "--genesis", tmp_path / "genesis.json")
    assert votes.returncode == 0, votes.stderr
    assert "OK: 3 vote(s) on 1 motion(s)" in votes.stdout
    updates = ombud("result", "verify", export, "--genesis", tmp_path / "genesis.json")
    assert updates.returncode == 0, updates.stderr
    assert "OK: 2 update(s) of 1 result(s)" in updates.stdout


def test_a_vote_signed_for_another_deployment(tmp_path: Path) -> None:
    """Signed for a staging copy, a vote is refused by `cast` with nothing written (exit 2); a
    version-1 vote written into the log after a version-2 one breaks `decision verify`."""
    data_dir = tmp_path / "city"
    init_deployment(data_dir, "decisions.example/log")
    clock = Clock()
    clock.now = utc_now()
    motion = replace(MOTION, closes=clock.now + timedelta(days=1))
    with Deployment.open(data_dir, clock=clock) as deployment:
        deployment.establish_roster(GENESIS, actor="clerk")
        table(deployment, motion)
        deployment.decisions.cast(vote("council-2", "yes", motion), actor="clerk")
        size = deployment.log.size
    (tmp_path / "motion.json").write_text(json.dumps(motion.to_json()))
    out = tmp_path / "vote.json"
    signed = ombud(
        "decision", "sign", tmp_path / "motion.json", "--holder", "council-1", "--choice", "yes",
        "--key", _pem(tmp_path, "council-1"), "--out", out, "--origin", "staging.example/log",
    )  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    assert json.loads(out.read_text())["origin"] == "staging.example/log"
    cast = ombud("decision", "cast", "--data-dir", data_dir, out)
    assert cast.returncode == 2 and "signed for deployment 'staging.example/log'" in cast.stderr
    with Deployment.open(data_dir) as deployment:
        assert deployment.log.size == size
        old = vote("council-3", "no", motion, origin=None)  # behind the chamber's back
        event = Event("vote.cast", deployment.clock(), "clerk", {"v": 1, "vote": old.to_json()})
        index = deployment.log.append_batch([event.to_bytes()])
        deployment.log.checkpoint()
    (tmp_path / "genesis.json").write_text(json.dumps(GENESIS.to_json()))
    export = tmp_path / "export"
    assert ombud("log", "export", data_dir, export).returncode == 0
    broken = ombud("decision", "verify", export, "--genesis", tmp_path / "genesis.json")
    assert broken.returncode == 1, broken.stdout
    assert f"entry {index}" in broken.stderr and "names no deployment" in broken.stderr
