"""Votes, votes per image and the majority vote with the contract's tie rule.

A *vote* is a non-placebo answer by a kept (valid) participant. Policies:

- ``votes_per_image_mean`` / ``_std`` are over images with at least one vote; the std is the sample std (ddof=1,
  like ``accuracy_std``), undefined (``None``) with fewer than two such images.
- Majority vote: the generator with the most votes; ties go to the lowest generator id in sort order (contract).
  ``majority_ties`` counts the tied targets among those entering the agreement analysis (``n_votes >= min_votes``);
  ``majority_ties_all_voted`` counts them over every voted target.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd


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


def vote_summary(majority: pd.DataFrame, *, min_votes: int) -> dict[str, Any]:
    """votes_total, images_voted, votes_per_image_mean/_std, min_votes, images_with_min_votes, majority_ties."""
    if min_votes < 1:
        raise ValueError(f"min_votes must be >= 1, got {min_votes}")
    n = majority["n_votes"].to_numpy(dtype=float)
    enough = majority["n_votes"].to_numpy() >= min_votes
    return {
        "votes_total": int(n.sum()),
        "images_voted": int(n.size),
        "votes_per_image_mean": float(n.mean()) if n.size >= 1 else None,
        "votes_per_image_std": float(n.std(ddof=1)) if n.size >= 2 else None,
        "min_votes": int(min_votes),
        "images_with_min_votes": int(enough.sum()),
        "majority_ties": int((majority["tie"].to_numpy() & enough).sum()),
        "majority_ties_all_voted": int(majority["tie"].sum()),
    }


def votes_per_image_distribution(majority: pd.DataFrame, *, n_targets: int) -> pd.DataFrame:
    """How many targets received 0, 1, 2, ... votes (targets never voted on included, from ``n_targets``)."""
    counts = majority["n_votes"].value_counts().sort_index()
    zero = n_targets - int(counts.sum())
    if zero < 0:
        raise ValueError(f"n_targets={n_targets} but {int(counts.sum())} targets have votes")
    table = pd.concat([pd.Series({0: zero}), counts]) if zero > 0 else counts
    return pd.DataFrame({"votes": table.index.astype(np.int64), "images": table.to_numpy(dtype=np.int64)})
