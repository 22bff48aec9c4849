"""``ombud demo --quick``: a small simulated city whose events the insight recovers, and a report
anyone can recompute."""

from __future__ import annotations

import itertools
import json
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

OMBUD = [sys.executable, "-m", "ombud"]


def test_the_quick_demo_recovers_its_events_and_its_insight_verifies(tmp_path: Path) -> None:
    data_dir = tmp_path / "city"
    run = [
        sys.executable,
        "-m",
        "ombud",
        "demo",
        "--quick",
        "--no-serve",
        "--data-dir",
        str(data_dir),
    ]
    result = subprocess.run(run, capture_output=True, timeout=240)
    assert result.returncode == 0, result.stderr.decode()
    truth = json.loads((data_dir / "demo-truth.json").read_text())
    insight = json.loads((data_dir / "insight.json").read_text())
    changed = {
        (c["district"], c["service"], c["period"]) for c in insight["changes"] if c["delta"] < 0
    }
    for event in truth["events"]:
        for period in event["periods"]:
            assert (event["district"], event["service"], period) in changed, event
    assert {"size", "root"} <= insight["checkpoint"].keys()
    # The ledger's order says nothing of where posts come from: residents are simulated
    # district by district, yet consecutive posts change district about as often as in a
    # random order (a run of one district is what an outsider could read off the leaves).
    with sqlite3.connect(data_dir / "log.sqlite") as db:
        districts = [d for (d,) in db.execute("SELECT district FROM posts ORDER BY ledger_index")]
    shares = [districts.count(d) / len(districts) for d in set(districts)]
    runs = 1 + sum(a != b for a, b in itertools.pairwise(districts))
    assert runs > 0.7 * len(districts) * (1 - sum(x * x for x in shares)), runs
    cell = insight["cells"][0]
    assert {
        "district",
        "service",
        "period",
        "satisfaction",
        "low",
        "high",
        "suppressed",
    } <= cell.keys()
    report = tmp_path / "report.json"
    out = subprocess.run(
        [sys.executable, "-m", "ombud", "insight", "report", "--data-dir", str(data_dir), "--json"],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    report.write_bytes(out.stdout)
    assert json.loads(out.stdout)["digest"] == insight["digest"]
    ok = subprocess.run(
        [*OMBUD, "insight", "verify", "--data-dir", str(data_dir), str(report)],
        capture_output=True, timeout=120,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr.decode()
    tampered = json.loads(out.stdout)
    tampered["cells"][0]["satisfaction"] = 0.99
    tampered["digest"] = "0" * 64
    report.write_text(json.dumps(tampered))
    bad = subprocess.run(
        [*OMBUD, "insight", "verify", "--data-dir", str(data_dir), str(report)],
        capture_output=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 1 and b"cells" in bad.stderr  # 1: did not verify
    for option, value in (("--week", "garbage"), ("--district", "no/such"), ("--service", "X")):
        refused = subprocess.run(
            [*OMBUD, "insight", "report", "--data-dir", str(data_dir), option, value],
            capture_output=True, timeout=120,
        )  # fmt: skip
        assert refused.returncode == 2 and not refused.stdout, option  # 2: bad input
        assert value.encode() in refused.stderr and b"Traceback" not in refused.stderr


def test_the_demo_serves_its_portal_and_insight_until_interrupted(tmp_path: Path) -> None:
    """``ombud demo`` ends by serving the portal and the API on loopback, printing the URL,
    until Ctrl-C (SIGINT), after which it exits 0."""
    data_dir = tmp_path / "city"
    with socket.socket() as probe:  # a port free now; the demo takes another if it is not
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = [*OMBUD, "demo", "--quick", "--data-dir", str(data_dir), "--port", str(port)]
    demo = subprocess.Popen(run, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = _served_url(demo)
        insight = json.loads((data_dir / "insight.json").read_text())
        with httpx.Client(base_url=url, timeout=60) as client:
            portal = client.get("/")
            assert portal.status_code == 200 and "<svg" in portal.text  # the map
            assert "form-action 'self'" in portal.headers["content-security-policy"]
            whole = client.get("/insight")
            assert whole.status_code == 200 and whole.json()["digest"] == insight["digest"]
            north = client.get("/insight/cells", params={"district": "north"}).json()["cells"]
            assert north and {c["district"] for c in north} == {"north"}
            card = client.get("/insight/districts/north").json()
            assert {s["service"] for s in card["services"]} >= {"noise"}
            assert client.get("/insight/changes").json()["changes"]
            assert client.get("/insight/lists").status_code == 200
            assert client.get("/insight/sensors", params={"week": "2026-W46"}).status_code == 200
            for bad in ("/insight?week=46", "/insight?district=a%20b", "/insight?service=Waste!"):
                response = client.get(bad)
                assert response.status_code == 400, bad
                assert response.headers["content-type"].startswith("application/problem+json")
            assert client.get("/insight/districts/atlantis").status_code == 404
        # The contract of the roster: its genesis is left beside the deployment, and the
        # chain (genesis, then the council's hand-over) verifies from the served log.
        genesis = data_dir / "roster-genesis.json"
        verified = subprocess.run(
            [*OMBUD, "roster", "verify", url, "--genesis", str(genesis)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert verified.returncode == 0, verified.stderr
        assert "roster version 1" in verified.stdout and "council-hana" in verified.stdout
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()


def _served_url(demo: subprocess.Popen[bytes]) -> str:
    """The portal's URL, as the demo prints it once it serves (it runs a minute or so first)."""
    assert demo.stdout is not None
    seen = []
    deadline = time.monotonic() + 300
    for raw in demo.stdout:
        line = raw.decode(errors="replace")
        seen.append(line)
        found = re.search(r"portal (http://127\.0\.0\.1:\d+/)", line)
        if found:
            return found[1]
        assert time.monotonic() < deadline, "".join(seen[-20:])
    raise AssertionError("the demo exited without serving:\n" + "".join(seen[-30:]))
