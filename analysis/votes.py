"""Votes, votes per image and the majority vote with the contract's tie rule.

A *vote* is a non-placebo answer by a kept (valid) participant. Policies:

- ``votes_per_image_mean`` / ``_std`` are over images with at least one vote; the std is the sample std (ddof=1,
  like ``accuracy_std``), undefined (``None``) with fewer than two such images.
- Majority vote: the generator with the most votes; ties go to the lowest generator id in sort order (contract).
  ``majority_ties`` counts the tied targets among those entering the agreement analysis (``n_votes >= min_votes``);
  ``majority_ties_all_voted`` counts them over every voted target.
- Variable votes per target (``dynamic`` allocation, which stops collecting votes on a target once its majority of
  k is settled): a target enters the agreement analysis when the *kept* votes settle its majority of
  ``min_votes`` (:func:`settled_mask`, the app's own rule ``study_app/allocation.settled``: e.g. 2 agreeing of 3),
  not only when it has ``min_votes`` votes. ``settled_targets`` counts the settled targets under every allocation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis.app_rules import MODES, settled

ALLOCATIONS: tuple[str, ...] = tuple(MODES)  # what the study app can run: balanced, random, dynamic


def valid_votes(responses: pd.DataFrame, participants: pd.DataFrame) -> pd.DataFrame:
    """Non-placebo rows of kept participants (the same columns as ``responses``)."""
    kept = set(participants.loc[participants["valid"], "participant_code"])
    mask = ~responses["is_placebo"].to_numpy() & responses["participant_code"].isin(kept).to_numpy()
    return responses.loc[mask].reset_index(drop=True)


def vote_counts(votes: pd.DataFrame, generators: Sequence[str]) -> pd.DataFrame:
    """Targets with at least one vote x generators (sorted ids), vote counts; index ``target_id``."""
    gens = sorted(generators)
    unknown = set(votes["chosen_generator"]) - set(gens)
    if unknown:
        raise ValueError(f"votes name generator(s) {sorted(unknown)} not in {gens}")
    if votes.empty:
        return pd.DataFrame(np.zeros((0, len(gens)), dtype=np.int64), columns=gens,
                            index=pd.Index([], name="target_id", dtype=object))
    counts = pd.crosstab(votes["target_id"], votes["chosen_generator"]).reindex(columns=gens, fill_value=0)
    counts.columns.name = None
    return counts.astype(np.int64)


def majority_vote(votes: pd.DataFrame, generators: Sequence[str]) -> pd.DataFrame:
    """One row per voted target: ``target_id, n_votes, majority_generator, majority_count, tie, votes_<g>...``."""
    counts = vote_counts(votes, generators)
    gens = list(counts.columns)
    m = counts.to_numpy()
    top = m.max(axis=1) if len(m) else np.zeros(0, dtype=np.int64)
    winner = m.argmax(axis=1) if len(m) else np.zeros(0, dtype=np.int64)  # first max = lowest id in sort order
    out = pd.DataFrame({
        "target_id": counts.index.to_numpy(dtype=object),
        "n_votes": m.sum(axis=1).astype(np.int64),
        "majority_generator": np.asarray(gens, dtype=object)[winner] if len(m) else np.zeros(0, dtype=object),
        "majority_count": top.astype(np.int64),
        "tie": (m == top[:, None]).sum(axis=1) > 1 if len(m) else np.zeros(0, dtype=bool),
    })
    for j, g in enumerate(gens):
        out[f"votes_{g}"] = m[:, j]
    return out


def settled_mask(counts: np.ndarray, k: int) -> np.ndarray:
    """Whether each vote-count vector (last axis: generators in sort order) settles a majority of ``k``: the app's
    rule (``study_app/allocation.settled``) applied once per distinct vector, so it is cheap on resample batches."""
    c = np.asarray(counts)
    flat = np.rint(c.reshape(-1, c.shape[-1])).astype(np.int64)
    if flat.shape[0] == 0:
        return np.zeros(c.shape[:-1], dtype=bool)
    uniq, inverse = np.unique(flat, axis=0, return_inverse=True)
    ok = np.fromiter((settled(row.tolist(), k) for row in uniq), dtype=bool, count=len(uniq))
    return ok[inverse.reshape(-1)].reshape(c.shape[:-1])


def _vote_columns(majority: pd.DataFrame) -> list[str]:
    return [c for c in majority.columns if c.startswith("votes_")]  # added in generator-id sort order


def check_allocation(allocation: str | None) -> None:
    if allocation is not None and allocation not in ALLOCATIONS:
        raise ValueError(f"allocation must be one of {', '.join(ALLOCATIONS)} (or not stated), got {allocation!r}")


def in_agreement(majority: pd.DataFrame, *, min_votes: int, allocation: str | None = None) -> np.ndarray:
    """Which voted targets enter the agreement analysis: ``>= min_votes`` votes; in a ``dynamic`` study, a majority
    of ``min_votes`` that the votes already settle (a target that reached ``min_votes`` votes is settled too)."""
    check_allocation(allocation)
    if allocation == "dynamic":
        return settled_mask(majority.loc[:, _vote_columns(majority)].to_numpy(), min_votes)
    return majority["n_votes"].to_numpy() >= min_votes


def settled_early(majority: pd.DataFrame, *, min_votes: int) -> int:
    """Voted targets whose kept votes settle a majority of ``min_votes`` with fewer than ``min_votes`` votes (two
    agreeing of three): where ``dynamic`` allocation stops, and what a fixed-k session rarely leaves."""
    cols = majority.loc[:, _vote_columns(majority)].to_numpy()
    early = majority["n_votes"].to_numpy() < min_votes
    return int((settled_mask(cols, min_votes) & early).sum())


def vote_summary(majority: pd.DataFrame, *, min_votes: int, allocation: str | None = None) -> dict[str, Any]:
    """votes_total, images_voted, votes_per_image_mean/_std, min_votes, images_with_min_votes, majority_ties,
    settled_targets (see the module's policies for ``dynamic`` studies)."""
    if min_votes < 1:
        raise ValueError(f"min_votes must be >= 1, got {min_votes}")
    n = majority["n_votes"].to_numpy(dtype=float)
    enough = in_agreement(majority, min_votes=min_votes, allocation=allocation)
    settled_all = settled_mask(majority.loc[:, _vote_columns(majority)].to_numpy(), min_votes)
    return {
        "votes_total": int(n.sum()),
        "images_voted": int(n.size),
        "votes_per_image_mean": float(n.mean()) if n.size >= 1 else None,
        "votes_per_image_std": float(n.std(ddof=1)) if n.size >= 2 else None,
        "min_votes": int(min_votes),
        "images_with_min_votes": int(enough.sum()),
        "majority_ties": int((majority["tie"].to_numpy() & enough).sum()),
        "majority_ties_all_voted": int(majority["tie"].sum()),
        "settled_targets": int(settled_all.sum()),
    }


def votes_per_image_distribution(majority: pd.DataFrame, *, n_targets: int) -> pd.DataFrame:
    """How many targets received 0, 1, 2, ... votes (targets never voted on included, from ``n_targets``)."""
    counts = majority["n_votes"].value_counts().sort_index()
    zero = n_targets - int(counts.sum())
    if zero < 0:
        raise ValueError(f"n_targets={n_targets} but {int(counts.sum())} targets have votes")
    table = pd.concat([pd.Series({0: zero}), counts]) if zero > 0 else counts
    return pd.DataFrame({"votes": table.index.astype(np.int64), "images": table.to_numpy(dtype=np.int64)})
