"""The unit of work of a build: one candidate generator x a chunk of targets x all attempts, one batch.

A :class:`ShardTask` holds everything the work needs by value (targets as arrays, integer initial seeds), so it runs
the same in this process or on a Ray worker; :func:`run_shard` turns it into a :class:`ShardResult` of NumPy arrays,
which :func:`save_result` writes atomically (one ``.npz`` per shard) so a killed build resumes where it stopped.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from contracts.atomic import atomic_write_bytes
from reconstruction_pipeline.distances import Distance
from reconstruction_pipeline.generators import Generator, seeded_latents
from reconstruction_pipeline.reconstruct import reconstruct


@dataclass(frozen=True)
class Settings:
    """Optimiser settings shared by every shard of a run (``precision`` resolved: fp32 | bf16; ``memory_format``:
    contiguous | channels_last, the search's layout)."""

    steps: int
    lr: float
    record_every: int
    precision: str = "fp32"
    memory_format: str = "contiguous"


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


def run_shard(task: ShardTask, generator: Generator, distance: Distance, settings: Settings, *,
              device: torch.device | str, on_step: Callable[[int], None] | None = None) -> ShardResult:
    """Reconstruct every attempt of the shard in one batch on ``device``."""
    if generator.id != task.generator:
        raise ValueError(f"shard {task.key} is for {task.generator}, got generator {generator.id}")
    targets = torch.from_numpy(np.ascontiguousarray(task.targets)).repeat_interleave(task.attempts, dim=0)
    dtype = next((p.dtype for p in generator.parameters()), torch.float32)
    z0 = seeded_latents(task.init_seeds, generator.latent_dim, device=device, dtype=dtype)
    res = reconstruct(generator, targets, z0, steps=settings.steps, lr=settings.lr, distance=distance, device=device,
                      record_every=settings.record_every, on_step=on_step, precision=settings.precision,
                      memory_format=settings.memory_format)
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
