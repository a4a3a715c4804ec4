"""What an attack is given: the zoo, the distance, the device and the defender's attribution settings (the
context), and the images with what is known about them (the batch)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from reconstruction_pipeline.attribution import attribute_images, image_key
from reconstruction_pipeline.distances import Distance
from reconstruction_pipeline.generators import Generator, seeded_latents
from reconstruction_pipeline.reconstruct import reconstruct
from reconstruction_pipeline.targets import derive_seed


@dataclass(frozen=True)
class AttributionSettings:
    """The attribution (paper Algorithm 1): ``attempts`` random initial seeds x ``steps`` Adam steps (lr ``lr``) per
    candidate; initial seeds derive from ``seed`` and the image's content (:func:`attribute_images`)."""

    attempts: int = 3
    steps: int = 200
    lr: float = 0.1
    seed: int = 0


@dataclass(frozen=True)
class AttackContext:
    """generators: the zoo (the attribution's candidates, in order); distance: the attribution's distance (what the
    image-space attacks maximise); attribution: the defender's settings, which framing re-checks against;
    attacker: the attacker's own reconstructions (evasion, framing's moves); classifier: the transfer classifier
    (``DCTClassifier``) when the attacks need one; precision, memory_format: the arithmetic and layout of the
    attribution's seed searches (:func:`attribution_of`: the defender's attribution and framing's oracle; resolved:
    fp32 | bf16, contiguous | channels_last; its distances and decisions are fp32 either way). The attack itself stays
    fp32 whatever the precision -- its gradient steps on images and seeds and the attacker's own reconstructions
    (:func:`best_reconstruction`) -- so an attack makes the same images in every precision (framing aside, whose
    rounds stop on the oracle's answers)."""

    generators: Sequence[Generator]
    distance: Distance
    device: torch.device
    attribution: AttributionSettings = AttributionSettings()
    attacker: AttributionSettings = AttributionSettings(attempts=2, steps=100)
    oracle: AttributionSettings | None = None
    classifier: torch.nn.Module | None = None
    precision: str = "fp32"
    memory_format: str = "contiguous"

    @property
    def generator_ids(self) -> list[str]:
        return [g.id for g in self.generators]

    def generator(self, gen_id: str) -> Generator:
        for g in self.generators:
            if g.id == gen_id:
                return g
        raise KeyError(gen_id)


@dataclass(frozen=True)
class AttackBatch:
    """images: [N, 3, H, W] in [-1, 1]; keys: one per row (a target id or a file name: per-row randomness derives
    from it, so a row's attack never depends on the rest of the batch); true_generators: the generator that made each
    row when known (None for a user's image); latents: each row's seed vector when known (seed-space attacks)."""

    images: torch.Tensor
    keys: tuple[str, ...]
    true_generators: tuple[str | None, ...]
    latents: tuple[torch.Tensor | None, ...]

    def __post_init__(self) -> None:
        n = self.images.shape[0]
        if self.images.ndim != 4 or self.images.shape[1] != 3:
            raise ValueError(f"images: expected [N, 3, H, W], got {tuple(self.images.shape)}")
        if not (len(self.keys) == len(self.true_generators) == len(self.latents) == n):
            raise ValueError("keys, true_generators and latents need one entry per image")

    @staticmethod
    def of_images(images: torch.Tensor, keys: Sequence[str]) -> "AttackBatch":
        """Images of unknown origin (no generator, no seed)."""
        n = images.shape[0]
        return AttackBatch(images, tuple(keys), (None,) * n, (None,) * n)

    def rows(self, idx: Sequence[int]) -> "AttackBatch":
        return AttackBatch(self.images[list(idx)], tuple(self.keys[i] for i in idx),
                           tuple(self.true_generators[i] for i in idx), tuple(self.latents[i] for i in idx))


def row_seeds(seed: int, spec_name: str, keys: Sequence[str], *extra: object) -> list[int]:
    return [derive_seed(seed, "attack", spec_name, k, *extra) for k in keys]


@dataclass(frozen=True)
class BestReconstruction:
    """Per row, on one generator: the best attempt's final seed [N, k], image [N, 3, H, W] and distance [N]."""

    seeds: torch.Tensor
    images: torch.Tensor
    distance: torch.Tensor


def best_reconstruction(ctx: AttackContext, g: Generator, images: torch.Tensor, settings: AttributionSettings, *,
                        purpose: str) -> BestReconstruction:
    """The attacker's reconstruction of every image on ``g`` (all attempts of all images in one batch), keeping each
    image's best attempt. Initial seeds derive from ``settings.seed``, ``purpose`` and the image's content."""
    n, a = images.shape[0], settings.attempts
    keys = [image_key(images[i]) for i in range(n)]
    z0 = seeded_latents([derive_seed(settings.seed, "attacker", purpose, k, g.id, j) for k in keys for j in range(a)],
                        g.latent_dim, device=ctx.device)
    res = reconstruct(g, images.repeat_interleave(a, dim=0), z0, steps=settings.steps, lr=settings.lr,
                      distance=ctx.distance, device=ctx.device)  # fp32: the attack, not the attribution
    d = res.final_distance.view(n, a)
    best = d.argmin(dim=1)
    rows = torch.arange(n) * a + best
    return BestReconstruction(res.final_seeds[rows], res.final_images[rows].clamp(-1, 1), d.min(dim=1).values)


def attribution_of(ctx: AttackContext, images: torch.Tensor, keys: Sequence[str],
                   settings: AttributionSettings | None = None) -> list[str]:
    """The full attribution (every generator, ``settings`` or the context's) of each image."""
    s = settings or ctx.attribution
    res = attribute_images(list(keys), images, ctx.generators, attempts=s.attempts, steps=s.steps, lr=s.lr,
                           distance=ctx.distance, seed=s.seed, device=ctx.device, precision=ctx.precision,
                           memory_format=ctx.memory_format)
    return [r.attributed for r in res]
