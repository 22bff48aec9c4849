"""Settings: typed, validated, overridable from the environment, refused when absent."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ombud.config import SETTINGS_FILE, LogSettings, Settings, parse_listen
from ombud.deployment import init_deployment
from ombud.errors import ConfigError


def test_init_writes_settings_that_load_back(tmp_path: Path) -> None:
    data_dir = tmp_path / "city"
    vkey = init_deployment(data_dir, "city.example/ombud")
    assert vkey.startswith("city.example/ombud+")
    settings = Settings.load(data_dir, environ={})
    assert settings == Settings(data_dir)
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    with pytest.raises(ConfigError, match="already initialised"):
        init_deployment(data_dir)


def test_environment_overrides_and_validation(tmp_path: Path) -> None:
    data_dir = tmp_path / "city"
    init_deployment(data_dir)
    env = {"OMBUD_LOG_BATCH_MAX_ENTRIES": "128", "OMBUD_SERVER_LISTEN": "127.0.0.1:9999"}
    settings = Settings.load(data_dir, environ=env)
    assert settings.log.batch_max_entries == 128 and settings.server.listen == "127.0.0.1:9999"
    with pytest.raises(ConfigError, match="integer"):
        Settings.load(data_dir, environ={"OMBUD_LOG_TILE_CACHE": "many"})
    (data_dir / SETTINGS_FILE).write_text("[log]\nbatch_max_entries = 0\n")
    with pytest.raises(ConfigError, match="batch_max_entries"):
        Settings.load(data_dir, environ={})
    (data_dir / SETTINGS_FILE).write_text("[log]\nbatch_size = 3\n")
    with pytest.raises(ConfigError, match=r"unknown setting log\.batch_size"):
        Settings.load(data_dir, environ={})
    (data_dir / SETTINGS_FILE).write_text("[log\n")
    with pytest.raises(ConfigError, match="cannot read"):
        Settings.load(data_dir, environ={})


def test_uninitialised_directory_names_the_init_command(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ombud init --data-dir"):
        Settings.load(tmp_path)


def test_non_empty_directories_are_not_taken_over(tmp_path: Path) -> None:
    (tmp_path / "somebody's file").write_text("x")
    with pytest.raises(ConfigError, match="not empty"):
        init_deployment(tmp_path)


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:8421") == ("127.0.0.1", 8421)
    assert parse_listen("[::1]:80") == ("::1", 80)
    for bad in ["127.0.0.1", ":80", "host:0", "host:99999", "host:x"]:
        with pytest.raises(ConfigError):
            parse_listen(bad)
    with pytest.raises(ConfigError):
        LogSettings(batch_max_age_ms=-1)
