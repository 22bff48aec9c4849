"""What every command promises (README, *Command line*): a directory `ombud init` did not
create is refused and named, exit codes, one-line errors and the usage box."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..conftest import ombud
from .conftest import one_line_error

COMMANDS = [
    ("device", "list"),
    ("token", "list"),
    ("integrity", "report"),
    ("voice", "purge"),
    ("privacy", "budget"),
    ("privacy", "init-key"),
    ("roster", "show"),
    ("tender", "list"),
    ("access", "report"),
    ("migrate",),
    ("serve",),
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_directory_ombud_init_did_not_create_is_refused_and_left_alone(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    """README: "Commands that take --data-dir refuse a directory ombud init did not create,
    and say so" — exit 2, one line naming `ombud init`, and nothing written there."""
    empty = tmp_path / "empty"
    empty.mkdir()
    line = one_line_error(ombud(*command, "--data-dir", empty))
    assert "not an ombud data directory" in line and "ombud init --data-dir" in line
    assert list(empty.iterdir()) == []


def test_a_mistyped_option_gets_the_usage_box_not_a_traceback(data_dir: Path) -> None:
    """README: "ombud's own errors are one line (a mistyped option gets the usage box), never a
    traceback", exit 2 for bad input."""
    result = ombud("device", "list", "--data-dirr", data_dir)
    assert result.returncode == 2 and result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("Usage: ") and "ombud device list [OPTIONS]" in result.stderr
    assert "No such option: --data-dirr" in result.stderr
