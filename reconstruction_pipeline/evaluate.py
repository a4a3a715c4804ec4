"""Attribution accuracy of a bundle (paper section IV-C4): accuracy, confusion matrix (Fig. 4, rows = true
generator), accuracy against the number of attempts 1..m (Fig. 5: with k attempts, the first k), and -- when the
bundle carries loss curves -- accuracy against the number of optimisation steps.

Attribution itself is :func:`contracts.bundle.attribute` (paper eq. 5, ties to the lowest generator id).

Conditions (schema_version 2 bundles; section VI-B, Table I): per condition, the attribution accuracy and error rate
with 95 % Wilson intervals (scipy's ``binomtest(...).proportion_ci(method="wilson")``) using the first 3 attempts
and, when the bundle has at least 10, all of them (the paper's "3 seeds" and "10 seeds"), and how much the condition
changed the image: SSIM (torchmetrics, Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, on [0, 1]
pixels, ``data_range=1``) and PSNR (dB, ``data_range=1``) of each perturbed target against its clean source, averaged
over targets (needs the clean source in the bundle's ``data/targets.npy``). The mirror countermeasure
(``also_mirrored``): attribute a mirrored image *and* its mirror image, per generator the smaller distance; the
mirror of a ``mirror`` target is exactly its clean source, whose reconstructions the bundle already holds, so this
row needs the ``clean`` and ``mirror`` conditions and no new reconstruction.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from collections.abc import Sequence
from typing import Any

import numpy as np

from contracts.atomic import atomic_write_bytes, atomic_write_text
from contracts.bundle import Bundle, Target, attribute
from contracts.conditions import CLEAN

FIRST_ATTEMPTS = 3  # the paper's "3 seeds"
ALL_ATTEMPTS_FROM = 10  # the paper's "10 seeds": reported when the bundle has at least this many attempts
MIRROR = "mirror"
ALSO_MIRRORED = "mirror, also mirrored"


@dataclass(frozen=True)
class Evaluation:
    generators: tuple[str, ...]
    n_targets: int
    accuracy: float
    per_generator: dict[str, float]
    confusion: list[list[int]]  # [true][attributed], in ``generators`` order
    accuracy_by_attempts: list[tuple[int, float]]
    accuracy_by_steps: list[tuple[int, float]]


def accuracy_of(truth: dict[str, str], attributed: dict[str, str]) -> float:
    return sum(attributed[t] == g for t, g in truth.items()) / len(truth)


def confusion_matrix(truth: dict[str, str], attributed: dict[str, str], generators: tuple[str, ...]) -> list[list[int]]:
    index = {g: i for i, g in enumerate(generators)}
    m = [[0] * len(generators) for _ in generators]
    for t, g in truth.items():
        m[index[g]][index[attributed[t]]] += 1
    return m


def read_curves(bundle: Bundle) -> tuple[list[int], dict[tuple[str, str, int], list[float]]] | None:
    """``data/loss_curves.csv`` written by the builder (an extra file of the bundle), or None when absent."""
    path = bundle.root / "data" / "loss_curves.csv"
    if not path.is_file():
        return None
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    steps = [int(h.removeprefix("step_")) for h in header[3:]]
    return steps, {(r[0], r[1], int(r[2])): [float(v) for v in r[3:]] for r in body}


def evaluate_bundle(bundle: Bundle) -> Evaluation:
    gens = tuple(bundle.generator_ids)
    truth = {t.target_id: t.true_generator for t in bundle.targets}
    attributed = bundle.algorithm_attribution()
    by_attempts = []
    for k in range(1, bundle.attempts + 1):
        att_k = attribute((r.target_id, r.generator, r.distance) for r in bundle.reconstructions if r.attempt < k)
        by_attempts.append((k, accuracy_of(truth, att_k)))
    by_steps: list[tuple[int, float]] = []
    curves = read_curves(bundle)
    if curves is not None:
        steps, values = curves
        for j, s in enumerate(steps):
            att_s = attribute((t, g, v[j]) for (t, g, _a), v in values.items())
            by_steps.append((s, accuracy_of(truth, att_s)))
    conf = confusion_matrix(truth, attributed, gens)
    per_gen = {g: (conf[i][i] / sum(conf[i]) if sum(conf[i]) else float("nan")) for i, g in enumerate(gens)}
    return Evaluation(gens, len(truth), accuracy_of(truth, attributed), per_gen, conf, by_attempts, by_steps)


@dataclass(frozen=True)
class Rate:
    """``correct`` of ``n`` attributed right; accuracy, error and the 95 % Wilson interval of the accuracy."""

    correct: int
    n: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else float("nan")

    @property
    def error(self) -> float:
        return 1 - self.accuracy

    def interval(self) -> tuple[float, float]:
        """95 % Wilson interval of the accuracy (of the error: ``1 - high, 1 - low``)."""
        return wilson(self.correct, self.n)


def wilson(k: int, n: int) -> tuple[float, float]:
    """95 % Wilson score interval of k successes in n (scipy's ``binomtest(...).proportion_ci``); (nan, nan) for
    n = 0. The one interval of the pipeline's reports (evaluate, compare, attacks)."""
    if n == 0:
        return (math.nan, math.nan)
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return (float(ci.low), float(ci.high))


@dataclass(frozen=True)
class ConditionRow:
    """One row of Table I: ``first`` uses the first ``first_k`` attempts, ``all`` every attempt (None below 10)."""

    condition: str
    targets: int
    first_k: int
    first: Rate
    all: Rate | None
    ssim: float | None
    psnr: float | None
    all_k: int = 0  # attempts behind ``all``


class EvaluationError(ValueError):
    """An evaluation the bundle cannot support (one line)."""


def _rate(bundle: Bundle, targets: Sequence[Target], k: int,
          pairs: dict[str, str] | None = None) -> Rate:
    """Attribution accuracy of ``targets`` with the first ``k`` attempts; ``pairs`` maps a target to another whose
    distances count as its own (the mirror countermeasure)."""
    wanted = {t.target_id for t in targets}
    owner: dict[str, list[str]] = {}
    for t in targets:
        owner.setdefault(t.target_id, []).append(t.target_id)
        if pairs and t.target_id in pairs:
            owner.setdefault(pairs[t.target_id], []).append(t.target_id)
    rows = ((o, r.generator, r.distance) for r in bundle.reconstructions if r.attempt < k and r.target_id in owner
            for o in owner[r.target_id])
    att = attribute(rows)
    return Rate(sum(att[t.target_id] == t.true_generator for t in targets if t.target_id in wanted), len(targets))


def image_quality(perturbed: np.ndarray, clean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image SSIM and PSNR (dB) of ``perturbed`` against ``clean``, both [N, 3, H, W] in [-1, 1].

    SSIM: torchmetrics' SSIM map with Wang et al.'s settings (Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03) on
    [0, 1] pixels, ``data_range=1``, averaged over the pixels where the whole window lies inside the image (as Wang
    et al.'s reference code and scikit-image; torchmetrics' own mean also counts a padded border); PSNR:
    ``data_range=1`` (identical images: inf). Images must be larger than 11 x 11.
    """
    import torch
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    p = (torch.from_numpy(np.asarray(perturbed, dtype=np.float64)) + 1) / 2
    c = (torch.from_numpy(np.asarray(clean, dtype=np.float64)) + 1) / 2
    out = structural_similarity_index_measure(p, c, gaussian_kernel=True, sigma=1.5, kernel_size=11, k1=0.01,
                                              k2=0.03, data_range=1.0, reduction="none", return_full_image=True)
    assert isinstance(out, tuple)
    r = 5  # the window's radius: as Wang et al.'s reference code, average the map where the window fits the image
    ssim = out[1][..., r:-r, r:-r].mean(dim=(1, 2, 3))
    psnr = peak_signal_noise_ratio(p, c, data_range=1.0, reduction="none", dim=(1, 2, 3))
    assert isinstance(psnr, torch.Tensor)
    return ssim.numpy(), psnr.numpy()


def _data_images(bundle: Bundle) -> np.ndarray | None:
    path = bundle.root / "data" / "targets.npy"
    if not path.is_file() or any("data_row" not in t.extra for t in bundle.targets):
        return None
    return np.load(path, allow_pickle=False)


def evaluate_conditions(bundle: Bundle, *, also_mirrored: bool = False) -> list[ConditionRow]:
    """Table I of the bundle: one :class:`ConditionRow` per condition in build order (+ the countermeasure row)."""
    k = min(FIRST_ATTEMPTS, bundle.attempts)
    full = bundle.attempts >= ALL_ATTEMPTS_FROM
    by_cond: dict[str, list[Target]] = {c: [] for c in bundle.condition_names}
    for t in bundle.targets:
        by_cond[t.condition].append(t)
    by_id = {t.target_id: t for t in bundle.targets}
    data = _data_images(bundle)
    rows: list[ConditionRow] = []
    for name, targets in by_cond.items():
        if not targets:
            continue
        ssim = psnr = None
        if data is not None and name != CLEAN:
            rows_ = [(int(t.extra["data_row"]), int(by_id[t.source_target].extra["data_row"])) for t in targets
                     if t.source_target in by_id]
            if rows_:
                s, p = image_quality(data[[a for a, _ in rows_]], data[[b for _, b in rows_]])
                ssim, psnr = float(np.mean(s)), float(np.mean(p))
        rows.append(ConditionRow(name, len(targets), k, _rate(bundle, targets, k),
                                 _rate(bundle, targets, bundle.attempts) if full else None, ssim, psnr,
                                 bundle.attempts))
    if also_mirrored:
        clean_of = {t.source_target: t for t in by_cond.get(CLEAN, [])}
        mirrored = [t for t in by_cond.get(MIRROR, []) if t.source_target in clean_of]
        if not mirrored:
            raise EvaluationError(f"--also-mirrored needs the conditions {CLEAN!r} and {MIRROR!r} in the bundle (the "
                                  f"mirror of a mirrored target is its clean source); this bundle has "
                                  f"{', '.join(bundle.condition_names)}. Build with --conditions clean,mirror,...")
        pairs = {t.target_id: clean_of[t.source_target].target_id for t in mirrored}
        rows.append(ConditionRow(ALSO_MIRRORED, len(mirrored), k, _rate(bundle, mirrored, k, pairs),
                                 _rate(bundle, mirrored, bundle.attempts, pairs) if full else None, None, None,
                                 bundle.attempts))
    return rows


def _pct_ci(rate: Rate) -> str:
    lo, hi = rate.interval()
    return f"{rate.error:6.1%} [{1 - hi:.1%}, {1 - lo:.1%}]"


def conditions_text(rows: Sequence[ConditionRow]) -> str:
    """Table I as text: error rate (95 % Wilson interval), SSIM and PSNR per condition."""
    if not rows:
        return ""
    k = rows[0].first_k
    full = rows[0].all is not None
    w = max(10, *(len(r.condition) for r in rows)) + 2
    head = "condition".ljust(w) + "targets".rjust(8) + f"   error, {k} attempts".ljust(27)
    if full:
        head += f"error, {rows[0].all_k} attempts".ljust(27)
    head += "SSIM".rjust(8) + "PSNR dB".rjust(9)
    lines = ["attribution error per condition (95 % Wilson intervals; SSIM / PSNR vs the clean source):", head]
    for r in rows:
        line = r.condition.ljust(w) + str(r.targets).rjust(8) + "   " + _pct_ci(r.first).ljust(24)
        if full:
            assert r.all is not None
            line += _pct_ci(r.all).ljust(27)
        line += ("" if r.ssim is None else f"{r.ssim:.4f}").rjust(8)
        line += ("" if r.psnr is None else f"{r.psnr:.2f}").rjust(9)
        lines.append(line)
    return "\n".join(lines)


def conditions_csv(rows: Sequence[ConditionRow]) -> str:
    header = ["condition", "targets", "attempts_first", "accuracy_first", "error_first", "error_first_low",
              "error_first_high", "attempts_all", "accuracy_all", "error_all", "error_all_low", "error_all_high",
              "ssim", "psnr_db"]
    out: list[list[object]] = []
    for r in rows:
        lo, hi = r.first.interval()
        line: list[object] = [r.condition, r.targets, r.first_k, r.first.accuracy, r.first.error, 1 - hi, 1 - lo]
        if r.all is not None:
            alo, ahi = r.all.interval()
            line += [r.all_k, r.all.accuracy, r.all.error, 1 - ahi, 1 - alo]
        else:
            line += ["", "", "", "", ""]
        line += ["" if r.ssim is None else r.ssim, "" if r.psnr is None else r.psnr]
        out.append(line)
    return _csv(header, out)


def report_text(ev: Evaluation) -> str:
    """The figures as text, the headline last (so ``| tail`` shows the confusion matrix and the accuracy)."""
    lines: list[str] = []
    if ev.accuracy_by_steps:
        lines += ["accuracy vs steps (distance at that step, all attempts):"]
        lines += [f"  {s:>5} steps: {a:.2%}" for s, a in _thin(ev.accuracy_by_steps, 12)]
        lines += [""]
    lines += ["accuracy vs attempts (first k attempts):"]
    lines += [f"  k={k}: {a:.2%}" for k, a in ev.accuracy_by_attempts]
    lines += ["", "confusion matrix (rows = true generator, columns = attributed):"]
    w = max(8, *(len(g) for g in ev.generators)) + 2
    lines.append(" " * w + "".join(g.rjust(w) for g in ev.generators) + "accuracy".rjust(w + 3))
    for g, row in zip(ev.generators, ev.confusion):
        lines.append(g.ljust(w) + "".join(str(v).rjust(w) for v in row) + f"{ev.per_generator[g]:.2%}".rjust(w + 3))
    lines += ["", f"targets: {ev.n_targets}   attribution accuracy: {ev.accuracy:.2%}"]
    return "\n".join(lines)


def _thin(points: list[tuple[int, float]], n: int) -> list[tuple[int, float]]:
    if len(points) <= n:
        return points
    idx = sorted({round(i * (len(points) - 1) / (n - 1)) for i in range(n)})
    return [points[i] for i in idx]


def _csv(header: list[str], rows: list[list[object]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _conditions_figure(plt: Any, rows: Sequence[ConditionRow]) -> Any:
    """Table I as an image: the table, error with intervals per condition."""
    k = rows[0].first_k
    header = ["condition", "targets", f"error, {k} attempts [95% CI]"]
    full = rows[0].all is not None
    if full:
        header.append(f"error, {rows[0].all_k} attempts [95% CI]")
    header += ["SSIM", "PSNR (dB)"]
    cells = []
    for r in rows:
        line = [r.condition, str(r.targets), _pct_ci(r.first).strip()]
        if full:
            assert r.all is not None
            line.append(_pct_ci(r.all).strip())
        line += ["" if r.ssim is None else f"{r.ssim:.3f}", "" if r.psnr is None else f"{r.psnr:.1f}"]
        cells.append(line)
    fig, ax = plt.subplots(figsize=(2.2 * len(header) + 1, 0.32 * len(rows) + 0.9))
    ax.axis("off")
    table = ax.table(cellText=cells, colLabels=header, loc="center", cellLoc="left", colLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.auto_set_column_width(list(range(len(header))))
    ax.set_title("attribution error per condition (paper Table I)", fontsize=9)
    return fig


def write_evaluation(ev: Evaluation, out: str | Path, conditions: Sequence[ConditionRow] = ()) -> list[Path]:
    """CSV and PNG files of the evaluation in ``out`` (with ``conditions``: Table I as conditions.csv and
    conditions.png); returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    written: list[Path] = []

    def text(name: str, content: str) -> None:
        atomic_write_text(out / name, content)
        written.append(out / name)

    def figure(name: str, fig: "plt.Figure") -> None:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
        plt.close(fig)
        atomic_write_bytes(out / name, buf.getvalue())
        written.append(out / name)

    text("accuracy.csv", _csv(["generator", "targets", "accuracy"],
                              [[g, sum(ev.confusion[i]), ev.per_generator[g]] for i, g in enumerate(ev.generators)]
                              + [["all", ev.n_targets, ev.accuracy]]))
    text("confusion_matrix.csv", _csv(["true_generator", *ev.generators],
                                      [[g, *row] for g, row in zip(ev.generators, ev.confusion)]))
    text("accuracy_vs_attempts.csv", _csv(["attempts", "accuracy"], [[k, a] for k, a in ev.accuracy_by_attempts]))
    if conditions:
        text("conditions.csv", conditions_csv(conditions))
        figure("conditions.png", _conditions_figure(plt, conditions))

    n = len(ev.generators)
    fig, ax = plt.subplots(figsize=(1.4 * n + 2.5, 1.2 * n + 2))
    im = ax.imshow(ev.confusion, cmap="Blues")
    ax.set_xticks(range(n), ev.generators, rotation=30, ha="right")
    ax.set_yticks(range(n), ev.generators)
    ax.set_xlabel("attributed generator")
    ax.set_ylabel("true generator")
    top = max(max(r) for r in ev.confusion) or 1
    for i, row in enumerate(ev.confusion):
        for j, v in enumerate(row):
            ax.text(j, i, str(v), ha="center", va="center", color="white" if v > top / 2 else "black")
    ax.set_title(f"accuracy {ev.accuracy:.2%} ({ev.n_targets} targets)")
    fig.colorbar(im, ax=ax)
    figure("confusion_matrix.png", fig)

    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ks = [k for k, _ in ev.accuracy_by_attempts]
    ax.plot(ks, [a for _, a in ev.accuracy_by_attempts], marker="o")
    ax.set_xticks(ks)
    ax.set_xlabel("reconstruction attempts (first k)")
    ax.set_ylabel("attribution accuracy")
    ax.set_title("accuracy vs attempts (paper Fig. 5)")
    figure("accuracy_vs_attempts.png", fig)

    if ev.accuracy_by_steps:
        text("accuracy_vs_steps.csv", _csv(["steps", "accuracy"], [[s, a] for s, a in ev.accuracy_by_steps]))
        fig, ax = plt.subplots(figsize=(4.5, 3.2))
        ax.plot([s for s, _ in ev.accuracy_by_steps], [a for _, a in ev.accuracy_by_steps])
        ax.set_xlabel("Adam steps")
        ax.set_ylabel("attribution accuracy")
        ax.set_title("accuracy vs steps")
        figure("accuracy_vs_steps.png", fig)
    return written
