"""Attribution accuracy of a bundle (paper section IV-C4): accuracy, confusion matrix (Fig. 4, rows = true
generator), accuracy against the number of attempts 1..m (Fig. 5: with k attempts, the first k), and -- when the
bundle carries loss curves -- accuracy against the number of optimisation steps.

Attribution itself is :func:`contracts.bundle.attribute` (paper eq. 5, ties to the lowest generator id).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from contracts.atomic import atomic_write_bytes, atomic_write_text
from contracts.bundle import Bundle, attribute


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


def write_evaluation(ev: Evaluation, out: str | Path) -> list[Path]:
    """CSV and PNG files of the evaluation in ``out``; returns their paths."""
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
