"""Humans against the algorithm on the same images (paper Fig. 10 and beyond).

The human answer for a target is the majority vote of kept participants (contract tie rule). Only targets with at
least ``min_votes`` votes enter. Policies:

- ``label_agreement``: share of those targets where the majority-vote generator equals the algorithm's generator;
  ``None`` (not 0) when no target has ``min_votes`` votes.
- ``agreement_matrix``: counts of (human correct?, algorithm correct?) on the same targets; all zero when none.
- McNemar (exact binomial on the discordant cells, statsmodels) compares human-majority and algorithm accuracy on
  the same targets, with the discordant counts beside it; with no discordant pair statsmodels gives p = 1; with no
  targets at all the test is ``None``.
- Cohen's kappa between the majority-vote and the algorithm's labels over the generator ids; ``None`` when it is
  undefined (no targets, or both raters always give one and the same label: expected agreement 1).
- Soft agreement (as LPIPS' 2AFC score): for each target the share of its voters who chose the algorithm's
  generator, averaged over targets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

AGREEMENT_TABLE_COLUMNS: tuple[str, ...] = (
    "target_id", "true_generator", "algo_generator", "majority_generator", "n_votes", "majority_count", "tie",
    "votes_for_algo", "votes_correct", "human_correct", "algo_correct", "labels_agree", "soft_agreement",
)


def agreement_table(majority: pd.DataFrame, targets: pd.DataFrame, *, min_votes: int = 1) -> pd.DataFrame:
    """One row per target with ``n_votes >= min_votes``: truth, algorithm, majority vote and their agreement."""
    if min_votes < 1:
        raise ValueError(f"min_votes must be >= 1, got {min_votes}")
    m = majority[majority["n_votes"] >= min_votes]
    t = m.merge(targets.loc[:, ["target_id", "true_generator", "algo_generator", "algo_correct"]],
                on="target_id", how="left", validate="one_to_one")
    if t["true_generator"].isna().any():
        missing = t.loc[t["true_generator"].isna(), "target_id"].iloc[0]
        raise ValueError(f"target {missing!r} has votes but is not among the targets")
    vote_cols = {c[len("votes_"):]: c for c in t.columns if c.startswith("votes_")}

    def votes_for(col: str) -> np.ndarray:
        out = np.zeros(len(t), dtype=np.int64)
        for g, c in vote_cols.items():
            out += np.where(t[col].to_numpy() == g, t[c].to_numpy(), 0)
        return out

    t["votes_for_algo"] = votes_for("algo_generator")
    t["votes_correct"] = votes_for("true_generator")
    t["human_correct"] = t["majority_generator"] == t["true_generator"]
    t["algo_correct"] = t["algo_correct"].astype(bool)
    t["labels_agree"] = t["majority_generator"] == t["algo_generator"]
    with np.errstate(invalid="ignore", divide="ignore"):
        t["soft_agreement"] = t["votes_for_algo"] / t["n_votes"]
    return t.loc[:, list(AGREEMENT_TABLE_COLUMNS)].reset_index(drop=True)


def agreement_matrix(table: pd.DataFrame) -> dict[str, int]:
    """The contract's four cells (human = majority vote correctness)."""
    h = table["human_correct"].to_numpy(dtype=bool)
    a = table["algo_correct"].to_numpy(dtype=bool)
    return {
        "human_correct_algo_correct": int((h & a).sum()),
        "human_correct_algo_incorrect": int((h & ~a).sum()),
        "human_incorrect_algo_correct": int((~h & a).sum()),
        "human_incorrect_algo_incorrect": int((~h & ~a).sum()),
    }


def label_agreement(table: pd.DataFrame) -> float | None:
    return float(table["labels_agree"].mean()) if len(table) else None


def soft_agreement(table: pd.DataFrame) -> float | None:
    return float(table["soft_agreement"].mean()) if len(table) else None


def mcnemar_exact(matrix: dict[str, int]) -> dict[str, Any]:
    """Exact McNemar test (statsmodels) of human-majority vs algorithm correctness on the same targets."""
    b = matrix["human_correct_algo_incorrect"]
    c = matrix["human_incorrect_algo_correct"]
    n = sum(matrix.values())
    if n == 0:
        return {"n": 0, "human_only_correct": 0, "algo_only_correct": 0, "statistic": None, "p_value": None}
    from statsmodels.stats.contingency_tables import mcnemar  # slow import (~0.5 s): only when asked

    table = [[matrix["human_correct_algo_correct"], b], [c, matrix["human_incorrect_algo_incorrect"]]]
    res = mcnemar(table, exact=True)
    return {"n": int(n), "human_only_correct": int(b), "algo_only_correct": int(c),
            "statistic": float(res.statistic), "p_value": float(res.pvalue)}


def cohen_kappa(a: Sequence[str] | pd.Series, b: Sequence[str] | pd.Series) -> float | None:
    """Cohen's kappa of two labelings of the same items; ``None`` where undefined."""
    x = np.asarray(a, dtype=object)
    y = np.asarray(b, dtype=object)
    if x.shape != y.shape:
        raise ValueError(f"kappa needs two labelings of the same items, got {x.shape} and {y.shape}")
    if x.size == 0:
        return None
    labels = sorted(set(x.tolist()) | set(y.tolist()))
    po = float(np.mean(x == y))
    pe = float(sum(np.mean(x == g) * np.mean(y == g) for g in labels))
    if pe >= 1.0:
        return None
    return (po - pe) / (1 - pe)
