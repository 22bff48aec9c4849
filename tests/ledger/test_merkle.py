"""RFC 9162 hashing and proofs: public vectors, literal spec values, and properties."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ombud.errors import MalformedError, NotFoundError, ProofError, VerificationError
from ombud.ledger import merkle
from tests.conftest import shared_vectors

# The classic Certificate Transparency test leaves and their tree heads, transcribed from
# transparency-dev/merkle cmd/proofgen/main.go (the RFC 6962 reference data set).
CT_LEAVES = [bytes.fromhex(h) for h in ["", "00", "10", "2021", "3031", "40414243",
             "5051525354555657", "606162636465666768696a6b6c6d6e6f"]]  # fmt: skip
CT_ROOT_7 = "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"
CT_ROOT_8 = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


def flip_bit(proof: list[bytes], data: st.DataObject) -> list[bytes]:
    """The proof with one bit of one node flipped, both drawn by hypothesis."""
    k = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    node = bytearray(proof[k])
    node[bit // 8] ^= 1 << (bit % 8)
    return [*proof[:k], bytes(node), *proof[k + 1 :]]


def leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def test_hashes_follow_rfc9162_section_2_1_1() -> None:
    assert hashlib.sha256(b"").digest() == merkle.EMPTY_ROOT
    assert merkle.leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert merkle.node_hash(b"N123", b"N456").hex() == (
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )
    hashes = [merkle.leaf_hash(x) for x in CT_LEAVES]
    assert merkle.root(hashes[:7]).hex() == CT_ROOT_7
    assert merkle.root(hashes).hex() == CT_ROOT_8
    assert merkle.root([]) == merkle.EMPTY_ROOT


def test_shared_reference_vectors() -> None:
    vectors = shared_vectors("rfc6962-reference/vectors.json")
    for case in vectors["hasher"]:
        if case["kind"] == "leaf":
            assert merkle.leaf_hash(bytes.fromhex(case["input_hex"])).hex() == case["want"]
        elif case["kind"] == "node":
            got = merkle.node_hash(
                bytes.fromhex(case["left_hex"]), bytes.fromhex(case["right_hex"])
            )
            assert got.hex() == case["want"]
    hashes = [merkle.leaf_hash(bytes.fromhex(h)) for h in vectors["leaves_hex"]]
    roots = {int(k): bytes.fromhex(v) for k, v in vectors["roots_by_size_hex"].items()}
    for size, want in roots.items():
        assert merkle.root(hashes[:size]) == want
    for case in vectors["inclusion_1based"]:
        index, size = case["leaf_index"] - 1, case["tree_size"]
        proof = merkle.inclusion_proof(hashes, index, size)
        assert [p.hex() for p in proof] == case["path"]
        merkle.verify_inclusion(hashes[index], index, size, proof, roots[size])
    for case in vectors["consistency"]:
        proof = merkle.consistency_proof(hashes, case["size1"], case["size2"])
        assert [p.hex() for p in proof] == case["proof"]
        merkle.verify_consistency(
            case["size1"], case["size2"], proof, roots[case["size1"]], roots[case["size2"]]
        )


def test_every_proof_of_small_trees_verifies() -> None:
    for n in range(1, 40):
        hashes = leaves(n)
        root = merkle.root(hashes)
        for i in range(n):
            merkle.verify_inclusion(hashes[i], i, n, merkle.inclusion_proof(hashes, i, n), root)
        for m in range(n + 1):
            proof = merkle.consistency_proof(hashes, m, n)
            merkle.verify_consistency(m, n, proof, merkle.root(hashes[:m]), root)


def test_subtree_nodes_decompose_ranges() -> None:
    assert merkle.subtree_nodes(0, 7) == [(2, 0), (1, 2), (0, 6)]
    assert merkle.subtree_nodes(4, 7) == [(1, 2), (0, 6)]
    assert merkle.subtree_nodes(6, 8) == [(1, 3)]
    with pytest.raises(MalformedError):
        merkle.subtree_nodes(5, 5)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), n=st.integers(1, 300))
def test_proof_tampering_is_always_detected(data: st.DataObject, n: int) -> None:
    hashes = leaves(n)
    root = merkle.root(hashes)
    index = data.draw(st.integers(0, n - 1))
    proof = merkle.inclusion_proof(hashes, index, n)
    merkle.verify_inclusion(hashes[index], index, n, proof, root)
    if proof:
        # every single-bit change of any node fails
        bad = flip_bit(proof, data)
        with pytest.raises(ProofError):
            merkle.verify_inclusion(hashes[index], index, n, bad, root)
        # a missing node fails
        with pytest.raises(ProofError):
            merkle.verify_inclusion(hashes[index], index, n, proof[:-1], root)
    # an extra node fails
    with pytest.raises(ProofError):
        merkle.verify_inclusion(hashes[index], index, n, [*proof, root], root)
    # a wrong index or size fails
    if n > 1:
        other = (index + 1) % n
        with pytest.raises(ProofError):
            merkle.verify_inclusion(hashes[index], other, n, proof, root)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), n=st.integers(2, 300))
def test_consistency_tampering_is_always_detected(data: st.DataObject, n: int) -> None:
    hashes = leaves(n)
    m = data.draw(st.integers(1, n - 1))
    proof = merkle.consistency_proof(hashes, m, n)
    r1, r2 = merkle.root(hashes[:m]), merkle.root(hashes)
    merkle.verify_consistency(m, n, proof, r1, r2)
    bad = flip_bit(proof, data)
    with pytest.raises(ProofError):
        merkle.verify_consistency(m, n, bad, r1, r2)
    with pytest.raises(ProofError):
        merkle.verify_consistency(m, n, proof[:-1], r1, r2)
    with pytest.raises(ProofError):
        merkle.verify_consistency(m, n, [*proof, r1], r1, r2)
    with pytest.raises(ProofError):
        merkle.verify_consistency(m, n, proof, r2, r2)


def test_consistency_edge_cases() -> None:
    hashes = leaves(5)
    r5 = merkle.root(hashes)
    merkle.verify_consistency(5, 5, [], r5, r5)
    merkle.verify_consistency(0, 5, [], merkle.EMPTY_ROOT, r5)
    with pytest.raises(ProofError):
        merkle.verify_consistency(5, 5, [r5], r5, r5)
    with pytest.raises(ProofError):
        merkle.verify_consistency(5, 5, [], r5, merkle.EMPTY_ROOT)
    with pytest.raises(ProofError):
        merkle.verify_consistency(3, 5, [], merkle.root(hashes[:3]), r5)
    with pytest.raises(ProofError):
        merkle.verify_consistency(6, 5, [], r5, r5)


def test_bad_arguments_raise_specific_errors() -> None:
    hashes = leaves(4)
    root = merkle.root(hashes)
    with pytest.raises(NotFoundError):
        merkle.inclusion_proof(hashes, 4, 4)
    with pytest.raises(NotFoundError):
        merkle.inclusion_proof(hashes, 0, 5)
    with pytest.raises(MalformedError):
        merkle.consistency_proof(hashes, 3, 2)
    with pytest.raises(ProofError):
        merkle.verify_inclusion(hashes[0], 4, 4, [], root)
    with pytest.raises(ProofError):
        merkle.verify_inclusion(hashes[0], 0, 4, [b"short"], root)
    with pytest.raises(MalformedError):
        merkle.verify_inclusion(b"short", 0, 4, [], root)
    with pytest.raises(MalformedError):
        merkle.verify_inclusion(hashes[0], -1, 4, [], root)
    with pytest.raises(VerificationError):
        merkle.verify_inclusion(hashes[0], 0, 4, [root] * 65, root)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=80))
def test_root_matches_the_recursive_definition(entries: list[bytes]) -> None:
    def mth(d: list[bytes]) -> bytes:  # RFC 9162 §2.1.1, literally
        if len(d) == 1:
            return merkle.leaf_hash(d[0])
        k = 1 << ((len(d) - 1).bit_length() - 1)
        return merkle.node_hash(mth(d[:k]), mth(d[k:]))

    assert merkle.root([merkle.leaf_hash(e) for e in entries]) == mth(entries)


def test_a_frontier_has_the_root_of_every_prefix() -> None:
    leaves = [merkle.leaf_hash(b"%d" % i) for i in range(300)]
    frontier = merkle.Frontier()
    assert frontier.root() == merkle.EMPTY_ROOT
    for n, leaf in enumerate(leaves, 1):
        frontier.append(leaf)
        assert frontier.root() == merkle.root(leaves[:n]), n
