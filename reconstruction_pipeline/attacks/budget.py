"""Perturbation budgets: one unit for every attack, exact projections, norms and SSIM.

Images live in ``[-1, 1]`` in the pipeline; **budgets are stated on images scaled to ``[0, 1]``**, as torchattacks
and the paper state them (the paper's ``eps = 0.0588`` is 15/255). So an image-space ``eps`` moves a ``[-1, 1]`` pixel
by at most ``2 * eps``, and an ``l2`` budget bounds ``||delta||_2`` of the ``[0, 1]`` image over all C x H x W values.
Seed-space budgets (``fgsm-seed``) are in the seed's own units (the seed is a standard-normal vector).

"Within budget exactly" means: the norm of ``x_adv - x`` computed in float64 from the stored float32 images is
``<= budget`` (no float32 rounding tolerance). :func:`project_linf` / :func:`project_l2` guarantee it by working in
float64, clipping to ``[-1, 1]`` (which only shrinks the perturbation, since ``x`` is inside), and stepping any value
that rounding pushed past the bound one ulp back towards ``x``.
"""

from __future__ import annotations

import math

import torch

SCALE = 2.0  # [-1, 1] units per [0, 1] unit


def _per_row(budget: float | torch.Tensor, n: int) -> torch.Tensor:
    b = torch.as_tensor(budget, dtype=torch.float64).flatten()
    if b.numel() == 1:
        b = b.expand(n)
    if b.numel() != n:
        raise ValueError(f"{b.numel()} budgets for {n} images")
    if bool((b < 0).any()) or not bool(torch.isfinite(b).all()):
        raise ValueError("budgets must be finite and >= 0")
    return b


def linf(x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
    """[N] l-inf norm of ``x_adv - x`` in [0, 1] units, float64."""
    return (x_adv.double() - x.double()).flatten(1).abs().amax(dim=1) / SCALE


def l2(x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
    """[N] l2 norm of ``x_adv - x`` in [0, 1] units (over C x H x W), float64."""
    return (x_adv.double() - x.double()).flatten(1).norm(dim=1) / SCALE


def _fix_linf(base: torch.Tensor, out: torch.Tensor, bound: torch.Tensor) -> torch.Tensor:
    """Step values whose float32 rounding left the per-row bound one ulp back towards ``base`` (exact bound)."""
    shape = (-1,) + (1,) * (base.ndim - 1)
    for _ in range(8):
        over = (out.double() - base.double()).abs() > bound.view(shape)
        if not bool(over.any()):
            return out
        out = torch.where(over, torch.nextafter(out, base), out)
    raise AssertionError("could not bring the perturbation within its l-inf bound")


def project_linf(x: torch.Tensor, x_adv: torch.Tensor, eps: float | torch.Tensor, *, clip: bool = True,
                 scale: float = SCALE) -> torch.Tensor:
    """``x_adv`` moved into the l-inf ball of radius ``eps`` ([0, 1] units; per row or one value) around ``x`` and
    into ``[-1, 1]`` (``clip``); same dtype as ``x``. ``scale=1`` for seeds (their own units, no clipping)."""
    b = _per_row(eps, x.shape[0]).to(x.device) * scale
    shape = (-1,) + (1,) * (x.ndim - 1)
    d = (x_adv.double() - x.double()).clamp(-b.view(shape), b.view(shape))
    out64 = x.double() + d
    if clip:
        out64 = out64.clamp(-1.0, 1.0)
    return _fix_linf(x, out64.to(x.dtype), b)


def project_l2(x: torch.Tensor, x_adv: torch.Tensor, radius: float | torch.Tensor) -> torch.Tensor:
    """``x_adv`` moved into the l2 ball of ``radius`` ([0, 1] units) around ``x`` and into ``[-1, 1]``."""
    b = _per_row(radius, x.shape[0]).to(x.device) * SCALE
    shape = (-1,) + (1,) * (x.ndim - 1)
    d = x_adv.double() - x.double()
    norm = d.flatten(1).norm(dim=1)
    factor = torch.where(norm > b, b / norm.clamp_min(1e-300), torch.ones_like(norm))
    out = (x.double() + d * factor.view(shape)).clamp(-1.0, 1.0).to(x.dtype)
    for it in range(30):  # float32 rounding can add ~6e-8 per value: shrink until the stored image is inside
        over = (out.double() - x.double()).flatten(1).norm(dim=1) > b
        if not bool(over.any()):
            return out
        shrink = torch.where(over, torch.full_like(b, 1.0 - 1e-7 * 2.0 ** it), torch.ones_like(b))
        d = (out.double() - x.double()) * shrink.view(shape)
        out = (x.double() + d).clamp(-1.0, 1.0).to(x.dtype)
    raise AssertionError("could not bring the perturbation within its l2 bound")


def ssim(x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
    """[N] SSIM of each attacked image against its original: the pipeline's one SSIM
    (:func:`reconstruction_pipeline.evaluate.image_quality`: torchmetrics with Wang et al.'s settings, Gaussian window
    11, sigma 1.5, averaged where the window fits) for images of 16 pixels and more. Images under 16 pixels (the tiny
    zoo's 8 x 8 digits) cannot hold that window: there torchmetrics' SSIM with a 7 x 7 window (sigma 1.0), averaged
    over its reflect-padded map."""
    if min(x.shape[-2:]) >= 16:
        from reconstruction_pipeline.evaluate import image_quality

        values, _psnr = image_quality(x_adv.detach().double().cpu().numpy(), x.detach().double().cpu().numpy())
        return torch.from_numpy(values).double()
    from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

    a = ((x_adv.double() + 1) / 2).clamp(0, 1)
    b = ((x.double() + 1) / 2).clamp(0, 1)
    out = tm_ssim(a, b, data_range=1.0, reduction="none", kernel_size=7, sigma=1.0)
    assert isinstance(out, torch.Tensor)
    return out.double().cpu()


def seeded_uniform(row_seeds: list[int], shape: tuple[int, ...], *, dtype: torch.dtype = torch.float32
                   ) -> torch.Tensor:
    """[N, *shape] uniform in [-1, 1), row i from its own ``torch.Generator`` seeded ``row_seeds[i]`` (on the CPU),
    so a row's randomness never depends on the batch it is in."""
    rows = [torch.rand(shape, generator=torch.Generator().manual_seed(int(s)), dtype=torch.float64) * 2 - 1
            for s in row_seeds]
    if not rows:
        return torch.empty((0, *shape), dtype=dtype)
    return torch.stack(rows).to(dtype)


def dims(x: torch.Tensor) -> int:
    return int(math.prod(x.shape[1:]))
