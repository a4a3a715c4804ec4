"""Response times by correctness (votes of kept participants, non-placebo rounds).

Two tests, because answers are clustered within participants: a Mann--Whitney U test over all votes (treats votes
as independent, which they are not) and a Wilcoxon signed-rank test over participants of (median time on correct
answers - median time on incorrect answers), using participants who have both kinds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats


def response_times(votes: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``(table, tests)``: per correctness ``outcome, n, median_ms, q25_ms, q75_ms, mean_ms`` and the tests."""
    rows = []
    for outcome, flag in (("correct", True), ("incorrect", False)):
        ms = votes.loc[votes["correct"] == flag, "response_ms"].to_numpy(dtype=float)
        q25, med, q75 = (np.quantile(ms, [0.25, 0.5, 0.75]) if ms.size else (np.nan, np.nan, np.nan))
        rows.append({"outcome": outcome, "n": int(ms.size), "median_ms": float(med), "q25_ms": float(q25),
                     "q75_ms": float(q75), "mean_ms": float(ms.mean()) if ms.size else np.nan})
    table = pd.DataFrame(rows)
    right = votes.loc[votes["correct"], "response_ms"].to_numpy(dtype=float)
    wrong = votes.loc[~votes["correct"], "response_ms"].to_numpy(dtype=float)
    tests: dict[str, Any] = {"mann_whitney_u": None, "mann_whitney_p": None, "participants_paired": 0,
                             "median_paired_difference_ms": None, "wilcoxon_statistic": None, "wilcoxon_p": None}
    if right.size and wrong.size:
        mw = stats.mannwhitneyu(right, wrong, alternative="two-sided")
        tests["mann_whitney_u"], tests["mann_whitney_p"] = float(mw.statistic), float(mw.pvalue)
    med = votes.groupby(["participant_code", "correct"])["response_ms"].median().unstack("correct")
    if True in med.columns and False in med.columns:
        diff = (med[True] - med[False]).dropna().to_numpy(dtype=float)
        tests["participants_paired"] = int(diff.size)
        if diff.size:
            tests["median_paired_difference_ms"] = float(np.median(diff))
        if diff.size >= 2 and np.any(diff != 0):
            w = stats.wilcoxon(diff)
            tests["wilcoxon_statistic"], tests["wilcoxon_p"] = float(w.statistic), float(w.pvalue)
    return table, tests
