"""A log's entries read from a tlog-tiles export or URL, checked against its checkpoint's root:
what the verifying commands (``roster verify``, ``tender verify``) start from.

Threat model: the source is untrusted. The entries count only once they hash to the root of
the checkpoint the source serves; who signed and cosigned that checkpoint is checked by the
caller (against the keys it holds) or by ``ombud verify``.
"""

from __future__ import annotations

import math

from ombud.errors import NotFoundError, VerificationError
from ombud.ledger import merkle
from ombud.ledger.checkpoint import Checkpoint
from ombud.ledger.note import parse
from ombud.ledger.tiles import TILE_WIDTH, TileRef, decode_bundle
from ombud.ledger.verifier import open_source

__all__ = ["read_entries"]


def read_entries(source: str) -> tuple[bytes, list[bytes]]:
    """The source's checkpoint note and every entry it covers, in order."""
    tiles = open_source(source)
    try:
        raw = tiles.fetch("checkpoint")
        if raw is None:
            raise NotFoundError(f"no checkpoint at {source}")
        checkpoint = Checkpoint.from_text(parse(raw).text)
        entries: list[bytes] = []
        for n in range(math.ceil(checkpoint.size / TILE_WIDTH)):
            width = min(TILE_WIDTH, checkpoint.size - n * TILE_WIDTH)
            ref = TileRef.entries(n, width)
            bundle = tiles.fetch(ref.path)
            if bundle is None:
                raise VerificationError(f"{ref.path} is missing from {source}")
            entries += decode_bundle(bundle, width)
    finally:
        tiles.close()
    if merkle.root([merkle.leaf_hash(e) for e in entries]) != checkpoint.root:
        raise VerificationError("the entries do not hash to the checkpoint's root")
    return raw, entries
