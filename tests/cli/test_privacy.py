"""``ombud privacy …``: the master key, a consent's life, export, erasure, retention, rotation
and releases through the CLI."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from tests.conftest import ombud

SUBJECT = "resident-cli-0042"


def _init(tmp_path: Path) -> Path:
    data_dir = tmp_path / "city"
    done = ombud("init", "--data-dir", data_dir, "--origin", "cli.city.example/log")
    assert done.returncode == 0, done.stderr
    return data_dir


def test_init_creates_a_private_master_key_that_is_never_overwritten(tmp_path: Path) -> None:
    data_dir = _init(tmp_path)
    key = data_dir / "master.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    again = ombud("privacy", "init-key", "--data-dir", data_dir)
    assert again.returncode != 0 and "never overwritten" in again.stderr
    key.unlink()
    missing = ombud("privacy", "budget", "--data-dir", data_dir)
    assert missing.returncode != 0 and "no master key" in missing.stderr
    assert ombud("privacy", "init-key", "--data-dir", data_dir).returncode == 0


def test_a_consent_from_grant_to_erasure(tmp_path: Path) -> None:
    data_dir = _init(tmp_path)
    granted = ombud(
        "privacy", "grant", "--data-dir", data_dir, "--subject", SUBJECT,
        "--purpose", "service-request-follow-up", "--category", "contact-details",
        "--controller", "City of Example",
    )  # fmt: skip
    assert granted.returncode == 0, granted.stderr
    record = json.loads(granted.stdout)
    check = ["privacy", "check", "--data-dir", data_dir, SUBJECT]
    allowed = ombud(*check, "service-request-follow-up", "contact-details")
    assert allowed.returncode == 0 and record["recordId"] in allowed.stdout
    refused = ombud(*check, "research", "contact-details")
    # "no" is an answer (exit 1, the reason on stderr); a malformed question is bad input (2)
    assert refused.returncode == 1 and "no consent covers" in refused.stderr
    unknown = ombud("privacy", "check", "--data-dir", data_dir, "nobody-known", "research", "x")
    assert unknown.returncode == 1 and "nobody-known" not in unknown.stderr
    malformed = ombud(*check, "Research!", "contact-details")
    assert malformed.returncode == 2 and "purpose" in malformed.stderr

    export = ombud("privacy", "export", "--data-dir", data_dir, SUBJECT)
    assert export.returncode == 0, export.stderr
    exported = json.loads(export.stdout)
    assert exported["consents"][0]["recordId"] == record["recordId"]
    assert exported["events"][0]["tlogProof"]  # an unwitnessed log signs before exporting

    withdrawn = ombud("privacy", "withdraw", "--data-dir", data_dir, record["recordId"])
    assert withdrawn.returncode == 0, withdrawn.stderr
    after = ombud(*check, "service-request-follow-up", "contact-details")
    assert after.returncode == 1 and "withdrawn" in after.stderr

    erased = ombud("privacy", "erase", "--data-dir", data_dir, SUBJECT)
    assert erased.returncode == 0 and "2 payloads" in erased.stdout
    again = ombud("privacy", "erase", "--data-dir", data_dir, SUBJECT)
    assert again.returncode != 0 and "already erased" in again.stderr
    for path in data_dir.iterdir():
        if path.is_file():
            assert SUBJECT.encode() not in path.read_bytes(), path


def test_rotation_retention_and_a_release(tmp_path: Path) -> None:
    data_dir = _init(tmp_path)
    ombud(
        "privacy", "grant", "--data-dir", data_dir, "--subject", SUBJECT,
        "--purpose", "research", "--category", "survey", "--controller", "City",
    )  # fmt: skip
    before = (data_dir / "master.key").read_text()
    rotated = ombud("privacy", "rotate-key", "--data-dir", data_dir)
    assert rotated.returncode == 0 and "2 keys re-wrapped" in rotated.stdout
    assert (data_dir / "master.key").read_text() != before
    assert stat.S_IMODE((data_dir / "master.key").stat().st_mode) == 0o600
    still = ombud("privacy", "check", "--data-dir", data_dir, SUBJECT, "research", "survey")
    assert still.returncode == 0, still.stderr
    ran = ombud("privacy", "retention", "run", "--data-dir", data_dir)
    assert ran.returncode == 0 and "purged 0 payloads" in ran.stdout

    no_districts = ombud("privacy", "release", "--data-dir", data_dir, "--period", "2026-12")
    assert no_districts.returncode != 0 and "voice.districts" in no_districts.stderr
    settings = data_dir / "ombud.toml"
    settings.write_text(settings.read_text().replace('districts = ""', 'districts = "a,b"'))
    released = ombud(
        "privacy", "release", "--data-dir", data_dir, "--period", "2026-12", "--json"
    )  # fmt: skip
    assert released.returncode == 0, released.stderr
    result = json.loads(released.stdout)
    assert len(result["cells"]) == 2 * 11 and all(c["suppressed"] for c in result["cells"])
    budget = json.loads(ombud("privacy", "budget", "--data-dir", data_dir).stdout)
    assert budget[0]["rhoSpent"] <= 0.5
