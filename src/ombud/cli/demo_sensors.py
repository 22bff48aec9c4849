"""The demo's acts through a real ``ombud serve``: signed observations, what it refuses, a
compromised sensor caught by screening — and then the residents' voice act (``demo_voice``).

Threat model: as ``ombud.cli.demo`` — a demonstration on loopback. The admin token it creates
is used to register the simulated devices and is revoked before the act ends. The server
screens with a one-second settle time (instead of the default 30 s) so the demo need not wait.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx

from ombud.cli.demo_privacy import privacy_act
from ombud.cli.demo_voice import voice_act
from ombud.clock import format_time, utc_now
from ombud.deployment import Deployment
from ombud.errors import UnavailableError, VerificationError
from ombud.events import Event
from ombud.ingest.fleet import reading
from ombud.ingest.simulation import make_simulated_fleet, register_fleet, send
from ombud.ledger import merkle
from ombud.ledger.checkpoint import open_checkpoint, verify_quorum
from ombud.ledger.note import Verifier
from ombud.process import LocalProcess, free_port

__all__ = ["sensor_act"]

DEVICES = 30
OBSERVATIONS = 600
NEIGHBOURS = 8
"""Noise sensors of one district, one of them with a stolen key."""
ROUNDS = 30
DEMO_K = 2
"""The demo city has a dozen residents; a real one keeps the default k-threshold of 20."""
BIAS_DB = 15.0


def _serve(data_dir: Path) -> LocalProcess:
    port = free_port()
    args = ["serve", "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{port}"]
    fast_screening = {
        "OMBUD_INTEGRITY_SETTLE_S": "1",
        "OMBUD_INTEGRITY_SCREEN_INTERVAL_S": "1",
        "OMBUD_VOICE_SCREEN_INTERVAL_S": "1",
        # the public key set of releases, and a k-threshold for a city of a dozen residents
        "OMBUD_VOICE_DISTRICTS": "centre,harbour,north,riverside",
        "OMBUD_PRIVACY_DP_K_THRESHOLD": str(DEMO_K),
    }
    server = LocalProcess(args, port, "/metrics", data_dir / "server.log", env=fast_screening)
    server.start(timeout=60)
    return server


def _refusal(client: httpx.Client, entity: dict[str, object], what: str) -> str:
    r = client.post(
        "/ngsi-ld/v1/entityOperations/upsert",
        content=json.dumps([entity]),
        headers={"Content-Type": "application/json"},
    )
    if r.status_code != 207:
        raise VerificationError(f"the {what} was not refused (HTTP {r.status_code})")
    error = r.json()["errors"][0]["error"]
    return f"{what} → {error['status']} {error['title']}"


def sensor_act(
    data_dir: Path,
    seed: int,
    witnesses: list[Verifier],
    quorum: int,
    progress: Callable[[str], None],
) -> list[tuple[str, str]]:
    """Rows for the demo's table: what the sensors sent, what was refused, and a proof."""
    with Deployment.open(data_dir, with_key=False) as deployment:
        info, token = deployment.tokens.create(
            {"devices:write", "voice:publish", "voice:read", "privacy:consent", "privacy:release"},
            "ombud demo",
            now=utc_now(),
        )
        try:
            return _act(data_dir, token, seed, witnesses, quorum, progress)
        finally:  # the demo's all-scope token does not outlive the demo
            deployment.tokens.revoke(info.id)


def _act(
    data_dir: Path,
    token: str,
    seed: int,
    witnesses: list[Verifier],
    quorum: int,
    progress: Callable[[str], None],
) -> list[tuple[str, str]]:
    server = _serve(data_dir)
    url = server.url
    rows: list[tuple[str, str]] = []
    try:
        # A new fleet on every run: a kept deployment already has (and revoked) earlier ones.
        known = httpx.get(url + "/devices", timeout=30)  # the registry is public
        known.raise_for_status()
        run = len(known.json()) // DEVICES
        fleet = make_simulated_fleet(DEVICES, seed + run, clock=utc_now, prefix=f"sim{run}")
        registered = register_fleet(fleet, admin_url=url, token=token)
        progress(f"{registered} sensors registered through the admin API")
        started = time.perf_counter()
        result = send(fleet, url, rate=0, count=OBSERVATIONS, clock=utc_now)
        elapsed = time.perf_counter() - started
        if result.accepted != OBSERVATIONS:
            raise VerificationError(f"only {result.accepted} of {OBSERVATIONS} were accepted")
        models = sorted({s.device.model for s in fleet})
        rows.append((
            "sensors",
            f"{DEVICES} devices ({', '.join(models)}) registered with a devices:write token; "
            f"{result.accepted} signed observations (eddsa-jcs-2022) accepted over NGSI-LD in "
            f"{elapsed:.2f} s, each stored with its ledger index",
        ))  # fmt: skip

        with httpx.Client(base_url=url, timeout=30) as client:
            honest = fleet[0]
            forged = honest.observe(utc_now())
            tampered = copy.deepcopy(forged)
            for member in tampered.values():
                if isinstance(member, dict) and isinstance(member.get("value"), (int, float)):
                    member["value"] = member["value"] * 0.5  # a "cleaner" reading
                    break
            refusals = [_refusal(client, tampered, "tampered reading")]
            client.post(
                "/ngsi-ld/v1/entityOperations/upsert",
                content=json.dumps([forged]),
                headers={"Content-Type": "application/json"},
            )
            refusals.append(_refusal(client, forged, "replayed reading"))
            stranger = make_simulated_fleet(
                1, f"stranger {seed}", clock=utc_now, prefix="stranger"
            )[0]
            refusals.append(_refusal(client, stranger.observe(utc_now()), "unregistered device"))
            victim = fleet[1]
            client.post(
                f"/admin/devices/{victim.device.id}/revoke",
                json={"reason": "demo: key reported stolen"},
                headers={"Authorization": f"Bearer {token}"},
            ).raise_for_status()
            refusals.append(_refusal(client, victim.observe(utc_now()), "revoked device"))
            rows.append(("refused", "; ".join(refusals)))
            rows.append(_compromised(client, token, seed + run, f"sim{run}n", progress))
            voice_rows, residents = voice_act(
                client,
                data_dir,
                token,
                _log_key(data_dir).name,
                lambda message: progress(f"voice: {message}"),
            )
            rows += voice_rows
            rows += privacy_act(
                client,
                data_dir,
                token,
                residents.token,
                residents.period,
                lambda message: progress(f"privacy: {message}"),
            )

            sample = fleet[2]
            stored = client.get(f"/observations/{sample.device.id}/{sample.signer.counter}")
            stored.raise_for_status()
            index = stored.json()["ledgerIndex"]
            leaf = stored.json()["event"].encode()
            event = Event.from_bytes(leaf)
            progress("waiting for a witnessed checkpoint that covers the readings")
            deadline = time.monotonic() + 60
            while True:
                signed = open_checkpoint(
                    client.get("/checkpoint").content, [_log_key(data_dir)], witnesses=witnesses
                )
                if signed.checkpoint.size > index:
                    break
                if time.monotonic() > deadline:
                    raise UnavailableError("no checkpoint covering the readings was published")
                time.sleep(0.5)
            verify_quorum(signed, witnesses, quorum)
            size = signed.checkpoint.size
            proof = client.get("/proof/inclusion", params={"index": index, "size": size}).json()
            merkle.verify_inclusion(
                merkle.leaf_hash(leaf),
                index,
                size,
                [base64.b64decode(h) for h in proof["proof"]],
                signed.checkpoint.root,
            )
            rows.append((
                "reading proven",
                f"{sample.device.id} #{sample.signer.counter}: {event.kind} at ledger index "
                f"{index}, included in the checkpoint of size {size:,} cosigned by {quorum}+ "
                "witnesses: OK",
            ))  # fmt: skip
    finally:
        server.stop()
    return rows


def _compromised(
    client: httpx.Client, token: str, seed: int, prefix: str, progress: Callable[[str], None]
) -> tuple[str, str]:
    """Eight noise sensors in one district; the key of one was stolen and its readings are 15 dB
    too loud — all validly signed. Screening must catch it and the indicator leave it out."""
    # A district of their own: the main fleet has a noise sensor in each of the others.
    district, model = "market", "NoiseLevelObserved"
    fleet = make_simulated_fleet(
        NEIGHBOURS, f"{seed} noise", clock=utc_now, prefix=prefix, models=(model,),
        districts=(district,),
    )  # fmt: skip
    register_fleet(fleet, admin_url=str(client.base_url), token=token)
    stolen = fleet[0].device.id
    started = utc_now()
    sent: list[float] = []
    for _ in range(ROUNDS):
        batch = []
        for sensor in fleet:
            entity = reading(model, sensor.device.id, district, utc_now(), sensor.rng)
            if sensor.device.id == stolen:
                entity["LAeq"]["value"] = round(entity["LAeq"]["value"] + BIAS_DB, 1)
            sent.append(entity["LAeq"]["value"])
            batch.append(sensor.signer.sign(entity))
        r = client.post(
            "/ngsi-ld/v1/entityOperations/upsert",
            content=json.dumps(batch),
            headers={"Content-Type": "application/json"},
        )
        r.raise_for_status()
    progress(f"{stolen} (stolen key) sent {ROUNDS} readings {BIAS_DB:g} dB too loud")
    last = fleet[-1]
    stored = client.get(f"/observations/{last.device.id}/{last.signer.counter}")
    stored.raise_for_status()
    _wait_for_screening(client, stored.json()["ledgerIndex"])
    held = client.get("/integrity/devices", params={"device": stolen}).json()
    if not held:
        raise VerificationError(f"screening did not quarantine the compromised {stolen}")
    caught = held[0]
    period = {
        "district": district,
        "type": model,
        "attribute": "LAeq",
        "since": format_time(started - timedelta(seconds=1)),
        "until": format_time(utc_now() + timedelta(seconds=1)),
    }
    figure = client.get("/integrity/indicators", params=period)
    figure.raise_for_status()
    i = figure.json()
    flagged = client.get("/integrity/quarantine", params={"device": stolen}).json()
    # Every sensor of its kind in the district, a kept deployment's earlier runs' too, but the
    # ones whose keys this act stole (the first of each run's fleet).
    stolen_ever = re.compile(r"sim[0-9]+n-noise-0000")
    neighbours = [
        d["id"]
        for d in client.get("/devices").json()
        if d["district"] == district and d["type"] == model and not stolen_ever.fullmatch(d["id"])
    ]
    honest = [
        device
        for device in neighbours
        if client.get("/integrity/quarantine", params={"device": device}).json()
    ]
    return (
        "compromised sensor",
        f"{stolen} signs valid readings {BIAS_DB:g} dB too loud: {len(flagged)} quarantined by "
        f"the neighbour check, device.quarantined at ledger index {caught['ledgerIndex']} "
        f"({caught['reason']}); {district} LAeq median {i['value']:.1f} dB over "
        f"{i['readings']} readings of {i['devices']} devices, {i['quarantinedReadings']} left "
        f"out (plain mean of everything sent: {statistics.fmean(sent):.1f} dB); its "
        f"{len(neighbours)} honest neighbours flagged: {len(honest)}",
    )


def _wait_for_screening(client: httpx.Client, index: int) -> None:
    """Until the server's screener has screened the observation at ledger ``index``."""
    deadline = time.monotonic() + 60
    while True:
        metrics = client.get("/metrics").text
        cursor = next(
            int(line.split()[1])
            for line in metrics.splitlines()
            if line.startswith("ombud_screen_cursor ")
        )
        if cursor >= index:
            return
        if time.monotonic() > deadline:
            raise UnavailableError(f"screening did not reach ledger index {index} in 60 s")
        time.sleep(0.2)


def _log_key(data_dir: Path) -> Verifier:
    from ombud.ledger.logdir import LOG_VKEY

    return Verifier.from_vkey((data_dir / LOG_VKEY).read_text(encoding="ascii").strip())
