"""Interval estimates and tests used across the analysis (beyond the paper, which reports none).

- :func:`wilson_interval`: Wilson score 95% interval for a proportion (checked against statsmodels'
  ``proportion_confint(method="wilson")`` in the tests);
- :func:`wilson_arrays`: the same, vectorised;
- :func:`proportion`: a proportion as a tidy dict with its interval.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np


def wilson_interval(k: int, n: int, *, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes of ``n``; ``(nan, nan)`` when ``n == 0``."""
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    lo, hi = wilson_arrays(np.array(k), np.array(n), alpha=alpha)
    return (float(lo), float(hi))


def proportion(name: str, k: int, n: int, *, alpha: float = 0.05) -> dict[str, Any]:
    """``{"quantity", "k", "n", "estimate", "ci_low", "ci_high"}``; estimate and interval NaN when ``n == 0``."""
    lo, hi = wilson_interval(k, n, alpha=alpha)
    return {"quantity": name, "k": int(k), "n": int(n), "estimate": k / n if n else math.nan,
            "ci_low": lo, "ci_high": hi}


def wilson_arrays(k: np.ndarray, n: np.ndarray, *, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`wilson_interval` (NaN where ``n == 0``)."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    z = NormalDist().inv_cdf(1 - alpha / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
        lo = np.where(n > 0, np.maximum(0.0, centre - half), np.nan)
        hi = np.where(n > 0, np.minimum(1.0, centre + half), np.nan)
    return lo, hi
