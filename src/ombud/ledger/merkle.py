"""RFC 9162 Merkle tree hashing, and inclusion and consistency proofs.

Threat model: proofs come from an untrusted log or network. Verifiers accept a proof only if it
has exactly the nodes RFC 9162 §2.1.3.2 / §2.1.4.2 prescribe and recomputes the trusted root;
every other input (extra, missing or malformed nodes, out-of-range sizes) raises.

Proof *generation* is split in two: a plan (which tree nodes a proof consists of, RFC 9162
§2.1.3.1 / §2.1.4.1 computed with bit arithmetic as in transparency-dev/merkle) and a resolver
that fetches node hashes from wherever they live (a list of leaves here, stored tiles in
`store_sql`, served tiles in `verifier`). A node is ``(level, index)``: the root of the
complete subtree over leaves ``[index * 2**level, (index + 1) * 2**level)``. The right edge of a
tree whose size is not a power of two has "ephemeral" nodes, which a plan lists as the complete
subtrees to fold (right to left) into that node's hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from ombud.errors import MalformedError, NotFoundError, ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Frontier",
    "NodeID",
    "PlanItem",
    "check_inclusion",
    "consistency_plan",
    "consistency_proof",
    "consistency_subtree",
    "fold",
    "inclusion_plan",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "resolve",
    "root",
    "subtree_nodes",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}) = SHA-256() — the root of the empty tree (RFC 9162 §2.1.1)."""

NodeID = tuple[int, int]
"""``(level, index)`` of a complete subtree: leaves ``[index << level, (index + 1) << level)``."""

PlanItem = tuple[NodeID, ...]
"""One proof element: a single complete node, or complete nodes folded into an ephemeral one."""

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d) (RFC 9162 §2.1.1)."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])) (RFC 9162 §2.1.1)."""
    return _sha256(b"\x01" + left + right).digest()


def fold(hashes: Sequence[bytes]) -> bytes:
    """Combine the roots of consecutive complete subtrees (left to right) into one node hash.

    A range that is not a power of two is, in RFC 9162's recursion, split at the largest power
    of two; for the left-to-right decomposition of ``subtree_nodes`` that is a right-to-left fold.
    """
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = _sha256(b"\x01" + h + acc).digest()
    return acc


def subtree_nodes(begin: int, end: int) -> list[NodeID]:
    """Decompose leaves ``[begin, end)`` into maximal aligned complete subtrees, left to right."""
    if not 0 <= begin < end:
        raise MalformedError(f"empty or negative leaf range [{begin}, {end})")
    nodes: list[NodeID] = []
    while begin < end:
        # The largest aligned subtree starting at `begin` that does not pass `end`.
        level = (begin & -begin).bit_length() - 1 if begin else 64
        while (1 << level) > end - begin:
            level -= 1
        nodes.append((level, begin >> level))
        begin += 1 << level
    return nodes


def _check_hash(value: object, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        raise MalformedError(f"{what} must be {HASH_SIZE} bytes")
    return bytes(value)


def _check_size(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedError(f"{what} must be a non-negative integer, not {value!r}")
    if value >= 1 << 64:
        raise MalformedError(f"{what} {value} does not fit in 64 bits")
    return value


# --- plans -------------------------------------------------------------------------------------


def _path_plan(level: int, index: int, size: int) -> list[PlanItem]:
    """Siblings of node ``(level, index)`` up to the root of a tree of ``size`` leaves.

    Bottom-up, as RFC 9162 §2.1.3.1 orders an inclusion path. Below the point where the path
    to this node and the path to the last leaf fork, right siblings are complete except the one
    at the fork, which may be ephemeral; above it only left siblings exist and are complete.
    """
    last = (size - 1) >> level
    inner = (index ^ last).bit_length()
    plan: list[PlanItem] = []
    for h in range(inner):
        sibling = (index >> h) ^ 1
        lvl = level + h
        if (sibling + 1) << lvl <= size:
            plan.append(((lvl, sibling),))
        else:
            plan.append(tuple(subtree_nodes(sibling << lvl, size)))
    h = inner
    while index >> h:
        if (index >> h) & 1:
            plan.append(((level + h, (index >> h) - 1),))
        h += 1
    return plan


def check_inclusion(index: int, size: int) -> None:
    """Refuse an index and tree size no inclusion proof exists for."""
    _check_size(index, "index")
    _check_size(size, "tree size")
    if index >= size:
        raise NotFoundError(f"index {index} is not in a tree of size {size}")


def consistency_subtree(size1: int, size2: int) -> NodeID | None:
    """The node a consistency proof from ``size1`` to ``size2`` is built around, or None.

    The proof is the inclusion path of the largest complete subtree ending at ``size1`` in the
    tree of ``size2``, preceded by that subtree's own root unless ``size1`` is a power of two
    (the verifier knows it then: it is the old root). It is empty (None here) when ``size1`` is 0
    or equals ``size2``.
    """
    _check_size(size1, "old size")
    _check_size(size2, "new size")
    if size1 > size2:
        raise MalformedError(f"old size {size1} is larger than new size {size2}")
    if size1 == 0 or size1 == size2:
        return None
    level = (size1 & -size1).bit_length() - 1
    return level, (size1 - 1) >> level


def inclusion_plan(index: int, size: int) -> list[PlanItem]:
    """The nodes of the inclusion proof of leaf ``index`` in a tree of ``size`` leaves."""
    check_inclusion(index, size)
    return _path_plan(0, index, size)


def consistency_plan(size1: int, size2: int) -> list[PlanItem]:
    """The nodes of the consistency proof from tree size ``size1`` to ``size2``."""
    subtree = consistency_subtree(size1, size2)
    if subtree is None:
        return []
    level, index = subtree
    plan = _path_plan(level, index, size2)
    if index:
        plan.insert(0, ((level, index),))
    return plan


def resolve(plan: Sequence[PlanItem], node: Callable[[int, int], bytes]) -> list[bytes]:
    """Turn a plan into proof hashes, reading complete nodes with ``node(level, index)``."""
    out: list[bytes] = []
    for item in plan:
        if len(item) == 1:
            out.append(node(*item[0]))
        else:
            out.append(fold([node(lvl, idx) for lvl, idx in item]))
    return out


# --- in-memory trees ---------------------------------------------------------------------------


class _Levels:
    """Every complete node of a tree held in memory, level by level."""

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        level = [_check_hash(h, "leaf hash") for h in leaf_hashes]
        self.levels = [level]
        while len(level) > 1:
            level = [
                _sha256(b"\x01" + level[i] + level[i + 1]).digest()
                for i in range(0, len(level) - 1, 2)
            ]
            self.levels.append(level)

    def node(self, level: int, index: int) -> bytes:
        return self.levels[level][index]


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over ``leaf_hashes`` (already leaf-hashed), RFC 9162 §2.1.1."""
    if not leaf_hashes:
        return EMPTY_ROOT
    levels = _Levels(leaf_hashes)
    return resolve([tuple(subtree_nodes(0, len(leaf_hashes)))], levels.node)[0]


class Frontier:
    """The roots of the complete subtrees of a tree that grows a leaf at a time (largest
    first): the root of everything appended so far, in memory that grows with the tree's
    height, not its size — for a verifier reading a log's entries as a stream."""

    def __init__(self) -> None:
        self._peaks: list[tuple[int, bytes]] = []  # (height, hash)

    def append(self, leaf_hash: bytes) -> None:
        height, node = 0, _check_hash(leaf_hash, "leaf hash")
        while self._peaks and self._peaks[-1][0] == height:
            node = node_hash(self._peaks.pop()[1], node)
            height += 1
        self._peaks.append((height, node))

    def root(self) -> bytes:
        """MTH of the leaves appended so far (RFC 9162 §2.1.1)."""
        return fold([h for _, h in self._peaks]) if self._peaks else EMPTY_ROOT


def _tree(leaf_hashes: Sequence[bytes], size: int) -> _Levels:
    _check_size(size, "tree size")
    if size > len(leaf_hashes):
        raise NotFoundError(f"tree size {size} is larger than the {len(leaf_hashes)} leaves given")
    return _Levels(leaf_hashes[:size])


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]) over in-memory leaf hashes (RFC 9162 §2.1.3.1)."""
    plan = inclusion_plan(index, size)
    return resolve(plan, _tree(leaf_hashes, size).node)


def consistency_proof(leaf_hashes: Sequence[bytes], size1: int, size2: int) -> list[bytes]:
    """PROOF(size1, D[size2]) over in-memory leaf hashes (RFC 9162 §2.1.4.1)."""
    plan = consistency_plan(size1, size2)
    return resolve(plan, _tree(leaf_hashes, size2).node)


# --- verification ------------------------------------------------------------------------------


def _check_proof(proof: Sequence[bytes]) -> list[bytes]:
    if len(proof) > 64:
        raise ProofError(
            f"proof has {len(proof)} nodes; no tree of 2**64 leaves needs more than 64"
        )
    out = []
    for i, p in enumerate(proof):
        if not isinstance(p, bytes | bytearray) or len(p) != HASH_SIZE:
            raise ProofError(f"proof node {i} is not a {HASH_SIZE}-byte hash")
        out.append(bytes(p))
    return out


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Verify that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root``.

    RFC 9162 §2.1.3.2, step by step. Returns None, or raises ``ProofError``.
    """
    leaf = _check_hash(leaf_hash, "leaf hash")
    expected = _check_hash(root, "root hash")
    _check_size(index, "index")
    _check_size(size, "tree size")
    path = _check_proof(proof)
    if index >= size:
        raise ProofError(f"index {index} is not in a tree of size {size}")
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            raise ProofError("inclusion proof has more nodes than the tree has levels")
        if fn & 1 or fn == sn:
            r = _sha256(b"\x01" + p + r).digest()
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = _sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is missing nodes")
    if r != expected:
        raise ProofError(
            f"inclusion proof for index {index} does not lead to the root of size {size}"
        )


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Verify that the tree of ``size2`` with ``root2`` extends the one of ``size1`` with ``root1``.

    RFC 9162 §2.1.4.2. As in transparency-dev/merkle, equal sizes need an empty proof and equal
    roots, and size 0 (whose root is SHA-256 of nothing) is consistent with everything.
    Returns None, or raises ``ProofError``.
    """
    first = _check_hash(root1, "old root hash")
    second = _check_hash(root2, "new root hash")
    _check_size(size1, "old size")
    _check_size(size2, "new size")
    path = _check_proof(proof)
    if size1 > size2:
        raise ProofError(f"old size {size1} is larger than new size {size2}")
    if size1 == size2 or size1 == 0:
        if path:
            raise ProofError(f"consistency proof from {size1} to {size2} must be empty")
        if size1 == 0 and first != EMPTY_ROOT:
            raise ProofError("the root of the empty tree must be SHA-256 of nothing")
        if size1 == size2 and first != second:
            raise ProofError(f"two different roots for the same tree size {size1}")
        return
    if not path:
        raise ProofError(f"consistency proof from {size1} to {size2} is empty")
    if size1 & (size1 - 1) == 0:  # a power of two: the old root is the proof's first node
        path.insert(0, first)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof has more nodes than the tree has levels")
        if fn & 1 or fn == sn:
            fr = _sha256(b"\x01" + c + fr).digest()
            sr = _sha256(b"\x01" + c + sr).digest()
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = _sha256(b"\x01" + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is missing nodes")
    if fr != first:
        raise ProofError(f"consistency proof does not lead to the old root of size {size1}")
    if sr != second:
        raise ProofError(f"consistency proof does not lead to the new root of size {size2}")
