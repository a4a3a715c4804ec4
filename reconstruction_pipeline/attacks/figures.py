"""The paper's Fig. 6 / 7 / 9 analogues and the framing table, from a sweep's rows (matplotlib, Agg).

- ``fig6_error_vs_budget.png``: attribution error vs budget per attack family (kind + budget key), 95 % Wilson
  intervals, the clean error as a dashed line; panels: image l-inf, image l2, seed l-inf, unbounded (vs mean l2);
- ``fig6_ssim_vs_budget.png``: mean SSIM vs budget, same panels;
- ``fig7_examples.png``: the first target attacked by each family at its lowest, middle and highest budget;
- ``fig9_transfer.png``: classifier accuracy and attribution accuracy on the same adversarial images (clf-*);
- ``framing.csv`` / ``framing.md`` and ``framing_success.png``: success vs l2 budget and vs SSIM per ordered pair.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from contracts.atomic import atomic_write_bytes, atomic_write_text
from reconstruction_pipeline.attacks.experiment import CLEAN, SummaryRow, _file_name, framing_table, summarize

PANELS = {"eps": "image l-inf budget eps ([0,1] units)", "l2": "image l2 budget ([0,1] units)",
          "seed": "seed l-inf budget eps (seed units)", "c": "unbounded: mean l2 reached ([0,1] units)"}


def _panel(s: SummaryRow) -> str:
    if s.kind == "fgsm-seed":
        return "seed"
    return s.budget_key


def _x(s: SummaryRow) -> float:
    return s.l2_mean if s.budget_key == "c" else s.budget


def _families(summary: Sequence[SummaryRow]) -> dict[tuple[str, str], list[SummaryRow]]:
    fam: dict[tuple[str, str], list[SummaryRow]] = {}
    for s in summary:
        if s.kind in (CLEAN, "frame"):
            continue
        fam.setdefault((_panel(s), f"{s.kind} ({s.budget_key})"), []).append(s)
    return {k: sorted(v, key=_x) for k, v in fam.items()}


def _save(fig: Any, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())
    return path


def write_figures(out: Path, rows: Sequence[dict[str, Any]], *, framing_budgets: Sequence[float]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = summarize(rows)
    clean = next((s for s in summary if s.kind == CLEAN), None)
    fam = _families(summary)
    written: list[Path] = []
    panels = [p for p in PANELS if any(k[0] == p and not k[1].startswith("clf-") for k in fam)]
    for what, fname in (("error", "fig6_error_vs_budget.png"), ("ssim", "fig6_ssim_vs_budget.png")):
        if not panels:
            break
        fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False)
        for ax, panel in zip(axes[0], panels):
            for (p, label), ss in fam.items():
                if p != panel or label.startswith("clf-"):
                    continue
                x = [_x(s) for s in ss]
                if what == "error":
                    y = [s.error for s in ss]
                    err = [[s.error - s.error_low for s in ss], [s.error_high - s.error for s in ss]]
                    ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=label)
                else:
                    ax.plot(x, [s.ssim_mean for s in ss], marker="o", label=label)
            if what == "error" and clean is not None:
                ax.axhline(clean.error, color="grey", ls="--", lw=1, label="clean")
            ax.set_xlabel(PANELS[panel])
            ax.set_ylabel("attribution error" if what == "error" else "mean SSIM")
            if what == "error":
                ax.set_ylim(-0.02, 1.02)
            ax.legend(fontsize=7)
        fig.suptitle("attribution error vs budget (95% Wilson intervals)" if what == "error"
                     else "SSIM of the attacked image vs budget")
        written.append(_save(fig, out / fname))
        plt.close(fig)

    transfer = {k: v for k, v in fam.items() if k[1].startswith("clf-")}
    if transfer:
        fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6), squeeze=False)
        for ax, panel in zip(axes[0], ("eps", "l2")):
            for (p, label), ss in transfer.items():
                if (p == "eps") != (panel == "eps"):
                    continue
                x = [_x(s) for s in ss]
                line = ax.plot(x, [s.classifier_accuracy for s in ss], marker="o", label=f"{label}: classifier")
                ax.plot(x, [1 - s.error for s in ss], marker="s", ls="--", color=line[0].get_color(),
                        label=f"{label}: attribution")
            ax.set_xlabel(PANELS[panel] + ("" if panel == "eps" else " (CW: mean l2 reached)"))
            ax.set_ylabel("accuracy")
            ax.set_ylim(-0.02, 1.02)
            ax.legend(fontsize=7)
        fig.suptitle("transfer: adversarial examples crafted on the DCT classifier")
        written.append(_save(fig, out / "fig9_transfer.png"))
        plt.close(fig)

    written += _examples(out, fam, plt)
    written += _framing(out, rows, framing_budgets, plt)
    return written


def _examples(out: Path, fam: dict[tuple[str, str], list[SummaryRow]], plt: Any) -> list[Path]:
    clean_path = out / "examples" / f"{CLEAN}.npy"
    chosen = {k: v for k, v in fam.items() if len(v) >= 3}
    if not clean_path.is_file() or not chosen:
        return []
    original = np.load(clean_path)[0]
    fig, axes = plt.subplots(len(chosen), 4, figsize=(7.2, 1.9 * len(chosen)), squeeze=False)
    for r, ((_p, label), ss) in enumerate(chosen.items()):
        picks = [ss[0], ss[len(ss) // 2], ss[-1]]
        axes[r][0].imshow(np.clip((original.transpose(1, 2, 0) + 1) / 2, 0, 1), interpolation="nearest")
        axes[r][0].set_title("original", fontsize=7)
        axes[r][0].set_ylabel(label, fontsize=7)
        for c, s in enumerate(picks, start=1):
            path = out / "examples" / f"{_file_name(s.attack)}.npy"
            ax = axes[r][c]
            if path.is_file():
                img = np.load(path)[0]
                ax.imshow(np.clip((img.transpose(1, 2, 0) + 1) / 2, 0, 1), interpolation="nearest")
            ax.set_title(f"{s.budget_key}={s.budget:g}\nSSIM {s.ssim_mean:.2f}, err {s.error:.0%}", fontsize=7)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("the first target under each attack at three budgets (mean SSIM and error of the sweep)",
                 fontsize=8)
    path = _save(fig, out / "fig7_examples.png")
    plt.close(fig)
    return [path]


def _framing(out: Path, rows: Sequence[dict[str, Any]], budgets: Sequence[float], plt: Any) -> list[Path]:
    table = framing_table(rows, budgets)
    if not table:
        return []
    cols = list(table[0])
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    w.writerows(table)
    atomic_write_text(out / "framing.csv", buf.getvalue())
    head = ["true A", "framed as B", "n"] + [f"framed, l2 <= {b:g}" for b in budgets] + ["median smallest l2",
                                                                                           "SSIM when framed"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for t in table:
        cells = [t["true"], t["framed_as"], str(t["n"])] + [f"{t[f'success_l2<={b:g}']:.0%}" for b in budgets]
        med = t["median_min_l2"]
        cells += ["none found" if math.isinf(med) else f"{med:.3g}",
                  "" if math.isnan(t["ssim_framed"]) else f"{t['ssim_framed']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    atomic_write_text(out / "framing.md", "\n".join(lines) + "\n")

    frames = [r for r in rows if r["kind"] == "frame"]
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6))
    grid = np.linspace(0, max([float(r["budget"]) for r in frames]), 200)
    for t in table:
        pr = [r for r in frames if r["attack"] == t["attack"] and r["true_generator"] == t["true"]]
        mins = np.array([float(r["frame_min_l2"]) for r in pr])
        label = f"{t['true']} -> {t['framed_as']}"
        axes[0].plot(grid, [(mins <= g).mean() for g in grid], label=label)
        ss = np.array([float(r["ssim"]) if float(r["framed"]) > 0 else -np.inf for r in pr])
        sg = np.linspace(0.5, 1.0, 101)
        axes[1].plot(sg, [(ss >= s).mean() for s in sg], label=label)
    axes[0].set_xlabel("l2 budget ([0,1] units)")
    axes[0].set_ylabel("share framed")
    axes[1].set_xlabel("SSIM at least")
    axes[1].set_ylabel("share framed")
    axes[0].legend(fontsize=6)
    fig.suptitle("framing an innocent generator: success vs budget (every ordered pair)")
    path = _save(fig, out / "framing_success.png")
    plt.close(fig)
    return [out / "framing.csv", out / "framing.md", path]
