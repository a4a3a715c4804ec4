"""Sweeps of attacks over targets: every attacked image is attributed (and classified), one tidy row per (attack,
target). Pure core (:func:`run_spec`) plus the file side (:func:`run_sweep`: one CSV per spec, written atomically,
so an interrupted sweep resumes), the summary table and the figures.

Row columns: ``attack`` (the spec's canonical name), ``kind``, ``budget_key``, ``budget``, ``target``,
``true_generator``, ``linf`` / ``l2`` (of the image perturbation, [0, 1] units), ``ssim``, ``attributed``,
``correct`` (attributed == true generator), ``classifier`` (the DCT classifier's answer, when one is loaded), and the
attack's own columns (``seed_linf``, ``framed``, ``frame_min_l2``, ``cw_c``, ...). ``clean`` rows have budget 0.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from contracts.atomic import atomic_write_bytes, atomic_write_text
from reconstruction_pipeline.attacks.apply import apply_attack
from reconstruction_pipeline.attacks.budget import l2, linf, ssim
from reconstruction_pipeline.attacks.context import AttackBatch, AttackContext, attribution_of
from reconstruction_pipeline.attacks.spec import AttackSpec
from reconstruction_pipeline.evaluate import wilson

CLEAN = "clean"
BASE_COLUMNS = ["attack", "kind", "budget_key", "budget", "target", "true_generator", "linf", "l2", "ssim",
                "attributed", "correct", "classifier"]


@dataclass(frozen=True)
class SpecResult:
    rows: list[dict[str, Any]]
    images: torch.Tensor  # attacked images, rows in ``rows`` order
    originals: torch.Tensor


def rows_for(spec: AttackSpec | None, batch: AttackBatch) -> list[int]:
    """The rows a spec attacks: framing leaves out the framed generator's own images (nothing to frame)."""
    if spec is not None and spec.attack.frame_target is not None:
        target = spec.params[spec.attack.frame_target]
        return [i for i, g in enumerate(batch.true_generators) if g != target]
    return list(range(len(batch.keys)))


def run_spec(ctx: AttackContext, batch: AttackBatch, spec: AttackSpec | None, *, seed: int) -> SpecResult:
    """Attack (``None``: the clean images), attribute, classify; one row per attacked image."""
    rows_idx = rows_for(spec, batch)
    sub = batch.rows(rows_idx)
    if spec is None:
        images, info = sub.images.clone(), {}
        name, kind, bkey, bval = CLEAN, CLEAN, "", 0.0
    else:
        out = apply_attack(ctx, sub, spec, seed=seed)
        images, info = out.images, out.info
        (bkey, bval), name, kind = spec.budget, spec.name, spec.kind
    named = attribution_of(ctx, images, sub.keys)
    clf: list[str] = [""] * len(sub.keys)
    if ctx.classifier is not None:
        with torch.no_grad():
            pred = ctx.classifier(images.to(ctx.device)).argmax(1).cpu()
        classes = getattr(ctx.classifier, "classes")
        clf = [classes[int(p)] for p in pred]
    d_inf, d_2, s = linf(sub.images, images), l2(sub.images, images), ssim(sub.images, images)
    rows = []
    for j, key in enumerate(sub.keys):
        row: dict[str, Any] = {"attack": name, "kind": kind, "budget_key": bkey, "budget": bval, "target": key,
                               "true_generator": sub.true_generators[j] or "", "linf": float(d_inf[j]),
                               "l2": float(d_2[j]), "ssim": float(s[j]), "attributed": named[j],
                               "correct": int(named[j] == sub.true_generators[j]), "classifier": clf[j]}
        row.update({k: v[j] for k, v in info.items()})
        rows.append(row)
    return SpecResult(rows, images, sub.images)


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", name)


def write_rows(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    cols = list(BASE_COLUMNS) + sorted({k for r in rows for k in r} - set(BASE_COLUMNS))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})
    atomic_write_text(path, buf.getvalue())


def read_rows(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows: list[dict[str, Any]] = list(csv.DictReader(f))
    for r in rows:
        for k, v in list(r.items()):
            if k in ("budget", "linf", "l2", "ssim", "seed_linf", "framed", "frame_min_l2", "cw_c",
                     "evaded_named_true") and v not in ("", None):
                r[k] = float(v)
            elif k == "correct":
                r[k] = int(v)
    return rows


def run_sweep(ctx: AttackContext, batch: AttackBatch, specs: Sequence[AttackSpec], out: Path, *, seed: int,
              examples: int = 3, on_spec: Callable[[str, bool], None] | None = None) -> list[dict[str, Any]]:
    """``clean`` and every spec, each written to ``out/rows/NAME.csv`` when done (skipped on a re-run), then
    ``out/attacks.csv`` (all rows). The first ``examples`` attacked images per spec go to ``out/examples/NAME.npy``
    (float32 [k, 3, H, W], originals in ``out/examples/clean.npy``)."""
    all_rows: list[dict[str, Any]] = []
    for spec in [None, *specs]:
        name = CLEAN if spec is None else spec.name
        path = out / "rows" / f"{_file_name(name)}.csv"
        if path.is_file():
            all_rows += read_rows(path)
            if on_spec is not None:
                on_spec(name, True)
            continue
        res = run_spec(ctx, batch, spec, seed=seed)
        buf = io.BytesIO()
        np.save(buf, res.images[:examples].float().numpy(), allow_pickle=False)
        atomic_write_bytes(out / "examples" / f"{_file_name(name)}.npy", buf.getvalue())
        write_rows(path, res.rows)
        all_rows += res.rows
        if on_spec is not None:
            on_spec(name, False)
    write_rows(out / "attacks.csv", all_rows)
    return all_rows


# --------------------------------------------------------------------------------------------------- summaries

@dataclass(frozen=True)
class SummaryRow:
    attack: str
    kind: str
    budget_key: str
    budget: float
    n: int
    error: float
    error_low: float
    error_high: float
    ssim_mean: float
    l2_mean: float
    linf_mean: float
    classifier_accuracy: float | None
    framed: float | None


def summarize(rows: Sequence[dict[str, Any]]) -> list[SummaryRow]:
    """Per attack: attribution error (with its Wilson interval), mean SSIM / l2 / l-inf, classifier accuracy, and
    for framing the share of images the attribution names the framed generator for."""
    out = []
    for name in dict.fromkeys(r["attack"] for r in rows):
        rs = [r for r in rows if r["attack"] == name]
        n = len(rs)
        wrong = sum(1 - int(r["correct"]) for r in rs)
        lo, hi = wilson(wrong, n)
        clf = [r for r in rs if r.get("classifier")]
        clf_acc = sum(r["classifier"] == r["true_generator"] for r in clf) / len(clf) if clf else None
        framed = [float(r["framed"]) for r in rs if r.get("framed") not in (None, "")]
        out.append(SummaryRow(name, rs[0]["kind"], rs[0]["budget_key"], float(rs[0]["budget"]), n, wrong / n, lo, hi,
                              float(np.mean([r["ssim"] for r in rs])), float(np.mean([r["l2"] for r in rs])),
                              float(np.mean([r["linf"] for r in rs])), clf_acc,
                              float(np.mean(framed)) if framed else None))
    return out


def summary_text(summary: Sequence[SummaryRow]) -> str:
    lines = [f"{'attack':<34} {'n':>4} {'error':>7} {'95% Wilson':>15} {'SSIM':>6} {'l2':>7} {'linf':>6} "
             f"{'clf acc':>7} {'framed':>6}"]
    for s in summary:
        clf = "" if s.classifier_accuracy is None else f"{s.classifier_accuracy:.1%}"
        fr = "" if s.framed is None else f"{s.framed:.0%}"
        lines.append(f"{s.attack:<34} {s.n:>4} {s.error:>7.1%} {f'{s.error_low:.1%}-{s.error_high:.1%}':>15} "
                     f"{s.ssim_mean:>6.3f} {s.l2_mean:>7.3f} {s.linf_mean:>6.3f} {clf:>7} {fr:>6}")
    return "\n".join(lines)


def framing_table(rows: Sequence[dict[str, Any]], budgets: Sequence[float]) -> list[dict[str, Any]]:
    """Per ordered pair (true A, framed B): images, share framed within each l2 budget (the smallest framing
    perturbation found <= budget), median smallest l2 and the SSIM of the framed images."""
    out = []
    frames = [r for r in rows if r["kind"] == "frame"]
    for name in dict.fromkeys(r["attack"] for r in frames):
        target = name.split("target=")[1].split(",")[0]
        rs = [r for r in frames if r["attack"] == name]
        for a in dict.fromkeys(r["true_generator"] for r in rs):
            pr = [r for r in rs if r["true_generator"] == a]
            mins = np.array([float(r["frame_min_l2"]) for r in pr])
            ok = [r for r in pr if float(r["framed"]) > 0]
            row: dict[str, Any] = {"true": a, "framed_as": target, "n": len(pr), "attack": name,
                                   "median_min_l2": float(np.median(mins)),
                                   "ssim_framed": float(np.mean([r["ssim"] for r in ok])) if ok else math.nan}
            for b in budgets:
                row[f"success_l2<={b:g}"] = float(np.mean(mins <= b))
            out.append(row)
    return out
