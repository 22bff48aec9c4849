"""``ombud voice …``: a token end to end through the CLI, then posts, imports, classify."""

from __future__ import annotations

import base64
import json
import stat
import subprocess
import sys
from pathlib import Path

from ombud.voice.tokens import Token, load_public_key, period_challenge, verify_token
from tests.conftest import ombud


def test_a_resident_gets_one_token_through_the_cli(tmp_path: Path) -> None:
    state = tmp_path / "issuer"
    assert (
        ombud("voice", "issuer", "init", "--state", state, "--name", "id.city.example").returncode
        == 0
    )
    period = ombud("voice", "issuer", "period", "--state", state, "--period", "2026-12")
    assert period.returncode == 0, period.stderr
    key_file = tmp_path / "period.key"
    key_file.write_text(period.stdout)
    pending = tmp_path / "pending.json"
    asked = ombud(
        "voice", "token", "request", "--key", key_file, "--issuer", "id.city.example",
        "--period", "2026-12", "--origin", "ombud.city.example", "--pending", pending,
    )  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    assert stat.S_IMODE(pending.stat().st_mode) == 0o600
    issue = [
        "voice",
        "issuer",
        "issue",
        "--state",
        state,
        "--period",
        "2026-12",
        "--resident",
        "r-1",
    ]
    answered = ombud(*issue, input=asked.stdout)
    assert answered.returncode == 0, answered.stderr
    done = ombud("voice", "token", "finalize", "--key", key_file, "--pending", pending,
                 input=answered.stdout)  # fmt: skip
    assert done.returncode == 0, done.stderr
    token = Token.from_bytes(base64.b64decode(done.stdout))
    public = load_public_key(base64.b64decode(period.stdout))
    verify_token(
        public, token, period_challenge("id.city.example", "2026-12", "ombud.city.example")
    )
    # The same resident cannot have a second token this period.
    twice = ombud(*issue, input=asked.stdout)
    assert twice.returncode == 2 and "already has a token" in twice.stderr
    garbage = ombud(*issue[:-1], "r-2", input="not base64!")
    assert garbage.returncode == 2 and "not base64" in garbage.stderr
    assert "Traceback" not in twice.stderr + garbage.stderr


def test_classify_writes_one_json_object_per_line(tmp_path: Path) -> None:
    lines = [
        "The bins were not collected again, terrible service",
        "Th\u200be b\u0456ns w3re n0t c0llected again, t e r r i b l e service",
        "",
        "Thank you for the lovely new park benches!",
    ]
    done = ombud("voice", "classify", input="\n".join(lines) + "\n")
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(out) == len(lines)
    for item in out:
        assert set(item) == {"label", "scores", "service", "normalised"}
        assert item["label"] in ("negative", "neutral", "positive")
        assert set(item["scores"]) == {"negative", "neutral", "positive"}
        assert abs(sum(item["scores"].values()) - 1) < 1e-3
    assert out[0]["label"] == out[1]["label"] == "negative"
    assert out[0]["service"] == out[1]["service"] == "waste"
    assert out[3]["label"] == "positive" and out[3]["service"] == "green_spaces"
    assert "\u200b" not in out[1]["normalised"]


def test_classify_reads_a_huge_or_broken_line_in_bounded_time_and_keeps_the_count() -> None:
    """A 4 MB line is read to 16 KiB (and the rest skipped); invalid UTF-8 is replaced; the
    output keeps one line per input line, in order."""
    huge = b"the bins were not collected " * 150_000
    stdin = b"\n".join([b"thank you for the new park benches", huge, b"bad \xff\xfe bytes", b"x"])
    done = subprocess.run(
        [sys.executable, "-m", "ombud", "voice", "classify"],
        input=stdin,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert len(out) == 4
    assert out[0]["label"] == "positive" and out[1]["service"] == "waste"
    assert len(out[1]["normalised"]) <= 16_384
    assert out[2]["normalised"].startswith("bad") and out[2]["normalised"].endswith("bytes")
    assert out[3]["normalised"] == "x"


def test_posts_and_imports_through_the_cli(tmp_path: Path) -> None:
    data_dir = tmp_path / "city"
    assert ombud("init", "--data-dir", data_dir, "--origin", "cli.city.example/log").returncode == 0
    state = tmp_path / "issuer"
    ombud("voice", "issuer", "init", "--state", state, "--name", "id.city.example")
    key = ombud("voice", "issuer", "period", "--state", state, "--period", "2026-12").stdout
    key_file = tmp_path / "period.key"
    key_file.write_text(key)
    published = ombud(
        "voice", "publish-key", "--data-dir", data_dir, "--period", "2026-12",
        "--issuer", "id.city.example", "--key", key_file,
    )  # fmt: skip
    assert published.returncode == 0, published.stderr

    pending = tmp_path / "pending.json"
    asked = ombud(
        "voice", "token", "request", "--key", key_file, "--issuer", "id.city.example",
        "--period", "2026-12", "--origin", "cli.city.example/log", "--pending", pending,
    )  # fmt: skip
    odd = subprocess.run(
        [sys.executable, "-m", "ombud", "voice", "issuer", "issue", "--state", str(state),
         "--period", "2026-12", "--resident", b"r-\xff"],
        input=asked.stdout.encode(), capture_output=True, timeout=120,
    )  # fmt: skip
    assert odd.returncode == 2 and b"not UTF-8" in odd.stderr and b"Traceback" not in odd.stderr
    answered = ombud("voice", "issuer", "issue", "--state", state, "--period", "2026-12",
                     "--resident", "r-1", input=asked.stdout)  # fmt: skip
    token = ombud("voice", "token", "finalize", "--key", key_file, "--pending", pending,
                  input=answered.stdout).stdout  # fmt: skip
    post = ["voice", "post", "--data-dir", data_dir, "--district", "north", "--token", token]
    not_utf8 = subprocess.run(
        [sys.executable, "-m", "ombud", *map(str, post)],
        input=b"Street lights \xff\xfe out",
        capture_output=True,
        timeout=120,
    )
    assert not_utf8.returncode == 2 and b"not UTF-8" in not_utf8.stderr  # token not spent
    # The token as the HTTP API takes it (base64url, no padding) is the same token.
    url_token = token.strip().replace("+", "-").replace("/", "_").rstrip("=")
    post[-1] = url_token
    first = ombud(*post, input="Street lights on Elm Road are out again")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["service"] == "lighting"
    again = ombud(*post, input="A second post with the same token")
    assert again.returncode != 0 and "already used" in again.stderr

    feed = tmp_path / "feed.jsonl"
    records = [
        {
            "id": "1",
            "created_at": "2026-12-02T08:00:00Z",
            "author": "@ann",
            "text": "Bus 14 was late again",
            "district": "north",
        },
        {
            "id": "2",
            "created_at": "2026-12-02T09:00:00+01:00",
            "author": "@bob",
            "text": "Lovely clean streets today",
        },
        {"id": "3", "created_at": "2026-12-02T10:00:00Z", "author": "@cy"},
    ]
    feed.write_text("\n".join(json.dumps(r) for r in records) + "\nnot json\n")
    imported = ombud("voice", "import", feed, "--data-dir", data_dir, "--district", "harbour")
    assert imported.returncode == 0, imported.stderr
    report = json.loads(imported.stdout)
    assert report["accepted"] == 2 and [r["line"] for r in report["refused"]] == [3, 4]
    key_path = data_dir / "voice-author.key"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    again = json.loads(
        ombud("voice", "import", feed, "--data-dir", data_dir, "--district", "harbour").stdout
    )
    assert again["accepted"] == 0 and again["duplicates"] == 2

    shown = ombud("voice", "report", "--data-dir", data_dir, "--json")
    assert shown.returncode == 0, shown.stderr
    districts = {d["district"]: d for d in json.loads(shown.stdout)["districts"]}
    assert districts["north"]["tokened"]["posts"] == 1
    assert districts["north"]["imported"]["posts"] == 1
    assert districts["harbour"]["imported"]["posts"] == 1
    assert ombud("voice", "screen", "--data-dir", data_dir).returncode == 0
    assert ombud("voice", "purge", "--data-dir", data_dir).returncode == 0


def test_an_import_refuses_hostile_lines_alone_and_imports_the_rest(tmp_path: Path) -> None:
    # A line of 100,000 '[' ended the whole import in a RecursionError traceback; a member
    # named twice was read as its last value; a line of any length was held whole.
    data_dir = tmp_path / "city"
    assert ombud("init", "--data-dir", data_dir, "--origin", "cli.city.example/log").returncode == 0
    good = {"id": "1", "created_at": "2026-12-02T08:00:00Z", "author": "@ann",
            "text": "Bus 14 was late again"}  # fmt: skip
    twice = '{"id": "2", "id": "3", "created_at": "2026-12-02T08:00:00Z", "author": "@bob", '
    twice += '"text": "Lovely clean streets today"}'
    long = json.dumps({**good, "id": "4", "text": "x" * (2 << 20)})  # past the 1 MiB a line has
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(
        "\n".join(["[" * 100_000, twice, long, json.dumps(good), "\x00"]).encode() + b"\xff\n"
    )
    imported = ombud("voice", "import", feed, "--data-dir", data_dir, "--district", "harbour")
    assert imported.returncode == 0 and "Traceback" not in imported.stderr, imported.stderr
    report = json.loads(imported.stdout)
    assert report["accepted"] == 1
    reasons = {r["line"]: r["reason"] for r in report["refused"]}
    assert sorted(reasons) == [1, 2, 3, 5]
    assert "not JSON" in reasons[1] and "duplicate" in reasons[2] and "longer" in reasons[3]
