"""One call from a loaded study to every number of the report: :func:`analyze`.

It composes the tidy functions of the other modules; each of them can be called on its own from a notebook.
``Analysis.summary`` holds the contract's ``summary.json`` keys (shared/design/contracts.md) plus, under
``beyond_paper``, ``policy`` and ``inputs``, what this analysis adds. ``Analysis.tables`` holds every table.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis import agreement as agr
from analysis.algorithm import accuracy_by_generator, accuracy_vs_attempts, confusion
from analysis.bootstrap import participant_intervals
from analysis.conditions import by_condition, conditions_in_order, robustness_table
from analysis.coverage import coverage_projection
from analysis.load import StudyTables
from analysis.models import dawid_skene, generator_difficulty
from analysis.participants import accuracy_summary, participant_table, placebo_distribution
from analysis.statistics import proportion
from analysis.timing import response_times
from analysis.votes import (check_allocation, in_agreement, majority_vote, valid_votes, vote_summary,
                            votes_per_image_distribution)

# The paper's numbers (§VI-A, §VI-D, Fig. 4, Fig. 10), printed beside ours.
PAPER: dict[str, Any] = {
    "participants_total": 122, "participants_valid": 111, "placebo_threshold": 0.80,
    "accuracy_mean": 0.8981, "accuracy_std": 0.0584, "votes_total": 5710, "images_voted": 3246,
    "votes_per_image_mean": 1.76, "votes_per_image_std": 1.03, "min_votes": 3, "images_with_min_votes": 631,
    "human_correct_algo_correct": 592, "human_correct_algo_incorrect": 0, "human_incorrect_algo_correct": 37,
    "human_incorrect_algo_incorrect": 2, "label_agreement": 0.938, "algorithm_accuracy": 0.9762,
}

POLICY: dict[str, str] = {
    "placebo_filter": "kept only if placebo accuracy > threshold; no placebo round -> not kept",
    "accuracy": "per-participant accuracy on non-placebo rounds; mean and sample std (ddof=1) over kept "
                "participants with at least one non-placebo round (a kept participant with none counts in "
                "participants_valid only); std null with fewer than 2, mean null with none",
    "votes": "a vote is a non-placebo answer by a kept participant",
    "votes_per_image": "over images with >= 1 vote; sample std (ddof=1), null with fewer than 2 images",
    "majority_vote": "most votes; ties -> lowest generator id in sort order; majority_ties counts ties among "
                     "images with >= min_votes votes (majority_ties_all_voted: among all voted images)",
    "label_agreement": "share of images with >= min_votes votes whose majority-vote generator equals the "
                       "algorithm's; null (not 0) when no image has min_votes votes",
    "algorithm": "generator with the smallest minimum distance over attempts; ties -> lowest id in sort order",
    "undefined": "a statistic that is undefined on the data (0/0, std of one value) is null, never 0",
    "by_condition": "the contract's keys restricted to one condition's targets (conditions.md); accuracy over kept "
                    "participants with >= 1 vote on that condition, on those targets; a version-1 bundle is all clean",
    "robustness": "per condition: algorithm accuracy (Wilson), human accuracy (by_condition accuracy_mean, "
                  "participant bootstrap), agreement; paired Wilcoxon signed-rank test over source targets voted "
                  "both clean and under the condition of D = (human drop) - (algorithm drop), zero differences "
                  "dropped (see analysis/conditions.py for the assumptions)",
    "settled_targets": "images whose kept votes settle a majority of min_votes: no way of casting the remaining "
                       "votes changes the winner (e.g. 2 agreeing of 3; reaching min_votes votes settles too); the "
                       "app's rule study_app/allocation.settled",
}
DYNAMIC_POLICY = ("dynamic allocation stops collecting votes on an image once its majority of k is settled, so images "
                  "have 2..k votes: images_with_min_votes, the agreement matrix, label agreement, majority_ties and "
                  "the jackknife use the images with a settled majority of min_votes (= settled_targets); the other "
                  "keys keep their meaning; the jackknife interval of label agreement is too narrow here (deleting a "
                  "voter un-settles their images instead of changing majorities): read the Wilson interval")


def allocation_policy(allocation: str | None) -> str:
    """The ``policy['allocation']`` note: which allocation ran and what it changes in the analysis."""
    if allocation is None:
        return "not stated (python -m analysis report --allocation balanced|random|dynamic); analysed as a " \
               "fixed-k study (images_with_min_votes = images with >= min_votes votes)"
    if allocation == "dynamic":
        return f"dynamic: {DYNAMIC_POLICY}"
    return f"{allocation}: images_with_min_votes = images with >= min_votes votes"


@dataclass
class Analysis:
    summary: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    generators: tuple[str, ...] = ()
    generator_labels: dict[str, str] = field(default_factory=dict)
    practice_targets: tuple[str, ...] = ()   # left out of votes per image and coverage (never in a real round)


def clean(value: Any) -> Any:
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python, recursively."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    return value


def analyze(study: StudyTables, *, placebo_threshold: float = 0.80, min_votes: int = 3, n_bootstrap: int = 2000,
            seed: int = 0, dawid_skene_iterations: int = 100, allocation: str | None = None,
            practice_targets: Collection[str] = ()) -> Analysis:
    """Every number and table of the report. Pure: reads nothing, writes nothing.

    ``allocation``: the study app's allocation that collected the votes (``balanced``, ``random``, ``dynamic``;
    None: not stated). For ``dynamic`` the agreement analysis uses the targets with a settled majority.
    ``practice_targets``: targets shown only in practice rounds (left out of votes per image and coverage).
    """
    check_allocation(allocation)
    if not 0.0 <= placebo_threshold <= 1.0:
        raise ValueError(f"placebo_threshold must be in [0, 1], got {placebo_threshold}")
    if min_votes < 1:
        raise ValueError(f"min_votes must be >= 1, got {min_votes}")
    if n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    gens = study.generators
    participants = participant_table(study.responses, placebo_threshold=placebo_threshold)
    votes = valid_votes(study.responses, participants)
    majority = majority_vote(votes, gens)
    per_image = agr.agreement_table(majority, study.targets, min_votes=1)
    entering = set(majority.loc[in_agreement(majority, min_votes=min_votes, allocation=allocation), "target_id"])
    table = per_image[per_image["target_id"].isin(entering)].reset_index(drop=True)
    matrix = agr.agreement_matrix(table)
    acc = accuracy_summary(participants)
    vs = vote_summary(majority, min_votes=min_votes, allocation=allocation)

    summary: dict[str, Any] = {
        "participants_total": acc["participants_total"],
        "participants_valid": acc["participants_valid"],
        "placebo_threshold": float(placebo_threshold),
        "accuracy_mean": acc["accuracy_mean"],
        "accuracy_std": acc["accuracy_std"],
        "votes_total": vs["votes_total"],
        "images_voted": vs["images_voted"],
        "votes_per_image_mean": vs["votes_per_image_mean"],
        "votes_per_image_std": vs["votes_per_image_std"],
        "min_votes": vs["min_votes"],
        "images_with_min_votes": vs["images_with_min_votes"],
        "agreement_matrix": matrix,
        "label_agreement": agr.label_agreement(table),
        "majority_ties": vs["majority_ties"],
        "majority_ties_all_voted": vs["majority_ties_all_voted"],
        "participants_with_accuracy": acc["participants_with_accuracy"],
        "settled_targets": vs["settled_targets"],
    }
    conditions = conditions_in_order(study.targets, study.conditions)
    summary["by_condition"] = by_condition(votes, study.targets, per_image, min_votes=min_votes,
                                           conditions=conditions)

    # ---- beyond the paper
    targets = study.targets
    n_agree = int(table["labels_agree"].sum())
    proportions = pd.DataFrame([
        proportion("participant votes correct (pooled)", int(votes["correct"].sum()), len(votes)),
        proportion("human majority vote correct (>= min_votes)", int(table["human_correct"].sum()), len(table)),
        proportion("algorithm correct (>= min_votes images)", int(table["algo_correct"].sum()), len(table)),
        proportion("label agreement human majority vs algorithm", n_agree, len(table)),
        proportion("algorithm correct (all targets)", int(targets["algo_correct"].sum()), len(targets)),
        proportion("placebo rounds answered correctly (all participants)",
                   int(participants["placebo_correct"].sum()), int(participants["placebo_rounds"].sum())),
    ])
    boot = participant_intervals(participants, votes, targets, gens, min_votes=min_votes,
                                 n_resamples=n_bootstrap, seed=seed, allocation=allocation)
    mcn = agr.mcnemar_exact(matrix)
    kappa = agr.cohen_kappa(table["majority_generator"], table["algo_generator"])
    difficulty, difficulty_test = generator_difficulty(votes, gens)
    ds_labels, ds_summary = dawid_skene(votes, targets, min_votes=min_votes, n_iter=dawid_skene_iterations)
    rt_table, rt_tests = response_times(votes)
    practice = tuple(sorted(set(practice_targets) - set(majority["target_id"])))  # a voted target was a real one
    real_targets = targets.loc[~targets["target_id"].isin(practice), "target_id"]
    counts = majority.set_index("target_id")["n_votes"].reindex(real_targets, fill_value=0).to_numpy()
    kept = participants[participants["valid"]]
    vpp = float(kept["answers"].mean()) if len(kept) else None
    keep_rate = len(kept) / len(participants) if len(participants) else None
    cover = coverage_projection(counts, k=min_votes, votes_per_participant=vpp, keep_rate=keep_rate)
    human_conf = confusion(votes["true_generator"], votes["chosen_generator"], gens)
    algo_conf = confusion(targets["true_generator"], targets["algo_generator"], gens)
    attempts = accuracy_vs_attempts(study.reconstructions, targets, attempts=study.attempts)
    algo_acc = accuracy_by_generator(targets)
    placebo = placebo_distribution(participants)
    vpi = votes_per_image_distribution(majority, n_targets=len(real_targets))
    robustness = robustness_table(votes, targets, summary["by_condition"], n_bootstrap=n_bootstrap, seed=seed)

    summary["beyond_paper"] = {
        "proportions_wilson95": proportions.to_dict(orient="records"),
        "participant_intervals": boot.to_dict(orient="records"),
        "mcnemar_exact": mcn,
        "cohen_kappa": kappa,
        "soft_agreement": agr.soft_agreement(table),
        "soft_agreement_all_voted": agr.soft_agreement(per_image),
        "generator_difficulty": {"per_generator": difficulty.to_dict(orient="records"), "test": difficulty_test},
        "dawid_skene": ds_summary,
        "response_times": {"by_outcome": rt_table.to_dict(orient="records"), "tests": rt_tests},
        "coverage": cover,
        "algorithm_accuracy": algo_acc.to_dict(orient="records"),
        "accuracy_vs_attempts": attempts.to_dict(orient="records"),
        "robustness": robustness.to_dict(orient="records"),
    }
    summary["policy"] = {**POLICY, "allocation": allocation_policy(allocation)}
    summary["inputs"] = {"bundle": str(study.bundle_root), "responses": study.responses_source,
                         "bundle_software": study.bundle_software, "bundle_created_at": study.bundle_created_at,
                         "targets": int(len(targets)), "generators": list(gens), "attempts": int(study.attempts),
                         "bootstrap_resamples": int(n_bootstrap), "seed": int(seed), "conditions": conditions,
                         "allocation": allocation}
    summary = clean(summary)

    comparison = paper_comparison(summary)
    agreement_2x2 = pd.DataFrame(
        [["correct", matrix["human_correct_algo_correct"], matrix["human_correct_algo_incorrect"]],
         ["incorrect", matrix["human_incorrect_algo_correct"], matrix["human_incorrect_algo_incorrect"]]],
        columns=["human_majority", "algo_correct", "algo_incorrect"])
    per_image_out = per_image.merge(ds_labels, on="target_id", how="left")
    tables = {
        "paper_comparison": comparison,
        "participants": participants,
        "placebo_distribution": placebo,
        "votes_per_image": vpi,
        "agreement_matrix": agreement_2x2,
        "per_image": per_image_out,
        "proportions": proportions,
        "participant_intervals": boot,
        "human_confusion": human_conf,
        "algorithm_confusion": algo_conf,
        "algorithm_accuracy": algo_acc,
        "accuracy_vs_attempts": attempts,
        "generator_difficulty": difficulty,
        "dawid_skene": pd.DataFrame(ds_summary.get("scope", [])),
        "response_times": rt_table,
        "coverage": pd.DataFrame(cover["designs"]),
        "robustness": robustness,
    }
    return Analysis(summary=summary, tables=tables, generators=gens, generator_labels=dict(study.generator_labels),
                    practice_targets=practice)


def paper_comparison(summary: dict[str, Any]) -> pd.DataFrame:
    """The paper's value beside ours for every headline number, with our 95% interval where we have one."""
    beyond = summary.get("beyond_paper", {})
    boot = {r["statistic"]: r for r in beyond.get("participant_intervals", [])}
    wil = {r["quantity"]: r for r in beyond.get("proportions_wilson95", [])}
    m = summary["agreement_matrix"]
    ours: dict[str, Any] = {**{k: summary[k] for k in (
        "participants_total", "participants_valid", "placebo_threshold", "accuracy_mean", "accuracy_std",
        "votes_total", "images_voted", "votes_per_image_mean", "votes_per_image_std", "min_votes",
        "images_with_min_votes", "label_agreement")}, **m}
    algo_all = wil.get("algorithm correct (all targets)", {})
    ours["algorithm_accuracy"] = algo_all.get("estimate")
    intervals: dict[str, tuple[Any, Any, str]] = {}
    for key in ("accuracy_mean", "label_agreement"):
        if key in boot and boot[key]["ci_low"] is not None:
            intervals[key] = (boot[key]["ci_low"], boot[key]["ci_high"], boot[key]["method"])
    if algo_all:
        intervals["algorithm_accuracy"] = (algo_all["ci_low"], algo_all["ci_high"], "Wilson")
    rows = []
    for key, paper in PAPER.items():
        lo, hi, method = intervals.get(key, (None, None, ""))
        rows.append({"quantity": key, "paper": paper, "ours": ours.get(key), "ci_low": lo, "ci_high": hi,
                     "interval": method})
    frame = pd.DataFrame(rows)
    # Counts stay integers beside fractions: object columns, so 122 is not printed as 122.0.
    frame["paper"] = frame["paper"].astype(object)
    frame["ours"] = pd.Series([r["ours"] for r in rows], dtype=object)
    return frame
