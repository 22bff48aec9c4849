"""The issuer: one token per resident per period, keys kept private, residents not named."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ombud.errors import AlreadyExistsError, ConfigError, MalformedError, NotFoundError
from ombud.voice.issuer import Issuer, resident_id
from ombud.voice.tokens import (
    finalize_token,
    load_public_key,
    period_challenge,
    request_token,
    verify_token,
)


def test_one_token_per_resident_per_period(tmp_path: Path) -> None:
    issuer = Issuer.init(tmp_path / "issuer", "id.city.example")
    public = load_public_key(issuer.create_period("2026-12"))
    challenge = period_challenge(issuer.name, "2026-12", "ombud.city.example")
    pending = request_token(public, challenge)
    token = finalize_token(public, pending, issuer.issue("2026-12", "resident-42", pending.request))
    verify_token(public, token, challenge)
    again = request_token(public, challenge)
    with pytest.raises(AlreadyExistsError):
        issuer.issue("2026-12", "resident-42", again.request)
    assert issuer.served("2026-12") == 1
    # The next period is a new key and a new allowance.
    next_key = load_public_key(Issuer.open(tmp_path / "issuer").create_period("2027-01"))
    later = request_token(next_key, period_challenge(issuer.name, "2027-01", "ombud.city.example"))
    issuer.issue("2027-01", "resident-42", later.request)
    # A request made for one period's key is refused by another's.
    with pytest.raises(MalformedError):
        issuer.issue("2027-01", "resident-7", again.request)


def test_one_resident_spelled_two_ways_is_one_resident(tmp_path: Path) -> None:
    """An attack found "zoë" composed and "zoë" with a combining diaeresis each got a token
    for one period, as did "zoë " with a space: ids are compared in NFC, and spaces around one
    are refused (they say it was not read as the identity service meant it)."""
    issuer = Issuer.init(tmp_path / "issuer", "id.city.example")
    public = load_public_key(issuer.create_period("2026-12"))
    challenge = period_challenge(issuer.name, "2026-12", "ombud.city.example")
    issuer.issue("2026-12", "zo\u00eb", request_token(public, challenge).request)
    with pytest.raises(AlreadyExistsError):
        issuer.issue("2026-12", "zoe\u0308", request_token(public, challenge).request)
    (second,) = issuer.issue_many(
        "2026-12", [("zoe\u0308", request_token(public, challenge).request)]
    )
    assert isinstance(second, AlreadyExistsError)
    for spaced in ("zo\u00eb ", " zo\u00eb", "zo\u00eb\n"):
        with pytest.raises(MalformedError, match="no spaces around it"):
            issuer.issue("2026-12", spaced, request_token(public, challenge).request)
    assert issuer.served("2026-12") == 1 and resident_id("zoe\u0308") == "zo\u00eb"
    assert issuer.issue("2026-12", "ZO\u00cb", request_token(public, challenge).request)


def test_state_is_private_and_names_nobody(tmp_path: Path) -> None:
    issuer = Issuer.init(tmp_path / "issuer", "id.city.example")
    public = load_public_key(issuer.create_period("2026-12"))
    pending = request_token(public, period_challenge(issuer.name, "2026-12", "ombud"))
    issuer.issue("2026-12", "alice@example.org", pending.request)
    state = tmp_path / "issuer"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for name in ("period-2026-12.pem", "resident-secret"):
        assert stat.S_IMODE((state / name).stat().st_mode) == 0o600
    stored = b"".join(path.read_bytes() for path in state.glob("served.sqlite*"))
    assert stored and b"alice" not in stored
    with pytest.raises(AlreadyExistsError):
        issuer.create_period("2026-12")
    with pytest.raises(AlreadyExistsError):
        Issuer.init(state, "id.city.example")
    with pytest.raises(NotFoundError):
        issuer.issue("2030-01", "bob", pending.request)
    with pytest.raises(MalformedError):
        issuer.create_period("../etc")
    with pytest.raises(ConfigError):
        Issuer.open(tmp_path / "nowhere")


def test_an_existing_empty_state_directory_and_the_served_store_are_made_private(
    tmp_path: Path,
) -> None:
    """Finding: ``Issuer.init`` kept an existing empty directory's mode (0755), and
    ``served.sqlite`` (and its WAL) was created with the umask's 0644."""
    state = tmp_path / "issuer"
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)
    old_umask = os.umask(0o022)
    try:
        issuer = Issuer.init(state, "id.city.example")
        public = load_public_key(issuer.create_period("2026-12"))
        pending = request_token(public, period_challenge(issuer.name, "2026-12", "ombud"))
        with issuer._served():  # held open: its -wal and -shm files exist meanwhile
            issuer.issue("2026-12", "resident-1", pending.request)
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in state.glob("served*")}
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert set(modes) >= {"served.sqlite", "served.sqlite-wal"}
    assert set(modes.values()) == {0o600}, modes


def test_a_served_store_made_before_it_was_private_is_made_private(tmp_path: Path) -> None:
    issuer = Issuer.init(tmp_path / "issuer", "id.city.example")
    served = tmp_path / "issuer" / "served.sqlite"
    os.chmod(served, 0o644)
    assert issuer.served("2026-12") == 0
    assert stat.S_IMODE(served.stat().st_mode) == 0o600
