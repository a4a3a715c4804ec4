"""Attribution by fingerprint on hand-built bit strings, its binomial test checked against a naive sum."""

from __future__ import annotations

import math

import pytest

from reconstruction_pipeline.fingerprints.attribution import attribute_bits, binomial_tail, min_matches
from reconstruction_pipeline.fingerprints.errors import FingerprintError
from reconstruction_pipeline.fingerprints.keys import key_bits, registered_keys

L = 64


def _naive_tail(m: int, n: int) -> float:
    return sum(math.comb(n, k) for k in range(m, n + 1)) / 2**n


def _flip(bits: tuple[int, ...], idx: range | list[int]) -> list[int]:
    out = list(bits)
    for i in idx:
        out[i] ^= 1
    return out


KEYS = {"a": key_bits("a", L), "b": key_bits("b", L), "c": key_bits("c", L)}


@pytest.mark.parametrize("m, n", [(0, 8), (5, 8), (8, 8), (44, 64), (64, 64), (33, 64), (90, 100)])
def test_binomial_tail_matches_naive_sum(m: int, n: int) -> None:
    assert binomial_tail(m, n) == pytest.approx(_naive_tail(m, n), rel=1e-9, abs=1e-300)


def test_exact_and_noisy_keys_are_attributed() -> None:
    r = attribute_bits(KEYS["b"], KEYS)
    assert (r.attributed, r.best_key, r.matches, r.distances["b"]) == ("b", "b", L, 0)
    noisy = _flip(KEYS["c"], range(0, 12))  # 12 of 64 bits wrong (81% bit accuracy)
    r = attribute_bits(noisy, KEYS)
    assert r.attributed == "c" and r.distances["c"] == 12 and r.matches == 52
    assert r.p_value == pytest.approx(3 * _naive_tail(52, L))


def test_chance_level_bits_are_none_of_these() -> None:
    # a string at distance 32 from every key is exactly chance: nothing is attributed
    unrelated = key_bits("someone-else", L)
    r = attribute_bits(unrelated, KEYS)
    assert r.attributed is None and r.p_value > 0.01
    assert r.best_key in KEYS


def test_threshold_is_the_bonferroni_binomial_level() -> None:
    m = min_matches(L, len(KEYS), alpha=0.01)
    assert 3 * _naive_tail(m, L) < 0.01 <= 3 * _naive_tail(m - 1, L)
    just = _flip(KEYS["a"], range(L - m))          # exactly m bits agree with key a
    below = _flip(KEYS["a"], range(L - m + 1))     # one fewer
    assert attribute_bits(just, {"a": KEYS["a"], "b": KEYS["b"], "c": KEYS["c"]}).attributed == "a"
    r = attribute_bits(below, KEYS)
    assert r.best_key == "a" and r.attributed is None


def test_ties_go_to_the_lowest_name() -> None:
    keys = {"z": (1, 1, 1, 1, 0, 0, 0, 0) * 2, "y": (1, 1, 1, 1, 1, 1, 1, 1) * 2}
    bits = [1, 1, 1, 1, 1, 1, 0, 0] * 2  # distance 4 to both
    r = attribute_bits(bits, keys, alpha=0.999)
    assert r.distances == {"z": 4, "y": 4} and r.best_key == "y"


def test_bad_inputs_are_one_line() -> None:
    with pytest.raises(FingerprintError, match="has 64 bits.*decoded fingerprints have 10"):
        attribute_bits([0] * 10, KEYS)
    with pytest.raises(FingerprintError, match="other than 0 and 1"):
        attribute_bits([2] * L, KEYS)
    with pytest.raises(FingerprintError, match="no fingerprint keys"):
        attribute_bits([0] * L, {})
    with pytest.raises(FingerprintError, match="significance level"):
        attribute_bits([0] * L, KEYS, alpha=1.5)
    with pytest.raises(FingerprintError, match="unknown fingerprint key 'nope'.*key-a"):
        registered_keys(L, ["nope"])


def test_keys_are_reproducible_and_distinct() -> None:
    assert key_bits("a", 300) == key_bits("a", 300) and len(key_bits("a", 300)) == 300
    assert key_bits("a", 300)[:64] == key_bits("a", 64)
    ks = registered_keys(L)
    names = sorted(ks)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert 16 < sum(x != y for x, y in zip(ks[a], ks[b])) < 48  # near L/2 apart, as random strings
