"""``ombud integrity …``: ``detect --csv`` (the contract external checks use), ``screen``,
``report``, ``indicator`` and ``release-device``."""

from __future__ import annotations

import csv
import io
import json
import math
import random
from datetime import datetime, timedelta
from pathlib import Path

from tests.conftest import biased_district, ombud


def write_series(
    path: Path, values: list[float], header: bool = True, every: timedelta = timedelta(minutes=5)
) -> None:
    start = datetime(2026, 1, 1)
    lines = ["timestamp,value"] if header else []
    lines += [f"{start + i * every:%Y-%m-%d %H:%M:%S},{v}" for i, v in enumerate(values)]
    path.write_text("\n".join(lines) + "\n")


def test_detect_writes_a_score_and_a_flag_per_row(tmp_path: Path) -> None:
    rng = random.Random(5)
    values = [20 + 5 * math.sin(i / 45.8) + rng.gauss(0, 0.3) for i in range(3000)]
    values[2500:] = [45.0] * 500
    series = tmp_path / "series.csv"
    write_series(series, values)
    result = ombud("integrity", "detect", "--csv", series)
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["timestamp", "value", "anomaly_score", "flag"]
    assert len(rows) == 3001
    assert rows[1][:2] == ["2026-01-01 00:00:00", str(values[0])]
    flags = [int(r[3]) for r in rows[1:]]
    scores = [float(r[2]) for r in rows[1:]]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert not any(flags[:2500]) and any(flags[2500:2510])
    write_series(series, values[:2000], header=False)  # no header, and no look-ahead
    again = list(csv.reader(io.StringIO(ombud("integrity", "detect", "--csv", series).stdout)))
    assert again[1:] == rows[1:2001]


def test_detect_learns_for_a_day_of_the_series_own_time(tmp_path: Path) -> None:
    """Hourly readings may be flagged from the second day; timestamps it cannot read (neither
    ISO 8601 nor seconds since 1970: milliseconds are not taken for seconds) leave it
    counting readings, as for 5-minute ones."""
    rng = random.Random(6)
    values = [20 + 5 * math.sin(i / 3.8) + rng.gauss(0, 0.3) for i in range(400)]
    values[200:] = [45.0] * 200
    series = tmp_path / "hourly.csv"
    flags = {}
    for name, times in (
        ("iso", None),
        ("epoch", [str(1_767_225_600 + 3600 * i) for i in range(400)]),
        ("unreadable", [f"reading {i}" for i in range(400)]),
        ("milliseconds", [str(1_767_225_600_000 + 3_600_000 * i) for i in range(400)]),
    ):
        if times is None:
            write_series(series, values, every=timedelta(hours=1))
        else:
            series.write_text("".join(f"{t},{v}\n" for t, v in zip(times, values, strict=True)))
        result = ombud("integrity", "detect", "--csv", series)
        assert result.returncode == 0, result.stderr
        flags[name] = [r[3] for r in csv.reader(io.StringIO(result.stdout))][1:]
    assert flags["iso"] == flags["epoch"] and "1" in flags["iso"][200:210]
    assert "1" not in flags["unreadable"] and "1" not in flags["milliseconds"]


def test_a_bad_row_stops_with_its_line_number(tmp_path: Path) -> None:
    series = tmp_path / "bad.csv"
    series.write_text("timestamp,value\n2026-01-01 00:00:00,1.5\n2026-01-01 00:05:00,warm\n")
    result = ombud("integrity", "detect", "--csv", series)
    assert result.returncode == 2
    assert "bad.csv:3" in result.stderr and "not a number" in result.stderr
    assert "Traceback" not in result.stderr
    series.write_text("2026-01-01 00:00:00,nan\n")
    assert "finite" in ombud("integrity", "detect", "--csv", series).stderr
    series.write_bytes(b"2026-01-01 00:00:00,1.5\n2026-01-01 00:05:00,\xff\n")
    broken = ombud("integrity", "detect", "--csv", series)
    assert broken.returncode == 2 and "bad.csv:2: not UTF-8" in broken.stderr
    series.write_text("2026-01-01 00:00:00,1.5\n" + "x" * 200_000 + ",1\n")
    long = ombud("integrity", "detect", "--csv", series)
    assert long.returncode == 2 and "bad.csv:2: field larger" in long.stderr
    assert "Traceback" not in broken.stderr + long.stderr
    series.write_text("timestamp,value\n2026-01-01 00:00:00,1.5\n\n")  # a trailing blank line
    assert ombud("integrity", "detect", "--csv", series).returncode == 0


def test_screen_report_indicator_and_release_a_device(tmp_path: Path) -> None:
    data_dir = tmp_path / "city"
    assert ombud("init", "--data-dir", data_dir, "--origin", "c.example/log").returncode == 0
    devices = biased_district(data_dir)
    period = ["--since", "2026-11-24T09:30:00", "--until", "2026-11-24T10:20:00"]
    indicator = [
        "integrity", "indicator", "--data-dir", data_dir, "--district", "centre",
        "--type", "NoiseLevelObserved", "--attribute", "LAeq", *period, "--json",
    ]  # fmt: skip
    before = json.loads(ombud(*indicator).stdout)
    screened = ombud("integrity", "screen", "--data-dir", data_dir, "--settle", "0")
    assert screened.returncode == 0, screened.stderr
    assert "screened 320 observations" in screened.stdout and devices[3] in screened.stdout
    again = ombud("integrity", "screen", "--data-dir", data_dir, "--settle", "0")
    assert "screened 0 observations" in again.stdout
    report = json.loads(ombud("integrity", "report", "--data-dir", data_dir, "--json").stdout)
    assert {q["device"] for q in report["observations"]} == {devices[3]}
    assert [d["device"] for d in report["devices"]] == [devices[3]]
    table = ombud("integrity", "report", "--data-dir", data_dir)
    assert "devices quarantined as a whole, 1 still held" in table.stdout
    after = json.loads(ombud(*indicator).stdout)
    assert (before["readings"], after["readings"], after["quarantinedDevices"]) == (80, 70, 1)
    line = ombud(*indicator[:-1], "--estimator", "huber")
    assert "huber" in line.stdout and "70 readings of 7 devices" in line.stdout
    released = ombud(
        "integrity", "release-device", "--data-dir", data_dir, "--device", devices[3],
        "--reason", "inspected on site",
    )  # fmt: skip
    assert released.returncode == 0 and "device.released" in released.stdout
    refused = ombud(
        "integrity", "release-device", "--data-dir", data_dir, "--device", devices[3],
        "--reason", "again",
    )  # fmt: skip
    assert refused.returncode == 2 and "was released already" in refused.stderr
    assert "Traceback" not in refused.stderr
