"""The token commands as scripts see them: a token printed once, scopes, revocation."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..conftest import ombud
from .conftest import one_line_error

TOKEN = re.compile(r"ombud_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


def test_token_create_prints_only_the_token(data_dir: Path) -> None:
    result = ombud("token", "create", "--data-dir", data_dir, "--scope", "devices:write")
    assert result.returncode == 0, result.stderr
    assert TOKEN.fullmatch(result.stdout.rstrip("\n")), result.stdout
    assert result.stdout.count("\n") == 1
    token = result.stdout.strip()
    token_id = token.split("_")[1]
    assert "shown once" in result.stderr and token not in result.stderr
    listing = ombud("token", "list", "--data-dir", data_dir)
    assert listing.returncode == 0 and token_id in listing.stdout
    assert token.split("_")[2] not in listing.stdout
    two = ombud("token", "create", "--data-dir", data_dir, "--scope", "voice:read",
                "--scope", "devices:write", "--note", "ops")  # fmt: skip
    assert two.returncode == 0 and TOKEN.fullmatch(two.stdout.strip())
    revoke = ombud("token", "revoke", "--data-dir", data_dir, token_id)
    assert revoke.returncode == 0 and token_id in revoke.stdout


def test_token_create_help_lists_every_scope() -> None:
    """Finding: ``ombud token create --help`` listed only the devices:* scopes."""
    from ombud.tokens import SCOPES

    result = ombud("token", "create", "--help", env={**os.environ, "COLUMNS": "400"})
    assert result.returncode == 0
    for scope in SCOPES:
        assert scope in result.stdout, scope


def test_token_create_with_an_unknown_scope_exits_2(data_dir: Path) -> None:
    result = ombud("token", "create", "--data-dir", data_dir, "--scope", "nonsense")
    assert "nonsense" in one_line_error(result)
    assert result.stdout == ""
    listing = ombud("token", "list", "--data-dir", data_dir)
    assert listing.returncode == 0 and "devices:" not in listing.stdout
