"""Intervals that respect the clustering of answers within participants (seeded, reproducible).

*Participant-clustered bootstrap*: resample kept participants with replacement, keep all of each drawn
participant's answers (a participant drawn twice answers twice), recompute the statistic; percentile interval.
Used for the statistics that average answers: ``accuracy_mean`` (mean per-participant accuracy),
``vote_accuracy`` (pooled share of correct votes) and ``vote_agreement`` (pooled share of votes for the algorithm's
generator).

*Delete-one-participant jackknife* (normal interval, clipped to the statistic's range): used for the majority-vote
statistics on targets with ``>= min_votes`` votes -- ``label_agreement``, ``cohen_kappa``, ``soft_agreement``,
``human_majority_accuracy``. The bootstrap is biased for these: a participant drawn twice casts two identical
votes, so targets with one or two distinct voters enter the ``>= min_votes`` set and their "majority" is one
person's answer (in a simulated study the bootstrap interval of label agreement lay entirely below the estimate).
The bootstrap's percentile interval is still reported beside it (``bootstrap_low``/``_high``) for transparency.
The jackknife is conservative here (the ``>= min_votes`` threshold makes the statistic non-smooth and the
jackknife variance is biased upwards): in simulated studies its coverage was above 95% with intervals about 1.6x
wider than the spread across studies (``bench/analysis_report.py --coverage N`` measures it).

The set of kept participants is fixed (the placebo filter is not re-run). A resample where a statistic is undefined
(e.g. no target reaches ``min_votes``) is left out and counted in ``resamples_defined``.

All resamples are computed at once: a draw is a weight vector over participants, and the vote counts of every
(target, generator) for a batch of draws are one sparse matrix product.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.stats import norm

from analysis.votes import settled_mask

BOOTSTRAP_STATISTICS: tuple[str, ...] = ("accuracy_mean", "vote_accuracy", "vote_agreement")
JACKKNIFE_STATISTICS: tuple[str, ...] = ("label_agreement", "cohen_kappa", "soft_agreement", "human_majority_accuracy")
RANGES: dict[str, tuple[float, float]] = {"cohen_kappa": (-1.0, 1.0)}


@dataclass(frozen=True)
class VoteArrays:
    """The kept participants' votes as arrays, fixed across resamples: a resample only changes the participant
    weights passed to :meth:`statistics`. Index order: participants as kept, targets (voted ones) and generators
    sorted."""

    votes_matrix: sparse.csr_matrix   # participants x (target, generator): vote counts
    n_targets: int
    n_gens: int
    algo: np.ndarray                  # per target: the algorithm's generator (index)
    truth: np.ndarray                 # per target: the true generator (index)
    accuracy: np.ndarray              # per participant (NaN: no non-placebo answer)
    answers: np.ndarray               # per participant: non-placebo answers
    correct: np.ndarray               # per participant: correct answers
    for_algo_votes: np.ndarray        # per participant: votes for the algorithm's generator
    min_votes: int
    dynamic: bool                     # majority statistics over settled targets (dynamic allocation)

    @property
    def n_participants(self) -> int:
        return int(self.votes_matrix.shape[0])

    def statistics(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        """Each statistic for a batch of participant weight vectors ``weights`` [B, N] -> arrays [B]."""
        b, n_targets, n_gens, algo = weights.shape[0], self.n_targets, self.n_gens, self.algo
        counts = np.asarray((self.votes_matrix.T @ weights.T).T, dtype=np.float32).reshape(b, n_targets, n_gens)
        # Majority vote with the contract tie rule: strict '>' keeps the first (lowest sorted id) of tied maxima.
        maj = np.zeros((b, n_targets), dtype=np.int64)
        top = counts[:, :, 0].copy()
        n = counts[:, :, 0].copy()
        for g in range(1, n_gens):
            c = counts[:, :, g]
            better = c > top
            maj[better] = g
            np.maximum(top, c, out=top)
            n += c
        mask = settled_mask(counts, self.min_votes) if self.dynamic else n >= self.min_votes          # B x T
        m = mask.sum(axis=1).astype(float)
        for_algo = np.take_along_axis(counts, np.broadcast_to(algo[None, :, None], (b, n_targets, 1)), axis=2)[..., 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            agree = ((maj == algo[None, :]) & mask).sum(axis=1) / m
            human_acc = ((maj == self.truth[None, :]) & mask).sum(axis=1) / m
            soft = (np.where(mask, for_algo / np.where(n > 0, n, 1), 0.0)).sum(axis=1, dtype=np.float64) / m
            pe = np.zeros(b)
            for g in range(n_gens):
                p_maj = ((maj == g) & mask).sum(axis=1) / m
                p_algo = (mask & (algo == g)[None, :]).sum(axis=1) / m
                pe += p_maj * p_algo
            kappa = np.where(pe < 1.0 - 1e-12, (agree - pe) / (1.0 - pe), np.nan)
            acc_w = weights * ~np.isnan(self.accuracy)[None, :]
            acc_mean = (acc_w * np.nan_to_num(self.accuracy)[None, :]).sum(axis=1) / acc_w.sum(axis=1)
            vote_acc = (weights @ self.correct) / (weights @ self.answers)
            vote_agree = (weights @ self.for_algo_votes) / (weights @ self.answers)
        return {"accuracy_mean": acc_mean, "vote_accuracy": vote_acc, "vote_agreement": vote_agree,
                "label_agreement": agree, "cohen_kappa": kappa,
                "soft_agreement": soft, "human_majority_accuracy": human_acc}


MIN_PARTICIPANTS_FOR_INTERVAL = 2  # participant-level intervals need at least two kept participants
STATISTICS: tuple[str, ...] = (*BOOTSTRAP_STATISTICS, *JACKKNIFE_STATISTICS)


def vote_arrays(participants: pd.DataFrame, votes: pd.DataFrame, targets: pd.DataFrame, generators: Sequence[str],
                *, min_votes: int, dynamic: bool) -> VoteArrays:
    """The kept participants' ``votes`` (``analysis.votes.valid_votes``) indexed as arrays."""
    gens = sorted(generators)
    kept = participants[participants["valid"]].reset_index(drop=True)
    p_index = {c: i for i, c in enumerate(kept["participant_code"].tolist())}
    voted = sorted(set(votes["target_id"]))
    t_index = {t: i for i, t in enumerate(voted)}
    g_index = {g: i for i, g in enumerate(gens)}
    n_p, n_t, n_g = len(p_index), len(voted), len(gens)
    rows = votes["participant_code"].map(p_index).to_numpy(dtype=np.int64)
    cols = (votes["target_id"].map(t_index).to_numpy(dtype=np.int64) * n_g
            + votes["chosen_generator"].map(g_index).to_numpy(dtype=np.int64))
    tinfo = targets.set_index("target_id").reindex(voted)
    algo_of_vote = votes["target_id"].map(tinfo["algo_generator"]).to_numpy(dtype=object)
    return VoteArrays(
        votes_matrix=sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_p, n_t * n_g)),
        n_targets=n_t, n_gens=n_g,
        algo=tinfo["algo_generator"].map(g_index).to_numpy(dtype=np.int64),
        truth=tinfo["true_generator"].map(g_index).to_numpy(dtype=np.int64),
        accuracy=kept["accuracy"].to_numpy(dtype=float),
        answers=kept["answers"].to_numpy(dtype=float),
        correct=kept["correct"].to_numpy(dtype=float),
        for_algo_votes=np.bincount(rows[(votes["chosen_generator"].to_numpy(dtype=object) == algo_of_vote)],
                                   minlength=n_p).astype(float),
        min_votes=min_votes, dynamic=dynamic)


def bootstrap_draws(arrays: VoteArrays, *, n_resamples: int, seed: int, batch: int) -> dict[str, np.ndarray]:
    """Every statistic on ``n_resamples`` participant resamples (with replacement), ``batch`` at a time."""
    n_p = arrays.n_participants
    draws: dict[str, list[np.ndarray]] = {k: [] for k in STATISTICS}
    if n_resamples and n_p:
        rng = np.random.default_rng(seed)
        done = 0
        while done < n_resamples:
            b = min(batch, n_resamples - done)
            idx = rng.integers(0, n_p, size=(b, n_p))
            flat = (np.arange(b)[:, None] * n_p + idx).ravel()
            w = np.bincount(flat, minlength=b * n_p).reshape(b, n_p).astype(float)
            for k, v in arrays.statistics(w).items():
                draws[k].append(v)
            done += b
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in draws.items()}


def jackknife_values(arrays: VoteArrays, *, batch: int) -> dict[str, np.ndarray]:
    """Every statistic with each participant left out in turn (none with fewer than 2 participants)."""
    n_p = arrays.n_participants
    leave_out: dict[str, list[np.ndarray]] = {k: [] for k in STATISTICS}
    for start in range(0, n_p if n_p >= 2 else 0, batch):
        stop = min(n_p, start + batch)
        w = np.ones((stop - start, n_p))
        w[np.arange(stop - start), np.arange(start, stop)] = 0.0
        for k, v in arrays.statistics(w).items():
            leave_out[k].append(v)
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in leave_out.items()}


def interval_row(statistic: str, *, estimate: float, bootstrap: np.ndarray, jackknife: np.ndarray,
                 n_participants: int, n_resamples: int, confidence: float, seed: int) -> dict[str, Any]:
    """One row of :func:`participant_intervals`' table from the statistic's resampled values."""
    alpha = 1 - confidence
    z = float(norm.ppf(1 - alpha / 2))
    defined = bootstrap[np.isfinite(bootstrap)]
    b_lo, b_hi = (np.quantile(defined, [alpha / 2, 1 - alpha / 2]) if defined.size else (np.nan, np.nan))
    est, jack = estimate, jackknife
    se = (float(np.sqrt((jack.size - 1) / jack.size * np.sum((jack - jack.mean()) ** 2)))
          if jack.size >= 2 and np.all(np.isfinite(jack)) and math.isfinite(est) else math.nan)
    if statistic in JACKKNIFE_STATISTICS:
        low, high = RANGES.get(statistic, (0.0, 1.0))
        lo, hi = max(low, est - z * se), min(high, est + z * se)
        method = "delete-one-participant jackknife (normal)"
    else:
        lo, hi = float(b_lo), float(b_hi)
        method = "participant-clustered bootstrap (percentile)"
    if n_participants < MIN_PARTICIPANTS_FOR_INTERVAL or not math.isfinite(est):
        # one participant: every resample is that participant (an interval of zero width reads as certainty);
        # an undefined statistic has no interval (max(0, nan) would have made one of the full range)
        lo = hi = b_lo = b_hi = math.nan
    elif statistic in JACKKNIFE_STATISTICS and not math.isfinite(se):
        lo = hi = math.nan
    return {"statistic": statistic, "estimate": est, "ci_low": lo, "ci_high": hi, "method": method,
            "bootstrap_low": float(b_lo), "bootstrap_high": float(b_hi), "jackknife_se": se,
            "resamples": int(n_resamples if n_participants else 0), "resamples_defined": int(defined.size),
            "confidence": confidence, "seed": int(seed)}


def participant_intervals(participants: pd.DataFrame, votes: pd.DataFrame, targets: pd.DataFrame,
                          generators: Sequence[str], *, min_votes: int, n_resamples: int, seed: int,
                          confidence: float = 0.95, batch: int | None = None,
                          allocation: str | None = None) -> pd.DataFrame:
    """Tidy table, one row per statistic: ``statistic, estimate, ci_low, ci_high, method, bootstrap_low,
    bootstrap_high, jackknife_se, resamples, resamples_defined, confidence, seed``.

    ``allocation='dynamic'``: the majority-vote statistics use the targets whose resampled votes settle a majority
    of ``min_votes`` (``analysis.votes.in_agreement``), as the estimate does.

    ``estimate`` is the statistic on the data as observed (every kept participant once). With ``n_resamples == 0``
    the bootstrap columns are NaN (the jackknife needs no randomness and is always computed).
    """
    if n_resamples < 0:
        raise ValueError(f"n_resamples must be >= 0, got {n_resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    arrays = vote_arrays(participants, votes, targets, generators, min_votes=min_votes,
                         dynamic=allocation == "dynamic")
    size = batch or max(1, int(4e6 // max(1, arrays.n_targets * arrays.n_gens)))
    observed = arrays.statistics(np.ones((1, arrays.n_participants)))
    draws = bootstrap_draws(arrays, n_resamples=n_resamples, seed=seed, batch=size)
    leave_out = jackknife_values(arrays, batch=size)
    return pd.DataFrame([
        interval_row(k, estimate=float(observed[k][0]), bootstrap=draws[k], jackknife=leave_out[k],
                     n_participants=arrays.n_participants, n_resamples=n_resamples, confidence=confidence,
                     seed=seed)
        for k in STATISTICS])
