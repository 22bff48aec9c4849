"""C2SP tlog-tiles paths, partial tiles, entry bundles and tiles with interior nodes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ombud.errors import EntryTooLargeError, MalformedError
from ombud.ledger import merkle
from ombud.ledger.tiles import (
    TileNodes,
    TileRef,
    decode_bundle,
    encode_bundle,
    encode_index,
    parse_path,
    partial_width,
    tiles_for_size,
)


def test_index_encoding_from_the_spec() -> None:
    assert encode_index(1234067) == "x001/x234/067"
    assert encode_index(0) == "000"
    assert encode_index(1000) == "x001/000"
    assert TileRef(0, 1234067).path == "tile/0/x001/x234/067"
    assert TileRef.entries(5, 17).path == "tile/entries/005.p/17"


def test_partial_tiles_of_a_tree_of_70000_from_the_spec() -> None:
    # tlog-tiles §"Partial Tiles": 273 full level-0 tiles, a partial one of width 112, one full
    # level-1 tile, a partial level-1 tile of width 17 and a partial level-2 tile of width 1.
    level0 = list(tiles_for_size(70000, 0))
    assert len(level0) == 274 and level0[-1] == TileRef(0, 273, 112)
    assert list(tiles_for_size(70000, 1)) == [TileRef(1, 0), TileRef(1, 1, 17)]
    assert list(tiles_for_size(70000, 2)) == [TileRef(2, 0, 1)]
    assert partial_width(256, 0) == 0 and list(tiles_for_size(256, 1)) == [TileRef(1, 0, 1)]


@given(level=st.integers(-1, 63), index=st.integers(0, (1 << 56) - 1), width=st.integers(1, 256))
def test_parse_of_path_is_identity(level: int, index: int, width: int) -> None:
    ref = TileRef(level, index, width)
    assert parse_path(ref.path) == ref
    assert parse_path("/" + ref.path) == ref


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/1",
        "tile/0/0001",
        "tile/00/001",
        "tile/0/x000/001",
        "tile/0/x1/001",
        "tile/0/001/002",
        "tile/0/001.p/0",
        "tile/0/001.p/256",
        "tile/0/001.p/07",
        "tile/64/001",
        "tile/entries/001.p/",
        "tile/0/001/",
        "tile/../001",
        "checkpoint",
    ],
)
def test_non_canonical_paths_are_refused(path: str) -> None:
    with pytest.raises(MalformedError):
        parse_path(path)


@given(st.lists(st.binary(max_size=300), max_size=40))
def test_bundles_round_trip(entries: list[bytes]) -> None:
    assert decode_bundle(encode_bundle(entries), len(entries)) == entries


def test_bad_bundles_are_refused() -> None:
    bundle = encode_bundle([b"abc", b"de"])
    with pytest.raises(MalformedError, match="truncated"):
        decode_bundle(bundle[:-1])
    with pytest.raises(MalformedError, match="truncated"):
        decode_bundle(bundle + b"\x00")
    with pytest.raises(MalformedError, match="expected 3"):
        decode_bundle(bundle, 3)
    with pytest.raises(MalformedError, match="more than 1"):
        decode_bundle(bundle, 1)
    with pytest.raises(EntryTooLargeError):
        encode_bundle([b"x" * 65536])
    assert decode_bundle(encode_bundle([b"x" * 65535])) == [b"x" * 65535]


@pytest.mark.parametrize("width", [1, 2, 3, 100, 255, 256])
def test_tile_nodes_hold_every_complete_subtree(width: int) -> None:
    hashes = [merkle.leaf_hash(bytes([i])) for i in range(width)]
    tile = TileNodes.build(hashes)
    assert tile.row() == b"".join(hashes)
    for r in range(8):
        for j in range(width >> r):
            assert tile.node(r, j) == merkle.root(hashes[j << r : (j + 1) << r])
    assert merkle.fold(tile.edge()) == merkle.root(hashes) if width < 256 else True
    if width == 256:
        assert tile.root() == merkle.root(hashes)
    with pytest.raises(MalformedError):
        TileNodes(tile.data[:-1], width)


def test_in_tile_paths_are_the_siblings_level_by_level() -> None:
    tile = TileNodes.build([merkle.leaf_hash(bytes([i])) for i in range(256)])
    for r0 in range(8):
        for k in range(256 >> r0):
            expected = [tile.node(r, (k >> (r - r0)) ^ 1) for r in range(r0, 8)]
            assert tile.path(r0, k) == expected
