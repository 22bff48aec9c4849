"""C2SP tlog-tiles: tile paths, hash tiles with their interior nodes, and entry bundles.

Threat model: tile paths and bundles come from untrusted clients and mirrors. Paths are parsed
strictly (one spelling per tile, so caches and mirrors cannot be confused), bundles are decoded
with their exact entry count, and nothing here is trusted: the verifier recomputes every hash.

A tile at level L, index N is the 256 consecutive Merkle tree hashes at tree level 8L that
span leaves ``[N * 256**(L+1), (N+1) * 256**(L+1))`` (tlog-tiles §"Merkle Tree"); the rightmost
tile of each level may be partial, ``.p/<W>`` with 1 ≤ W ≤ 255 hashes. ``TileNodes`` keeps a
tile together with the seven levels of complete nodes inside it, which is what lets the log
serve any proof with one read per tile level instead of rehashing up to 255 nodes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ombud.errors import EntryTooLargeError, MalformedError
from ombud.ledger.merkle import HASH_SIZE

__all__ = [
    "MAX_ENTRY_SIZE",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "TileNodes",
    "TileRef",
    "check_entry",
    "decode_bundle",
    "encode_bundle",
    "encode_entries",
    "encode_index",
    "parse_path",
    "partial_width",
    "tiles_for_size",
]

TILE_HEIGHT = 8
TILE_WIDTH = 256
MAX_ENTRY_SIZE = 0xFFFF
"""Entries are uint16 length-prefixed in bundles (tlog-tiles §"Log entries")."""
MAX_LEVEL = 63

_sha256 = hashlib.sha256
_PATH = re.compile(
    r"tile/(entries|0|[1-9][0-9]?)/((?:x[0-9]{3}/)*[0-9]{3})(?:\.p/([1-9][0-9]{0,2}))?"
)


def encode_index(n: int) -> str:
    """Zero-padded 3-digit path elements, all but the last prefixed with ``x``."""
    if n < 0:
        raise MalformedError("tile index must be non-negative")
    parts = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        parts.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(parts))


@dataclass(frozen=True, order=True)
class TileRef:
    """A hash tile (``level`` ≥ 0) or an entry bundle (``level`` = -1), full or partial."""

    level: int
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if not -1 <= self.level <= MAX_LEVEL:
            raise MalformedError(f"tile level {self.level} is outside 0..{MAX_LEVEL}")
        if self.index < 0:
            raise MalformedError("tile index must be non-negative")
        if not 1 <= self.width <= TILE_WIDTH:
            raise MalformedError(f"tile width {self.width} is outside 1..{TILE_WIDTH}")

    @classmethod
    def entries(cls, index: int, width: int = TILE_WIDTH) -> TileRef:
        return cls(-1, index, width)

    @property
    def is_entries(self) -> bool:
        return self.level < 0

    @property
    def is_partial(self) -> bool:
        return self.width < TILE_WIDTH

    @property
    def path(self) -> str:
        level = "entries" if self.is_entries else str(self.level)
        suffix = f".p/{self.width}" if self.is_partial else ""
        return f"tile/{level}/{encode_index(self.index)}{suffix}"

    def __str__(self) -> str:
        return self.path


def parse_path(path: str) -> TileRef:
    """Parse ``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]`` (leading '/' allowed).

    Only the canonical spelling is accepted: no leading zeroes in L or W, 3-digit elements,
    ``x`` on all but the last, no superfluous leading ``x000`` element, W between 1 and 255.
    """
    match = _PATH.fullmatch(path.lstrip("/"))
    if match is None:
        raise MalformedError(f"{path[:120]!r} is not a tlog-tiles path")
    level_s, index_s, width_s = match.groups()
    elements = index_s.split("/")
    if len(elements) > 1 and elements[0] == "x000":
        raise MalformedError(f"{path[:120]!r}: tile index has a leading zero element")
    if len(elements) > 7:
        raise MalformedError(f"{path[:120]!r}: tile index is too large")
    index = int("".join(e.lstrip("x") for e in elements))
    width = int(width_s) if width_s else TILE_WIDTH
    if width_s and width >= TILE_WIDTH:
        raise MalformedError(f"{path[:120]!r}: a partial tile has 1 to 255 entries")
    level = -1 if level_s == "entries" else int(level_s)
    return TileRef(level, index, width)


def partial_width(size: int, level: int) -> int:
    """Width of the partial tile at ``level`` (0 for none) for a tree of ``size`` leaves."""
    return (size >> (TILE_HEIGHT * level)) % TILE_WIDTH


def tiles_for_size(size: int, level: int) -> Iterator[TileRef]:
    """Every tile at ``level`` (-1: entry bundles) of a tree of ``size``: full, then partial."""
    shift = TILE_HEIGHT * max(level, 0)
    count = size >> shift
    for n in range(count // TILE_WIDTH):
        yield TileRef(level, n)
    if count % TILE_WIDTH:
        yield TileRef(level, count // TILE_WIDTH, count % TILE_WIDTH)


# --- entry bundles -----------------------------------------------------------------------------


def check_entry(entry: bytes) -> None:
    if len(entry) > MAX_ENTRY_SIZE:
        raise EntryTooLargeError(
            f"entry is {len(entry)} bytes; tlog-tiles entries are at most {MAX_ENTRY_SIZE}"
        )


LENGTH_PREFIX = tuple(n.to_bytes(2, "big") for n in range(MAX_ENTRY_SIZE + 1))
"""The uint16 big-endian length prefix of every possible entry length, precomputed."""


def encode_entries(entries: Sequence[bytes]) -> list[bytes]:
    """Each entry with its length prefix, ready to be joined into bundles."""
    try:
        return [LENGTH_PREFIX[len(e)] + e for e in entries]
    except IndexError:
        for entry in entries:
            check_entry(entry)
        raise


def encode_bundle(entries: Sequence[bytes]) -> bytes:
    """Big-endian uint16 length-prefixed entries, concatenated."""
    return b"".join(encode_entries(entries))


def decode_bundle(data: bytes, count: int | None = None) -> list[bytes]:
    """Split an entry bundle; ``count`` (if given) is the exact number of entries required."""
    entries: list[bytes] = []
    pos, end = 0, len(data)
    while pos < end:
        if pos + 2 > end:
            raise MalformedError(f"entry bundle is truncated in the length of entry {len(entries)}")
        length = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if pos + length > end:
            raise MalformedError(f"entry bundle is truncated in entry {len(entries)}")
        entries.append(data[pos : pos + length])
        pos += length
        if count is not None and len(entries) > count:
            raise MalformedError(f"entry bundle has more than {count} entries")
    if count is not None and len(entries) != count:
        raise MalformedError(f"entry bundle has {len(entries)} entries, expected {count}")
    return entries


# --- hash tiles with interior nodes ------------------------------------------------------------


def _offsets(width: int) -> tuple[int, ...]:
    offsets, pos = [], 0
    for r in range(TILE_HEIGHT):
        offsets.append(pos)
        pos += (width >> r) * HASH_SIZE
    return tuple(offsets)


_FULL_OFFSETS = _offsets(TILE_WIDTH)


def _sibling_offsets(r0: int, k: int) -> tuple[int, ...]:
    """Byte offsets, in a full tile, of the siblings of node ``k`` at height ``r0`` and of its
    ancestors up to height 7: an inclusion path's share of one tile."""
    return tuple(
        _FULL_OFFSETS[r] + ((k >> (r - r0)) ^ 1) * HASH_SIZE for r in range(r0, TILE_HEIGHT)
    )


_SIBLING_OFFSETS = tuple(
    tuple(_sibling_offsets(r0, k) for k in range(TILE_WIDTH >> r0)) for r0 in range(TILE_HEIGHT)
)


class TileNodes:
    """A hash tile and every complete node inside it: row r holds ``width >> r`` hashes.

    Row 0 is the tile as served; rows 1..7 are the complete subtrees above it, up to the two
    children of the tile's root (which is itself a hash in the tile one level up).
    """

    __slots__ = ("data", "offsets", "width")

    def __init__(self, data: bytes, width: int) -> None:
        if not 1 <= width <= TILE_WIDTH:
            raise MalformedError(f"tile width {width} is outside 1..{TILE_WIDTH}")
        self.width = width
        self.offsets = _FULL_OFFSETS if width == TILE_WIDTH else _offsets(width)
        expected = sum((width >> r) for r in range(TILE_HEIGHT)) * HASH_SIZE
        if len(data) != expected:
            raise MalformedError(f"tile of width {width} with interior is {len(data)} bytes")
        self.data = data

    @classmethod
    def build(cls, hashes: Sequence[bytes]) -> TileNodes:
        """Compute the interior of a tile from its row of hashes."""
        row = list(hashes)
        rows = [b"".join(row)]
        for _ in range(1, TILE_HEIGHT):
            pairs = iter(row)  # zip(pairs, pairs) walks (0, 1), (2, 3), … and drops an odd last
            row = [
                _sha256(b"\x01" + left + right).digest()
                for left, right in zip(pairs, pairs, strict=False)
            ]
            rows.append(b"".join(row))
        return cls(b"".join(rows), len(hashes))

    def node(self, r: int, j: int) -> bytes:
        """The complete node ``j`` at height ``r`` (0..7) inside this tile."""
        start = self.offsets[r] + j * HASH_SIZE
        return self.data[start : start + HASH_SIZE]

    def path(self, r0: int, k: int) -> list[bytes]:
        """Siblings of node ``k`` at height ``r0`` and of its ancestors in this full tile,
        bottom up: the part of an inclusion path inside the tile, by table lookup."""
        data = self.data
        return [data[o : o + HASH_SIZE] for o in _SIBLING_OFFSETS[r0][k]]

    def row(self, width: int | None = None) -> bytes:
        """The tile as tlog-tiles serves it, or its prefix of ``width`` hashes."""
        return self.data[: (self.width if width is None else width) * HASH_SIZE]

    def hashes(self) -> list[bytes]:
        row = self.row()
        return [row[i : i + HASH_SIZE] for i in range(0, len(row), HASH_SIZE)]

    def root(self) -> bytes:
        """MTH of a full tile: the hash it contributes to the tile one level up."""
        if self.width != TILE_WIDTH:
            raise MalformedError("only a full tile has a root in the level above")
        return _sha256(b"\x01" + self.node(7, 0) + self.node(7, 1)).digest()

    def edge(self) -> list[bytes]:
        """Roots of the complete subtrees that make up this tile's hashes, left to right.

        For a partial tile these are the pieces the tree's root is folded from.
        """
        pieces = []
        for r in range(TILE_HEIGHT - 1, -1, -1):
            if self.width >> r & 1:
                pieces.append(self.node(r, (self.width >> r) - 1))
        return pieces
