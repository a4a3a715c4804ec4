"""The report's figures (matplotlib, Agg backend, no pyplot state): each function takes tidy tables and returns
PNG bytes, so they embed in the HTML report as base64 and can be shown in a notebook with ``IPython.display``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from analysis.algorithm import confusion_wide

DPI = 100


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def participant_accuracy(participants: pd.DataFrame, *, placebo_threshold: float) -> bytes:
    """Left: placebo accuracy of every participant with the exclusion line. Right: accuracy on non-placebo rounds,
    kept and excluded participants stacked."""
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    bins = np.linspace(0, 1, 21)
    plac = participants["placebo_accuracy"].dropna().to_numpy(dtype=float)
    ax1.hist(plac, bins=bins, color="#777777", edgecolor="white")
    ax1.axvline(placebo_threshold, color="#c0392b", linestyle="--", label=f"kept only if > {placebo_threshold:g}")
    ax1.set_xlabel("placebo accuracy")
    ax1.set_ylabel("participants")
    none = int(participants["placebo_accuracy"].isna().sum())
    ax1.set_title(f"placebo rounds ({none} without one, not kept)" if none else "placebo rounds")
    ax1.legend(loc="upper left", fontsize=8)
    kept = participants.loc[participants["valid"], "accuracy"].dropna().to_numpy(dtype=float)
    dropped = participants.loc[~participants["valid"], "accuracy"].dropna().to_numpy(dtype=float)
    ax2.hist([kept, dropped], bins=bins, stacked=True, color=["#2471a3", "#d5d8dc"],
             label=[f"kept ({kept.size})", f"excluded ({dropped.size})"], edgecolor="white")
    if kept.size:
        ax2.axvline(float(kept.mean()), color="#1b4f72", linestyle=":", label=f"kept mean {kept.mean():.3f}")
    ax2.set_xlabel("accuracy on non-placebo rounds")
    ax2.set_ylabel("participants")
    ax2.set_title("participant accuracy")
    ax2.legend(loc="upper left", fontsize=8)
    return _png(fig)


def confusion_matrix(tidy: pd.DataFrame, generators: Sequence[str], *, title: str, xlabel: str) -> bytes:
    """Row-normalised confusion matrix (true generator x chosen/attributed), counts and shares in the cells."""
    gens = list(generators)
    share = confusion_wide(tidy, "row_share").reindex(index=gens, columns=gens).to_numpy(dtype=float)
    count = confusion_wide(tidy, "count").reindex(index=gens, columns=gens).to_numpy(dtype=float)
    fig = Figure(figsize=(1.0 * len(gens) + 2.0, 0.85 * len(gens) + 1.4), layout="constrained")
    ax = fig.subplots()
    ax.imshow(np.nan_to_num(share), cmap="Blues", vmin=0, vmax=1)
    for i in range(len(gens)):
        for j in range(len(gens)):
            s = share[i, j]
            text = "-" if np.isnan(s) else f"{100 * s:.1f}%\n({int(count[i, j])})"
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if not np.isnan(s) and s > 0.6 else "black")
    ax.set_xticks(range(len(gens)), gens, rotation=20)
    ax.set_yticks(range(len(gens)), gens)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("true generator")
    ax.set_title(title, fontsize=10)
    return _png(fig)


def agreement_matrix(matrix: dict[str, int]) -> bytes:
    """The 2x2 human-majority x algorithm correctness matrix (paper Fig. 10 layout)."""
    cells = np.array([[matrix["human_incorrect_algo_incorrect"], matrix["human_incorrect_algo_correct"]],
                      [matrix["human_correct_algo_incorrect"], matrix["human_correct_algo_correct"]]], dtype=float)
    total = cells.sum()
    fig = Figure(figsize=(3.8, 3.0), layout="constrained")
    ax = fig.subplots()
    ax.imshow(cells / total if total else cells, cmap="Greens", vmin=0, vmax=1)
    for i in range(2):
        for j in range(2):
            frac = f"\n{100 * cells[i, j] / total:.1f}%" if total else ""
            ax.text(j, i, f"{int(cells[i, j])}{frac}", ha="center", va="center", fontsize=10,
                    color="white" if total and cells[i, j] / total > 0.6 else "black")
    ax.set_xticks([0, 1], ["incorrect", "correct"])
    ax.set_yticks([0, 1], ["incorrect", "correct"])
    ax.set_xlabel("algorithm (relaxed attribution)")
    ax.set_ylabel("human majority vote")
    ax.set_title(f"{int(total)} images", fontsize=10)
    return _png(fig)


def votes_per_image(distribution: pd.DataFrame, *, min_votes: int) -> bytes:
    """Bar chart: number of targets per vote count (0 included), the min-votes cut marked."""
    fig = Figure(figsize=(5.5, 3.2), layout="constrained")
    ax = fig.subplots()
    v = distribution["votes"].to_numpy()
    n = distribution["images"].to_numpy()
    ax.bar(v, n, color=np.where(v >= min_votes, "#2471a3", "#aab7b8"), width=0.8)
    ax.axvline(min_votes - 0.5, color="#c0392b", linestyle="--", label=f">= {min_votes} votes: agreement analysis")
    ax.set_xlabel("votes per image")
    ax.set_ylabel("images")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # counts: whole numbers only
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8)
    return _png(fig)


def response_time(votes: pd.DataFrame) -> bytes:
    """Box plots of response time (s) for correct and incorrect votes (log scale)."""
    fig = Figure(figsize=(4.8, 3.2), layout="constrained")
    ax = fig.subplots()
    data = [votes.loc[votes["correct"], "response_ms"].to_numpy(dtype=float) / 1000,
            votes.loc[~votes["correct"], "response_ms"].to_numpy(dtype=float) / 1000]
    labels = [f"correct ({data[0].size})", f"incorrect ({data[1].size})"]
    present = [(d, lab) for d, lab in zip(data, labels) if d.size]
    if present:
        ax.boxplot([d for d, _ in present], tick_labels=[lab for _, lab in present], showfliers=False)
    ax.set_ylabel("response time (s)")
    return _png(fig)


def accuracy_vs_attempts(table: pd.DataFrame) -> bytes:
    """The algorithm's error rate with the first k attempts, Wilson 95% band (paper Fig. 5)."""
    fig = Figure(figsize=(4.8, 3.2), layout="constrained")
    ax = fig.subplots()
    k = table["attempts"].to_numpy()
    err = 100 * table["error_rate"].to_numpy(dtype=float)
    lo = 100 * (1 - table["ci_high"].to_numpy(dtype=float))
    hi = 100 * (1 - table["ci_low"].to_numpy(dtype=float))
    ax.fill_between(k, lo, hi, color="#aed6f1", label="Wilson 95%")
    ax.plot(k, err, marker="o", color="#1b4f72", label="error rate")
    ax.set_xticks(k)
    ax.set_xlabel("reconstruction attempts used")
    ax.set_ylabel("attribution error (%)")
    ax.legend(fontsize=8)
    return _png(fig)


def accuracy_by_condition(robustness: pd.DataFrame) -> bytes:
    """Accuracy per condition, people (mean participant accuracy, participant-bootstrap 95% interval) and the
    algorithm (share of the condition's targets, Wilson 95% interval) side by side."""
    conds = robustness["condition"].astype(str).tolist()
    x = np.arange(len(conds))
    width = 0.38
    fig = Figure(figsize=(max(4.8, 1.1 * len(conds) + 2.0), 3.4), layout="constrained")
    ax = fig.subplots()
    for offset, (label, col, lo, hi, colour) in zip((-width / 2, width / 2), (
            ("people (mean participant accuracy)", "human_accuracy", "human_ci_low", "human_ci_high", "#2471a3"),
            ("algorithm", "algorithm_accuracy", "algorithm_ci_low", "algorithm_ci_high", "#aab7b8"))):
        value = 100 * pd.to_numeric(robustness[col], errors="coerce").to_numpy(dtype=float)
        low = 100 * pd.to_numeric(robustness[lo], errors="coerce").to_numpy(dtype=float)
        high = 100 * pd.to_numeric(robustness[hi], errors="coerce").to_numpy(dtype=float)
        err = np.vstack([np.where(np.isnan(low), 0, value - low), np.where(np.isnan(high), 0, high - value)])
        err = np.clip(np.nan_to_num(err), 0, None)  # rounding, or a percentile interval that misses the estimate
        ax.bar(x + offset, np.nan_to_num(value), width, yerr=np.nan_to_num(err), capsize=3, color=colour,
               label=label, edgecolor="white")
    ax.set_xticks(x, conds, rotation=20 if len(conds) > 4 else 0)
    ax.set_ylim(0, 119)
    ax.set_ylabel("accuracy (%)")
    ax.set_xlabel("condition")
    ax.legend(fontsize=8, loc="upper center", ncols=2, frameon=False)
    return _png(fig)
