"""The zoo's diversity metric against a naive double loop, and its behaviour on collapsed samples."""

from __future__ import annotations

import torch

from reconstruction_pipeline.zoo.diversity import diversity, mean_pairwise_rms, standardised_grey


def test_mean_pairwise_rms_matches_naive_loop() -> None:
    x = torch.randn(7, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    pairs = [((x[i] - x[j]) ** 2).mean().sqrt().item() for i in range(7) for j in range(i + 1, 7)]
    assert abs(mean_pairwise_rms(x) - sum(pairs) / len(pairs)) < 1e-6


def test_shape_distance_ignores_colour_only_variation() -> None:
    base = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1
    tints = torch.tensor([0.2, 0.5, 0.8, 1.0])[:, None, None, None]
    collapsed = base * tints * 0.9 + 0.1 * tints  # one image, varying in brightness and contrast only
    assert mean_pairwise_rms(collapsed) > 0.05
    assert mean_pairwise_rms(standardised_grey(collapsed)) < 1e-3


def test_diversity_on_a_real_tiny_generator(tiny: list) -> None:
    d = diversity(tiny[0], n=32)
    assert d["samples"] == 32 and d["pixel"] > 0.05 and d["shape"] > 0.05
