"""The arithmetic precision the optimisation runs in: ``fp32``, ``bf16`` or ``auto`` (one rule, one place).

- ``fp32``: the generator's own dtype throughout (float32 for every zoo; the tests also run float64);
- ``bf16``: every step's forward and backward under ``torch.autocast(device_type, dtype=torch.bfloat16)``: convolutions
  and matrix products take bfloat16 inputs (oneDNN's ``avx512_core_bf16`` / ``avx512_core_amx`` kernels on a CPU,
  Tensor cores on a GPU) while the seeds, their gradients and Adam's state stay float32;
- ``auto``: ``bf16`` where the device multiplies bfloat16 natively -- a CPU with AVX-512 BF16 or AMX tiles (torch's
  ``torch.cpu._is_avx512_bf16_supported`` / ``_is_amx_tile_supported``, i.e. the ``avx512_bf16`` / ``amx_bf16`` flags
  of ``/proc/cpuinfo``), a CUDA GPU of compute capability >= 8.0 -- and the work is big enough to gain from it
  (at least :data:`AUTO_MIN_MFLOP` MFLOP per attempt-step summed over the candidate generators, with the distance;
  below that a step is bound by per-operation overhead and autocast's casts make it slower: the ``tiny`` zoo, 1-3
  MFLOP, ran 0.6x); ``fp32`` everywhere else (emulated bfloat16 is slower than float32). Measurements:
  bench/RESULTS.md.

Whatever the precision of the optimisation, every distance a run *records* and every attribution decision is computed
in full precision from the seeds it reports (:func:`reconstruction_pipeline.reconstruct.reconstruct`), so bf16 changes
which seeds the search finds, never what is said about them. The search's memory layout (``channels_last`` for a bf16
search on a CPU by default, where oneDNN's bf16 kernels want NHWC) is :mod:`reconstruction_pipeline.memory_format`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from reconstruction_pipeline.distances import Distance
    from reconstruction_pipeline.generators import Generator

PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "auto")
RESOLVED: tuple[str, ...] = ("fp32", "bf16")
DEFAULT = "auto"
AUTO_MIN_MFLOP = 10.0


class PrecisionError(ValueError):
    """A precision that cannot be used as asked; the message is one line for the user."""


def _cpuinfo_flags(path: str = "/proc/cpuinfo") -> set[str]:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def cpu_bf16_isa() -> str | None:
    """The CPU's native bfloat16 instructions (``amx_bf16``, ``avx512_bf16``) or None when bfloat16 is emulated."""
    cpu = getattr(torch, "cpu", None)
    flags = _cpuinfo_flags()
    amx = getattr(cpu, "_is_amx_tile_supported", None)
    if (amx is not None and amx()) or "amx_bf16" in flags:
        return "amx_bf16"
    avx = getattr(cpu, "_is_avx512_bf16_supported", None)
    if (avx is not None and avx()) or "avx512_bf16" in flags:
        return "avx512_bf16"
    return None


def cuda_bf16_tensor_cores(device: torch.device) -> bool:
    """Compute capability >= 8.0 (Ampere and later): bfloat16 Tensor cores."""
    return torch.cuda.is_available() and torch.cuda.get_device_capability(device)[0] >= 8


def fast_bf16(device: torch.device | str) -> bool:
    device = torch.device(device)
    if device.type == "cuda":
        return cuda_bf16_tensor_cores(device)
    if device.type == "cpu":
        return cpu_bf16_isa() is not None
    return False


def step_mflop(generators: Sequence[Generator], distance: Distance, device: torch.device | str) -> float:
    """MFLOP of one attempt's forward + backward (generator and distance), summed over ``generators``: counted with
    ``torch.utils.flop_counter.FlopCounterMode`` (matrix products and convolutions) on one seed of zeros."""
    from torch.utils.flop_counter import FlopCounterMode

    total = 0
    for g in generators:
        z = torch.zeros(1, g.latent_dim, device=device, dtype=next(g.parameters(), torch.zeros(())).dtype)
        with torch.no_grad():
            prepared = distance.prepare(g.synthesize(z))
        z.requires_grad_(True)
        with FlopCounterMode(display=False) as counter:
            distance(g.synthesize(z), prepared).sum().backward()
        total += counter.get_total_flops()
    return total / 1e6


def resolve_precision(name: str, device: torch.device | str, *, mflop: float | None = None) -> str:
    """``fp32`` | ``bf16`` | ``auto`` -> ``fp32`` or ``bf16`` for ``device``; :class:`PrecisionError` when not usable.

    ``mflop``: the work of one attempt-step (:func:`step_mflop`); ``auto`` keeps fp32 below :data:`AUTO_MIN_MFLOP`."""
    device = torch.device(device)
    if name not in PRECISIONS:
        raise PrecisionError(f"unknown precision {name!r}; use one of {', '.join(PRECISIONS)}")
    if name == "auto":
        big = mflop is None or mflop >= AUTO_MIN_MFLOP
        return "bf16" if big and fast_bf16(device) else "fp32"
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise PrecisionError(f"--precision bf16: {device} has no bfloat16 support; use --precision fp32 or auto")
    if name == "bf16" and device.type not in ("cpu", "cuda"):
        raise PrecisionError(f"--precision bf16 is for cpu and cuda devices, not {device.type}; use fp32")
    return name


def check_resolved(precision: str) -> str:
    """The precision the pure core takes: already resolved (``fp32`` or ``bf16``)."""
    if precision not in RESOLVED:
        raise PrecisionError(f"precision must be one of {', '.join(RESOLVED)} here (resolve 'auto' with "
                             f"resolve_precision first), got {precision!r}")
    return precision


@contextlib.contextmanager
def autocast(precision: str, device: torch.device | str) -> Iterator[None]:
    """The context the optimisation's forward runs in: nothing for ``fp32``, bfloat16 autocast for ``bf16``."""
    if check_resolved(precision) == "fp32":
        yield
        return
    with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16):
        yield


def describe(precision: str) -> dict[str, str]:
    """What a manifest's reconstruction block records: the optimisation's precision; distances are full precision."""
    return {"precision": check_resolved(precision), "distances_precision": "fp32"}
