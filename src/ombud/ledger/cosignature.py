"""C2SP tlog-cosignature, Ed25519 type 0x04: the witness's timestamped statement about a log.

Threat model: a cosignature is a witness's claim that the checkpoint is the largest consistent
tree head it has seen for that origin at a given time; the signed message binds header, time and
the whole checkpoint body, so a cosignature cannot be moved to another checkpoint or time.

This module is the wire format only (c2sp.org/tlog-cosignature §Format, §"Ed25519 signed
message"); ``note`` signs and verifies with it and ``checkpoint.verify_quorum`` applies policy.
"""

from __future__ import annotations

from ombud.errors import MalformedError

__all__ = [
    "MAX_TIMESTAMP",
    "SIGNATURE_SIZE",
    "decode_timestamped_signature",
    "encode_timestamped_signature",
    "signed_message",
]

MAX_TIMESTAMP = (1 << 63) - 1
SIGNATURE_SIZE = 8 + 64
"""``struct { u64 timestamp; opaque ed25519_signature[64]; } timestamped_signature``."""


def _check_timestamp(timestamp: int) -> int:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise MalformedError("cosignature timestamp must be an integer")
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise MalformedError(f"cosignature timestamp {timestamp} is outside [0, 2**63-1]")
    return timestamp


def signed_message(checkpoint_text: bytes, timestamp: int) -> bytes:
    """``cosignature/v1\\ntime <timestamp>\\n`` followed by the whole checkpoint body."""
    return b"cosignature/v1\ntime %d\n" % _check_timestamp(timestamp) + checkpoint_text


def encode_timestamped_signature(timestamp: int, signature: bytes) -> bytes:
    if len(signature) != 64:
        raise MalformedError("an Ed25519 signature is 64 bytes")
    return _check_timestamp(timestamp).to_bytes(8, "big") + signature


def decode_timestamped_signature(data: bytes) -> tuple[int, bytes]:
    """Split a cosignature (without key ID) into its timestamp and Ed25519 signature."""
    if len(data) != SIGNATURE_SIZE:
        raise MalformedError(f"a timestamped Ed25519 cosignature is {SIGNATURE_SIZE} bytes")
    return _check_timestamp(int.from_bytes(data[:8], "big")), data[8:]
