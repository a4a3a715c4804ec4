"""The unit of work of a build: one candidate generator x a chunk of targets x all attempts, one batch.

A :class:`ShardTask` holds everything the work needs by value (targets as arrays, integer initial seeds), so it runs
the same in this process or on a Ray worker; :func:`run_shard` turns it into a :class:`ShardResult` of NumPy arrays,
which :func:`save_result` writes atomically (one ``.npz`` per shard) so a killed build resumes where it stopped.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from contracts.atomic import atomic_write_bytes
from reconstruction_pipeline.distances import Distance
from reconstruction_pipeline.generators import Generator, seeded_latents
from reconstruction_pipeline.reconstruct import ReconstructionResult, reconstruct


# the fields every build's identity has held since the first build (see ReconstructionSettings.identity)
FIRST_IDENTITY_FIELDS = ("steps", "lr", "distance", "feature_weights", "record_every")


@dataclass(frozen=True)
class ReconstructionSettings:
    """How every attempt of a run is reconstructed, held in this one object wherever it goes (a build's options, the
    spec Ray workers load from, every shard): Adam ``steps`` and ``lr``, the ``distance`` by name with its
    ``feature_weights``, the loss curve's ``record_every``, ``precision``, the search's arithmetic (resolved:
    fp32 | bf16), and ``memory_format``, the search's layout (resolved: contiguous | channels_last). A new option is a
    field here, with a default, and its argument in :meth:`run`."""

    steps: int
    lr: float
    distance: str = "pixel"
    feature_weights: str | None = None
    record_every: int = 10
    precision: str = "fp32"
    memory_format: str = "contiguous"

    def identity(self) -> dict[str, Any]:
        """The settings as part of a build's identity: :data:`FIRST_IDENTITY_FIELDS` always, every other field only
        where it differs from its default (so an identity written without that field still matches: precision
        fp32)."""
        out = {name: getattr(self, name) for name in FIRST_IDENTITY_FIELDS}
        for f in fields(self):
            if f.name not in out and getattr(self, f.name) != f.default:
                out[f.name] = getattr(self, f.name)
        return out

    def run(self, generator: Generator, targets: torch.Tensor, init_latents: torch.Tensor, distance: Distance, *,
            device: torch.device | str, on_step: Callable[[int], None] | None = None) -> ReconstructionResult:
        """:func:`~reconstruction_pipeline.reconstruct.reconstruct` with these settings (``distance``: the loaded
        :attr:`distance`)."""
        return reconstruct(generator, targets, init_latents, steps=self.steps, lr=self.lr, distance=distance,
                           device=device, record_every=self.record_every, on_step=on_step, precision=self.precision,
                           memory_format=self.memory_format)


@dataclass(frozen=True)
class ShardTask:
    """key: stable name (work file); generator: candidate id; target_index: [n] rows of the run's targets;
    targets: [n, 3, H, W] float32; init_seeds: [n * attempts] integers, target-major (target 0's attempts first)."""

    key: str
    generator: str
    target_index: tuple[int, ...]
    targets: np.ndarray
    init_seeds: tuple[int, ...]
    attempts: int

    @property
    def n_attempts(self) -> int:
        return len(self.init_seeds)


RESULT_KEYS = ("final_distance", "best_distance", "curve", "curve_steps", "final_seeds", "final_images",
               "init_seeds")


@dataclass(frozen=True)
class ShardResult:
    """Per attempt (rows in the task's order): see :class:`~reconstruction_pipeline.reconstruct.ReconstructionResult`."""

    final_distance: np.ndarray  # [m] float32
    best_distance: np.ndarray  # [m]
    curve: np.ndarray  # [m, K]
    curve_steps: np.ndarray  # [K] int64
    final_seeds: np.ndarray  # [m, latent_dim]
    final_images: np.ndarray  # [m, 3, H, W]
    init_seeds: np.ndarray  # [m] int64


def run_shard(task: ShardTask, generator: Generator, distance: Distance, settings: ReconstructionSettings, *,
              device: torch.device | str, on_step: Callable[[int], None] | None = None) -> ShardResult:
    """Reconstruct every attempt of the shard in one batch on ``device``."""
    if generator.id != task.generator:
        raise ValueError(f"shard {task.key} is for {task.generator}, got generator {generator.id}")
    targets = torch.from_numpy(np.ascontiguousarray(task.targets)).repeat_interleave(task.attempts, dim=0)
    dtype = next((p.dtype for p in generator.parameters()), torch.float32)
    z0 = seeded_latents(task.init_seeds, generator.latent_dim, device=device, dtype=dtype)
    res = settings.run(generator, targets, z0, distance, device=device, on_step=on_step)
    return ShardResult(
        final_distance=res.final_distance.float().numpy(),
        best_distance=res.best_distance.float().numpy(),
        curve=res.curve.float().numpy(),
        curve_steps=res.curve_steps.numpy().astype(np.int64),
        final_seeds=res.final_seeds.float().numpy(),
        final_images=res.final_images.float().numpy(),
        init_seeds=np.asarray(task.init_seeds, dtype=np.int64),
    )


def save_result(path: Path, result: ShardResult) -> None:
    buf = io.BytesIO()
    np.savez(buf, **{k: getattr(result, k) for k in RESULT_KEYS})
    atomic_write_bytes(path, buf.getvalue())


def load_result(path: Path, task: ShardTask) -> ShardResult | None:
    """A finished shard's result, or None when it is absent or does not belong to ``task`` (then it is redone)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            res = ShardResult(**{k: z[k] for k in RESULT_KEYS})
    except (OSError, ValueError, KeyError):
        return None
    if res.init_seeds.shape != (task.n_attempts,) or list(res.init_seeds) != list(task.init_seeds):
        return None
    return res
