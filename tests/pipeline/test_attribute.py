"""``attribute IMAGE...``: user images against the tiny zoo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reconstruction_pipeline.attribution import attribute_images
from reconstruction_pipeline.bundle_builder import to_uint8
from reconstruction_pipeline.cli import main
from reconstruction_pipeline.distances import build_distance
from reconstruction_pipeline.generators import Generator, seeded_latents
from reconstruction_pipeline.targets import load_user_image


def _save(g: Generator, seed: int, path: Path) -> Path:
    with torch.no_grad():
        x = g.synthesize(seeded_latents([seed], g.latent_dim))[0].numpy()
    Image.fromarray(to_uint8(x)).save(path)
    return path


def test_cli_attributes_generated_images(tiny: list[Generator], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    paths = [_save(g, 100 + i, tmp_path / f"img{i}.png") for i, g in enumerate(tiny)]
    assert main(["attribute", *map(str, paths), "--zoo", "tiny", "--steps", "60", "--attempts", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    for line, path, g in zip(lines, paths, tiny):
        assert line.startswith(f"{path}: {g.id} ")
        assert all(f"{other.id}=" in line for other in tiny)


def test_attribution_is_eq5_and_independent_of_other_images(tiny: list[Generator], tmp_path: Path) -> None:
    imgs = torch.cat([load_user_image(_save(g, 5 + i, tmp_path / f"{i}.png"), resolution=8)
                      for i, g in enumerate(tiny)])
    dist = build_distance("pixel")
    both = attribute_images(["a", "b", "c"], imgs, tiny, attempts=2, steps=5, distance=dist)
    alone = attribute_images(["b"], imgs[1:2], tiny, attempts=2, steps=5, distance=dist)
    for r in both:
        assert r.attributed == min(sorted(r.distances), key=lambda g: r.distances[g])
    for g in alone[0].distances:
        assert alone[0].distances[g] == pytest.approx(both[1].distances[g], rel=1e-5)


def test_user_image_is_read_exactly(tmp_path: Path) -> None:
    arr = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
    Image.fromarray(arr).save(tmp_path / "x.png")
    x = load_user_image(tmp_path / "x.png", resolution=8)
    assert x.shape == (1, 3, 8, 8)
    assert np.array_equal(to_uint8(x[0].numpy()), arr)
