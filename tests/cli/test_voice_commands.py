"""``ombud voice issuer …`` and ``ombud voice token …``: a token end to end through the CLI."""

from __future__ import annotations

import base64
import stat
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
