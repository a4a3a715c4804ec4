"""Distances: per-image, registry, the real Inception-V3 architecture (random weights here: no network)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reconstruction_pipeline.distances import (DISTANCES, Distance, DistanceError, InceptionDistance, PixelDistance,
                                               build_distance, distance_names, load_inception_weights,
                                               register_distance)
from reconstruction_pipeline.generators import Generator, seeded_latents
from reconstruction_pipeline.reconstruct import reconstruct


def test_pixel_is_per_image_mse() -> None:
    a = torch.zeros(2, 3, 4, 4)
    b = torch.zeros(2, 3, 4, 4)
    b[1, 0, 0, 0] = 0.5  # one pixel of one channel of image 1
    d = PixelDistance()(a, PixelDistance().prepare(b))
    assert d.shape == (2,)
    assert d.tolist() == [0.0, pytest.approx(0.25 / 48)]


def test_pixel_resizes_to_the_target_resolution() -> None:
    img = torch.full((1, 3, 16, 16), 0.5)
    target = torch.full((1, 3, 8, 8), 0.25)
    assert PixelDistance()(img, target).item() == pytest.approx(0.0625)


def test_registry_is_open_and_checked() -> None:
    assert {"pixel", "inception"} <= set(distance_names())
    with pytest.raises(DistanceError, match="unknown distance 'l1'"):
        build_distance("l1")

    class L1(Distance):
        name = "l1-test"

        def prepare(self, targets: torch.Tensor) -> torch.Tensor:
            return targets

        def forward(self, images: torch.Tensor, prepared: torch.Tensor) -> torch.Tensor:
            return (images - prepared).abs().flatten(1).mean(1)

    register_distance("l1-test", lambda **_: L1())
    try:
        assert build_distance("l1-test")(torch.ones(1, 3, 2, 2), torch.zeros(1, 3, 2, 2)).item() == 1.0
        with pytest.raises(ValueError, match="already registered"):
            register_distance("l1-test", lambda **_: L1())
    finally:
        DISTANCES.pop("l1-test")


@pytest.fixture(scope="module")
def inception() -> Distance:
    return build_distance("inception", feature_weights="random")


def test_inception_features_and_plain_l2(inception: Distance) -> None:
    assert isinstance(inception, InceptionDistance)
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    feats = inception.prepare(x)
    assert feats.shape == (2, 288, 35, 35)  # Mixed_5d of a 299 x 299 input
    d = inception(torch.flip(x, dims=[0]), feats)
    assert d.shape == (2,) and (d > 0).all()
    # plain (not squared) L2 of the feature difference
    assert d[0].item() == pytest.approx((feats[1] - feats[0]).norm().item(), rel=1e-4)
    assert inception(x, feats).abs().max().item() < 1e-3
    assert inception.describe()["feature_weights"] == "random"


def test_inception_reconstruction_runs_and_improves(inception: Distance, tiny: list[Generator]) -> None:
    g = tiny[0]
    with torch.no_grad():
        x = g.synthesize(seeded_latents([1, 2], 16))
    res = reconstruct(g, x, seeded_latents([3, 4], 16), steps=2, lr=0.1, distance=inception, record_every=1)
    assert res.curve.shape == (2, 3) and torch.isfinite(res.curve).all()
    assert (res.best_distance <= res.curve[:, 0]).all()


def test_inception_weights_file(tmp_path: Path) -> None:
    from torchvision.models import inception_v3

    good = tmp_path / "inception.pth"
    torch.save(inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(), good)
    dist = build_distance("inception", feature_weights=str(good))
    assert dist.describe()["feature_weights"].startswith("file:inception.pth:sha256:")
    bad = tmp_path / "w.pth"
    bad.write_bytes(b"garbage")
    with pytest.raises(DistanceError, match="not a torch state dict"):
        load_inception_weights(str(bad))
    with pytest.raises(DistanceError, match="--feature-weights PATH"):
        load_inception_weights(None, allow_download=False) if not _cached() else pytest.skip("weights cached here")


def _cached() -> bool:
    from torchvision.models import Inception_V3_Weights

    return (Path(torch.hub.get_dir()) / "checkpoints" / Path(Inception_V3_Weights.IMAGENET1K_V1.url).name).is_file()
