"""Training data for the generators trained here: sklearn's 8x8 digits, or a live stream of digiface-dcgan samples."""

from __future__ import annotations

from collections.abc import Callable

import torch

RealSampler = Callable[[int], torch.Tensor]  # batch size -> [B, 3, R, R] in [-1, 1] on the training device


def digits_images() -> torch.Tensor:
    """All 1797 sklearn digits as [1797, 3, 8, 8] in [-1, 1] (grey replicated to three channels)."""
    from sklearn.datasets import load_digits

    x = torch.from_numpy(load_digits().images).float() / 16.0 * 2.0 - 1.0  # 1797 x 8 x 8
    return x[:, None].repeat(1, 3, 1, 1).contiguous()


def digits_sampler(device: torch.device) -> RealSampler:
    data = digits_images().to(device)

    def sample(batch_size: int) -> torch.Tensor:
        # global torch RNG, seeded per step by the training loop
        return data[torch.randint(data.shape[0], (batch_size,))]

    return sample


def teacher_sampler(device: torch.device) -> RealSampler:
    """Fresh digiface-dcgan faces for every batch (an unlimited stream; ~4 ms per image on one CPU thread)."""
    from reconstruction_pipeline.zoo.dcgan import load_dcgan

    teacher = load_dcgan(device=device)

    def sample(batch_size: int) -> torch.Tensor:
        z = torch.randn(batch_size, teacher.latent_dim).to(device)
        with torch.no_grad():
            return teacher.synthesize(z)

    return sample


def make_sampler(kind: str, device: torch.device) -> RealSampler:
    if kind == "digits":
        return digits_sampler(device)
    if kind == "digiface-dcgan":
        return teacher_sampler(device)
    raise ValueError(f"unknown training data {kind!r}; known: digits, digiface-dcgan")
