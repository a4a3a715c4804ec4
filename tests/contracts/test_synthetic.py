"""contracts.synthetic: the one writer of made-up bundles (simulator and tests) gives every row its own valid PNG."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from PIL import Image

from contracts.bundle import GeneratorInfo, Manifest, Reconstruction, ReconstructionConfig, Target, read_bundle
from contracts.synthetic import PLACEHOLDER_IMAGE, tiny_png, write_synthetic_bundle


@pytest.mark.parametrize("size", [2, 3, 16])
def test_tiny_png_is_a_valid_png_whose_first_pixels_spell_the_index(size: int) -> None:
    for index in (0, 1, 255, 256, 10**9):
        with Image.open(io.BytesIO(tiny_png(index, size=size, noise=random.Random(3)))) as im:
            assert (im.size, im.mode) == ((size, size), "RGB")
            pixels = b"".join(bytes(im.getpixel((x, y))) for y in range(size) for x in range(size))
        assert pixels[:12] == index.to_bytes(12, "big")
    assert len({tiny_png(i) for i in range(500)}) == 500


def test_noise_is_seeded_and_size_checked() -> None:
    assert tiny_png(7, size=8, noise=random.Random(1)) == tiny_png(7, size=8, noise=random.Random(1))
    assert tiny_png(7, size=8, noise=random.Random(1)) != tiny_png(7, size=8, noise=random.Random(2))
    with pytest.raises(ValueError, match="size >= 2"):
        tiny_png(0, size=1)


def test_every_row_gets_its_own_image_and_the_rest_is_kept(tmp_path: Path) -> None:
    targets = [Target(f"t{i}", "alpha", PLACEHOLDER_IMAGE, {"note": str(i)}) for i in range(3)]
    recs = [Reconstruction(t.target_id, g, 0, 0.1 if g == "alpha" else 0.5, PLACEHOLDER_IMAGE)
            for t in targets for g in ("alpha", "beta")]
    manifest = Manifest(tuple(GeneratorInfo(g, g.title(), "test", 4, 4) for g in ("alpha", "beta")),
                        ReconstructionConfig(1, 0.1, 1, "pixel", 0), "test")
    b = write_synthetic_bundle(tmp_path / "b", manifest, targets, recs, image_size=4, seed=0)
    assert b == read_bundle(tmp_path / "b")
    names = [t.image for t in b.targets] + [r.image for r in b.reconstructions]
    assert len(set(names)) == 9 and all((b.root / n).is_file() for n in names)
    assert [(t.target_id, t.extra) for t in b.targets] == [(t.target_id, t.extra) for t in targets]
    assert [(r.target_id, r.generator, r.distance) for r in b.reconstructions] == \
        [(r.target_id, r.generator, r.distance) for r in recs]
