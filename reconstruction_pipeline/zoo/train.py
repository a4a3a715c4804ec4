"""Adversarial training of the generators trained here (``zoo train ID``): resumable, time-boxed, with sample grids.

Layout of a run directory ``OUT/ID/``::

    checkpoint.pt        G, D, EMA of G, both optimisers, step, seconds so far (written atomically)
    ID.pt                the exported generator (EMA weights, zoo weights format; what gets committed)
    samples/step_NNNNNN.png, samples/latest.png   8x8 grids of the EMA generator on seeds 0..63

Re-running the same command continues from ``checkpoint.pt``. Every step draws its randomness from the global torch
RNG seeded with (recipe seed, step), so a resumed run makes the same draws as an uninterrupted one.
"""

from __future__ import annotations

import copy
import io
import time
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from contracts.atomic import atomic_write_bytes
from reconstruction_pipeline.generators import GeneratorSpec, seeded_latents
from reconstruction_pipeline.zoo.checkpoint import save_weights, torch_load_file, torch_save_atomic
from reconstruction_pipeline.zoo.data import RealSampler, make_sampler
from reconstruction_pipeline.zoo.errors import ZooError
from reconstruction_pipeline.zoo.nets import FaceDiscriminator, TinyDiscriminator, ZooNet, build_net
from reconstruction_pipeline.zoo.recipes import Recipe

GRID_SEEDS = tuple(range(64))


def step_budget(recipe_steps: int, steps: int | None, max_minutes: float | None) -> int:
    """The total steps a training run aims at (the recipe's unless ``steps``), with ``--steps``/``--max-minutes``
    checked: one line naming the bad value."""
    total = recipe_steps if steps is None else steps
    if total < 0:
        raise ZooError(f"--steps must be >= 0, got {total}")
    if max_minutes is not None and max_minutes <= 0:
        raise ZooError(f"--max-minutes must be > 0, got {max_minutes}")
    return total


class StepLoop:
    """The step loop every trainer of the zoo shares (the GANs here, the siblings in :mod:`.siblings`): resumes at
    ``step``, stops at ``total`` or once this run has taken ``max_minutes`` (``stopped``: "steps" or "time"), seeds
    torch before every step from (``seed``, step) so that a resumed run repeats an uninterrupted one bit for bit,
    draws a tqdm bar (``postfix`` shown every 10 steps), and calls ``grid`` / ``save`` every ``grid_every`` /
    ``ckpt_every`` steps but the last (the caller writes both when the loop ends). Iterating yields the index of
    the step to take; ``step`` counts the steps taken."""

    def __init__(self, *, step: int, total: int, seed: int, desc: str, progress: bool, max_minutes: float | None,
                 grid_every: int, ckpt_every: int, grid: Callable[[], None], save: Callable[[], None]) -> None:
        self.step, self.total, self.seed = step, total, seed
        self.desc, self.progress, self.max_minutes = desc, progress, max_minutes
        self.grid_every, self.ckpt_every, self.grid, self.save = grid_every, ckpt_every, grid, save
        self.stopped = "steps"
        self.postfix: dict[str, str] = {}

    def __iter__(self) -> Iterator[int]:
        from tqdm import tqdm

        t0 = time.monotonic()
        bar = tqdm(total=self.total, initial=min(self.step, self.total), desc=self.desc, disable=not self.progress,
                   dynamic_ncols=True)
        try:
            while self.step < self.total:
                if self.max_minutes is not None and time.monotonic() - t0 > self.max_minutes * 60.0:
                    self.stopped = "time"
                    break
                torch.manual_seed(self.seed * 1_000_003 + self.step)
                yield self.step
                self.step += 1
                bar.update(1)
                if self.step % 10 == 0 and self.postfix:
                    bar.set_postfix(self.postfix)
                if self.step % self.grid_every == 0 and self.step < self.total:
                    self.grid()
                if self.step % self.ckpt_every == 0 and self.step < self.total:
                    self.save()
        finally:
            bar.close()


@dataclass(frozen=True)
class TrainResult:
    id: str
    step: int              # steps done in total (over all resumed runs)
    seconds: float         # training wall time in total
    weights: Path          # exported generator
    stopped: str           # "steps" (reached the target) or "time" (--max-minutes)


def build_discriminator(recipe: Recipe) -> nn.Module:
    if recipe.resolution == 8:
        return TinyDiscriminator(**recipe.disc)
    if recipe.resolution == 64:
        return FaceDiscriminator(**recipe.disc)
    raise ValueError(f"{recipe.id}: no discriminator for resolution {recipe.resolution}")


def spec_of(recipe: Recipe) -> GeneratorSpec:
    return GeneratorSpec(id=recipe.id, label=recipe.label, source=f"zoo train {recipe.id}",
                         resolution=recipe.resolution, latent_dim=recipe.latent_dim)


def sample_grid_png(net: ZooNet, *, seeds: tuple[int, ...] = GRID_SEEDS, device: torch.device) -> bytes:
    """PNG bytes of an 8-column grid of ``net``'s synthesis (eval, fixed noise, truncation) for ``seeds``."""
    from PIL import Image
    from torchvision.utils import make_grid

    was_training = net.training
    net.eval()
    with torch.no_grad():
        x = net(seeded_latents(seeds, net.latent_dim, device=device)).cpu()
    net.train(was_training)
    if x.shape[-1] < 32:  # upscale tiny images so a person can see them
        x = F.interpolate(x, scale_factor=4, mode="nearest")
    grid = make_grid((x + 1) / 2, nrow=8, padding=2, pad_value=1.0).clamp(0, 1)
    arr = (grid.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def r1_penalty(D: nn.Module, real: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): the mean over the batch of the squared norm of D's gradient at the real images,
    differentiable (for D's update)."""
    x = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return grad.square().flatten(1).sum(1).mean()


def lazy_factor(every: int) -> float:
    """StyleGAN2's lazy-regularisation correction: with a regulariser every ``every`` steps, the optimiser's
    learning rate and betas are scaled by every / (every + 1) (betas raised to that power)."""
    return every / (every + 1.0) if every > 0 else 1.0


def mode_seeking_penalty(fake: torch.Tensor, z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Mode seeking (Mao et al., CVPR 2019, "MSGAN"): the batch is split in two halves paired in order;
    ``1 / (mean|G(z1) - G(z2)| / mean|z1 - z2| + eps)``. Small when different latents give different images, large
    when the generator maps them to one image (mode collapse); added to the generator's loss."""
    h = fake.shape[0] // 2
    ratio = (fake[:h] - fake[h:2 * h]).abs().mean() / (z[:h] - z[h:2 * h]).abs().mean()
    return 1.0 / (ratio + eps)


def gan_step(G: ZooNet, D: nn.Module, real: torch.Tensor, opt_g: torch.optim.Optimizer,
             opt_d: torch.optim.Optimizer, *, mixing: float = 0.0, r1_gamma: float = 0.0,
             r1_now: bool = False, r1_every: int = 1, mode_seeking: float = 0.0) -> tuple[float, float]:
    """One discriminator and one generator update, non-saturating logistic loss. Returns (d_loss, g_loss).

    ``mixing``: style-mixing probability for the generator's forward passes. With ``r1_now`` (the loop sets it every
    ``r1_every`` steps) the discriminator also takes a lazy R1 step: ``r1_gamma / 2 * R1 * r1_every``. With
    ``mode_seeking`` > 0 the generator's loss gains ``mode_seeking * mode_seeking_penalty`` (the returned g_loss is
    the adversarial part alone)."""
    n = real.shape[0]
    device = real.device
    D.requires_grad_(True)
    with torch.no_grad():
        fake = G.train_forward(torch.randn(n, G.latent_dim).to(device), mixing=mixing)
    d_loss = F.softplus(D(fake)).mean() + F.softplus(-D(real)).mean()
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    if r1_now and r1_gamma > 0.0:
        reg = r1_penalty(D, real) * (r1_gamma / 2.0 * r1_every)
        opt_d.zero_grad(set_to_none=True)
        reg.backward()
        opt_d.step()
    D.requires_grad_(False)
    z = torch.randn(n, G.latent_dim).to(device)
    fake = G.train_forward(z, mixing=mixing)
    g_loss = F.softplus(-D(fake)).mean()
    total = g_loss + mode_seeking * mode_seeking_penalty(fake, z) if mode_seeking > 0.0 else g_loss
    opt_g.zero_grad(set_to_none=True)
    total.backward()
    opt_g.step()
    return float(d_loss.detach()), float(g_loss.detach())


@torch.no_grad()
def recalibrate_batchnorm(net: ZooNet, *, batches: int = 8, batch_size: int = 64, seed: int = 0) -> ZooNet:
    """A copy of ``net`` whose BatchNorm running statistics are re-estimated on its own outputs.

    The EMA generator's weights are not those whose statistics BatchNorm tracked during training; this recomputes
    them (cumulative average over ``batches`` seeded batches) so eval-mode synthesis matches the EMA weights.
    Networks without BatchNorm are returned as they are."""
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return net
    out = copy.deepcopy(net)
    device = next(out.parameters()).device
    out_bns = [m for m in out.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in out_bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    out.train()
    gen = torch.Generator().manual_seed(seed)
    for _ in range(batches):
        out.train_forward(torch.randn(batch_size, out.latent_dim, generator=gen).to(device))
    for m in out_bns:
        m.momentum = 0.1
    return out.eval()


@torch.no_grad()
def ema_update(ema: nn.Module, net: nn.Module, *, beta: float) -> None:
    for pe, p in zip(ema.parameters(), net.parameters()):
        pe.lerp_(p, 1.0 - beta)
    for be, b in zip(ema.buffers(), net.buffers()):
        be.copy_(b)


def train(recipe: Recipe, *, out_dir: str | Path, steps: int | None = None, max_minutes: float | None = None,
          device: torch.device | str = "cpu", progress: bool = True, sampler: RealSampler | None = None,
          command: str = "") -> TrainResult:
    """Train (or continue training) ``recipe`` in ``out_dir`` up to ``steps`` total steps or ``max_minutes``."""
    device = torch.device(device)
    out = Path(out_dir)
    total = step_budget(recipe.steps, steps, max_minutes)
    torch.manual_seed(recipe.seed)
    G = build_net(recipe.arch, dict(recipe.config)).to(device)
    D = build_discriminator(recipe).to(device)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    opt_g = torch.optim.Adam(G.param_groups(recipe.lr_g), lr=recipe.lr_g, betas=recipe.betas)
    c = lazy_factor(recipe.r1_every) if recipe.r1_gamma > 0 else 1.0
    opt_d = torch.optim.Adam(D.parameters(), lr=recipe.lr_d * c, betas=(recipe.betas[0] ** c, recipe.betas[1] ** c))
    step, seconds_before = 0, 0.0
    ckpt_path = out / "checkpoint.pt"
    if ckpt_path.exists():
        ck = torch_load_file(ckpt_path, what=f"{recipe.id} resume")
        if not isinstance(ck, dict) or ck.get("id") != recipe.id or ck.get("config") != dict(recipe.config):
            raise ZooError(f"{ckpt_path} belongs to another generator or configuration; use another --out")
        G.load_state_dict(ck["G"])
        D.load_state_dict(ck["D"])
        G_ema.load_state_dict(ck["G_ema"])
        opt_g.load_state_dict(ck["opt_g"])
        opt_d.load_state_dict(ck["opt_d"])
        step, seconds_before = int(ck["step"]), float(ck["seconds"])
    G.train()
    D.train()
    sample_real = sampler or make_sampler(recipe.data, device)
    weights_path = out / f"{recipe.id}.pt"
    threads = torch.get_num_threads()
    t0 = time.monotonic()

    def elapsed() -> float:
        return seconds_before + time.monotonic() - t0

    def exported() -> ZooNet:
        return recalibrate_batchnorm(G_ema, seed=recipe.seed)

    def grid() -> None:
        png = sample_grid_png(exported(), device=device)
        atomic_write_bytes(out / "samples" / f"step_{loop.step:06d}.png", png)
        atomic_write_bytes(out / "samples" / "latest.png", png)

    def save() -> None:
        state: dict[str, Any] = {"id": recipe.id, "config": dict(recipe.config), "step": loop.step,
                                 "seconds": elapsed(), "G": G.state_dict(), "D": D.state_dict(),
                                 "G_ema": G_ema.state_dict(), "opt_g": opt_g.state_dict(),
                                 "opt_d": opt_d.state_dict()}
        torch_save_atomic(state, ckpt_path)
        save_weights(weights_path, exported(), arch=recipe.arch, spec=spec_of(recipe), train={
            "steps": loop.step, "batch_size": recipe.batch_size, "seed": recipe.seed, "data": recipe.data,
            "lr_g": recipe.lr_g, "lr_d": recipe.lr_d, "betas": list(recipe.betas), "ema_beta": recipe.ema_beta,
            "r1_gamma": recipe.r1_gamma, "r1_every": recipe.r1_every, "mixing": recipe.mixing,
            "mode_seeking": recipe.mode_seeking,
            "seconds": round(elapsed(), 1), "device": str(device), "torch_threads": threads,
            "torch": str(torch.__version__), "command": command})

    loop = StepLoop(step=step, total=total, seed=recipe.seed, desc=f"train {recipe.id}", progress=progress,
                    max_minutes=max_minutes, grid_every=recipe.grid_every, ckpt_every=recipe.ckpt_every, grid=grid,
                    save=save)
    for i in loop:
        real = sample_real(recipe.batch_size)
        d_loss, g_loss = gan_step(G, D, real, opt_g, opt_d, mixing=recipe.mixing, r1_gamma=recipe.r1_gamma,
                                  r1_now=recipe.r1_gamma > 0 and i % recipe.r1_every == 0, r1_every=recipe.r1_every,
                                  mode_seeking=recipe.mode_seeking)
        ema_update(G_ema, G, beta=min(recipe.ema_beta, (i + 2.0) / (i + 11.0)))   # i + 1 steps taken
        loop.postfix = {"d": f"{d_loss:.3f}", "g": f"{g_loss:.3f}"}
    save()
    grid()
    return TrainResult(recipe.id, loop.step, elapsed(), weights_path, loop.stopped)

