"""Attribute images a user supplies (paper Algorithm 1): reconstruct each on every candidate generator, ``attempts``
times, and pick the generator whose smallest final distance over the attempts is smallest (eq. 5,
:func:`contracts.bundle.attribute`). (A reconstruction's ``best_distance`` is another number: the smallest over the
steps of one attempt.)"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from contracts.bundle import attribute
from reconstruction_pipeline.distances import Distance
from reconstruction_pipeline.generators import Generator, seeded_latents
from reconstruction_pipeline.reconstruct import reconstruct
from reconstruction_pipeline.targets import derive_seed


@dataclass(frozen=True)
class ImageAttribution:
    name: str
    attributed: str
    distances: dict[str, float]  # generator -> smallest final distance over the attempts (what eq. 5 compares)


def image_key(image: torch.Tensor) -> str:
    """A content key, so an image's initial seeds do not depend on which other images are attributed with it."""
    return hashlib.sha256(image.detach().cpu().float().contiguous().numpy().tobytes()).hexdigest()[:16]


def attribute_images(names: Sequence[str], images: torch.Tensor, generators: Sequence[Generator], *,
                     attempts: int = 3, steps: int = 500, lr: float = 0.1, distance: Distance, seed: int = 0,
                     device: torch.device | str = "cpu", precision: str = "fp32",
                     memory_format: str = "contiguous") -> list[ImageAttribution]:
    """images: [N, 3, R, R] in [-1, 1] -> one :class:`ImageAttribution` per image (all attempts of all images on one
    generator are one batch; ``precision``: the search's arithmetic, fp32 | bf16; ``memory_format``: its layout,
    contiguous | channels_last; distances are fp32 with the contiguous generator either way)."""
    if images.shape[0] != len(names):
        raise ValueError(f"{len(names)} names for {images.shape[0]} images")
    keys = [image_key(images[i]) for i in range(images.shape[0])]
    rows: list[tuple[str, str, float]] = []
    distances: list[dict[str, float]] = [{} for _ in names]
    for g in generators:
        seeds = [derive_seed(seed, "attribute", k, g.id, a) for k in keys for a in range(attempts)]
        z0 = seeded_latents(seeds, g.latent_dim, device=device)
        res = reconstruct(g, images.repeat_interleave(attempts, dim=0), z0, steps=steps, lr=lr, distance=distance,
                          device=device, precision=precision, memory_format=memory_format)
        for i in range(len(names)):
            for a in range(attempts):
                rows.append((str(i), g.id, float(res.final_distance[i * attempts + a])))
            distances[i][g.id] = min(d for _, _, d in rows[-attempts:])
    attributed = attribute(rows)
    return [ImageAttribution(name, attributed[str(i)], distances[i]) for i, name in enumerate(names)]
