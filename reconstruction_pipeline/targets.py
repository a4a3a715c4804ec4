"""Targets and every integer seed of a run, derived from one ``--seed`` by a documented hash.

``derive_seed(seed, *keys)`` = the first 8 bytes (big-endian) of ``sha256("seed|key1|key2|...")``, shifted right by
one bit (a non-negative 63-bit integer that ``torch.Generator.manual_seed`` accepts). It depends on nothing but its
arguments (no NumPy/Python version, no order of calls), so a target's seed is the same whatever else the run holds:

- the target seed of target ``j`` of generator ``g``: ``derive_seed(seed, "target", g, j)``;
- the initial seed of attempt ``a`` of target ``t`` on candidate ``c``: ``derive_seed(seed, "init", t, c, a)``;
- the opaque target id: ``"t" + hex(derive_seed(seed, "target-id", g, j))[:10]`` (reveals neither ``g`` nor ``j``);
- under a condition other than ``clean`` (schema_version 2): the target id is
  ``"t" + hex(derive_seed(seed, "target-id", g, j, condition))[:10]`` and the condition's randomness comes from
  ``derive_seed(seed, "condition", source_target_id, condition)`` (``condition`` = its canonical name), so a perturbed
  target depends only on the build seed, its source and the condition.

Latents come from :func:`~reconstruction_pipeline.generators.seeded_latents` (one ``torch.Generator`` per seed), so
a result never depends on batch size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from contracts.conditions import CLEAN
from reconstruction_pipeline.conditions import ConditionContext, ResolvedCondition, apply_condition
from reconstruction_pipeline.generators import Generator, seeded_latents


SEED_MAX = 2**63 - 1  # seeds are non-negative 63-bit integers: derive_seed's range, and every --seed's


def derive_seed(seed: int, *keys: object) -> int:
    """A non-negative 63-bit integer from ``seed`` and ``keys`` (see the module docstring)."""
    text = "|".join([str(int(seed)), *(str(k) for k in keys)])
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") >> 1


def target_id(seed: int, generator_id: str, index: int) -> str:
    return "t" + format(derive_seed(seed, "target-id", generator_id, index), "016x")[:10]


def conditioned_target_id(seed: int, generator_id: str, index: int, condition: str) -> str:
    if condition == CLEAN:
        return target_id(seed, generator_id, index)
    return "t" + format(derive_seed(seed, "target-id", generator_id, index, condition), "016x")[:10]


def condition_seed(seed: int, source_target: str, condition: str) -> int:
    return derive_seed(seed, "condition", source_target, condition)


def init_seed(seed: int, target: str, candidate: str, attempt: int) -> int:
    return derive_seed(seed, "init", target, candidate, attempt)


@dataclass(frozen=True)
class TargetSet:
    """Targets of a run, in a fixed order (by generator in the given order, then index).

    ids: opaque target ids; true_generators: the generator id that made each; seeds: its integer seed;
    images: [T, 3, H, W] float32 in [-1, 1] exactly as the generator produced them (kept losslessly), or as the
    condition left them; conditions / source_ids: each target's condition name and clean source's id (empty: all
    clean, each its own source).
    """

    ids: tuple[str, ...]
    true_generators: tuple[str, ...]
    seeds: tuple[int, ...]
    images: torch.Tensor
    conditions: tuple[str, ...] = ()
    source_ids: tuple[str, ...] = ()

    def condition_of(self, i: int) -> str:
        return self.conditions[i] if self.conditions else CLEAN

    def source_of(self, i: int) -> str:
        return self.source_ids[i] if self.source_ids else self.ids[i]


def synthesize_targets(generators: Sequence[Generator], *, per_generator: int, seed: int,
                       device: torch.device | str = "cpu") -> TargetSet:
    """``per_generator`` targets from each generator, each from its own recorded integer seed and nothing else."""
    if per_generator < 1:
        raise ValueError(f"per_generator must be >= 1, got {per_generator}")
    resolutions = {g.resolution for g in generators}
    if len(resolutions) != 1:
        raise ValueError(f"generators have different resolutions {sorted(resolutions)}; targets of one bundle "
                         "must share one resolution")
    ids: list[str] = []
    gens: list[str] = []
    seeds: list[int] = []
    images: list[torch.Tensor] = []
    for g in generators:
        gseeds = [derive_seed(seed, "target", g.id, j) for j in range(per_generator)]
        with torch.no_grad():
            for s in gseeds:  # one at a time: a target's pixels do not depend on what else is synthesised
                z = seeded_latents([s], g.latent_dim, device=device)
                images.append(g.synthesize(z).float().cpu())
        ids += [target_id(seed, g.id, j) for j in range(per_generator)]
        gens += [g.id] * per_generator
        seeds += gseeds
    if len(set(ids)) != len(ids):
        raise ValueError("target id collision; choose another --seed")
    return TargetSet(tuple(ids), tuple(gens), tuple(seeds), torch.cat(images).clamp(-1, 1))


def apply_conditions(sources: TargetSet, conditions: Sequence[ResolvedCondition], *, seed: int,
                     device: torch.device | str, generators: Sequence[Generator] = (),
                     distance: object | None = None) -> TargetSet:
    """Every clean source under every condition, each condition applied to all sources in one batch on ``device``.

    Order (the build's unit of work follows it): source ``j`` of every generator in turn (j-major, so any prefix
    covers the generators evenly), and within a source its conditions in the given order.
    """
    if not conditions:
        raise ValueError("no conditions")
    device = torch.device(device)
    index_in_gen: list[int] = []
    seen: dict[str, int] = {}
    for g in sources.true_generators:
        index_in_gen.append(seen.get(g, 0))
        seen[g] = seen.get(g, 0) + 1
    gen_order = list(dict.fromkeys(sources.true_generators))
    order = sorted(range(len(sources.ids)), key=lambda i: (index_in_gen[i], gen_order.index(sources.true_generators[i])))
    ctx = ConditionContext(device=device, generators={g.id: g for g in generators},
                           true_generators=sources.true_generators, source_targets=sources.ids, distance=distance,
                           target_seeds=sources.seeds)
    applied: list[torch.Tensor] = []
    for rc in conditions:
        seeds = [condition_seed(seed, t, rc.name) for t in sources.ids]
        applied.append(apply_condition(rc, sources.images, seeds, ctx).detach().float().cpu())
    ids: list[str] = []
    gens: list[str] = []
    tseeds: list[int] = []
    images: list[torch.Tensor] = []
    conds: list[str] = []
    srcs: list[str] = []
    for i in order:
        for ci, rc in enumerate(conditions):
            g = sources.true_generators[i]
            ids.append(conditioned_target_id(seed, g, index_in_gen[i], rc.name))
            gens.append(g)
            tseeds.append(sources.seeds[i])
            images.append(applied[ci][i])
            conds.append(rc.name)
            srcs.append(sources.ids[i])
    if len(set(ids)) != len(ids):
        raise ValueError("target id collision; choose another --seed")
    return TargetSet(tuple(ids), tuple(gens), tuple(tseeds), torch.stack(images).clamp(-1, 1), tuple(conds),
                     tuple(srcs))


class ImageInputError(ValueError):
    """A user-supplied image cannot be used (unreadable, wrong size); the message is one line."""


def load_user_image(path: str | Path, *, resolution: int) -> torch.Tensor:
    """A user's image file -> [1, 3, resolution, resolution] float32 in [-1, 1]; refuses other sizes."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            rgb = im.convert("RGB")
    except FileNotFoundError:
        raise ImageInputError(f"{path}: no such image file") from None
    except (UnidentifiedImageError, OSError) as e:
        raise ImageInputError(f"{path}: unreadable image ({type(e).__name__}); give a PNG or JPEG file") from None
    if rgb.size != (resolution, resolution):
        raise ImageInputError(f"{path}: image is {rgb.size[0]}x{rgb.size[1]} but the generators make "
                              f"{resolution}x{resolution} images; give an image of that size")
    arr = np.asarray(rgb, dtype=np.float32) / 127.5 - 1.0  # H x W x 3 in [-1, 1]
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).contiguous()
