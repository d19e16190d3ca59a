"""The Merkle tree against a slow, obviously-correct transcription of RFC 9162 §2.1."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deconflict.ledger import MerkleTree, verify_consistency, verify_inclusion


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def ref_mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) exactly as RFC 9162 §2.1.1 writes it."""
    n = len(leaves)
    if n == 0:
        return _h(b"")
    if n == 1:
        return _h(b"\x00" + leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return _h(b"\x01" + ref_mth(leaves[:k]) + ref_mth(leaves[k:]))


def ref_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1."""
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*ref_path(m, leaves[:k]), ref_mth(leaves[k:])]
    return [*ref_path(m - k, leaves[k:]), ref_mth(leaves[:k])]


def ref_subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of RFC 9162 §2.1.4.1."""
    n = len(leaves)
    if m == n:
        return [] if b else [ref_mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*ref_subproof(m, leaves[:k], b), ref_mth(leaves[k:])]
    return [*ref_subproof(m - k, leaves[k:], False), ref_mth(leaves[:k])]


def _leaves(n: int) -> list[bytes]:
    return [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(n)]


# RFC 6962 test vectors (certificate-transparency's merkle_tree tests): roots of the first n of these leaves.
_VECTOR_LEAVES = [
    bytes.fromhex(x)
    for x in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
]
_VECTOR_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


@pytest.mark.parametrize("n", range(1, 9))
def test_reference_matches_rfc6962_vectors(n: int) -> None:
    assert ref_mth(_VECTOR_LEAVES[:n]).hex() == _VECTOR_ROOTS[n - 1]


def test_empty_tree_root_is_hash_of_nothing() -> None:
    assert MerkleTree().root() == hashlib.sha256(b"").hexdigest()


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=300))
def test_roots_and_inclusion_proofs_match_reference(n: int) -> None:
    leaves = _leaves(n)
    tree = MerkleTree.from_leaves(leaves)
    assert tree.size == n
    for size in {1, n // 2 or 1, n - 1 or 1, n}:
        assert tree.root(size) == ref_mth(leaves[:size]).hex()
    root = tree.root()
    for m in range(n):
        proof = tree.inclusion_proof(m, n)
        assert proof == [p.hex() for p in ref_path(m, leaves)]
        assert verify_inclusion(leaves[m].hex(), m, n, proof, root)
        assert not verify_inclusion(leaves[(m + 1) % n].hex(), m, n, proof, root) or (n == 1 and m == 0)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=300))
def test_consistency_proofs_match_reference(n: int) -> None:
    leaves = _leaves(n)
    tree = MerkleTree.from_leaves(leaves)
    roots = [tree.root(m) for m in range(n + 1)]
    for m in range(1, n + 1):
        proof = tree.consistency_proof(m, n)
        assert proof == [p.hex() for p in ref_subproof(m, leaves, True)]
        assert verify_consistency(m, n, roots[m], roots[n], proof)
        if m < n:
            assert not verify_consistency(m, n, roots[m - 1] if m > 1 else roots[n], roots[n], proof)


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=2, max_value=120), st.data())
def test_every_pair_of_sizes_and_every_forged_proof(n: int, data: st.DataObject) -> None:
    leaves = _leaves(n)
    tree = MerkleTree.from_leaves(leaves)
    second = data.draw(st.integers(min_value=1, max_value=n))
    first = data.draw(st.integers(min_value=1, max_value=second))
    proof = tree.consistency_proof(first, second)
    assert proof == [p.hex() for p in ref_subproof(first, leaves[:second], True)]
    assert verify_consistency(first, second, tree.root(first), tree.root(second), proof)
    index = data.draw(st.integers(min_value=0, max_value=second - 1))
    path = tree.inclusion_proof(index, second)
    assert path == [p.hex() for p in ref_path(index, leaves[:second])]
    assert verify_inclusion(leaves[index].hex(), index, second, path, tree.root(second))
    # Any one changed hash, a dropped or an extra hash breaks either proof.
    if path:
        k = data.draw(st.integers(min_value=0, max_value=len(path) - 1))
        forged = [*path[:k], "00" * 32, *path[k + 1 :]]
        assert not verify_inclusion(leaves[index].hex(), index, second, forged, tree.root(second))
        assert not verify_inclusion(leaves[index].hex(), index, second, path[:-1], tree.root(second))
    assert not verify_inclusion(leaves[index].hex(), index, second, [*path, "00" * 32], tree.root(second))
    if proof:
        k = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        forged = [*proof[:k], "11" * 32, *proof[k + 1 :]]
        assert not verify_consistency(first, second, tree.root(first), tree.root(second), forged)
    if first < second:
        other = MerkleTree.from_leaves([*leaves[: first - 1], b"\xff" * 32, *leaves[first:second]])
        assert not verify_consistency(first, second, other.root(first), tree.root(second), proof)


def test_past_roots_stay_fixed_as_the_tree_grows() -> None:
    tree = MerkleTree()
    seen = []
    for i, leaf in enumerate(_leaves(70)):
        tree.append(leaf.hex())
        seen.append(tree.root())
        assert tree.root(i + 1) == seen[i]
    assert [tree.root(i + 1) for i in range(70)] == seen


def test_bad_arguments_are_refused() -> None:
    tree = MerkleTree.from_leaves(_leaves(5))
    with pytest.raises(ValueError):
        tree.append("AB" * 32)  # upper case is not the canonical hex
    with pytest.raises(ValueError):
        tree.append(b"short")
    with pytest.raises(ValueError):
        tree.root(6)
    with pytest.raises(ValueError):
        tree.inclusion_proof(5, 5)
    with pytest.raises(ValueError):
        tree.consistency_proof(4, 6)
    assert tree.consistency_proof(5, 5) == []
    assert verify_consistency(5, 5, tree.root(), tree.root(), [])
    assert not verify_consistency(5, 5, tree.root(4), tree.root(), [])
    assert not verify_consistency(3, 5, tree.root(3), tree.root(), [])
    assert not verify_inclusion("zz", 0, 5, [], tree.root())
    assert not verify_inclusion(_leaves(1)[0].hex(), 5, 5, [], tree.root())
