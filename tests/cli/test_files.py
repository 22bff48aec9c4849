"""The files governance commands read: a holder's or bidder's own Ed25519 key (PEM) is read up
to a cap and anything else is refused in one line naming the file, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from ombud.cli._files import MAX_KEY_FILE, private_key
from ombud.errors import MalformedError
from tests.conftest import ombud
from tests.governance.test_decisions import MOTION


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_a_key_file_that_is_no_unencrypted_ed25519_key_is_refused_by_name(tmp_path: Path) -> None:
    ed25519 = Ed25519PrivateKey.generate()
    good = _written(
        tmp_path / "good.pem",
        ed25519.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()),
    )
    assert private_key(good).public_key() == ed25519.public_key()
    encrypted = ed25519.private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(b"secret")
    )
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )
    for name, data, says in (
        ("encrypted.pem", encrypted, "encrypted"),  # was a TypeError
        ("garbage.pem", b"not a key\n", "not a PEM private key"),  # was a ValueError
        ("empty.pem", b"", "not a PEM private key"),
        ("p256.pem", other, "not an Ed25519 private key"),
    ):
        with pytest.raises(MalformedError, match=says) as refused:
            private_key(_written(tmp_path / name, data))
        assert name in str(refused.value) and "BEGIN" not in str(refused.value)
    huge = tmp_path / "huge.pem"
    with huge.open("wb") as f:  # a sparse gigabyte: refused without reading it all
        f.truncate(1 << 30)
    with pytest.raises(MalformedError, match=f"larger than {MAX_KEY_FILE}"):
        private_key(huge)


def test_signing_with_a_bad_key_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    motion = _written(tmp_path / "motion.json", json.dumps(MOTION.to_json()).encode())
    key = _written(tmp_path / "key.pem", b"-----BEGIN PRIVATE KEY-----\nnope\n")
    signed = ombud(
        "decision", "sign", motion, "--holder", "council-1", "--choice", "yes", "--key", key,
        "--out", tmp_path / "vote.json", "--origin", "decisions.example/log",
    )  # fmt: skip
    assert signed.returncode == 2, signed.stderr
    assert "Traceback" not in signed.stderr and "not a PEM private key" in signed.stderr
    assert not (tmp_path / "vote.json").exists()
