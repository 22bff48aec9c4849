"""``ombud insight``: bad input is one line and exit 2, never a traceback; a release the
insight cannot place does not break ``report``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ombud.clock import to_seconds, week_window
from ombud.deployment import Deployment
from tests.conftest import ombud


def _init(tmp_path: Path) -> Path:
    data_dir = tmp_path / "city"
    done = ombud("init", "--data-dir", data_dir, "--origin", "cli.city.example/log")
    assert done.returncode == 0, done.stderr
    return data_dir


def _one_line_error(done: subprocess.CompletedProcess[str], code: int, *named: str) -> None:
    stderr = done.stderr
    assert done.returncode == code, stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert all(name in stderr for name in named), stderr


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"digest":"x","v":1,"checkpoint":' + '{"a":' * 900 + "1" + "}" * 900 + "}",
        '{"digest":"x","v":1,"cells":' + "[" * 17 + "]" * 17 + "}",
    ],
)
def test_a_deeply_nested_report_is_bad_input_not_a_traceback(tmp_path: Path, text: str) -> None:
    """Attack finding: `ombud insight verify` on a deeply nested file died of RecursionError,
    a traceback with exit 1 (as if a real report had not verified)."""
    data_dir = _init(tmp_path)
    report = tmp_path / "deep.json"
    report.write_text(text)
    done = ombud("insight", "verify", "--data-dir", data_dir, report)
    _one_line_error(done, 2, "deep.json")


def test_a_report_that_is_not_json_or_not_there_is_bad_input(tmp_path: Path) -> None:
    data_dir = _init(tmp_path)
    for name, content in [("dup.json", '{"digest":"x","digest":"y"}'), ("nan.json", "[NaN]")]:
        (tmp_path / name).write_text(content)
        _one_line_error(ombud("insight", "verify", "--data-dir", data_dir, tmp_path / name), 2)
    _one_line_error(
        ombud("insight", "verify", "--data-dir", data_dir, tmp_path / "missing.json"),
        2,
        "missing.json",
    )


def test_a_release_the_insight_cannot_place_leaves_report_working(tmp_path: Path) -> None:
    """Attack finding: after one satisfaction release of 9999-W52, `ombud insight report`
    died with an OverflowError traceback for good. (The release book now refuses it; an old
    ledger may hold it.)"""
    data_dir = _init(tmp_path)
    with Deployment.open(data_dir, environ={}) as deployment:
        result = json.dumps({"histogram": "noisy label counts", "countScale": 1.0, "cells": []})
        for period in ("2026-W45", "9999-W52"):
            index = deployment.log.append_batch([f"dp.released {period}".encode()])
            with deployment.db.transaction() as tx:
                tx.execute(
                    "INSERT INTO dp_releases (id, dataset, period, rho, created, result,"
                    " ledger_index) VALUES (?, 'satisfaction', ?, 0.5, ?, ?, ?)",
                    (
                        f"{index:032x}",
                        period,
                        to_seconds(week_window("2026-W46")[1]),
                        result,
                        index,
                    ),
                )
        deployment.log.checkpoint()
    done = ombud("insight", "report", "--data-dir", data_dir, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["periods"] == ["2026-W45"]
    assert [s["period"] for s in report["skippedReleases"]] == ["9999-W52"]
    saved = tmp_path / "report.json"
    saved.write_text(done.stdout)
    verified = ombud("insight", "verify", "--data-dir", data_dir, saved)
    assert verified.returncode == 0, verified.stderr
    bad_week = ombud("insight", "report", "--data-dir", data_dir, "--week", "2026-W99")
    _one_line_error(bad_week, 2, "2026-W99 is not a week of its year")
