"""RFC 9162 §2.1 Merkle tree hashing, inclusion and consistency proofs, and their verification (standard library).

Leaf hash ``SHA-256(0x00 ‖ leaf)``, node hash ``SHA-256(0x01 ‖ left ‖ right)``; a tree of n > 1 leaves splits at the
largest power of two smaller than n; the empty tree's hash is ``SHA-256("")``. Proofs are the RFC's audit paths
(lists of 32-byte node hashes in the RFC's order); the verifiers are the RFC's algorithms (§2.1.3.2, §2.1.4.2).

:class:`TreeHashes` keeps the hash of every complete, aligned power-of-two subtree (2n hashes in all, so the
storage is O(n)); any subtree hash an RFC proof needs is then O(log n) node hashes away, a proof O(log² n).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof does not verify; the message says which check failed."""


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class TreeHashes:
    """The Merkle tree over a growing list of leaf hashes.

    ``levels[k]`` holds, concatenated, the hashes of the complete subtrees of 2**k leaves that start at a multiple of
    2**k (level 0: the leaf hashes). Appending a leaf adds at most log2(n) node hashes.
    """

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        """Built level by level (one pass per level, the same hashes as appending one leaf at a time)."""
        hashes = list(leaf_hashes)
        level = bytearray(b"".join(hashes))
        if len(level) != HASH_SIZE * len(hashes):
            raise ValueError(f"every leaf hash is {HASH_SIZE} bytes")
        self.levels: list[bytearray] = [level]
        self.size = len(hashes)
        n = self.size
        while n >= 2:
            sha = hashlib.sha256
            level = bytearray(b"".join(sha(b"\x01" + level[2 * HASH_SIZE * i:2 * HASH_SIZE * (i + 1)]).digest()
                                       for i in range(n // 2)))
            self.levels.append(level)
            n //= 2

    def append(self, h: bytes) -> None:
        if len(h) != HASH_SIZE:
            raise ValueError(f"a leaf hash is {HASH_SIZE} bytes, got {len(h)}")
        self.levels[0] += h
        self.size += 1
        k, n = 0, self.size
        while n % 2 == 0:  # the new leaf completes a subtree of 2**(k+1) leaves
            lvl = self.levels[k]
            parent = node_hash(bytes(lvl[-2 * HASH_SIZE:-HASH_SIZE]), bytes(lvl[-HASH_SIZE:]))
            k += 1
            n //= 2
            if k == len(self.levels):
                self.levels.append(bytearray())
            self.levels[k] += parent

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        for h in leaf_hashes:
            self.append(h)

    def leaf(self, index: int) -> bytes:
        if not 0 <= index < self.size:
            raise IndexError(f"leaf {index} is outside a tree of {self.size} leaves")
        return bytes(self.levels[0][index * HASH_SIZE:(index + 1) * HASH_SIZE])

    def subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for the subtrees RFC 9162's recursion visits (``start`` a multiple of the largest power
        of two not above ``end - start``)."""
        n = end - start
        if n <= 0 or end > self.size:
            raise ValueError(f"subtree [{start}, {end}) is not within a tree of {self.size} leaves")
        if n & (n - 1) == 0 and start % n == 0:
            k = n.bit_length() - 1
            i = start >> k
            return bytes(self.levels[k][i * HASH_SIZE:(i + 1) * HASH_SIZE])
        k = split_point(n)
        return node_hash(self.subtree(start, start + k), self.subtree(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ValueError(f"no tree of size {size}: the log has {self.size} leaves")
        return EMPTY_ROOT if size == 0 else self.subtree(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 §2.1.3.1 PATH(index, D[0:size])."""
        size = self.size if size is None else size
        if not 0 <= index < size <= self.size:
            raise ValueError(f"no leaf {index} in a tree of size {size} (the log has {self.size} leaves)")
        path: list[bytes] = []
        start, end, m = 0, size, index
        while end - start > 1:  # walk down from the root, collecting siblings; the RFC lists them bottom-up
            k = split_point(end - start)
            if m < k:
                path.append(self.subtree(start + k, end))
                end = start + k
            else:
                path.append(self.subtree(start, start + k))
                start, m = start + k, m - k
        path.reverse()
        return path

    def consistency_proof(self, old_size: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 §2.1.4.1 PROOF(old_size, D[0:size]); empty when old_size is 0 or equals size."""
        size = self.size if size is None else size
        if not 0 <= old_size <= size <= self.size:
            raise ValueError(f"no consistency proof from size {old_size} to {size} (the log has {self.size} leaves)")
        if old_size == 0 or old_size == size:
            return []
        path: list[bytes] = []
        start, end, m, complete = 0, size, old_size, True
        while True:  # SUBPROOF(m, D[start:end], complete), unrolled; entries collected top-down, reversed at the end
            n = end - start
            if m == n:
                if not complete:
                    path.append(self.subtree(start, end))
                break
            k = split_point(n)
            if m <= k:
                path.append(self.subtree(start + k, end))
                end = start + k
            else:
                path.append(self.subtree(start, start + k))
                start, m, complete = start + k, m - k, False
        path.reverse()
        return path


def root_of(leaves: Iterable[bytes]) -> bytes:
    """The RFC 9162 root of raw leaves (not their hashes)."""
    return TreeHashes(leaf_hash(x) for x in leaves).root()


def _check_path(path: Sequence[bytes]) -> None:
    for h in path:
        if len(h) != HASH_SIZE:
            raise ProofError(f"proof holds a hash of {len(h)} bytes; every hash is {HASH_SIZE} bytes")


def verify_inclusion(index: int, size: int, leaf_h: bytes, path: Sequence[bytes], root: bytes) -> None:
    """RFC 9162 §2.1.3.2; raises :class:`ProofError` unless ``leaf_h`` is leaf ``index`` of the tree ``root``."""
    _check_path(path)
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not below the tree size {size}")
    fn, sn, r = index, size - 1, leaf_h
    for p in path:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the tree is deep")
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
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the tree is deep")
    if r != root:
        raise ProofError("inclusion proof does not lead to the tree's root")


def verify_consistency(old_size: int, size: int, old_root: bytes, root: bytes, path: Sequence[bytes]) -> None:
    """RFC 9162 §2.1.4.2; raises :class:`ProofError` unless tree ``old_root`` is a prefix of tree ``root``."""
    _check_path(path)
    if not 0 <= old_size <= size:
        raise ProofError(f"old size {old_size} is larger than new size {size}: a log only grows")
    if old_size == size:
        if path:
            raise ProofError("a consistency proof between equal sizes must be empty")
        if old_root != root:
            raise ProofError(f"two different roots for the same size {size}")
        return
    if old_size == 0:
        if path:
            raise ProofError("a consistency proof from the empty tree must be empty")
        return
    if not path:
        raise ProofError("empty consistency proof between different sizes")
    seq = list(path)
    if old_size & (old_size - 1) == 0:
        seq.insert(0, old_root)
    fn, sn = old_size - 1, size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = seq[0]
    for c in seq[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the tree is deep")
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
    if sn != 0:
        raise ProofError("consistency proof is shorter than the tree is deep")
    if fr != old_root:
        raise ProofError("consistency proof does not lead to the old root")
    if sr != root:
        raise ProofError("consistency proof does not lead to the new root")
