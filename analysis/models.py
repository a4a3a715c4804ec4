"""Models of the human answers beyond a single proportion.

- :func:`generator_difficulty`: is one generator harder for humans? Per-generator accuracy of votes with
  participants as clusters: a binomial GEE (statsmodels, exchangeable working correlation, robust sandwich
  errors), one logit per generator, and a Wald test that all generators are equally hard. Raw per-generator
  accuracies with Wilson intervals sit beside it. Policy: with fewer than two participants or two generators, or
  when the fit fails (e.g. a generator every vote got right, where the logit is infinite), the model columns are
  NaN and ``note`` says why; the raw accuracies are always given.
- :func:`dawid_skene`: the Dawid--Skene aggregate (crowd-kit) beside the majority vote, each judged against the
  truth and the algorithm on the same targets.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from analysis.statistics import wilson_interval
from analysis.votes import majority_vote


def generator_difficulty(votes: pd.DataFrame, generators: Sequence[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per true generator: ``true_generator, correct, n, accuracy, ci_low, ci_high, gee_accuracy, gee_ci_low,
    gee_ci_high`` and the test ``{"method", "statistic", "df", "p_value", "note"}``."""
    gens = sorted(generators)
    rows = []
    for g in gens:
        part = votes[votes["true_generator"] == g]
        k, n = int(part["correct"].sum()), int(len(part))
        lo, hi = wilson_interval(k, n)
        rows.append({"true_generator": g, "correct": k, "n": n, "accuracy": k / n if n else np.nan,
                     "ci_low": lo, "ci_high": hi})
    table = pd.DataFrame(rows)
    for col in ("gee_accuracy", "gee_ci_low", "gee_ci_high"):
        table[col] = np.nan
    test: dict[str, Any] = {"method": "binomial GEE, exchangeable within participant, robust SE; Wald test of "
                                      "equal accuracy across generators",
                            "statistic": None, "df": None, "p_value": None, "note": ""}
    present = [g for g in gens if (votes["true_generator"] == g).any()]
    n_clusters = votes["participant_code"].nunique()
    if len(present) < 2 or n_clusters < 2:
        test["note"] = (f"not fitted: needs votes on >= 2 generators from >= 2 participants "
                        f"(have {len(present)} generator{'' if len(present) == 1 else 's'}, "
                        f"{n_clusters} participant{'' if n_clusters == 1 else 's'})")
        return table, test
    perfect = [g for g in present if votes.loc[votes["true_generator"] == g, "correct"].all()
               or not votes.loc[votes["true_generator"] == g, "correct"].any()]
    if perfect:
        test["note"] = f"not fitted: every vote on {perfect[0]!r} has the same correctness (logit is infinite)"
        return table, test
    from statsmodels.genmod.cov_struct import Exchangeable
    from statsmodels.genmod.families import Binomial
    from statsmodels.genmod.generalized_estimating_equations import GEE

    v = votes[votes["true_generator"].isin(present)]
    exog = (v["true_generator"].to_numpy()[:, None] == np.asarray(present)[None, :]).astype(float)
    endog = v["correct"].to_numpy(dtype=float)
    groups = pd.factorize(v["participant_code"])[0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = GEE(endog, exog, groups=groups, family=Binomial(), cov_struct=Exchangeable())
            res = model.fit()
            params = np.asarray(res.params, dtype=float)
            bse = np.asarray(res.bse, dtype=float)
            contrast = np.zeros((len(present) - 1, len(present)))
            contrast[:, 0] = 1.0
            contrast[np.arange(len(present) - 1), np.arange(1, len(present))] = -1.0
            wald = res.wald_test(contrast, scalar=True)
    except Exception as e:  # a numerical failure of the fit is reported, not raised
        test["note"] = f"not fitted: GEE failed ({type(e).__name__}: {e})"
        return table, test
    if not (np.all(np.isfinite(params)) and np.all(np.isfinite(bse))):
        test["note"] = "not fitted: GEE did not converge to finite estimates"
        return table, test
    for j, g in enumerate(present):
        i = gens.index(g)
        table.loc[i, "gee_accuracy"] = float(expit(params[j]))
        table.loc[i, "gee_ci_low"] = float(expit(params[j] - 1.959963984540054 * bse[j]))
        table.loc[i, "gee_ci_high"] = float(expit(params[j] + 1.959963984540054 * bse[j]))
    test["statistic"] = float(np.asarray(wald.statistic).squeeze())
    test["df"] = len(present) - 1
    test["p_value"] = float(np.asarray(wald.pvalue).squeeze())
    return table, test


def dawid_skene(votes: pd.DataFrame, targets: pd.DataFrame, *, min_votes: int, n_iter: int = 100,
                ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Dawid--Skene labels per voted target and a comparison with the majority vote.

    Returns ``(labels, summary)``: ``labels`` has ``target_id, ds_generator``; ``summary`` has, over targets with
    at least ``min_votes`` votes and over all voted targets, each aggregate's accuracy against the truth and its
    agreement with the algorithm, and how many labels differ between the two aggregates.
    """
    from crowdkit.aggregation import DawidSkene

    if votes.empty:
        empty = pd.DataFrame({"target_id": pd.Series([], dtype=object), "ds_generator": pd.Series([], dtype=object)})
        return empty, {"scope": [], "note": "no votes"}
    data = pd.DataFrame({"worker": votes["participant_code"].to_numpy(), "task": votes["target_id"].to_numpy(),
                         "label": votes["chosen_generator"].to_numpy()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = DawidSkene(n_iter=n_iter).fit_predict(data)
    labels = pd.DataFrame({"target_id": ds.index.to_numpy(dtype=object), "ds_generator": ds.to_numpy(dtype=object)})
    n_votes = votes.groupby("target_id").size()
    # The contract's majority vote (ties -> lowest id); crowd-kit's own MajorityVote breaks ties differently.
    gens = sorted(set(votes["chosen_generator"]) | set(targets["true_generator"]))
    mv = majority_vote(votes, gens).set_index("target_id")["majority_generator"]
    t = targets.set_index("target_id")
    frame = pd.DataFrame({"ds": ds, "mv": mv.reindex(ds.index), "n": n_votes.reindex(ds.index)})
    frame["truth"] = t["true_generator"].reindex(ds.index)
    frame["algo"] = t["algo_generator"].reindex(ds.index)
    scopes = []
    for scope, part in ((f">= {min_votes} votes", frame[frame["n"] >= min_votes]), ("all voted", frame)):
        n = int(len(part))
        scopes.append({
            "scope": scope, "targets": n,
            "ds_accuracy": float((part["ds"] == part["truth"]).mean()) if n else None,
            "mv_accuracy": float((part["mv"] == part["truth"]).mean()) if n else None,
            "ds_agreement_with_algo": float((part["ds"] == part["algo"]).mean()) if n else None,
            "mv_agreement_with_algo": float((part["mv"] == part["algo"]).mean()) if n else None,
            "labels_differing": int((part["ds"] != part["mv"]).sum()),
        })
    return labels, {"method": f"Dawid-Skene EM (crowd-kit, n_iter={n_iter})", "scope": scopes}
