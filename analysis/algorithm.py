"""The algorithm's side: attribution from the bundle's distances (paper eq. 5), its confusion matrix (Fig. 4)
and accuracy as a function of the number of reconstruction attempts (Fig. 5).

Attribution rule (contract): the generator whose smallest distance over the attempts used is smallest; ties go to
the lowest generator id in sort order. With ``max_attempts=k`` only attempts ``0..k-1`` are used, which is how
Fig. 5 is read: the accuracy the algorithm would have had with k random initialisations.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.statistics import wilson_interval


def attribution(reconstructions: pd.DataFrame, *, max_attempts: int | None = None) -> pd.Series:
    """target_id -> attributed generator (Series named ``algo_generator``, index ``target_id``)."""
    recs = reconstructions
    if max_attempts is not None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        recs = recs[recs["attempt"] < max_attempts]
    best = recs.groupby(["target_id", "generator"], sort=True)["distance"].min().unstack("generator")
    best = best.reindex(columns=sorted(best.columns))
    # idxmin returns the first minimum in column order = the lowest generator id in sort order.
    out = best.idxmin(axis=1)
    out.name = "algo_generator"
    return out


def confusion(true: pd.Series, predicted: pd.Series, generators: Sequence[str]) -> pd.DataFrame:
    """Tidy confusion matrix: ``true_generator, predicted_generator, count, row_share`` for every pair."""
    gens = sorted(generators)
    table = pd.crosstab(pd.Categorical(true.to_numpy(), categories=gens),
                        pd.Categorical(predicted.to_numpy(), categories=gens), dropna=False)
    table = table.reindex(index=gens, columns=gens, fill_value=0)
    counts = table.to_numpy(dtype=np.int64)
    rows = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(rows > 0, counts / np.maximum(rows, 1), np.nan)
    return pd.DataFrame({
        "true_generator": np.repeat(gens, len(gens)),
        "predicted_generator": np.tile(gens, len(gens)),
        "count": counts.ravel(),
        "row_share": share.ravel(),
    })


def confusion_wide(tidy: pd.DataFrame, value: str = "count") -> pd.DataFrame:
    """The tidy confusion matrix as a square table (rows: true generator, columns: predicted)."""
    wide = tidy.pivot(index="true_generator", columns="predicted_generator", values=value)
    wide.index.name, wide.columns.name = "true_generator", None
    return wide


def accuracy_by_generator(targets: pd.DataFrame) -> pd.DataFrame:
    """The algorithm's accuracy per true generator and overall, with Wilson 95% intervals."""
    rows = []
    for gen, part in [*targets.groupby("true_generator", sort=True), ("all", targets)]:
        k, n = int(part["algo_correct"].sum()), int(len(part))
        lo, hi = wilson_interval(k, n)
        rows.append({"true_generator": gen, "correct": k, "n": n, "accuracy": k / n if n else np.nan,
                     "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows)


def accuracy_vs_attempts(reconstructions: pd.DataFrame, targets: pd.DataFrame, *, attempts: int) -> pd.DataFrame:
    """Accuracy (and error rate) using only the first k attempts, k = 1..attempts, with Wilson 95% intervals."""
    truth = targets.set_index("target_id")["true_generator"]
    rows = []
    for k in range(1, attempts + 1):
        pred = attribution(reconstructions, max_attempts=k).reindex(truth.index)
        correct = int((pred == truth).sum())
        n = int(len(truth))
        lo, hi = wilson_interval(correct, n)
        rows.append({"attempts": k, "correct": correct, "n": n, "accuracy": correct / n,
                     "error_rate": 1 - correct / n, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows)
