"""The memory layout the search's generator runs in: ``contiguous`` (PyTorch's default, NCHW), ``channels_last``
(NHWC) or ``auto`` (:func:`resolve_memory_format`: channels_last for a bf16 search on a CPU, contiguous otherwise).

``channels_last`` (NHWC) lets oneDNN / cuDNN run convolutions without reordering activations on every call. It only
touches the *search*: :func:`search_generator` gives the search a channels_last copy of the generator, while every
distance and image a result records is computed with the caller's generator in its own (contiguous) layout
(:func:`reconstruction_pipeline.reconstruct.distances_at`), so the recorded numbers for given seeds are the ones a
contiguous fp32 forward gives, bit for bit, whichever layout found the seeds. Measurements: bench/RESULTS.md.
"""

from __future__ import annotations

import copy

import torch

from reconstruction_pipeline.generators import Generator

MEMORY_FORMATS: tuple[str, ...] = ("contiguous", "channels_last")
CHOICES: tuple[str, ...] = ("auto", *MEMORY_FORMATS)
DEFAULT = "auto"


class MemoryFormatError(ValueError):
    """An unknown memory format; the message is one line for the user."""


def check_memory_format(name: str) -> str:
    if name not in MEMORY_FORMATS:
        raise MemoryFormatError(f"unknown memory format {name!r}; use one of {', '.join(CHOICES)}")
    return name


def resolve_memory_format(name: str, precision: str, device: torch.device | str) -> str:
    """``auto`` | ``contiguous`` | ``channels_last`` -> ``contiguous`` or ``channels_last`` for a search in the resolved
    ``precision`` on ``device``.

    ``auto`` = ``channels_last`` for a ``bf16`` search on a CPU: oneDNN's bf16 kernels (AMX tiles, AVX-512 BF16) take
    NHWC activations without reordering them every call. Measured (attempt-steps per CPU second, batch 96, an AMX
    Xeon): bf16 channels_last over bf16 contiguous 1.26x (DigiFace DCGAN), 1.67x (face-resnet), 1.01x (face-style);
    over fp32 1.97x, 2.66x, 1.13x (bench/RESULTS.md). ``contiguous`` for fp32 (channels_last fp32 was 0.91-1.23x,
    slower on two of the three generators) and on GPUs (not measured)."""
    if name == "auto":
        return "channels_last" if precision == "bf16" and torch.device(device).type == "cpu" else "contiguous"
    return check_memory_format(name)


def search_generator(generator: Generator, memory_format: str) -> Generator:
    """The generator the search runs: ``generator`` itself for ``contiguous``; for ``channels_last`` a copy whose 4-D
    weights and buffers are channels_last (the caller's generator is left as it is)."""
    if check_memory_format(memory_format) == "contiguous":
        return generator
    out = copy.deepcopy(generator)
    out.to(memory_format=torch.channels_last)
    return out


def search_input(x: torch.Tensor, memory_format: str) -> torch.Tensor:
    """``x`` (a batch of prepared targets) in the search's layout: itself, or a channels_last copy of a 4-D batch."""
    if check_memory_format(memory_format) == "contiguous" or x.ndim != 4:
        return x
    return x.contiguous(memory_format=torch.channels_last)
