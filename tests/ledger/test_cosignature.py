"""C2SP tlog-cosignature type 0x04: the spec's example layout and signed message."""

from __future__ import annotations

import base64

import pytest

from ombud.errors import MalformedError, SignatureError
from ombud.ledger import cosignature, note
from tests.conftest import shared_vectors

# tlog-cosignature.md introduction and "Ed25519 signed message" (C2SP/C2SP@5ba5ee8).
SPEC_BODY = b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SPEC_COSIGNATURE = (
    "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJs"
    "X3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA=="
)


def test_spec_cosignature_layout_and_message() -> None:
    raw = base64.b64decode(SPEC_COSIGNATURE)
    assert raw[:4].hex() == "8d66cf3f"
    timestamp, signature = cosignature.decode_timestamped_signature(raw[4:])
    assert timestamp == 1679315147
    assert len(signature) == 64
    assert cosignature.signed_message(SPEC_BODY, timestamp) == (
        b"cosignature/v1\ntime 1679315147\n" + SPEC_BODY
    )


def test_shared_example_matches() -> None:
    example = shared_vectors("c2sp-examples.json")["tlog_cosignature_example"]
    raw = base64.b64decode(example["cosignature"]["signature_b64"])
    timestamp, _ = cosignature.decode_timestamped_signature(raw[4:])
    assert timestamp == example["cosignature"]["decoded_timestamp"]
    message = cosignature.signed_message(example["checkpoint_body"].encode(), timestamp)
    assert message == example["ed25519_signed_message"].encode()
    parsed = note.parse(example["checkpoint_with_cosignature"].encode())
    assert [s.name for s in parsed.signatures] == [
        "example.com/behind-the-sofa",
        "witness.example.com/w1",
    ]


def test_cosign_and_verify() -> None:
    witness = note.Signer(
        "witness.example/w1", bytes(range(32)), sig_type=note.ALG_COSIGNATURE_V1, clock=lambda: 42.9
    )
    verifier = witness.verifier()
    assert verifier.key_id == note.key_id("witness.example/w1", 0x04, witness.public_key)
    sig = witness.sign(SPEC_BODY)
    assert verifier.verify(SPEC_BODY, sig) == 42
    with pytest.raises(SignatureError):
        verifier.verify(SPEC_BODY.replace(b"20852163", b"20852164"), sig)
    moved = (43).to_bytes(8, "big") + sig[8:]  # a cosignature cannot be moved to another time
    with pytest.raises(SignatureError):
        verifier.verify(SPEC_BODY, moved)
    with pytest.raises(SignatureError):
        verifier.verify(SPEC_BODY, sig[:-1])


def test_timestamps_are_bounded() -> None:
    with pytest.raises(MalformedError):
        cosignature.signed_message(SPEC_BODY, 1 << 63)
    with pytest.raises(MalformedError):
        cosignature.decode_timestamped_signature(b"\xff" * 72)
