"""Files the governance commands read and write: JSON documents (a roster, an access request),
signed-request files (a privileged action and the approvals collected for it), and the Ed25519
key a holder, a bidder or a requester makes and keeps on their own machine (PEM).

Threat model: the files come from other people (a proposer, other holders); each is read up
to a cap, parsed strictly and checked field by field before anything uses it. A new key is
written mode 0600, never over another file; a key file that is not an unencrypted Ed25519 PEM
key is refused in one line naming the file, never its contents.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from ombud.canonical import parse_json
from ombud.errors import MalformedError
from ombud.governance.roster import ActionRequest, Approval
from ombud.storage import read_capped

__all__ = [
    "MAX_FILE",
    "MAX_KEY_FILE",
    "new_key",
    "private_key",
    "read_json",
    "read_signed",
    "write_signed",
]

MAX_FILE = 1 << 20
"""Bytes a governance file may have."""
MAX_KEY_FILE = 16 << 10
"""Bytes a PEM key file may have (an Ed25519 one has 119)."""


def private_key(path: Path) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PEM file (``ombud roster keygen`` makes them), read up to
    ``MAX_KEY_FILE``; ``MalformedError`` for anything else: no PEM, an encrypted key, another
    algorithm."""
    data = read_capped(path, MAX_KEY_FILE)
    try:
        private = load_pem_private_key(data, password=None)
    except TypeError:  # "Password was not given but private key is encrypted"
        raise MalformedError(f"{path} is an encrypted key; give it unencrypted") from None
    except (ValueError, UnsupportedAlgorithm):
        raise MalformedError(f"{path} is not a PEM private key") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise MalformedError(f"{path} is not an Ed25519 private key")
    return private


def read_json(path: Path, what: str) -> Any:
    """``path`` as strict JSON, read up to ``MAX_FILE`` bytes (``MalformedError`` beyond)."""
    return parse_json(read_capped(path, MAX_FILE), what, max_depth=16)


def read_signed(path: Path) -> tuple[ActionRequest, list[Approval]]:
    """A signed-request file: ``{"request": …, "approvals": […]}``."""
    doc = read_json(path, "the signed-request file")
    if not isinstance(doc, dict) or set(doc) != {"request", "approvals"}:
        raise MalformedError("a signed-request file holds exactly request and approvals")
    if not isinstance(doc["approvals"], list):
        raise MalformedError("a signed-request file's approvals are a list")
    return ActionRequest.from_json(doc["request"]), [
        Approval.from_json(a) for a in doc["approvals"]
    ]


def write_signed(path: Path, request: ActionRequest, approvals: list[Approval]) -> None:
    doc = {"request": request.to_json(), "approvals": [a.to_json() for a in approvals]}
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def new_key(out: Path) -> Ed25519PrivateKey:
    """A new Ed25519 private key, written to ``out`` (PEM, PKCS #8, mode 0600; never over an
    existing file)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return key
