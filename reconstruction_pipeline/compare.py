"""Every attribution method side by side on one bundle's targets (``python -m reconstruction_pipeline compare``).

Methods register by name in :data:`METHODS`: a method maps a bundle to ``target_id -> answer`` where the answer is a
generator id or :data:`NONE` ("none of these"). Registered here:

- ``seed-reconstruction``: the bundle's own attribution (smallest reconstruction distance, paper eq. 5);
- ``fingerprint``: decode each target image with the committed fingerprint codec and attribute by Hamming distance
  to the keys of the bundle's fingerprinted generators (:data:`GENERATOR_KEYS`; a Bonferroni binomial test at
  ``alpha`` decides "none of these"). A target of a generator without a key is answered correctly by "none of these".
- ``dct-classifier``: the DCT classifier of the attacks (``attacks/classifier.py``, Frank et al. 2020) whose classes
  are exactly the bundle's generators (``attacks/weights/dct-*.pt``); the class with the largest logit. A bundle
  without such a classifier gets one ``n/a`` row saying so when methods are not named (named: one error line).

Methods read each target as shown (the display PNG, resized to the method's resolution with LANCZOS).

Accuracy per (method, condition) with Wilson 95% intervals (scipy's ``binomtest(...).proportion_ci``); conditions
come from the bundle's ``condition`` column (schema 2; a schema-1 bundle is all ``clean``).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from contracts.atomic import atomic_write_bytes, atomic_write_text
from contracts.bundle import Bundle
from reconstruction_pipeline.evaluate import wilson
from reconstruction_pipeline.zoo.recipes import SIBLING_KEYS

if TYPE_CHECKING:
    import torch

NONE = "none"
GENERATOR_KEYS: dict[str, str] = dict(SIBLING_KEYS)
"""generator id -> registered fingerprint key name of the data it was trained on (the ``siblings`` zoo's keyed
generators; the ``faces`` and ``tiny`` zoos have none)."""

Method = Callable[[Bundle], dict[str, str]]


class MethodUnavailable(ValueError):
    """A method cannot answer for this bundle (e.g. no classifier trained on its generators); the message says why."""


def target_image(bundle: Bundle, relative: str, resolution: int) -> torch.Tensor:
    """[1, 3, R, R] in [-1, 1]: a target's display PNG, resized to ``resolution`` with LANCZOS when needed."""
    import numpy as np
    import torch
    from PIL import Image

    with Image.open(bundle.image_path(relative)) as im:
        rgb = im.convert("RGB")
    if rgb.size != (resolution, resolution):
        rgb = rgb.resize((resolution, resolution), Image.Resampling.LANCZOS)
    return torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]


def seed_reconstruction(bundle: Bundle) -> dict[str, str]:
    return bundle.algorithm_attribution()


def fingerprint_method(bundle: Bundle, *, codec_path: Path | None = None, alpha: float = 0.01) -> dict[str, str]:
    from reconstruction_pipeline.fingerprints.attribution import attribute_bits
    from reconstruction_pipeline.fingerprints.keys import key_bits
    from reconstruction_pipeline.fingerprints.store import DEFAULT_CODEC, load_codec

    codec = load_codec(codec_path or DEFAULT_CODEC)
    r = codec.cfg.resolution
    keyed = {g: GENERATOR_KEYS[g] for g in bundle.generator_ids if g in GENERATOR_KEYS}
    keys = {name: key_bits(name, codec.cfg.bits) for name in keyed.values()}
    owner = {name: g for g, name in keyed.items()}
    out: dict[str, str] = {}
    for t in bundle.targets:
        bits = codec.decode(target_image(bundle, t.image, r))[0].int().tolist()
        if not keys:
            out[t.target_id] = NONE
            continue
        res = attribute_bits(bits, keys, alpha=alpha)
        out[t.target_id] = owner[res.attributed] if res.attributed is not None else NONE
    return out


def classifier_for(generator_ids: tuple[str, ...]) -> Path:
    """The committed DCT classifier whose classes are exactly ``generator_ids`` (any order)."""
    from reconstruction_pipeline.attacks.classifier import WEIGHTS_DIR, load_classifier

    for path in sorted(WEIGHTS_DIR.glob("dct-*.pt")):
        _, card = load_classifier(path)
        if sorted(card["classes"]) == sorted(generator_ids):
            return path
    raise MethodUnavailable(f"dct-classifier: no classifier trained on exactly these generators "
                            f"({', '.join(generator_ids)}); train one with `python -m reconstruction_pipeline attack "
                            "train-classifier --zoo ZOO`")


def dct_classifier_method(bundle: Bundle, *, weights: Path | None = None) -> dict[str, str]:
    import torch

    from reconstruction_pipeline.attacks.classifier import load_classifier

    model, _ = load_classifier(weights or classifier_for(bundle.generator_ids))
    out: dict[str, str] = {}
    with torch.no_grad():
        for t in bundle.targets:
            logits = model(target_image(bundle, t.image, model.resolution))
            out[t.target_id] = model.classes[int(logits.argmax(1))]
    return out


METHODS: dict[str, Method] = {"seed-reconstruction": seed_reconstruction, "fingerprint": fingerprint_method,
                              "dct-classifier": dct_classifier_method}


def compare_bundle(bundle: Bundle, methods: list[str] | None = None) -> list[Row]:
    """Rows of every method (``methods=None``: all registered; one that cannot answer for this bundle gets a single
    ``n/a`` row with the reason) or of the named ones (one that cannot answer is an error)."""
    names = list(METHODS) if methods is None else methods
    unknown = [m for m in names if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(unknown)}; known: {', '.join(METHODS)}")
    answers: dict[str, dict[str, str]] = {}
    missing: dict[str, str] = {}
    for m in names:
        try:
            answers[m] = METHODS[m](bundle)
        except MethodUnavailable as e:
            if methods is not None:
                raise
            missing[m] = str(e)
    rows = score(bundle, answers)
    return rows + [Row(m, "n/a", 0, 0, math.nan, math.nan, math.nan, 0, note=why) for m, why in missing.items()]


@dataclass(frozen=True)
class Row:
    method: str
    condition: str
    correct: int
    n: int
    accuracy: float
    ci_low: float
    ci_high: float
    none_answers: int
    note: str = ""              # why a method gave no answers (an ``n/a`` row)


def score(bundle: Bundle, answers: Mapping[str, Mapping[str, str]], *,
          keyed: Mapping[str, str] | None = None) -> list[Row]:
    """Rows per (method, condition, then 'all'). For the fingerprint method a target of an unkeyed generator is
    correct when answered "none of these"."""
    keyed = GENERATOR_KEYS if keyed is None else keyed
    conditions = list(bundle.condition_names)  # the manifest's build order (a version 1 bundle: clean only)
    rows: list[Row] = []
    for method, ans in answers.items():
        for cond in [*conditions, "all"] if len(conditions) > 1 else conditions:
            ts = [t for t in bundle.targets if cond == "all" or t.condition == cond]
            ok = 0
            for t in ts:
                want = t.true_generator if (method != "fingerprint" or t.true_generator in keyed) else NONE
                ok += ans[t.target_id] == want
            lo, hi = wilson(ok, len(ts))
            rows.append(Row(method, cond, ok, len(ts), ok / len(ts) if ts else math.nan, lo, hi,
                            sum(ans[t.target_id] == NONE for t in ts)))
    return rows


def table_text(rows: list[Row]) -> str:
    lines = [f"{'method':<22} {'condition':<16} {'correct':>9} {'accuracy':>9}  95% Wilson   'none of these'"]
    for r in rows:
        if r.note:
            lines.append(f"{r.method:<22} n/a: {r.note}")
            continue
        lines.append(f"{r.method:<22} {r.condition:<16} {f'{r.correct}/{r.n}':>9} {r.accuracy:>9.1%}  "
                     f"[{r.ci_low:.2f}, {r.ci_high:.2f}]  {r.none_answers}")
    return "\n".join(lines)


def write_comparison(rows: list[Row], out: Path, *, title: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["method", "condition", "correct", "n", "accuracy", "ci_low", "ci_high", "none_answers", "note"])
    for r in rows:
        w.writerow([r.method, r.condition, r.correct, r.n, r.accuracy, r.ci_low, r.ci_high, r.none_answers, r.note])
    atomic_write_text(out / "comparison.csv", buf.getvalue())
    rows = [r for r in rows if not r.note]  # n/a rows: in the CSV, not in the figure
    methods = list(dict.fromkeys(r.method for r in rows))
    conds = list(dict.fromkeys(r.condition for r in rows))
    fig, ax = plt.subplots(figsize=(1.2 * len(conds) * len(methods) + 2.5, 3.4))
    width = 0.8 / len(methods)
    for i, m in enumerate(methods):
        mr = {r.condition: r for r in rows if r.method == m}
        xs = [j + i * width for j in range(len(conds))]
        acc = [mr[c].accuracy for c in conds]
        err = [[mr[c].accuracy - mr[c].ci_low for c in conds], [mr[c].ci_high - mr[c].accuracy for c in conds]]
        ax.bar(xs, acc, width, yerr=err, capsize=3, label=m)
    ax.set_xticks([j + width * (len(methods) - 1) / 2 for j in range(len(conds))], conds)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("attribution accuracy (95% Wilson)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(out / "comparison.png", png.getvalue())
    return [out / "comparison.csv", out / "comparison.png"]
