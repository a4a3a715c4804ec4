"""Framing an innocent generator (paper section III-D, measured here): ``frame:target=B,l2=L``.

Given an image ``x`` (made by some generator ``A``) and an innocent generator ``B``, find a small ``delta`` such that
the *full* attribution (every generator, the defender's attempts x steps) names ``B`` for ``x + delta``:

1. the attacker reconstructs the current image on ``B`` (its own attempts x steps) and takes ``B``'s best
   reconstruction ``x_B``: an image ``B`` provably makes, so ``x + t (x_B - x)`` is attributed to ``B`` at ``t = 1``;
2. along that line it finds the smallest ``t`` in ``[0, t_max]`` (``t_max``: the budget) at which the full
   attribution names ``B``: one check at ``t_max``, then ``bisect`` rounds of bisection, all targets in one batch
   per check;
3. ``rounds`` times ("several attempts"): the next round reconstructs ``B`` from the point just found (``B``'s
   reconstruction of an image nearer ``x``), which can shorten the line; the smallest successful ``delta`` wins.

The result per image: the smallest framing perturbation found (its l2 in [0, 1] units, ``inf`` when none within the
budget), and the attacked image: that perturbation, or -- when none was found -- the farthest point of the last line
within the budget (the best try, still attributed to someone else). Every image returned is within ``L`` exactly and
its ``framed`` flag is the full attribution's verdict on exactly that image.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from reconstruction_pipeline.attacks.budget import l2 as l2_norm
from reconstruction_pipeline.attacks.budget import project_l2
from reconstruction_pipeline.attacks.context import (AttackBatch, AttackContext, AttributionSettings,
                                                     attribution_of, best_reconstruction)
from reconstruction_pipeline.attacks.spec import (AttackError, AttackKind, AttackOutput, ParamValue, name_param,
                                                  positive_float, positive_int, register_attack)


@dataclass(frozen=True)
class FramingResult:
    """images: [N, 3, H, W] attacked (within the budget exactly); framed: [N] the full attribution names the target;
    min_l2: [N] l2 ([0, 1] units) of the smallest framing perturbation found (inf: none within the budget);
    checks: full attributions the attacker ran (its cost, in attributions of the whole batch)."""

    images: torch.Tensor
    framed: list[bool]
    min_l2: list[float]
    checks: int


def frame(ctx: AttackContext, images: torch.Tensor, keys: Sequence[str], target: str, *, l2: float | None,
          rounds: int = 2, bisect: int = 5, oracle: AttributionSettings | None = None) -> FramingResult:
    """images: [N, 3, H, W] in [-1, 1]; keys: one per image (names for the attribution); target: the innocent
    generator; l2: budget in [0, 1] units (None: unbounded; 0: nothing may change, so nothing is framed unless the
    attribution already names ``target``); oracle: the attribution the attacker checks against (default:
    ``ctx.oracle``, else the defender's ``ctx.attribution``)."""
    if target not in ctx.generator_ids:
        raise AttackError(f"framing target {target!r} is not a generator of this zoo ({', '.join(ctx.generator_ids)})")
    x = images.to(ctx.device).float()
    n = x.shape[0]
    g_b = ctx.generator(target)
    oracle = oracle or ctx.oracle
    budget = float("inf") if l2 is None else float(l2)
    keys = list(keys)
    checks = 0

    def check(imgs: torch.Tensor, rows: list[int]) -> list[bool]:
        nonlocal checks
        checks += 1
        named = attribution_of(ctx, imgs.cpu(), [keys[i] for i in rows], oracle)
        return [a == target for a in named]

    best_l2 = [float("inf")] * n
    best_img = x.clone()
    fallback = x.clone()
    current = x.clone()
    for _ in range(rounds):
        rec = best_reconstruction(ctx, g_b, current, ctx.attacker, purpose=f"frame-{target}")
        u = rec.images.to(ctx.device) - x  # the line x + t u, t in [0, 1]
        length = l2_norm(x, x + u).cpu()  # [0, 1] units
        t_max = torch.clamp(torch.tensor(budget, dtype=torch.float64) / length.clamp_min(1e-30), max=1.0)
        t_max = torch.where(length > 0, t_max, torch.zeros_like(t_max))

        def point(t: torch.Tensor, rows: list[int]) -> torch.Tensor:
            p = x[rows] + t[rows].to(x.dtype).to(ctx.device).view(-1, 1, 1, 1) * u[rows]
            return project_l2(x[rows], p, budget) if l2 is not None else p.clamp(-1, 1)

        rows = list(range(n))
        far = point(t_max, rows)
        fallback = far
        ok = check(far, rows)
        lo = torch.zeros(n, dtype=torch.float64)
        hi = torch.where(torch.tensor(ok), t_max, torch.full_like(t_max, float("nan")))
        live = [i for i in rows if ok[i]]
        for _b in range(bisect if live else 0):
            mid = (lo + hi) / 2
            okm = check(point(mid, live), live)
            for j, i in enumerate(live):
                if okm[j]:
                    hi[i] = mid[i]
                else:
                    lo[i] = mid[i]
        if live:
            found = point(hi, live)
            for j, i in enumerate(live):
                d = float(l2_norm(x[i:i + 1], found[j:j + 1])[0])
                if d < best_l2[i]:
                    best_l2[i], best_img[i] = d, found[j]
        # next round starts from the found point (or halfway to B's reconstruction when none was found)
        half = point(torch.where(torch.isnan(hi), t_max / 2, hi), rows)
        current = half
    framed_rows = [i for i in range(n) if best_l2[i] < float("inf")]
    out = fallback.clone()
    for i in framed_rows:
        out[i] = best_img[i]
    # the verdict on exactly the returned images (a bisection point passed its own check; re-check them all)
    verdict = check(out, list(range(n)))
    return FramingResult(out.cpu(), verdict, [best_l2[i] if verdict[i] else float("inf") for i in range(n)], checks)


def _run_frame(ctx: AttackContext, batch: AttackBatch, params: Mapping[str, ParamValue], *,
               seed: int) -> AttackOutput:
    res = frame(ctx, batch.images, batch.keys, str(params["target"]), l2=float(params["l2"]),
                rounds=int(params.get("rounds", 2)))
    return AttackOutput(res.images, {"framed": [float(f) for f in res.framed], "frame_min_l2": res.min_l2})


register_attack(AttackKind("frame", {"target": name_param, "l2": positive_float, "rounds": positive_int}, ("l2",),
                           _run_frame, "make the full attribution name an innocent generator (smallest l2 "
                           "perturbation found, within the budget)", optional=("rounds",), frame_target="target"))
