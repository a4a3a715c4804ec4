"""The analysis pipeline: one call from the loaded tables to every number of the report, :func:`analyze`, as a
sequence of named steps (:func:`count_votes`, :func:`paper_summary`, :func:`beyond_paper`, :func:`report_tables`).

It composes the tidy functions of the other modules; each of them can be called on its own from a notebook.
``Analysis.summary`` holds the contract's ``summary.json`` keys (docs/contracts.md) plus, under
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
from analysis import option_rules as rules
from analysis.algorithm import accuracy_by_generator, accuracy_vs_attempts, confusion
from analysis.bootstrap import participant_intervals
from analysis.conditions import by_condition, conditions_in_order, robustness_table
from analysis.coverage import coverage_projection
from analysis.load import StudyTables
from analysis.models import dawid_skene, generator_difficulty
from analysis.option_rules import checked
from analysis.participants import accuracy_summary, participant_table, placebo_distribution
from analysis.statistics import proportion
from analysis.timing import response_times
from analysis.votes import (check_allocation, in_agreement, majority_vote, settled_early, valid_votes, vote_summary,
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


def allocation_hint(majority: pd.DataFrame, *, min_votes: int, allocation: str | None) -> str | None:
    """A warning when the allocation is not stated but most voted images stop early with a settled majority (the
    mark of ``dynamic``): analysed as fixed k, those images would stay out of the agreement analysis. The exports
    do not carry the session's allocation (the responses export is the contract's; the session config is not
    exported), so this is inferred from the votes, and only suggested."""
    voted = len(majority)
    if allocation is not None or voted == 0 or min_votes < 2:
        return None
    early = settled_early(majority, min_votes=min_votes)
    if early * 2 <= voted:
        return None
    return (f"allocation not stated, but {early} of {voted} voted images ({early / voted:.0%}) stop before "
            f"{min_votes} votes with a majority of {min_votes} already settled, as dynamic allocation leaves them; "
            f"if the session ran allocation=dynamic, pass --allocation dynamic (analysed as fixed k, those images "
            f"stay out of the agreement analysis)")


def allocation_policy(allocation: str | None, hint: str | None = None) -> str:
    """The ``policy['allocation']`` note: which allocation ran and what it changes in the analysis."""
    if allocation is None:
        return "not stated (python -m analysis report --allocation balanced|random|dynamic); analysed as a " \
               "fixed-k study (images_with_min_votes = images with >= min_votes votes)" + \
               (f"; WARNING: {hint}" if hint else "")
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
    warnings: tuple[str, ...] = ()           # for the command line (also in the summary's policy notes)


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


@dataclass(frozen=True)
class Options:
    """The analysis' choices (defaults: the paper's). ``allocation``: the study app's allocation that collected
    the votes (``balanced``, ``random``, ``dynamic``; None: not stated); for ``dynamic`` the agreement analysis uses
    the targets with a settled majority. ``practice_targets``: targets shown only in practice rounds (left out of
    votes per image and coverage)."""

    placebo_threshold: float = 0.80
    min_votes: int = 3
    n_bootstrap: int = 2000
    seed: int = 0
    dawid_skene_iterations: int = 100
    allocation: str | None = None
    practice_targets: Collection[str] = ()

    def check(self) -> None:
        check_allocation(self.allocation)
        checked("placebo_threshold", rules.fraction, self.placebo_threshold)
        checked("min_votes", rules.at_least(1), self.min_votes)
        checked("n_bootstrap", rules.at_least(0), self.n_bootstrap)


@dataclass(frozen=True)
class Votes:
    """Step 1: who is kept, what they voted, and which images enter the human/algorithm agreement analysis."""

    participants: pd.DataFrame      # per participant, with ``valid`` (kept by the placebo filter)
    votes: pd.DataFrame             # non-placebo answers of kept participants
    majority: pd.DataFrame          # per voted image: counts and majority generator
    per_image: pd.DataFrame         # agreement table over every voted image
    agreement: pd.DataFrame         # ... over the images entering the agreement analysis
    matrix: dict[str, int]          # the 2x2 agreement matrix of ``agreement``


def count_votes(study: StudyTables, options: Options) -> Votes:
    participants = participant_table(study.responses, placebo_threshold=options.placebo_threshold)
    votes = valid_votes(study.responses, participants)
    majority = majority_vote(votes, study.generators)
    per_image = agr.agreement_table(majority, study.targets, min_votes=1)
    entering = set(majority.loc[in_agreement(majority, min_votes=options.min_votes, allocation=options.allocation),
                                "target_id"])
    agreement = per_image[per_image["target_id"].isin(entering)].reset_index(drop=True)
    return Votes(participants, votes, majority, per_image, agreement, agr.agreement_matrix(agreement))


def paper_summary(study: StudyTables, v: Votes, options: Options, conditions: list[str]) -> dict[str, Any]:
    """Step 2: the contract's ``summary.json`` keys (the paper's numbers), and ``by_condition``."""
    acc = accuracy_summary(v.participants)
    vs = vote_summary(v.majority, min_votes=options.min_votes, allocation=options.allocation)
    return {
        "participants_total": acc["participants_total"],
        "participants_valid": acc["participants_valid"],
        "placebo_threshold": float(options.placebo_threshold),
        "accuracy_mean": acc["accuracy_mean"],
        "accuracy_std": acc["accuracy_std"],
        "votes_total": vs["votes_total"],
        "images_voted": vs["images_voted"],
        "votes_per_image_mean": vs["votes_per_image_mean"],
        "votes_per_image_std": vs["votes_per_image_std"],
        "min_votes": vs["min_votes"],
        "images_with_min_votes": vs["images_with_min_votes"],
        "agreement_matrix": v.matrix,
        "label_agreement": agr.label_agreement(v.agreement),
        "majority_ties": vs["majority_ties"],
        "majority_ties_all_voted": vs["majority_ties_all_voted"],
        "participants_with_accuracy": acc["participants_with_accuracy"],
        "settled_targets": vs["settled_targets"],
        "by_condition": by_condition(v.votes, study.targets, v.per_image, min_votes=options.min_votes,
                                     conditions=conditions),
    }


def proportions_table(study: StudyTables, v: Votes) -> pd.DataFrame:
    """The accuracies and agreement as proportions with Wilson 95% intervals."""
    targets, table = study.targets, v.agreement
    return pd.DataFrame([
        proportion("participant votes correct (pooled)", int(v.votes["correct"].sum()), len(v.votes)),
        proportion("human majority vote correct (>= min_votes)", int(table["human_correct"].sum()), len(table)),
        proportion("algorithm correct (>= min_votes images)", int(table["algo_correct"].sum()), len(table)),
        proportion("label agreement human majority vs algorithm", int(table["labels_agree"].sum()), len(table)),
        proportion("algorithm correct (all targets)", int(targets["algo_correct"].sum()), len(targets)),
        proportion("placebo rounds answered correctly (all participants)",
                   int(v.participants["placebo_correct"].sum()), int(v.participants["placebo_rounds"].sum())),
    ])


def coverage(study: StudyTables, v: Votes, options: Options) -> tuple[dict[str, Any], tuple[str, ...], int]:
    """How far the votes are from ``min_votes`` on every real target: (projection, practice targets left out,
    number of real targets). A voted target was a real one, whatever the trial export says."""
    practice = tuple(sorted(set(options.practice_targets) - set(v.majority["target_id"])))
    real_targets = study.targets.loc[~study.targets["target_id"].isin(practice), "target_id"]
    counts = v.majority.set_index("target_id")["n_votes"].reindex(real_targets, fill_value=0).to_numpy()
    kept = v.participants[v.participants["valid"]]
    vpp = float(kept["answers"].mean()) if len(kept) else None
    keep_rate = len(kept) / len(v.participants) if len(v.participants) else None
    return (coverage_projection(counts, k=options.min_votes, votes_per_participant=vpp, keep_rate=keep_rate),
            practice, len(real_targets))


@dataclass(frozen=True)
class BeyondPaper:
    """Step 3: what this analysis adds to the paper's numbers (intervals, tests, models, coverage, conditions)."""

    proportions: pd.DataFrame
    intervals: pd.DataFrame
    mcnemar: dict[str, Any]
    kappa: Any
    difficulty: pd.DataFrame
    difficulty_test: dict[str, Any]
    dawid_skene_labels: pd.DataFrame
    dawid_skene: dict[str, Any]
    response_times: pd.DataFrame
    response_time_tests: dict[str, Any]
    coverage: dict[str, Any]
    practice_targets: tuple[str, ...]
    human_confusion: pd.DataFrame
    algorithm_confusion: pd.DataFrame
    accuracy_vs_attempts: pd.DataFrame
    algorithm_accuracy: pd.DataFrame
    placebo_distribution: pd.DataFrame
    votes_per_image: pd.DataFrame
    robustness: pd.DataFrame

    def to_summary(self, v: Votes) -> dict[str, Any]:
        """``summary['beyond_paper']``."""
        return {
            "proportions_wilson95": self.proportions.to_dict(orient="records"),
            "participant_intervals": self.intervals.to_dict(orient="records"),
            "mcnemar_exact": self.mcnemar,
            "cohen_kappa": self.kappa,
            "soft_agreement": agr.soft_agreement(v.agreement),
            "soft_agreement_all_voted": agr.soft_agreement(v.per_image),
            "generator_difficulty": {"per_generator": self.difficulty.to_dict(orient="records"),
                                     "test": self.difficulty_test},
            "dawid_skene": self.dawid_skene,
            "response_times": {"by_outcome": self.response_times.to_dict(orient="records"),
                               "tests": self.response_time_tests},
            "coverage": self.coverage,
            "algorithm_accuracy": self.algorithm_accuracy.to_dict(orient="records"),
            "accuracy_vs_attempts": self.accuracy_vs_attempts.to_dict(orient="records"),
            "robustness": self.robustness.to_dict(orient="records"),
        }


def beyond_paper(study: StudyTables, v: Votes, options: Options, by_condition: dict[str, Any]) -> BeyondPaper:
    gens, targets, votes = study.generators, study.targets, v.votes
    proportions = proportions_table(study, v)
    intervals = participant_intervals(v.participants, votes, targets, gens, min_votes=options.min_votes,
                                      n_resamples=options.n_bootstrap, seed=options.seed,
                                      allocation=options.allocation)
    mcnemar = agr.mcnemar_exact(v.matrix)
    kappa = agr.cohen_kappa(v.agreement["majority_generator"], v.agreement["algo_generator"])
    difficulty, difficulty_test = generator_difficulty(votes, gens)
    ds_labels, ds_summary = dawid_skene(votes, targets, min_votes=options.min_votes,
                                        n_iter=options.dawid_skene_iterations)
    rt_table, rt_tests = response_times(votes)
    cover, practice, n_real_targets = coverage(study, v, options)
    return BeyondPaper(
        proportions=proportions, intervals=intervals, mcnemar=mcnemar, kappa=kappa, difficulty=difficulty,
        difficulty_test=difficulty_test, dawid_skene_labels=ds_labels, dawid_skene=ds_summary,
        response_times=rt_table, response_time_tests=rt_tests, coverage=cover, practice_targets=practice,
        human_confusion=confusion(votes["true_generator"], votes["chosen_generator"], gens),
        algorithm_confusion=confusion(targets["true_generator"], targets["algo_generator"], gens),
        accuracy_vs_attempts=accuracy_vs_attempts(study.reconstructions, targets, attempts=study.attempts),
        algorithm_accuracy=accuracy_by_generator(targets),
        placebo_distribution=placebo_distribution(v.participants),
        votes_per_image=votes_per_image_distribution(v.majority, n_targets=n_real_targets),
        robustness=robustness_table(votes, targets, by_condition, n_bootstrap=options.n_bootstrap, seed=options.seed),
    )


def inputs(study: StudyTables, options: Options, conditions: list[str]) -> dict[str, Any]:
    """``summary['inputs']``: where the numbers came from and with which options."""
    return {"bundle": str(study.bundle_root), "responses": study.responses_source,
            "bundle_software": study.bundle_software, "bundle_created_at": study.bundle_created_at,
            "targets": int(len(study.targets)), "generators": list(study.generators),
            "attempts": int(study.attempts), "bootstrap_resamples": int(options.n_bootstrap),
            "seed": int(options.seed), "conditions": conditions, "allocation": options.allocation}


def report_tables(summary: dict[str, Any], v: Votes, extra: BeyondPaper) -> dict[str, pd.DataFrame]:
    """Step 4: every table of the report, in the report's order."""
    m = v.matrix
    agreement_2x2 = pd.DataFrame(
        [["correct", m["human_correct_algo_correct"], m["human_correct_algo_incorrect"]],
         ["incorrect", m["human_incorrect_algo_correct"], m["human_incorrect_algo_incorrect"]]],
        columns=["human_majority", "algo_correct", "algo_incorrect"])
    return {
        "paper_comparison": paper_comparison(summary),
        "participants": v.participants,
        "placebo_distribution": extra.placebo_distribution,
        "votes_per_image": extra.votes_per_image,
        "agreement_matrix": agreement_2x2,
        "per_image": v.per_image.merge(extra.dawid_skene_labels, on="target_id", how="left"),
        "proportions": extra.proportions,
        "participant_intervals": extra.intervals,
        "human_confusion": extra.human_confusion,
        "algorithm_confusion": extra.algorithm_confusion,
        "algorithm_accuracy": extra.algorithm_accuracy,
        "accuracy_vs_attempts": extra.accuracy_vs_attempts,
        "generator_difficulty": extra.difficulty,
        "dawid_skene": pd.DataFrame(extra.dawid_skene.get("scope", [])),
        "response_times": extra.response_times,
        "coverage": pd.DataFrame(extra.coverage["designs"]),
        "robustness": extra.robustness,
    }


def analyze(study: StudyTables, *, placebo_threshold: float = 0.80, min_votes: int = 3, n_bootstrap: int = 2000,
            seed: int = 0, dawid_skene_iterations: int = 100, allocation: str | None = None,
            practice_targets: Collection[str] = ()) -> Analysis:
    """Every number and table of the report (options: :class:`Options`). Pure: reads nothing, writes nothing.

    The steps: :func:`count_votes`, :func:`paper_summary`, :func:`beyond_paper`, then the summary's ``policy``
    and :func:`inputs`, made JSON-safe (:func:`clean`), and :func:`report_tables`.
    """
    options = Options(placebo_threshold=placebo_threshold, min_votes=min_votes, n_bootstrap=n_bootstrap, seed=seed,
                      dawid_skene_iterations=dawid_skene_iterations, allocation=allocation,
                      practice_targets=practice_targets)
    options.check()
    conditions = conditions_in_order(study.targets, study.conditions)
    votes = count_votes(study, options)
    summary = paper_summary(study, votes, options, conditions)
    extra = beyond_paper(study, votes, options, summary["by_condition"])
    hint = allocation_hint(votes.majority, min_votes=min_votes, allocation=allocation)
    summary = clean({**summary, "beyond_paper": extra.to_summary(votes),
                     "policy": {**POLICY, "allocation": allocation_policy(allocation, hint)},
                     "inputs": inputs(study, options, conditions)})
    return Analysis(summary=summary, tables=report_tables(summary, votes, extra), generators=study.generators,
                    generator_labels=dict(study.generator_labels), practice_targets=extra.practice_targets,
                    warnings=(hint,) if hint else ())


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
