"""Governed settings: an action's parameters applied to the settings, checked as the file is."""

from __future__ import annotations

from pathlib import Path

import pytest

from ombud.config import Settings
from ombud.errors import MalformedError
from ombud.governance.settings import changed_settings


def test_a_change_applies_its_parameters_and_refuses_others(tmp_path: Path) -> None:
    settings = Settings.from_mapping(tmp_path, {})
    new = changed_settings(settings, "retention.change", {"voice.retention_days": 60})
    assert new.voice.retention_days == 60 and settings.voice.retention_days == 30
    with pytest.raises(MalformedError, match="retention_days"):
        changed_settings(settings, "retention.change", {"privacy.dp_rho_per_period": 1.0})


def test_an_environment_override_no_file_could_hold_does_not_block_a_change(
    tmp_path: Path,
) -> None:
    """A file name from the environment that is not UTF-8 (surrogate-escaped by Python) is only
    ever used, never written to ombud.toml, so it must not refuse a governed change."""
    odd = b"\xffkey".decode("utf-8", "surrogateescape")
    settings = Settings.from_mapping(tmp_path, {}, {"OMBUD_PRIVACY_MASTER_KEY_FILE": odd})
    new = changed_settings(settings, "retention.change", {"voice.retention_days": 60})
    assert new.privacy.master_key_file == odd
