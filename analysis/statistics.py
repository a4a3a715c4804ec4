"""Interval estimates and tests used across the analysis (beyond the paper, which reports none).

- :func:`wilson_interval`: Wilson score 95% interval for a proportion (checked against statsmodels'
  ``proportion_confint(method="wilson")`` in the tests);
- :func:`proportion`: a proportion as a tidy dict with its interval.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any


def wilson_interval(k: int, n: int, *, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes of ``n``; ``(nan, nan)`` when ``n == 0``."""
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return (math.nan, math.nan)
    z = NormalDist().inv_cdf(1 - alpha / 2)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def proportion(name: str, k: int, n: int, *, alpha: float = 0.05) -> dict[str, Any]:
    """``{"quantity", "k", "n", "estimate", "ci_low", "ci_high"}``; estimate and interval NaN when ``n == 0``."""
    lo, hi = wilson_interval(k, n, alpha=alpha)
    return {"quantity": name, "k": int(k), "n": int(n), "estimate": k / n if n else math.nan,
            "ci_low": lo, "ci_high": hi}
