"""``ombud log witness add|remove|quorum``: the policy file, and the event on the ledger."""

from __future__ import annotations

import os
from pathlib import Path

from ombud.config import Settings
from ombud.deployment import open_log
from ombud.events import Event
from ombud.ledger import note
from ombud.ledger.logdir import init_log

from ..conftest import ombud


def test_policy_changes_are_saved_and_logged(tmp_path: Path) -> None:
    log_dir = tmp_path / "log"
    init_log(log_dir, "policy.test/log")
    keys = [
        note.Signer.generate(f"w{i}.test", sig_type=note.ALG_COSIGNATURE_V1).verifier().vkey
        for i in range(2)
    ]
    for i, vkey in enumerate(keys):
        assert (
            ombud("log", "witness", "add", log_dir, vkey, f"http://127.0.0.1:{9000 + i}").returncode
            == 0
        )
    again = ombud("log", "witness", "add", log_dir, keys[0], "http://127.0.0.1:9000")
    assert again.returncode == 2 and "already in the policy" in again.stderr
    too_many = ombud("log", "witness", "quorum", log_dir, "3")
    assert too_many.returncode == 2 and "witnesses.quorum" in too_many.stderr
    assert ombud("log", "witness", "quorum", log_dir, "2").returncode == 0
    refused = ombud("log", "witness", "remove", log_dir, "w1.test")
    assert refused.returncode == 2 and "lower the quorum first" in refused.stderr
    assert ombud("log", "witness", "quorum", log_dir, "1").returncode == 0
    assert ombud("log", "witness", "remove", log_dir, "w1.test").returncode == 0
    log_key = note.Signer.generate("w9.test").verifier().vkey
    wrong = ombud("log", "witness", "add", log_dir, log_key, "http://127.0.0.1:9009")
    assert wrong.returncode == 2 and "not a cosignature" in wrong.stderr

    policy = Settings.for_directory(log_dir).witnesses
    assert policy.quorum == 1 and [w.vkey for w in policy.witness] == keys[:1]
    log = open_log(log_dir)
    try:
        events = [Event.from_bytes(e) for e in log.entries(0, log.size)]
    finally:
        log.close()
    assert [e.kind for e in events] == ["witness.policy_changed"] * 5  # refusals left no trace
    assert events[-1].body["quorum"] == 1 and events[-1].body["witnesses"] == keys[:1]


def test_a_policy_change_bakes_no_environment_override_into_the_file(tmp_path: Path) -> None:
    """An override (here a database URL with its password, which the settings file must never
    hold) is used while the command runs, and not saved with the new policy."""
    data_dir = tmp_path / "city"
    assert ombud("init", "--data-dir", data_dir).returncode == 0
    vkey = note.Signer.generate("w0.test", sig_type=note.ALG_COSIGNATURE_V1).verifier().vkey
    env = {**os.environ, "OMBUD_LOG_TILE_CACHE": "77"}
    added = ombud("log", "witness", "add", data_dir, vkey, "http://127.0.0.1:9000", env=env)
    assert added.returncode == 0, added.stderr
    saved = Settings.load(data_dir, environ={})
    assert saved.witnesses.witness[0].vkey == vkey
    assert saved.log.tile_cache == Settings(data_dir).log.tile_cache != 77


def test_an_overridden_quorum_is_neither_saved_nor_hides_a_change(tmp_path: Path) -> None:
    """Review finding: the commands read the policy with OMBUD_WITNESSES_QUORUM applied, so
    adding a witness saved the override's quorum in the file, and lowering the file's quorum to
    the override's looked like no change (no event, no roster check)."""
    data_dir = tmp_path / "city"
    assert ombud("init", "--data-dir", data_dir).returncode == 0
    keys = [
        note.Signer.generate(f"w{i}.test", sig_type=note.ALG_COSIGNATURE_V1).verifier().vkey
        for i in range(3)
    ]
    for i, vkey in enumerate(keys[:2]):
        url = f"http://127.0.0.1:{9000 + i}"
        assert ombud("log", "witness", "add", data_dir, vkey, url).returncode == 0
    assert ombud("log", "witness", "quorum", data_dir, "2").returncode == 0
    env = {**os.environ, "OMBUD_WITNESSES_QUORUM": "1"}
    added = ombud("log", "witness", "add", data_dir, keys[2], "http://127.0.0.1:9002", env=env)
    assert added.returncode == 0, added.stderr
    assert Settings.load(data_dir, environ={}).witnesses.quorum == 2
    lowered = ombud("log", "witness", "quorum", data_dir, "1", env=env)
    assert lowered.returncode == 0, lowered.stderr
    assert Settings.load(data_dir, environ={}).witnesses.quorum == 1
    log = open_log(data_dir)
    try:
        events = [Event.from_bytes(e) for e in log.entries(0, log.size)]
    finally:
        log.close()
    assert [e.body["quorum"] for e in events] == [0, 0, 2, 2, 1]


def test_init_refuses_a_password_in_the_database_url_and_creates_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "city"
    url = "postgresql://postgres:S3cretPw@127.0.0.1:1/none"
    refused = ombud("init", "--data-dir", data_dir, "--database-url", url)
    assert refused.returncode == 2 and "PGPASSWORD" in refused.stderr
    assert "S3cretPw" not in refused.stderr and not data_dir.exists()
