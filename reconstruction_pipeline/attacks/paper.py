"""The paper's white-box attacks on the attribution (section VI-C1/2), batched across targets.

All of them maximise the attribution's distance ``d`` between the attacked image and the original, as the paper does:

- :func:`fgsm_seed` (``fgsm-seed:eps=E``): perturb the target's *seed* under l-inf ``E`` (seed units) to maximise
  ``d(g(z'), g(z))``, treating generator and distance as one model; the attacked image is ``g(z')``.
- :func:`fgsm_image` (``fgsm-image:eps=E``) and :func:`fgm_image` (``fgm-image:l2=L``): one gradient step in image
  space, sign (l-inf) or normalised (l2).
- :func:`cw_image` (``cw-image:c=C``): paper eq. (6), ``argmin ||delta||_2 - c * d(x, x + delta)`` with Adam in
  tanh space (``x + delta = tanh(w)`` stays in [-1, 1]); :func:`cw_image_l2` (``cw-image:l2=L``) binary-searches ``c``
  per target for the largest ``c`` whose ``||delta||_2 <= L`` (equal-budget comparisons).

**The gradient of any distance ``d(x', x)`` vanishes (MSE) or is undefined (plain L2 of features) at ``x' = x``**, so
every one-step attack starts from a random point of its ball (per-row seeded) and takes its step from there.

**What this means for pixel MSE**: ``d(x + delta, x) = mean(delta^2)`` depends on ``|delta|`` only, so every corner of
the l-inf ball (``|delta_i| = eps``) and every point of the l2 sphere is a maximiser. FGSM and FGM then return a
maximal-norm perturbation whose signs (direction) are those of the random start: uniform random-sign noise of the
full budget. CW with MSE is bang-bang (``||delta|| - c * 4 ||delta||^2 / D`` in [0, 1] units): ``delta`` collapses to 0
while ``||delta|| < D / (4c)`` and grows to the box otherwise. With ``--distance inception`` the gradients are
Inception-V3's and the attacks are the paper's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from reconstruction_pipeline.attacks.budget import SCALE, l2, project_l2, project_linf, seeded_uniform
from reconstruction_pipeline.attacks.context import AttackBatch, AttackContext, row_seeds
from reconstruction_pipeline.attacks.spec import (AttackError, AttackKind, AttackOutput, ParamValue, positive_float,
                                                  positive_int, register_attack)
from reconstruction_pipeline.distances import Distance
from reconstruction_pipeline.generators import Generator

START = 0.5  # the random start lies in the ball of START x the budget


def _grad_at(distance: Distance, x: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
    """Gradient of sum_i d(start_i, x_i) with respect to ``start`` (rows independent)."""
    with torch.no_grad():
        prepared = distance.prepare(x)
    s = start.detach().clone().requires_grad_(True)
    distance(s, prepared).sum().backward()
    assert s.grad is not None
    return s.grad.detach()


def fgsm_image(distance: Distance, x: torch.Tensor, eps: float | torch.Tensor, *, row_seeds: Sequence[int],
               device: torch.device | str = "cpu") -> torch.Tensor:
    """x: [N, 3, H, W] in [-1, 1]; eps: l-inf budget in [0, 1] units (one or per row) -> attacked images, float32,
    ``||x_adv - x||_inf <= eps`` exactly (eps = 0 returns ``x`` unchanged)."""
    x = x.to(device)
    e = torch.as_tensor(eps, dtype=x.dtype, device=device).flatten().expand(x.shape[0]).view(-1, 1, 1, 1) * SCALE
    r = seeded_uniform(list(row_seeds), tuple(x.shape[1:])).to(device)
    start = (x + START * e * r).clamp(-1, 1)
    g = _grad_at(distance, x, start)
    return project_linf(x, x + e * g.sign(), eps)


def fgm_image(distance: Distance, x: torch.Tensor, radius: float | torch.Tensor, *, row_seeds: Sequence[int],
              device: torch.device | str = "cpu") -> torch.Tensor:
    """The l2 Fast Gradient Method: ``x + L * grad / ||grad||`` from a random start; ``||x_adv - x||_2 <= L``
    ([0, 1] units) exactly."""
    x = x.to(device)
    b = torch.as_tensor(radius, dtype=x.dtype, device=device).flatten().expand(x.shape[0]).view(-1, 1, 1, 1) * SCALE
    r = seeded_uniform(list(row_seeds), tuple(x.shape[1:])).to(device)
    r = r / r.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
    start = (x + START * b * r).clamp(-1, 1)
    g = _grad_at(distance, x, start)
    unit = g / g.flatten(1).norm(dim=1).clamp_min(1e-30).view(-1, 1, 1, 1)
    return project_l2(x, x + b * unit, radius)


def fgsm_seed(generator: Generator, distance: Distance, z: torch.Tensor, eps: float | torch.Tensor, *,
              row_seeds: Sequence[int], device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """z: [N, latent_dim] the targets' seeds; eps: l-inf budget on the seed (seed units). Returns (z', g(z')) with
    ``||z' - z||_inf <= eps`` exactly; the attacked image is the generator's output at z'."""
    z = z.to(device=device, dtype=torch.float32)
    e = torch.as_tensor(eps, dtype=z.dtype, device=device).flatten().expand(z.shape[0]).view(-1, 1)
    with torch.no_grad():
        x = generator.synthesize(z)
        prepared = distance.prepare(x)
    r = seeded_uniform(list(row_seeds), (z.shape[1],)).to(device)
    s = (z + START * e * r).requires_grad_(True)
    distance(generator.synthesize(s), prepared).sum().backward()
    assert s.grad is not None
    z_adv = project_linf(z, z + e * s.grad.sign(), e.flatten(), clip=False, scale=1.0)
    with torch.no_grad():
        return z_adv, generator.synthesize(z_adv).clamp(-1, 1)


def cw_image(distance: Distance, x: torch.Tensor, c: torch.Tensor, *, steps: int = 100, lr: float = 0.01,
             row_seeds: Sequence[int], device: torch.device | str = "cpu") -> torch.Tensor:
    """Paper eq. (6) per row: minimise ``||delta||_2 - c_i * d(x_i, x_i + delta)`` ([0, 1] units for the norm) with
    Adam on ``w``, ``x + delta = tanh(w)``; starts at ``atanh(x)`` plus a small random offset (the norm has no
    gradient at 0). c: [N] or one value. Returns the attacked images (unbounded: report ``l2``)."""
    x = x.to(device)
    n = x.shape[0]
    cc = torch.as_tensor(c, dtype=x.dtype, device=device).flatten().expand(n)
    if bool((cc == 0).all()):
        return x.clone()
    with torch.no_grad():
        prepared = distance.prepare(x)
    r = seeded_uniform(list(row_seeds), tuple(x.shape[1:])).to(device)
    w = torch.atanh(x.clamp(-1 + 1e-6, 1 - 1e-6) * (1 - 1e-6)) + 1e-3 * r
    w.requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        adv = torch.tanh(w)
        norm = (adv - x).flatten(1).norm(dim=1) / SCALE
        loss = norm - cc * distance(adv, prepared)
        loss.sum().backward()  # rows independent: each w_i gets its own gradient
        opt.step()
    with torch.no_grad():
        out = torch.tanh(w).detach()
    return torch.where((cc == 0).view(-1, 1, 1, 1), x, out)


def cw_image_l2(distance: Distance, x: torch.Tensor, radius: float, *, steps: int = 100, lr: float = 0.01,
                search: int = 6, c0: float = 1.0, row_seeds: Sequence[int], device: torch.device | str = "cpu"
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Binary search over ``c`` per row (``search`` rounds, from ``c0``; x10 until a run exceeds the budget, then
    bisection): keeps the run with the largest ``c`` whose ``||delta||_2 <= radius``; rows where none fits get
    the smallest-c run projected onto the l2 ball. Returns (images within ``radius`` exactly, the c used)."""
    x = x.to(device)
    n = x.shape[0]
    lo = torch.zeros(n, dtype=torch.float64)
    hi = torch.full((n,), float("inf"), dtype=torch.float64)
    c = torch.full((n,), c0, dtype=torch.float64)
    best = x.clone()
    best_c = torch.zeros(n, dtype=torch.float64)
    found = torch.zeros(n, dtype=torch.bool)
    fallback: torch.Tensor | None = None
    for _ in range(search):
        adv = cw_image(distance, x, c.to(x.dtype), steps=steps, lr=lr, row_seeds=row_seeds, device=device)
        if fallback is None:
            fallback = adv
        ok = l2(x, adv).cpu() <= radius
        take = ok & (c > best_c)
        best[take.to(device)] = adv[take.to(device)]
        best_c = torch.where(take, c, best_c)
        found |= ok
        lo = torch.where(ok, c, lo)
        hi = torch.where(ok, hi, c)
        c = torch.where(torch.isinf(hi), c * 10, (lo + hi) / 2)
    assert fallback is not None
    out = torch.where(found.to(device).view(-1, 1, 1, 1), best, fallback)
    return project_l2(x, out, radius), best_c


# --------------------------------------------------------------------------------------------------- registry

def _budget_tensor(value: ParamValue) -> float:
    return float(value)


def _run_fgsm_image(ctx: AttackContext, batch: AttackBatch, params: Mapping[str, ParamValue], *,
                    seed: int) -> AttackOutput:
    rs = row_seeds(seed, "fgsm-image", batch.keys)
    return AttackOutput(fgsm_image(ctx.distance, batch.images, _budget_tensor(params["eps"]), row_seeds=rs,
                                   device=ctx.device).cpu())


def _run_fgm_image(ctx: AttackContext, batch: AttackBatch, params: Mapping[str, ParamValue], *,
                   seed: int) -> AttackOutput:
    rs = row_seeds(seed, "fgm-image", batch.keys)
    return AttackOutput(fgm_image(ctx.distance, batch.images, _budget_tensor(params["l2"]), row_seeds=rs,
                                  device=ctx.device).cpu())


def _run_fgsm_seed(ctx: AttackContext, batch: AttackBatch, params: Mapping[str, ParamValue], *,
                   seed: int) -> AttackOutput:
    missing = [k for k, z, g in zip(batch.keys, batch.latents, batch.true_generators) if z is None or g is None]
    if missing:
        raise AttackError(f"fgsm-seed needs the seed that made the image, and {missing[0]} has none (a user's "
                          "image); use an image-space attack such as fgsm-image:eps=0.03")
    out = torch.empty_like(batch.images)
    seed_linf = [0.0] * len(batch.keys)
    for gen_id in sorted({g for g in batch.true_generators if g is not None}):
        idx = [i for i, g in enumerate(batch.true_generators) if g == gen_id]
        g = ctx.generator(gen_id)
        z = torch.stack([batch.latents[i] for i in idx])  # type: ignore[misc]
        rs = row_seeds(seed, "fgsm-seed", [batch.keys[i] for i in idx])
        z_adv, imgs = fgsm_seed(g, ctx.distance, z, _budget_tensor(params["eps"]), row_seeds=rs, device=ctx.device)
        out[idx] = imgs.cpu()
        for j, i in enumerate(idx):
            seed_linf[i] = float((z_adv[j].double() - z[j].double().to(z_adv.device)).abs().max())
    return AttackOutput(out, {"seed_linf": seed_linf})


def _run_cw(ctx: AttackContext, batch: AttackBatch, params: Mapping[str, ParamValue], *, seed: int) -> AttackOutput:
    rs = row_seeds(seed, "cw-image", batch.keys)
    steps = int(params.get("steps", 100))
    if "l2" in params:
        imgs, c = cw_image_l2(ctx.distance, batch.images, float(params["l2"]), steps=steps, row_seeds=rs,
                              device=ctx.device)
        return AttackOutput(imgs.cpu(), {"cw_c": [float(v) for v in c]})
    imgs = cw_image(ctx.distance, batch.images, torch.tensor(float(params["c"])), steps=steps, row_seeds=rs,
                    device=ctx.device)
    return AttackOutput(imgs.cpu())


register_attack(AttackKind("fgsm-seed", {"eps": positive_float}, ("eps",), _run_fgsm_seed,
                           "FGSM on the target's seed (l-inf eps in seed units); the image is the generator's output",
                           needs_seed=True))
register_attack(AttackKind("fgsm-image", {"eps": positive_float}, ("eps",), _run_fgsm_image,
                           "one FGSM step in image space maximising the attribution's distance (l-inf eps, [0,1] units)"))
register_attack(AttackKind("fgm-image", {"l2": positive_float}, ("l2",), _run_fgm_image,
                           "one l2 fast-gradient step in image space (l2 budget over C x H x W, [0,1] units)"))
register_attack(AttackKind("cw-image", {"c": positive_float, "l2": positive_float, "steps": positive_int},
                           ("c", "l2"), _run_cw,
                           "paper eq. (6) with Adam in tanh space: fixed c, or l2=L binary-searches c per target",
                           optional=("steps",)))
