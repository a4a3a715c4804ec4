"""Per-participant accuracy and the placebo filter (paper §VI-D).

Policies (named, documented, tested):

- A participant is *kept* (valid) only if they answered at least one placebo round and their placebo accuracy is
  strictly above the threshold (the paper discards "less than or equal to 80%"). One with no placebo round cannot
  be checked and is not kept.
- Accuracy is measured on non-placebo rounds only. A kept participant with zero non-placebo rounds counts in
  ``participants_valid`` but has no accuracy (NaN) and is left out of ``accuracy_mean`` / ``accuracy_std``.
- ``accuracy_std`` is the sample standard deviation (ddof=1); with fewer than two participants who have an
  accuracy it is undefined (``None``), as is the mean with none.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analysis.statistics import wilson_arrays

PARTICIPANT_COLUMNS: tuple[str, ...] = (
    "participant_code", "participant_label", "rounds", "placebo_rounds", "placebo_correct", "placebo_accuracy",
    "answers", "correct", "accuracy", "accuracy_ci_low", "accuracy_ci_high", "mean_response_ms", "valid",
)


def participant_table(responses: pd.DataFrame, *, placebo_threshold: float) -> pd.DataFrame:
    """One row per participant with at least one answered round (columns :data:`PARTICIPANT_COLUMNS`)."""
    if not 0.0 <= placebo_threshold <= 1.0:
        raise ValueError(f"placebo_threshold must be in [0, 1], got {placebo_threshold}")
    r = responses
    placebo = r["is_placebo"].to_numpy()
    frame = pd.DataFrame({
        "participant_code": r["participant_code"],
        "placebo": placebo.astype(np.int64),
        "placebo_correct": (placebo & r["correct"].to_numpy()).astype(np.int64),
        "answer": (~placebo).astype(np.int64),
        "answer_correct": (~placebo & r["correct"].to_numpy()).astype(np.int64),
        "answer_ms": np.where(placebo, 0.0, r["response_ms"].to_numpy()),
    })
    g = frame.groupby("participant_code", sort=True)
    agg = g.agg(rounds=("placebo", "size"), placebo_rounds=("placebo", "sum"),
                placebo_correct=("placebo_correct", "sum"), answers=("answer", "sum"),
                correct=("answer_correct", "sum"), answer_ms=("answer_ms", "sum"))
    labels = r.groupby("participant_code", sort=True)["participant_label"].first()
    out = agg.reset_index()
    out["participant_label"] = out["participant_code"].map(labels)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["placebo_accuracy"] = np.where(out["placebo_rounds"] > 0,
                                           out["placebo_correct"] / out["placebo_rounds"], np.nan)
        out["accuracy"] = np.where(out["answers"] > 0, out["correct"] / out["answers"], np.nan)
        out["mean_response_ms"] = np.where(out["answers"] > 0, out["answer_ms"] / out["answers"], np.nan)
    out["accuracy_ci_low"], out["accuracy_ci_high"] = wilson_arrays(out["correct"].to_numpy(),
                                                                    out["answers"].to_numpy())
    # NaN > threshold is False: no placebo round -> not kept.
    out["valid"] = out["placebo_accuracy"].to_numpy() > placebo_threshold
    for col in ("rounds", "placebo_rounds", "placebo_correct", "answers", "correct"):
        out[col] = out[col].astype(np.int64)
    return out.loc[:, list(PARTICIPANT_COLUMNS)]


def accuracy_summary(participants: pd.DataFrame) -> dict[str, Any]:
    """participants_total, participants_valid, participants_with_accuracy, accuracy_mean, accuracy_std."""
    valid = participants[participants["valid"]]
    acc = valid["accuracy"].dropna().to_numpy(dtype=float)
    return {
        "participants_total": int(len(participants)),
        "participants_valid": int(len(valid)),
        "participants_with_accuracy": int(acc.size),
        "accuracy_mean": float(acc.mean()) if acc.size >= 1 else None,
        "accuracy_std": float(acc.std(ddof=1)) if acc.size >= 2 else None,
    }


def placebo_distribution(participants: pd.DataFrame) -> pd.DataFrame:
    """How many participants reached each placebo score (correct of rounds), and whether that score is kept.

    Participants with no placebo round appear as one row with ``placebo_rounds == 0``.
    """
    p = participants
    table = (p.groupby(["placebo_rounds", "placebo_correct"], sort=True)
             .agg(participants=("participant_code", "size"), kept=("valid", "sum"))
             .reset_index())
    with np.errstate(invalid="ignore", divide="ignore"):
        table["placebo_accuracy"] = np.where(table["placebo_rounds"] > 0,
                                             table["placebo_correct"] / table["placebo_rounds"], np.nan)
    table["kept"] = table["kept"].astype(np.int64)
    return table.loc[:, ["placebo_correct", "placebo_rounds", "placebo_accuracy", "participants", "kept"]]
