"""C2SP tlog-proof bundles: format, parsing, offline verification."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ombud.errors import MalformedError, ProofError, SignatureError
from ombud.ledger import note
from ombud.ledger.log import Log
from ombud.ledger.proof_bundle import ProofBundle, verify_proof_bundle

# tlog-proof.md example head (C2SP/C2SP@5ba5ee8); its checkpoint's signatures are elided there.
SPEC_HEAD = b"""c2sp.org/tlog-proof@v1
extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ
index 73894
gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=
B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=
EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=
RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=
AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=

"""


def test_spec_example_head_parses() -> None:
    bundle = ProofBundle.from_bytes(SPEC_HEAD + b"example.com/fancylog\n")
    assert bundle.index == 73894
    assert len(bundle.proof) == 5
    assert bundle.extra is not None and bundle.extra.startswith(b"age-v1.2.1-darwin-arm64.tar.gz")


@given(
    index=st.integers(0, (1 << 64) - 1),
    proof=st.lists(st.binary(min_size=32, max_size=32), max_size=64),
    extra=st.none() | st.binary(max_size=100),
)
def test_parse_of_format_is_identity(index: int, proof: list[bytes], extra: bytes | None) -> None:
    bundle = ProofBundle(index, tuple(proof), b"checkpoint\n", extra)
    assert ProofBundle.from_bytes(bundle.to_bytes()) == bundle


@pytest.mark.parametrize(
    "data",
    [
        b"c2sp.org/tlog-proof@v2\nindex 1\n\ncp",
        b"c2sp.org/tlog-proof@v1\nindex 01\n\ncp",
        b"c2sp.org/tlog-proof@v1\nindex x\n\ncp",
        b"c2sp.org/tlog-proof@v1\n\ncp",
        b"c2sp.org/tlog-proof@v1\nindex 1\nAAAA\n\ncp",
        b"c2sp.org/tlog-proof@v1\nindex 1\ncp",
        b"c2sp.org/tlog-proof@v1\nextra !!\nindex 1\n\ncp",
    ],
)
def test_malformed_bundles_are_refused(data: bytes) -> None:
    with pytest.raises(MalformedError):
        ProofBundle.from_bytes(data)


def test_verify_bundle_from_a_log(log: Log) -> None:
    log.append_batch([b"entry %d" % i for i in range(1000)])
    signed = log.checkpoint()
    size = signed.checkpoint.size
    bundle = ProofBundle(417, tuple(log.inclusion_proof(417, size)), signed.to_bytes())
    key = log.verifier()
    verify_proof_bundle(bundle, b"entry 417", [key])
    with pytest.raises(ProofError):
        verify_proof_bundle(bundle, b"entry 418", [key])
    stranger = note.Signer("test.ombud.localhost/log", bytes([9]) * 32).verifier()
    with pytest.raises(SignatureError):
        verify_proof_bundle(bundle, b"entry 417", [stranger])
    with pytest.raises(ProofError):
        verify_proof_bundle(ProofBundle(1000, bundle.proof, bundle.checkpoint), b"x", [key])
    witness = note.Signer("w.example", bytes([3]) * 32, sig_type=note.ALG_COSIGNATURE_V1)
    with pytest.raises(SignatureError, match="0 of the 1"):
        verify_proof_bundle(bundle, b"entry 417", [key], witnesses=[witness.verifier()], quorum=1)
