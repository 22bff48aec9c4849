"""The add-checkpoint wire format (c2sp.org/tlog-witness §add-checkpoint)."""

from __future__ import annotations

import base64

import pytest

from ombud.errors import MalformedError
from ombud.witness.protocol import MAX_PROOF_LINES, AddCheckpoint, encode_size, parse_size

# The example request body of c2sp.org/tlog-witness §add-checkpoint (C2SP/C2SP, CC BY 4.0).
SPEC_CHECKPOINT = (
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5"
    "/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "\u2014 example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49"
    "/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n"
).encode()
SPEC_BODY = (
    b"old 20852014\n"
    b"PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
    b"jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
    b"5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n"
    b"/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n"
    b"\n" + SPEC_CHECKPOINT
)


def test_spec_example_parses_and_round_trips() -> None:
    request = AddCheckpoint.from_bytes(SPEC_BODY)
    assert request.old_size == 20852014
    assert len(request.proof) == 4
    assert request.proof[0] == base64.b64decode("PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=")
    assert request.checkpoint == SPEC_CHECKPOINT
    assert request.to_bytes() == SPEC_BODY


def test_old_zero_with_empty_proof() -> None:
    request = AddCheckpoint.from_bytes(b"old 0\n\n" + SPEC_CHECKPOINT)
    assert (request.old_size, request.proof) == (0, ())
    assert AddCheckpoint.build(0, [], SPEC_CHECKPOINT).to_bytes() == b"old 0\n\n" + SPEC_CHECKPOINT


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"old 5\n", "no empty line"),
        (b"new 5\n\n" + SPEC_CHECKPOINT, "'old <size>'"),
        (b"old 05\n\n" + SPEC_CHECKPOINT, "leading zeroes"),
        (b"old -1\n\n" + SPEC_CHECKPOINT, "leading zeroes"),
        (b"old  5\n\n" + SPEC_CHECKPOINT, "leading zeroes"),
        (b"old 5\nnot base64!\n\n" + SPEC_CHECKPOINT, "base64"),
        (b"old 5\nAAAA\n\n" + SPEC_CHECKPOINT, "32-byte"),
        (b"old 5\n\n", "no checkpoint"),
        (b"old 18446744073709551616\n\n" + SPEC_CHECKPOINT, "too large"),
    ],
)
def test_malformed_bodies_are_refused(body: bytes, message: str) -> None:
    with pytest.raises(MalformedError, match=message):
        AddCheckpoint.from_bytes(body)


def test_at_most_63_proof_lines() -> None:
    line = base64.b64encode(bytes(32)) + b"\n"
    ok = b"old 5\n" + line * MAX_PROOF_LINES + b"\n" + SPEC_CHECKPOINT
    assert len(AddCheckpoint.from_bytes(ok).proof) == 63
    with pytest.raises(MalformedError, match="more than 63"):
        AddCheckpoint.from_bytes(b"old 5\n" + line * 64 + b"\n" + SPEC_CHECKPOINT)
    with pytest.raises(MalformedError, match="at most 63"):
        AddCheckpoint.build(5, [bytes(32)] * 64, SPEC_CHECKPOINT)


def test_size_bodies() -> None:
    assert encode_size(1234) == b"1234\n"
    assert parse_size(b"1234\n") == 1234
    for bad in (b"1234", b"01\n", b"x\n", b"\xff\n"):
        with pytest.raises(MalformedError):
            parse_size(bad)
