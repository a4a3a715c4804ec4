"""Attribution by fingerprint: decoded bits -> the registered key at the smallest Hamming distance, or "none of
these" when the best match is not significantly better than chance.

Test: under the null hypothesis (the image carries none of the K keys), each decoded bit agrees with a given key with
probability 1/2, so the number of agreeing bits with one key is Binomial(L, 1/2). The p-value of the best match is
``P[Binomial(L, 1/2) >= matches]``, Bonferroni-corrected for the K keys looked at (``min(1, K * p)``); the image is
attributed when that is below ``alpha`` (default 0.01), else the answer is ``None`` ("none of these").
Ties at the smallest distance go to the lowest key name (as seed reconstruction's ties go to the lowest generator id).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reconstruction_pipeline.fingerprints.errors import FingerprintError
from reconstruction_pipeline.fingerprints.keys import check_keys

DEFAULT_ALPHA = 0.01


@dataclass(frozen=True)
class BitAttribution:
    attributed: str | None      # the key's name, or None: none of these
    best_key: str               # the key at the smallest Hamming distance (even when not significant)
    matches: int                # bits agreeing with best_key
    length: int
    p_value: float              # Bonferroni-corrected one-sided binomial p-value of the best match
    distances: dict[str, int]   # Hamming distance to every key


def binomial_tail(matches: int, length: int) -> float:
    """P[Binomial(length, 1/2) >= matches]."""
    from scipy.stats import binom

    return float(binom.sf(matches - 1, length, 0.5))


def attribute_bits(decoded: Sequence[int] | Sequence[bool], keys: Mapping[str, Sequence[int]], *,
                   alpha: float = DEFAULT_ALPHA) -> BitAttribution:
    if not 0.0 < alpha < 1.0:
        raise FingerprintError(f"significance level must be in (0, 1), got {alpha}")
    bits = [int(b) for b in decoded]
    if any(b not in (0, 1) for b in bits):
        raise FingerprintError("decoded fingerprint holds values other than 0 and 1")
    check_keys(keys, len(bits))
    dist = {name: sum(a != int(b) for a, b in zip(bits, key)) for name, key in keys.items()}
    best = min(sorted(dist), key=lambda n: dist[n])
    matches = len(bits) - dist[best]
    p = min(1.0, len(keys) * binomial_tail(matches, len(bits)))
    return BitAttribution(best if p < alpha else None, best, matches, len(bits), p, dist)


def min_matches(length: int, n_keys: int, *, alpha: float = DEFAULT_ALPHA) -> int:
    """The fewest agreeing bits that are attributed (for the docs: 64 bits, 4 keys, alpha 0.01 -> ...)."""
    for m in range(length + 1):
        if n_keys * binomial_tail(m, length) < alpha:
            return m
    return length + 1
