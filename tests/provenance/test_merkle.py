"""The tree core against RFC 9162's definitions, written out naively here (recursion on lists of leaves, as §2.1
states them), for every size 0..64 and every index / old size; and against transparency-dev's published roots."""

from __future__ import annotations

import hashlib

import pytest

from provenance.merkle import (EMPTY_ROOT, ProofError, TreeHashes, leaf_hash, root_of, verify_consistency,
                               verify_inclusion)

# ------------------------------------------------------------------ RFC 9162 §2.1, literally


def sha(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def k_of(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    if not d:
        return sha(b"")
    if len(d) == 1:
        return sha(b"\x00" + d[0])
    k = k_of(len(d))
    return sha(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = k_of(len(d))
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = k_of(n)
    if m <= k:
        return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]


def proof(m: int, d: list[bytes]) -> list[bytes]:
    return subproof(m, d, True)


LEAVES = [bytes([i]) * (i % 5) + b"leaf" + str(i).encode() for i in range(64)]


@pytest.fixture(scope="module")
def tree() -> TreeHashes:
    return TreeHashes(leaf_hash(x) for x in LEAVES)


def test_roots_match_the_rfc_definition_for_every_size(tree: TreeHashes) -> None:
    for n in range(0, 65):
        assert tree.root(n) == mth(LEAVES[:n]), n


def test_inclusion_proofs_match_and_verify_for_every_index(tree: TreeHashes) -> None:
    for n in range(1, 65):
        root = mth(LEAVES[:n])
        for m in range(n):
            p = tree.inclusion_proof(m, n)
            assert p == path(m, LEAVES[:n]), (m, n)
            verify_inclusion(m, n, leaf_hash(LEAVES[m]), p, root)
            with pytest.raises(ProofError):  # another leaf's hash does not verify at this index
                verify_inclusion(m, n, leaf_hash(LEAVES[(m + 1) % 64]), p, root)
            if p:
                bad = list(p)
                bad[-1] = bytes([bad[-1][0] ^ 1]) + bad[-1][1:]
                with pytest.raises(ProofError):
                    verify_inclusion(m, n, leaf_hash(LEAVES[m]), bad, root)
                with pytest.raises(ProofError):  # a truncated path
                    verify_inclusion(m, n, leaf_hash(LEAVES[m]), p[:-1], root)
            with pytest.raises(ProofError):  # an index outside the tree
                verify_inclusion(n, n, leaf_hash(LEAVES[m]), p, root)


def test_consistency_proofs_match_and_verify_for_every_old_size(tree: TreeHashes) -> None:
    for n in range(1, 65):
        root = mth(LEAVES[:n])
        for m in range(1, n + 1):
            old_root = mth(LEAVES[:m])
            p = tree.consistency_proof(m, n)
            assert p == (proof(m, LEAVES[:n]) if m < n else []), (m, n)
            verify_consistency(m, n, old_root, root, p)
            if m < n:
                with pytest.raises(ProofError):  # a forked old tree (one leaf changed) is not a prefix
                    forked = mth(LEAVES[:m - 1] + [b"forged"])
                    verify_consistency(m, n, forked, root, p)
                with pytest.raises(ProofError):
                    verify_consistency(m, n, old_root, mth(LEAVES[:n - 1] + [b"x"]), p)
                bad = list(p)
                bad[0] = bytes(32)
                with pytest.raises(ProofError):
                    verify_consistency(m, n, old_root, root, bad)
        verify_consistency(0, n, EMPTY_ROOT, root, tree.consistency_proof(0, n))
    with pytest.raises(ProofError):
        verify_consistency(5, 3, mth(LEAVES[:5]), mth(LEAVES[:3]), [])
    with pytest.raises(ProofError, match="same size"):
        verify_consistency(4, 4, mth(LEAVES[:4]), mth(LEAVES[1:5]), [])


def test_bulk_build_equals_appending_one_by_one() -> None:
    for n in range(0, 70):
        one = TreeHashes()
        for x in LEAVES[:n] + [b"extra%d" % i for i in range(max(0, n - 64))]:
            one.append(leaf_hash(x))
        bulk = TreeHashes(leaf_hash(x) for x in LEAVES[:n] + [b"extra%d" % i for i in range(max(0, n - 64))])
        assert bulk.levels == one.levels and bulk.size == one.size == n


def test_subtree_store_is_linear() -> None:
    t = TreeHashes(leaf_hash(x) for x in LEAVES[:50])
    assert sum(len(lvl) for lvl in t.levels) // 32 < 2 * 50


# transparency-dev/merkle testonly/constants.go (docs/provenance.md)
VECTOR_LEAVES = [bytes.fromhex(h) for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                            "606162636465666768696a6b6c6d6e6f"]]
VECTOR_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_published_rfc6962_roots() -> None:
    for n, want in enumerate(VECTOR_ROOTS):
        assert root_of(VECTOR_LEAVES[:n]).hex() == want
        assert mth(VECTOR_LEAVES[:n]).hex() == want  # the naive reference agrees with the published vectors too
