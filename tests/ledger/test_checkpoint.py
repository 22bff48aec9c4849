"""C2SP tlog-checkpoint parsing, formatting, log-key opening and witness quorum."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ombud.errors import MalformedError, SignatureError
from ombud.ledger import note
from ombud.ledger.checkpoint import Checkpoint, open_checkpoint, verify_quorum

# tlog-checkpoint.md example body (C2SP/C2SP@5ba5ee8).
SPEC_BODY = b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def test_spec_example_parses_and_formats_back() -> None:
    cp = Checkpoint.from_text(SPEC_BODY)
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert cp.root.hex() == "0ac5186a91863e8e1d90c808014aa89bf5da8e3ee1d9f07630f0378f68f1ab62"
    assert cp.to_text() == SPEC_BODY


def test_extension_lines_round_trip() -> None:
    cp = Checkpoint("example.com/log", 5, bytes(32), ("ext one", "ext two"))
    assert Checkpoint.from_text(cp.to_text()) == cp


@pytest.mark.parametrize(
    "body",
    [
        b"example.com/log\n05\n" + b"A" * 43 + b"=\n",
        b"example.com/log\n-1\n" + b"A" * 43 + b"=\n",
        b"example.com/log\n18446744073709551616\n" + b"A" * 43 + b"=\n",
        b"example.com/log\n5\nAAAA\n",
        b"example.com/log\n5\n" + b"A" * 42 + b"B=\n",
        b"example.com/log\n5\n",
        b"\n5\n" + b"A" * 43 + b"=\n",
        b"example.com/log\n5\n" + b"A" * 43 + b"=\n\n",
        b"example.com/log\n5\n" + b"A" * 43 + b"=",
        b"example.com/log\n 5\n" + b"A" * 43 + b"=\n",
        b"example.com/log\n" + b"9" * 5000 + b"\n" + b"A" * 43 + b"=\n",  # past int()'s limit
    ],
)
def test_malformed_checkpoints_are_refused(body: bytes) -> None:
    with pytest.raises(MalformedError):
        Checkpoint.from_text(body)


@given(
    origin=st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1),
    size=st.integers(0, (1 << 64) - 1),
    root=st.binary(min_size=32, max_size=32),
)
def test_parse_of_format_is_identity(origin: str, size: int, root: bytes) -> None:
    cp = Checkpoint(origin, size, root)
    assert Checkpoint.from_text(cp.to_text()) == cp


def test_open_requires_the_log_key_and_its_origin() -> None:
    log = note.Signer("example.com/log", bytes([1]) * 32)
    witness = note.Signer("w.example", bytes([2]) * 32, sig_type=note.ALG_COSIGNATURE_V1)
    body = Checkpoint("example.com/log", 3, bytes(32)).to_text()
    signed = open_checkpoint(note.sign(body, log), [log.verifier()])
    assert signed.checkpoint.size == 3
    with pytest.raises(SignatureError, match="not signed by the log"):
        open_checkpoint(note.sign(body, witness), [log.verifier()], witnesses=[witness.verifier()])
    with pytest.raises(SignatureError, match="origin"):
        open_checkpoint(note.sign(body, log), [log.verifier()], origin="example.com/other")
    other_body = Checkpoint("example.com/other", 3, bytes(32)).to_text()
    with pytest.raises(SignatureError, match="origin"):
        open_checkpoint(note.sign(other_body, log), [log.verifier()])


def test_quorum_counts_distinct_trusted_witnesses() -> None:
    log = note.Signer("example.com/log", bytes([1]) * 32)
    ws = [
        note.Signer(f"w{i}.example", bytes([i + 2]) * 32, sig_type=note.ALG_COSIGNATURE_V1)
        for i in range(3)
    ]
    keys = [w.verifier() for w in ws]
    body = Checkpoint("example.com/log", 3, bytes(32)).to_text()
    msg = note.sign(body, log, ws[0], ws[1])
    signed = open_checkpoint(msg, [log.verifier()], witnesses=keys)
    verify_quorum(signed, keys, 2)
    with pytest.raises(SignatureError, match="2 of the 3"):
        verify_quorum(signed, keys, 3)
    duplicated = msg + ws[0].signature_line(body)
    signed = open_checkpoint(duplicated, [log.verifier()], witnesses=keys)
    with pytest.raises(SignatureError):
        verify_quorum(signed, keys, 3)
    with pytest.raises(MalformedError):
        verify_quorum(signed, keys, 4)


def test_a_witness_key_of_the_log_type_does_not_stand_in_for_the_log() -> None:
    """Only a key given as the log's counts as the log's signature: a type-0x01 key passed
    among the witnesses (a misconfigured or hostile 'witness') that signs the log's origin
    does not make a checkpoint the log's."""
    log = note.Signer.generate("log.example")
    other = note.Signer.generate("log.example")  # same name, another key (another key ID)
    impostor = note.Signer.generate("w.example")
    text = Checkpoint("log.example", 5, bytes(32)).to_text()
    for signer in (other, impostor):
        with pytest.raises(SignatureError, match="log's key"):
            open_checkpoint(
                note.sign(text, signer), [log.verifier()], witnesses=[signer.verifier()]
            )
    assert open_checkpoint(note.sign(text, log), [log.verifier()]).checkpoint.size == 5
