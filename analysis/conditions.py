"""Conditions (docs/contracts.md, conditions addendum): the contract's ``by_condition`` and the robustness comparison of people
and the algorithm under the same perturbations (paper Table I, for people).

Pure functions over the tidy tables of :mod:`analysis.load` (``targets`` and ``votes`` carry a ``condition``
column; ``targets`` also ``source_target``). A version-1 bundle is one condition, ``clean``.

``by_condition`` (per condition, keys exactly as the contract): ``targets``, ``algorithm_accuracy``,
``votes_total``, ``images_voted``, ``accuracy_mean``, ``accuracy_std``, ``images_with_min_votes``,
``agreement_matrix``, ``label_agreement``. A participant's accuracy on a condition is over their votes on that
condition's targets; the mean and sample sd are over kept participants with at least one such vote.

Robustness (:func:`robustness_table`), per condition:

- algorithm accuracy over the condition's targets with a Wilson 95% interval;
- human accuracy = ``accuracy_mean`` of ``by_condition``, with a participant-clustered bootstrap interval
  (resample those participants with replacement, each with all of their votes on the condition; percentile);
- agreement: ``label_agreement`` (majority vote vs the algorithm, targets with ``min_votes`` votes) and the pooled
  share of votes for the algorithm's generator;
- the paired test "does this condition hurt people more than the algorithm?" (:func:`paired_drop_test`): for every
  source target whose clean version and whose version under the condition both have at least one vote,
  ``D = (h_clean - h_cond) - (a_clean - a_cond)``, where ``h`` is the share of the target's votes that are correct
  and ``a`` is 1 if the algorithm attributes it correctly, else 0. ``D > 0``: the condition costs people more than
  the algorithm. Wilcoxon signed-rank test of ``D`` (scipy; zero differences dropped, as Wilcoxon's original
  method; exact null distribution for small samples without ties, normal approximation otherwise), two-sided
  ``p_value`` and one-sided ``p_value_greater`` (alternative: D > 0). Assumptions: the source targets are
  independent pairs and the distribution of D is symmetric about its median under the null. Participants vote on
  many sources, so their votes are not independent across pairs; the study shows every participant each condition
  equally often and never two conditions of one source, which balances a participant's skill across the two sides
  of D, but the p-values do not model that clustering (read them as approximate). Needs a ``clean`` condition.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis import agreement as agr
from analysis.statistics import wilson_interval
from contracts.conditions import CLEAN
ROBUSTNESS_COLUMNS: tuple[str, ...] = (
    "condition", "targets", "algorithm_correct", "algorithm_accuracy", "algorithm_ci_low", "algorithm_ci_high",
    "participants", "human_accuracy", "human_ci_low", "human_ci_high", "votes", "vote_accuracy",
    "vote_agreement", "images_with_min_votes", "label_agreement", "pairs", "mean_difference",
    "wilcoxon_statistic", "p_value", "p_value_greater",
)


def conditions_in_order(targets: pd.DataFrame, declared: Sequence[str] = ()) -> list[str]:
    """The manifest's conditions in build order, then any other condition found in ``targets``."""
    found = list(dict.fromkeys(targets["condition"]))
    return list(dict.fromkeys([*declared, *found]))


def participant_condition_accuracy(votes: pd.DataFrame, condition: str) -> pd.Series:
    """Per kept participant with at least one vote on ``condition``: their accuracy on that condition's targets."""
    v = votes[votes["condition"] == condition]
    return v.groupby("participant_code", sort=True)["correct"].mean().astype(float)


def by_condition(votes: pd.DataFrame, targets: pd.DataFrame, per_image: pd.DataFrame, *, min_votes: int,
                 conditions: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The contract's ``by_condition``. ``votes``: valid votes (kept participants, non-placebo) with ``condition``;
    ``per_image``: :func:`analysis.agreement.agreement_table` with ``min_votes=1`` (every voted target)."""
    cond_of = dict(zip(targets["target_id"], targets["condition"]))
    image_cond = per_image["target_id"].map(cond_of)
    out: dict[str, dict[str, Any]] = {}
    for c in conditions:
        t = targets[targets["condition"] == c]
        v = votes[votes["condition"] == c]
        acc = participant_condition_accuracy(votes, c).to_numpy()
        table = per_image[(image_cond == c).to_numpy() & (per_image["n_votes"] >= min_votes).to_numpy()]
        out[c] = {
            "targets": int(len(t)),
            "algorithm_accuracy": float(t["algo_correct"].mean()) if len(t) else None,
            "votes_total": int(len(v)),
            "images_voted": int(v["target_id"].nunique()),
            "accuracy_mean": float(acc.mean()) if acc.size else None,
            "accuracy_std": float(acc.std(ddof=1)) if acc.size >= 2 else None,
            "images_with_min_votes": int(len(table)),
            "agreement_matrix": agr.agreement_matrix(table),
            "label_agreement": agr.label_agreement(table),
        }
    return out


def bootstrap_mean(values: np.ndarray, *, n_resamples: int, seed: int, confidence: float = 0.95
                   ) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (one value per participant: a cluster bootstrap of
    their answers). NaN with fewer than 2 values or no resamples."""
    values = np.asarray(values, dtype=float)
    if values.size < 2 or n_resamples < 1:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(n_resamples, values.size))].mean(axis=1)
    alpha = 1 - confidence
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


def paired_drop_test(votes: pd.DataFrame, targets: pd.DataFrame, condition: str) -> dict[str, Any]:
    """Does ``condition`` hurt people more than the algorithm? (module docstring: D, Wilcoxon, assumptions)."""
    none: dict[str, Any] = {"pairs": 0, "mean_difference": None, "wilcoxon_statistic": None, "p_value": None,
                            "p_value_greater": None}
    if condition == CLEAN:
        return none
    h = votes.groupby("target_id")["correct"].mean()
    t = targets.set_index("target_id")
    frame = pd.DataFrame({"source": t["source_target"], "condition": t["condition"],
                          "h": h.reindex(t.index), "a": t["algo_correct"].astype(float)})
    frame = frame.dropna(subset=["h"])
    clean = frame[frame["condition"] == CLEAN].set_index("source")
    cond = frame[frame["condition"] == condition].set_index("source")
    both = clean.index.intersection(cond.index)
    if len(both) == 0:
        return none
    d = ((clean.loc[both, "h"] - cond.loc[both, "h"]) - (clean.loc[both, "a"] - cond.loc[both, "a"])).to_numpy()
    out = dict(none, pairs=int(d.size), mean_difference=float(d.mean()))
    if np.count_nonzero(d) == 0:
        return out  # no non-zero difference: Wilcoxon's test is undefined
    from scipy.stats import wilcoxon  # slow import: only when asked

    two = wilcoxon(d, zero_method="wilcox", alternative="two-sided")
    greater = wilcoxon(d, zero_method="wilcox", alternative="greater")
    out.update(wilcoxon_statistic=float(two.statistic), p_value=float(two.pvalue),
               p_value_greater=float(greater.pvalue))
    return out


def robustness_table(votes: pd.DataFrame, targets: pd.DataFrame, by_cond: dict[str, dict[str, Any]], *,
                     n_bootstrap: int, seed: int) -> pd.DataFrame:
    """One row per condition (columns :data:`ROBUSTNESS_COLUMNS`); see the module docstring."""
    rows = []
    algo_of = dict(zip(targets["target_id"], targets["algo_generator"]))
    for i, (c, b) in enumerate(by_cond.items()):
        t = targets[targets["condition"] == c]
        k = int(t["algo_correct"].sum())
        a_lo, a_hi = wilson_interval(k, len(t))
        acc = participant_condition_accuracy(votes, c).to_numpy()
        h_lo, h_hi = bootstrap_mean(acc, n_resamples=n_bootstrap, seed=seed + i)
        v = votes[votes["condition"] == c]
        for_algo = (v["chosen_generator"].to_numpy(dtype=object) == v["target_id"].map(algo_of).to_numpy(dtype=object))
        rows.append({
            "condition": c, "targets": int(len(t)), "algorithm_correct": k,
            "algorithm_accuracy": b["algorithm_accuracy"], "algorithm_ci_low": a_lo, "algorithm_ci_high": a_hi,
            "participants": int(acc.size), "human_accuracy": b["accuracy_mean"], "human_ci_low": h_lo,
            "human_ci_high": h_hi, "votes": int(len(v)),
            "vote_accuracy": float(v["correct"].mean()) if len(v) else None,
            "vote_agreement": float(for_algo.mean()) if len(v) else None,
            "images_with_min_votes": b["images_with_min_votes"], "label_agreement": b["label_agreement"],
            **paired_drop_test(votes, targets, c),
        })
    frame = pd.DataFrame(rows, columns=list(ROBUSTNESS_COLUMNS))
    return frame
