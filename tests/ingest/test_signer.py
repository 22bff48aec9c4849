"""The device side: key files and signing with a growing counter."""

from __future__ import annotations

import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ombud.dataintegrity.multikey import DidKey
from ombud.errors import ConfigError
from ombud.ingest.devices import Device
from ombud.ingest.models import load_models
from ombud.ingest.observation import check_counter, check_observation
from ombud.ingest.signer import DeviceSigner, generate_device_key, read_device_key

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_key_files(tmp_path: Path) -> None:
    path = tmp_path / "noise-017.key"
    did = generate_device_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert DidKey.from_key(read_device_key(path).public_key()) == did
    assert did.did.startswith("did:key:z6Mk")
    with pytest.raises(ConfigError, match="never overwritten"):
        generate_device_key(path)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        read_device_key(path)


def test_signed_observations_pass_the_ingest_checks(tmp_path: Path) -> None:
    path = tmp_path / "d.key"
    did = generate_device_key(path)
    signer = DeviceSigner(read_device_key(path), counter=41, clock=lambda: NOW)
    device = Device("noise-017", did, "NoiseLevelObserved", "D07", "city")
    models = load_models()
    last = 41
    for laeq in (55.0, 58.5):
        entity = {
            "id": "urn:ngsi-ld:NoiseLevelObserved:noise-017",
            "type": "NoiseLevelObserved",
            "dateObservedFrom": {"type": "Property", "value": "2026-11-25T11:00:00Z"},
            "dateObservedTo": {"type": "Property", "value": "2026-11-25T11:05:00Z"},
            "LAeq": {"type": "Property", "value": laeq},
            "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [2, 41]}},
        }
        accepted = check_observation(
            signer.sign(entity), devices={did: device}.get, models=models, now=NOW
        )
        check_counter(accepted, last)
        last = accepted.counter
    assert last == 43 == signer.counter
    assert "PRIVATE" not in repr(signer) and "z3u2" not in repr(signer)


def test_keygen_command(tmp_path: Path) -> None:
    out = tmp_path / "k"
    done = subprocess.run(
        [sys.executable, "-m", "ombud", "device", "keygen", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert DidKey.parse(done.stdout.strip()) == DidKey.from_key(read_device_key(out).public_key())
    assert read_device_key(out) is not None and "z3u2" not in done.stdout
