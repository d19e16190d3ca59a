"""The Merkle tree over the entries (RFC 9162 §2.1, as Certificate Transparency uses it).

The leaves are the entries' hashes (32 bytes each) in ``seq`` order.  A leaf's hash is
``SHA-256(0x00 ‖ leaf)`` and a node's ``SHA-256(0x01 ‖ left ‖ right)``; the tree hash
of ``n`` leaves splits them at the largest power of two smaller than ``n``.

Two proofs let a party check the service without trusting it:

* an **inclusion proof** shows one entry is in the tree whose root a signed tree head
  gives (:meth:`MerkleTree.inclusion_proof`, :func:`verify_inclusion`);
* a **consistency proof** shows the tree of an older head is a prefix of the tree of a
  newer one — the history was only appended to, never rewritten
  (:meth:`MerkleTree.consistency_proof`, :func:`verify_consistency`).

:class:`MerkleTree` is incremental: each level keeps the hashes of its complete
subtrees, so an append costs one leaf hash and on average one node hash, the root of
any past size costs O(log n), and a proof O(log² n) at worst.

>>> tree = MerkleTree.from_leaves(bytes([i]) * 32 for i in range(7))
>>> proof = tree.inclusion_proof(3, 7)
>>> verify_inclusion((b"\\x03" * 32).hex(), 3, 7, proof, tree.root())
True
>>> verify_consistency(4, 7, tree.root(4), tree.root(), tree.consistency_proof(4, 7))
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

__all__ = ["MerkleTree", "leaf_hash", "node_hash", "verify_consistency", "verify_inclusion"]

_EMPTY = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    """``SHA-256(0x00 ‖ leaf)``."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 ‖ left ‖ right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n`` ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _as_bytes(leaf: str | bytes) -> bytes:
    if isinstance(leaf, str):
        data = bytes.fromhex(leaf)
        if len(data) != 32 or data.hex() != leaf:
            raise ValueError("a leaf is 64 lowercase hexadecimal characters")
        return data
    if len(leaf) != 32:
        raise ValueError("a leaf is 32 bytes")
    return bytes(leaf)


class MerkleTree:
    """An append-only Merkle tree whose every complete subtree hash is kept.

    ``_levels[k]`` holds, 32 bytes each, the hashes of the complete subtrees of
    ``2**k`` leaves in order; level 0 holds the leaf hashes.
    """

    def __init__(self) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0

    @classmethod
    def from_leaves(cls, leaves: Iterable[str | bytes]) -> MerkleTree:
        """A tree of the given leaves (entry hashes, hex or 32 bytes), in order."""
        tree = cls()
        for leaf in leaves:
            tree.append(leaf)
        return tree

    @property
    def size(self) -> int:
        """How many leaves the tree holds."""
        return self._size

    def append(self, leaf: str | bytes) -> None:
        """Add a leaf (an entry's hash, hex or 32 bytes) at the end."""
        levels = self._levels
        node = leaf_hash(_as_bytes(leaf))
        levels[0] += node
        self._size += 1
        count = self._size
        level = 0
        while count % 2 == 0:
            left = levels[level][-64:-32]
            node = hashlib.sha256(b"\x01" + left + node).digest()
            level += 1
            if level == len(levels):
                levels.append(bytearray())
            levels[level] += node
            count //= 2

    def leaf_hash(self, index: int) -> bytes:
        """The hash of leaf ``index`` (``SHA-256(0x00 ‖ leaf)``)."""
        if not 0 <= index < self._size:
            raise IndexError(f"leaf {index} is not in a tree of {self._size}")
        return bytes(self._levels[0][32 * index : 32 * index + 32])

    def _mth(self, start: int, end: int) -> bytes:
        """The tree hash of leaves ``start`` … ``end - 1`` (RFC 9162 MTH)."""
        n = end - start
        if n == 0:
            return _EMPTY
        if n & (n - 1) == 0 and start % n == 0:
            level = n.bit_length() - 1
            index = start >> level
            return bytes(self._levels[level][32 * index : 32 * index + 32])
        if n == 1:  # pragma: no cover - a single leaf is always a stored subtree
            return self.leaf_hash(start)
        k = _largest_power_of_two_below(n)
        return node_hash(self._mth(start, start + k), self._mth(start + k, end))

    def _check_size(self, size: int) -> int:
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= self._size:
            raise ValueError(f"tree size {size} is not between 0 and {self._size}")
        return size

    def root(self, size: int | None = None) -> str:
        """The root (tree head hash) of the first ``size`` leaves (default: all), hex."""
        size = self._size if size is None else self._check_size(size)
        return self._mth(0, size).hex()

    def inclusion_proof(self, index: int, size: int | None = None) -> list[str]:
        """RFC 9162 PATH(index, D[size]): the audit path of leaf ``index`` in the first ``size`` leaves."""
        size = self._size if size is None else self._check_size(size)
        if not 0 <= index < size:
            raise ValueError(f"leaf {index} is not in a tree of {size}")
        path: list[bytes] = []
        start, end = 0, size
        while end - start > 1:
            k = _largest_power_of_two_below(end - start)
            if index < start + k:
                path.append(self._mth(start + k, end))
                end = start + k
            else:
                path.append(self._mth(start, start + k))
                start += k
        return [node.hex() for node in reversed(path)]

    def consistency_proof(self, first: int, second: int | None = None) -> list[str]:
        """RFC 9162 PROOF(first, D[second]): the tree of ``first`` leaves is a prefix of that of ``second``.

        Empty when ``first`` is 0 or equals ``second``.
        """
        second = self._size if second is None else self._check_size(second)
        if not 0 <= first <= second:
            raise ValueError(f"first size {first} is not between 0 and {second}")
        if first in (0, second):
            return []
        proof: list[bytes] = []
        start, end, m, complete = 0, second, first, True
        while m != end - start:
            k = _largest_power_of_two_below(end - start)
            if m <= k:
                proof.append(self._mth(start + k, end))
                end = start + k
            else:
                proof.append(self._mth(start, start + k))
                start += k
                m -= k
                complete = False
        if not complete:
            proof.append(self._mth(start, end))
        return [node.hex() for node in reversed(proof)]


def _hashes(items: Sequence[str]) -> list[bytes] | None:
    out = []
    for item in items:
        if not isinstance(item, str) or len(item) != 64:
            return None
        try:
            out.append(bytes.fromhex(item))
        except ValueError:
            return None
    return out


def verify_inclusion(leaf: str, index: int, size: int, proof: Sequence[str], root: str) -> bool:
    """RFC 9162 §2.1.3.2: whether ``leaf`` (an entry hash, hex) is leaf ``index`` of the tree with ``root``."""
    path = _hashes(proof)
    hashes = _hashes([leaf, root])
    if path is None or hashes is None or not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf_hash(hashes[0])
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == hashes[1]


def verify_consistency(first: int, second: int, first_root: str, second_root: str, proof: Sequence[str]) -> bool:
    """RFC 9162 §2.1.4.2: whether the tree of ``first`` leaves is a prefix of the tree of ``second``.

    Equal sizes need an empty proof and equal roots; size 0 is consistent with anything.
    """
    path = _hashes(proof)
    roots = _hashes([first_root, second_root])
    if path is None or roots is None or not 0 <= first <= second:
        return False
    if first == 0:
        return not path
    if first == second:
        return not path and roots[0] == roots[1]
    if not path:
        return False
    if first & (first - 1) == 0:
        path = [roots[0], *path]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == roots[0] and sr == roots[1] and sn == 0
