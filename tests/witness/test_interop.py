"""Interoperability: ombud's cosignatures against a second implementation written from the
text of c2sp.org/tlog-cosignature and c2sp.org/signed-note alone (below, in 40 lines), and the
spec's own example."""

from __future__ import annotations

import base64
import hashlib
import struct

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ombud.ledger import note
from ombud.ledger.checkpoint import open_checkpoint
from ombud.ledger.log import Log
from ombud.witness.witness import Witness

from ..conftest import shared_vectors
from .test_witness import grow, submit

# --- a minimal tlog-cosignature/v1 implementation, from the spec text ------------------------


def spec_key_id(name: str, public_key: bytes) -> bytes:
    # signed-note: key ID = SHA-256(key name || 0x0A || signature type || public key)[:4];
    # tlog-cosignature: the signature type of Ed25519 cosignatures is 0x04.
    return hashlib.sha256(name.encode() + b"\n\x04" + public_key).digest()[:4]


def spec_message(checkpoint_body: bytes, timestamp: int) -> bytes:
    # tlog-cosignature "Ed25519 signed message": header line, time line, then the checkpoint.
    return b"cosignature/v1\ntime " + str(timestamp).encode() + b"\n" + checkpoint_body


def spec_verify(checkpoint_note: bytes, vkey: str) -> int:
    """Return the timestamp of the cosignature by ``vkey`` on ``checkpoint_note`` or raise."""
    name, key_id_hex, key_b64 = vkey.split("+", 2)
    key = base64.b64decode(key_b64)
    assert key[0] == 0x04
    body, _, sigs = checkpoint_note.rpartition(b"\n\n")
    body += b"\n"
    for line in sigs.decode().splitlines():
        assert line.startswith("\u2014 ")
        signer, blob_b64 = line[2:].split(" ")
        blob = base64.b64decode(blob_b64)
        if signer != name or blob[:4] != bytes.fromhex(key_id_hex):
            continue
        assert blob[:4] == spec_key_id(name, key[1:])
        (timestamp,) = struct.unpack(">Q", blob[4:12])
        Ed25519PublicKey.from_public_bytes(key[1:]).verify(blob[12:], spec_message(body, timestamp))
        return int(timestamp)
    raise AssertionError("no cosignature by that key")


def spec_cosign(checkpoint_body: bytes, name: str, key: Ed25519PrivateKey, timestamp: int) -> bytes:
    public = key.public_key().public_bytes_raw()
    signature = key.sign(spec_message(checkpoint_body, timestamp))
    blob = spec_key_id(name, public) + struct.pack(">Q", timestamp) + signature
    return f"\u2014 {name} {base64.b64encode(blob).decode()}\n".encode()


# --- the tests -------------------------------------------------------------------------------


def test_ombud_cosignatures_verify_with_the_spec_implementation(witness: Witness, log: Log) -> None:
    checkpoint = grow(log, 12)
    line = submit(witness, 0, checkpoint)
    assert spec_verify(checkpoint + line, witness.signer.verifier().vkey) == 1_790_000_000


def test_spec_implementation_cosignatures_verify_in_ombud(log: Log) -> None:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    name = "independent.example/w"
    vkey = (
        f"{name}+{spec_key_id(name, public).hex()}+" + base64.b64encode(b"\x04" + public).decode()
    )
    checkpoint = grow(log, 3)
    text = note.parse(checkpoint).text
    cosigned = checkpoint + spec_cosign(text, name, key, 1_700_000_000)
    opened = open_checkpoint(cosigned, [log.verifier()], witnesses=[note.Verifier.from_vkey(vkey)])
    assert [c.timestamp for c in opened.cosigners] == [1_700_000_000]


def test_spec_example_cosignature_decodes() -> None:
    example = shared_vectors("c2sp-examples.json")["tlog_cosignature_example"]
    parsed = note.parse(example["checkpoint_with_cosignature"].encode())
    cosignatures = [s for s in parsed.signatures if s.name != "example.com/behind-the-sofa"]
    [cosig] = cosignatures
    assert f"{cosig.key_id:08x}" == "8d66cf3f"  # README of the vectors: decoded key ID
    assert int.from_bytes(cosig.signature[:8], "big") == 1679315147  # the spec's "time" line
    assert len(cosig.signature) == 8 + 64
