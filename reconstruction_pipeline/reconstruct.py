"""Batched seed reconstruction (paper section IV-C1, eq. 4): the pure core. No files, no global randomness.

Each row ``i`` of a batch is one *reconstruction attempt*: a target ``x_i`` and an initial seed ``s_i``. Adam
(no schedule, as the paper) minimises ``sum_i d(g(s_i), x_i)``. Because the images of a batch never mix (the
generator is frozen and in eval mode, the distance is per image) the gradient of the sum with respect to ``s_i`` is
exactly the gradient of ``d(g(s_i), x_i)`` alone, and Adam's update is element-wise, so every attempt follows the
trajectory it would follow alone: in float64 a batched run equals one-at-a-time runs exactly (tests/pipeline).

``precision`` (:mod:`reconstruction_pipeline.precision`) is the arithmetic of the *search*: ``fp32`` (the generator's
own dtype) or ``bf16`` (forward and backward under bfloat16 autocast; seeds, gradients and Adam's state stay in the
seeds' dtype). Whatever it is, every distance the result reports -- final, best and the loss curve -- is computed
again in full precision from the seeds it belongs to (:func:`distances_at`), so a result is exact for its seeds and
an attribution decided on it is the full-precision decision for those seeds.

``memory_format`` (:mod:`reconstruction_pipeline.memory_format`) is the layout of the *search*: ``contiguous`` or
``channels_last`` (a channels_last copy of the generator and targets for the Adam steps). The recorded numbers are
computed with the caller's generator in its own layout, so they too do not depend on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from reconstruction_pipeline.distances import Distance
from reconstruction_pipeline.generators import Generator
from reconstruction_pipeline.memory_format import check_memory_format, search_generator, search_input
from reconstruction_pipeline.precision import autocast, check_resolved


@dataclass(frozen=True)
class ReconstructionResult:
    """Per attempt (row), all on the CPU.

    final_distance: [N] distance at the final seed (after the last Adam step) -- the paper's d(g(s'), x);
    best_distance:  [N] smallest distance seen at any step, the final one included;
    curve:          [N, K] distance at ``curve_steps`` (the distance *before* the update of that step; the last
                    entry, step == steps, is the final distance);
    curve_steps:    [K] step indices of the curve;
    final_seeds:    [N, latent_dim] the seeds after the last step;
    final_images:   [N, 3, H, W] g(final seed) in [-1, 1].
    """

    final_distance: torch.Tensor
    best_distance: torch.Tensor
    curve: torch.Tensor
    curve_steps: torch.Tensor
    final_seeds: torch.Tensor
    final_images: torch.Tensor


def curve_steps(steps: int, record_every: int) -> list[int]:
    """The steps at which the loss curve is recorded: 0, record_every, ... and always ``steps`` (the final one)."""
    if steps < 1 or record_every < 1:
        raise ValueError(f"steps and record_every must be >= 1, got {steps} and {record_every}")
    out = list(range(0, steps, record_every))
    out.append(steps)
    return out


def distances_at(generator: Generator, seeds: torch.Tensor, prepared: torch.Tensor, distance: Distance
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Full-precision (no autocast, no gradient) images and distances [N] at ``seeds`` [N, latent_dim]: the numbers a
    result records. Evaluate a batch exactly as the run did (same rows, same order) to reproduce them bit for bit."""
    with torch.no_grad(), torch.autocast(device_type=seeds.device.type, enabled=False):
        images = generator.synthesize(seeds)
        return images, distance(images, prepared)


def reconstruct(generator: Generator, targets: torch.Tensor, init_latents: torch.Tensor, *, steps: int = 500,
                lr: float = 0.1, distance: Distance, device: torch.device | str = "cpu", record_every: int = 10,
                on_step: Callable[[int], None] | None = None, precision: str = "fp32",
                memory_format: str = "contiguous") -> ReconstructionResult:
    """Reconstruct one seed per row with Adam.

    generator:  frozen, eval-mode generator (on ``device``, in the dtype of ``init_latents``);
    targets:    [N, 3, h, w] in [-1, 1], one per attempt (repeat a target for several attempts);
    init_latents: [N, latent_dim] initial latent vectors, the seeds the search starts from (make them from integer
                seeds with :func:`~reconstruction_pipeline.generators.seeded_latents`);
    distance:   a :class:`~reconstruction_pipeline.distances.Distance` on ``device``, same dtype;
    on_step:    called after every step with the number of attempts it advanced (progress bars);
    precision:  ``fp32`` or ``bf16`` (resolve ``auto`` with :func:`~reconstruction_pipeline.precision.resolve_precision`):
                the arithmetic of the search; the reported distances are full precision either way;
    memory_format: ``contiguous`` or ``channels_last``: the layout of the search; the reported distances are computed
                with ``generator`` as given either way.
    """
    # the search's own distances are recorded only when the search runs exactly as the recording forward would
    # (fp32, the caller's layout); otherwise the seeds are snapshotted and every number recomputed at the end
    recompute = check_resolved(precision) != "fp32" or check_memory_format(memory_format) != "contiguous"
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if targets.ndim != 4 or targets.shape[1] != 3:
        raise ValueError(f"targets: expected [N, 3, H, W], got {tuple(targets.shape)}")
    if init_latents.ndim != 2 or init_latents.shape[1] != generator.latent_dim:
        raise ValueError(f"init_latents: expected [N, {generator.latent_dim}], got {tuple(init_latents.shape)}")
    if init_latents.shape[0] != targets.shape[0]:
        raise ValueError(f"{init_latents.shape[0]} initial latents for {targets.shape[0]} targets (one per attempt)")
    device = torch.device(device)
    dtype = init_latents.dtype
    n = targets.shape[0]
    record = set(curve_steps(steps, record_every))

    x = targets.to(device=device, dtype=dtype)
    with torch.no_grad():
        prepared = distance.prepare(x)
    searcher, search_prepared = search_generator(generator, memory_format), search_input(prepared, memory_format)
    seeds = init_latents.detach().to(device=device).clone().requires_grad_(True)
    opt = torch.optim.Adam([seeds], lr=lr)
    best = torch.full((n,), float("inf"), device=device, dtype=dtype)
    curve: list[torch.Tensor] = []
    # bf16 / channels_last only: the seeds at the recorded steps and the best seed so far, re-evaluated at the end
    snapshots: list[torch.Tensor] = []
    best_seeds = seeds.detach().clone() if recompute else None

    for step in range(steps):
        opt.zero_grad(set_to_none=True)
        with autocast(precision, device):
            d = distance(searcher.synthesize(seeds), search_prepared).to(dtype)  # N
        d.sum().backward()  # per-attempt losses summed: each seed gets exactly its own gradient
        with torch.no_grad():
            dd = d.detach()
            if best_seeds is not None:  # before the update: dd belongs to the seeds as they are now
                better = dd < best
                best_seeds[better] = seeds.detach()[better]
                if step in record:
                    snapshots.append(seeds.detach().clone())
            elif step in record:
                curve.append(dd.clone())
            best = torch.minimum(best, dd)
        opt.step()
        if on_step is not None:
            on_step(n)

    final_images, final = distances_at(generator, seeds.detach(), prepared, distance)
    if best_seeds is None:
        best = torch.minimum(best, final)
    else:  # every recorded number in full precision, at the seed it belongs to
        curve = [distances_at(generator, s, prepared, distance)[1] for s in snapshots]
        best = distances_at(generator, best_seeds, prepared, distance)[1]
        best = torch.stack([best, final, *curve]).amin(dim=0)
    curve.append(final)
    return ReconstructionResult(
        final_distance=final.cpu(),
        best_distance=best.cpu(),
        curve=torch.stack(curve, dim=1).cpu(),
        curve_steps=torch.tensor(sorted(record), dtype=torch.long),
        final_seeds=seeds.detach().cpu(),
        final_images=final_images.detach().cpu(),
    )


def one_at_a_time(generator: Generator, targets: torch.Tensor, init_latents: torch.Tensor, *, steps: int = 500,
                  lr: float = 0.1, distance: Distance, device: torch.device | str = "cpu",
                  record_every: int = 10, precision: str = "fp32", memory_format: str = "contiguous"
                  ) -> ReconstructionResult:
    """The paper's loop: every attempt optimised alone (batch 1). Reference for tests and the benchmark."""
    parts = [reconstruct(generator, targets[i:i + 1], init_latents[i:i + 1], steps=steps, lr=lr, distance=distance,
                         device=device, record_every=record_every, precision=precision, memory_format=memory_format)
             for i in range(targets.shape[0])]
    return ReconstructionResult(
        final_distance=torch.cat([p.final_distance for p in parts]),
        best_distance=torch.cat([p.best_distance for p in parts]),
        curve=torch.cat([p.curve for p in parts]),
        curve_steps=parts[0].curve_steps,
        final_seeds=torch.cat([p.final_seeds for p in parts]),
        final_images=torch.cat([p.final_images for p in parts]),
    )
