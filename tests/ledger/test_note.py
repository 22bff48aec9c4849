"""C2SP signed-note: the spec's example, key formats, and every refusal the spec requires."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ombud.errors import MalformedError, SignatureError
from ombud.ledger import note
from tests.conftest import shared_vectors

# signed-note.md, "Verifier keys" > "Example" (C2SP/C2SP@5ba5ee8, CC BY 4.0).
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n"
    "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXs"
    "YjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
).encode()


def fixed(seed: int) -> bytes:
    return bytes([seed]) * 32


def test_spec_example_verifies() -> None:
    verifier = note.Verifier.from_vkey(SPEC_VKEY)
    assert verifier.key_id == 0x530D903A
    assert verifier.vkey == SPEC_VKEY
    opened = note.open(SPEC_NOTE, [verifier])
    assert opened.text == b"This is an example message.\n"
    assert [v.verifier for v in opened.verified] == [verifier]
    assert opened.to_bytes() == SPEC_NOTE


def test_shared_examples() -> None:
    examples = shared_vectors("c2sp-examples.json")
    example = examples["signed_note_example"]
    verifier = note.Verifier.from_vkey(example["vkey"])
    assert (
        note.open(example["signed_note"].encode(), [verifier]).text == example["note_text"].encode()
    )
    intro = examples["signed_note_intro_example"]
    parsed = note.parse(intro["signed_note"].encode())
    assert parsed.text == intro["note_text"].encode()  # split at the LAST blank line
    assert f"{parsed.signatures[0].key_id:08x}" == intro["decoded_signature_key_id_hex"]
    with pytest.raises(SignatureError):  # no key for it is known: it must not be trusted
        note.open(intro["signed_note"].encode(), [verifier])


def test_spec_example_fails_without_the_final_newline_of_the_text() -> None:
    verifier = note.Verifier.from_vkey(SPEC_VKEY)
    tampered = SPEC_NOTE.replace(b"message.\n", b"message!\n")
    with pytest.raises(SignatureError):
        note.open(tampered, [verifier])


def test_sign_and_open_round_trip_with_go_key_formats() -> None:
    signer = note.Signer("example.com/log", fixed(1))
    restored = note.Signer.from_skey(signer.skey)
    assert restored.verifier() == signer.verifier()
    assert signer.skey.startswith("PRIVATE+KEY+example.com/log+")
    assert "PRIVATE" not in repr(signer) and signer.skey.split("+")[-1] not in repr(signer)
    msg = note.sign(b"hello\n\nworld\n", signer)
    opened = note.open(msg, [note.Verifier.from_vkey(signer.verifier().vkey)])
    assert opened.text == b"hello\n\nworld\n"


def test_unknown_signers_are_ignored_and_known_bad_signatures_reject() -> None:
    log = note.Signer("example.com/log", fixed(1))
    other = note.Signer("example.com/other", fixed(2))
    impostor = note.Signer("example.com/log", fixed(3))  # same name, other key and ID
    msg = note.sign(b"text\n", other, log, impostor)
    opened = note.open(msg, [log.verifier()])
    assert [v.verifier.name for v in opened.verified] == ["example.com/log"]
    # same name and key ID as the trusted key, but a wrong signature: reject the whole note
    forged = note.NoteSignature(log.name, log.key_id, impostor.sign(b"text\n")).line()
    with pytest.raises(SignatureError):
        note.open(b"text\n\n" + log.signature_line(b"text\n") + forged, [log.verifier()])
    with pytest.raises(SignatureError):
        note.open(note.sign(b"text\n", other), [log.verifier()])


def test_a_line_repeated_verbatim_is_verified_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A replayed note padded with 99 copies of its log's line costs one verification, not a
    hundred; the repeats still count as one key."""
    log = note.Signer("example.com/log", fixed(1))
    line = log.signature_line(b"text\n")
    calls: list[bytes] = []
    verify = note.Verifier.verify

    def counted(self: note.Verifier, text: bytes, signature: bytes) -> int | None:
        calls.append(signature)
        return verify(self, text, signature)

    monkeypatch.setattr(note.Verifier, "verify", counted)
    opened = note.open(b"text\n\n" + line * 99, [log.verifier()])
    assert len(calls) == 1 and len(opened.verified) == 1


def test_at_least_sixteen_signatures_are_accepted() -> None:
    signers = [note.Signer(f"witness{i}.example", fixed(i)) for i in range(1, 21)]
    msg = note.sign(b"checkpoint\n", *signers)
    opened = note.open(msg, [s.verifier() for s in signers])
    assert len(opened.verified) == 20


def test_too_many_signatures_are_refused() -> None:
    signer = note.Signer("example.com/log", fixed(1))
    line = signer.signature_line(b"t\n")
    with pytest.raises(MalformedError, match="signatures"):
        note.parse(b"t\n\n" + line * (note.MAX_SIGNATURES + 1))


@pytest.mark.parametrize(
    ("msg", "reason"),
    [
        (b"no final newline", "newline"),
        (b"text\n\xff\n\n", "UTF-8"),
        (b"text\twith tab\n\n\xe2\x80\x94 a AAAAAAAA\n", "control"),
        (b"text\n", "blank line"),
        (b"text\n\n", "no signature"),
        (b"text\n\n- name AAAAAAAAAA==\n", "em dash"),
        (b"text\n\n\xe2\x80\x94 name\n", "no signature"),
        (b"text\n\n\xe2\x80\x94 name !!!!\n", "base64"),
        (b"text\n\n\xe2\x80\x94 name AAAA\n", "shorter"),
        (b"text\n\n\xe2\x80\x94 na+me AAAAAAAAAA==\n", "a space or"),
        (b"text\n\n\xe2\x80\x94  AAAAAAAAAA==\n", "empty"),
        (b"text\n\n\xe2\x80\x94 name AAAAAAAAAB==\n", "canonical"),
    ],
)
def test_malformed_notes_are_refused(msg: bytes, reason: str) -> None:
    with pytest.raises(MalformedError, match=reason):
        note.parse(msg)


@pytest.mark.parametrize(
    "vkey",
    [
        "example.com/foo+530d903a",
        "example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/fo o+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U",
        "+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    ],
)
def test_malformed_vkeys_are_refused(vkey: str) -> None:
    with pytest.raises(MalformedError):
        note.Verifier.from_vkey(vkey)


def test_malformed_skeys_are_refused() -> None:
    good = note.Signer("example.com/log", fixed(1)).skey
    for bad in [good.replace("PRIVATE", "PUBLIC"), good[:-4], good.replace("+KEY+", "+")]:
        with pytest.raises(MalformedError):
            note.Signer.from_skey(bad)


def test_cosigner_vkeys_verify_cosignatures_with_the_same_open() -> None:
    log = note.Signer("example.com/log", fixed(1))
    witness = note.Signer(
        "witness.example/w1", fixed(2), sig_type=note.ALG_COSIGNATURE_V1, clock=lambda: 1679315147
    )
    vkey = witness.verifier().vkey
    assert base64.b64decode(vkey.split("+", 2)[2])[0] == 0x04
    msg = note.sign(b"example.com/log\n1\nAAAA\n", log, witness)
    opened = note.open(msg, [log.verifier(), note.Verifier.from_vkey(vkey)])
    stamps = {v.verifier.name: v.timestamp for v in opened.verified}
    assert stamps == {"example.com/log": None, "witness.example/w1": 1679315147}


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), min_codepoint=0x20), max_size=200
    ).map(lambda s: s + "\n"),
    count=st.integers(1, 5),
)
def test_parse_of_format_is_identity(text: str, count: int) -> None:
    signers = [note.Signer(f"key{i}.example", fixed(i + 1)) for i in range(count)]
    msg = note.sign(text.encode(), *signers)
    parsed = note.parse(msg)
    assert parsed.text == text.encode()
    assert parsed.to_bytes() == msg
    assert len(note.open(msg, [s.verifier() for s in signers]).verified) == count
