"""The one interface every generator in the project exposes, and seeded latents.

A :class:`Generator` maps seeds ``z`` of shape ``[N, latent_dim]`` to images ``[N, 3, H, W]`` in ``[-1, 1]``.
It is in eval mode with frozen parameters on the device it was loaded to; every source of randomness other than
``z`` (noise inputs, dropout, batch statistics) is fixed or disabled, so the image depends on ``z`` alone and one
image never depends on the others in its batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from contracts.bundle import GeneratorInfo


@dataclass(frozen=True)
class GeneratorSpec:
    """What a generator is, for people and for the bundle's manifest."""

    id: str
    label: str
    source: str  # where the weights came from (package file, committed checkpoint, user plugin)
    resolution: int
    latent_dim: int

    def info(self) -> GeneratorInfo:
        return GeneratorInfo(self.id, self.label, self.source, self.resolution, self.latent_dim)


class Generator(nn.Module):
    """A frozen, eval-mode generator. Subclasses or wrappers implement :meth:`forward` (``z -> image``)."""

    def __init__(self, spec: GeneratorSpec, net: nn.Module) -> None:
        super().__init__()
        self.spec = spec
        self.net = net
        self.requires_grad_(False)
        self.eval()

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def latent_dim(self) -> int:
        return self.spec.latent_dim

    @property
    def resolution(self) -> int:
        return self.spec.resolution

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        for b in self.buffers():
            return b.device
        return torch.device("cpu")

    def train(self, mode: bool = True) -> "Generator":
        # Always eval: BatchNorm in training mode would couple the images of a batch.
        return super().train(False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)

    def synthesize(self, z: torch.Tensor) -> torch.Tensor:
        """z: [N, latent_dim] -> images [N, 3, resolution, resolution] in [-1, 1]."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"{self.id}: expected seeds of shape [N, {self.latent_dim}], got {tuple(z.shape)}")
        return self(z)


def weights_fingerprint(generator: nn.Module) -> str:
    """SHA-256 (first 16 hex digits) of every parameter and buffer, by name: changes whenever the weights do.

    Part of a build's identity, so a resumed build never mixes shards made with different weights."""
    return weights_sha256(generator)[:16]


def weights_sha256(generator: nn.Module) -> str:
    """The full SHA-256 (hex) behind :func:`weights_fingerprint`: a provenance log entry's ``model``."""
    h = hashlib.sha256()
    for name, t in sorted({**dict(generator.named_parameters()), **dict(generator.named_buffers())}.items()):
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def seeded_latents(seeds: Sequence[int], latent_dim: int, *, device: torch.device | str = "cpu",
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One standard-normal seed vector per integer seed, independent of batch size and device.

    Each row comes from its own ``torch.Generator`` seeded with that integer (on the CPU), so seed 7 gives the same
    vector alone, in a batch of 1000, on any device (edm's StackedRandomGenerator).
    """
    rows = [torch.randn(latent_dim, generator=torch.Generator().manual_seed(int(s)), dtype=torch.float64)
            for s in seeds]
    if not rows:
        return torch.empty(0, latent_dim, device=device, dtype=dtype)
    return torch.stack(rows).to(device=device, dtype=dtype)


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> cuda when available, else cpu; ``cuda`` without a GPU is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but torch sees no CUDA GPU here (use --device cpu or auto)")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise ValueError(f"unknown device {name!r}; use auto, cpu or cuda[:N]")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; use auto, cpu or cuda[:N]") from None
