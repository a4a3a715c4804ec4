"""How many more participants would bring every target to ``k`` votes?

Two designs, both from the current vote counts of *every* bundle target (never-voted ones included):

- *random assignment* (the paper's design: each round shows a uniformly random target): with V more votes each
  target receives Binomial(V, 1/T) ~ Poisson(V/T) more; the chance that every target reaches ``k`` is taken as
  the product over targets (Poisson approximation, independence across targets). We report the fewest extra
  votes for which that chance reaches 50% and 95%, and the fewest for which the expected number of targets still
  short of ``k`` drops below one.
- *balanced assignment* (serve the least-voted target next): exactly sum(max(0, k - votes)) more votes.

Votes are turned into participants with the observed mean number of votes per kept participant, and into
recruits with the observed keep rate (kept / total) of the placebo filter.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import poisson


def _extra_votes_needed(counts: np.ndarray, predicate: Any) -> int:
    """The fewest extra random votes V with ``predicate(V)`` true (monotone), by doubling then bisection."""
    if predicate(0):
        return 0
    lo, hi = 0, max(1, counts.size)  # invariant: predicate(lo) is false, predicate(hi) is true
    while not predicate(hi):
        lo, hi = hi, hi * 2
        if hi > 10 ** 12:
            raise ValueError("coverage target unreachable")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if predicate(mid):
            hi = mid
        else:
            lo = mid
    return hi


def coverage_projection(counts: np.ndarray, *, k: int, votes_per_participant: float | None,
                        keep_rate: float | None) -> dict[str, Any]:
    """``counts``: votes of every target (zeros included). Returns votes, participants and recruits needed."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    counts = np.asarray(counts, dtype=np.int64)
    t = counts.size
    short = np.maximum(0, k - counts)
    need = short[short > 0]

    def p_all(v: int) -> float:
        if need.size == 0:
            return 1.0
        mu = v / t
        return float(np.exp(np.sum(poisson.logsf(need - 1, mu))))

    def expected_short(v: int) -> float:
        if need.size == 0:
            return 0.0
        return float(np.sum(poisson.cdf(need - 1, v / t)))

    designs: dict[str, int] = {"balanced": int(short.sum())}
    if t:
        designs["random_p50"] = _extra_votes_needed(counts, lambda v: p_all(v) >= 0.5)
        designs["random_p95"] = _extra_votes_needed(counts, lambda v: p_all(v) >= 0.95)
        designs["random_expected_short_below_1"] = _extra_votes_needed(counts, lambda v: expected_short(v) < 1.0)
    out: dict[str, Any] = {"k": int(k), "targets": int(t), "targets_below_k": int((short > 0).sum()),
                           "votes_per_participant": votes_per_participant, "keep_rate": keep_rate, "designs": []}
    for name, votes in designs.items():
        participants = (math.ceil(votes / votes_per_participant)
                        if votes_per_participant and votes_per_participant > 0 else None)
        recruits = (math.ceil(participants / keep_rate) if participants is not None and keep_rate else None)
        out["designs"].append({"design": name, "extra_votes": int(votes), "extra_participants": participants,
                               "extra_recruits": recruits})
    return out
