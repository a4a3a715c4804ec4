"""What ``targets.py`` promises beyond the seed formula (issue 18's surviving mutants of the module): every target,
conditioned id and condition seed uses the documented keys (docs/pipeline.md; a changed key silently changes every
published run), a condition sees the context the registry documents (device, candidates, true generators, source
ids, distance, target seeds), conditioned targets keep their source's seed, images are clamped to [-1, 1], and each
refusal says what is wrong. Reference values come from ``seed_formula.by_the_docs``, the formula written out independently."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from reconstruction_pipeline import targets as T
from reconstruction_pipeline import conditions as C
from reconstruction_pipeline.conditions import ConditionContext, ConditionKind, register, resolve
from reconstruction_pipeline.generators import Generator, GeneratorSpec, seeded_latents
from tests.pipeline.seed_formula import by_the_docs



class _Affine(nn.Module):
    """z -> a [N, 3, r, r] image: scale * (first latent entries), so out-of-range values are easy to make."""

    def __init__(self, resolution: int, scale: float) -> None:
        super().__init__()
        self.resolution, self.scale = resolution, scale

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        n, r = z.shape[0], self.resolution
        return self.scale * z[:, :1].repeat(1, 3 * r * r).reshape(n, 3, r, r)


def generator(gid: str, resolution: int = 4, scale: float = 1.0) -> Generator:
    return Generator(GeneratorSpec(gid, gid, "test", resolution, 8), _Affine(resolution, scale))


def test_targets_use_the_documented_target_and_id_keys() -> None:
    gens = [generator("ga"), generator("gb")]
    ts = T.synthesize_targets(gens, per_generator=2, seed=5)
    expected_seeds = [by_the_docs(5, "target", g, j) for g in ("ga", "gb") for j in range(2)]
    assert list(ts.seeds) == expected_seeds
    assert list(ts.ids) == ["t" + format(by_the_docs(5, "target-id", g, j), "016x")[:10]
                            for g in ("ga", "gb") for j in range(2)]
    assert list(ts.true_generators) == ["ga", "ga", "gb", "gb"]
    z = seeded_latents(expected_seeds, 8)
    assert torch.equal(ts.images, gens[0].synthesize(z).clamp(-1, 1))


def test_conditioned_ids_and_condition_seeds_use_their_documented_keys() -> None:
    assert T.conditioned_target_id(3, "ga", 1, "clean") == T.target_id(3, "ga", 1)
    assert T.conditioned_target_id(3, "ga", 1, "jpeg:q=50") == \
        "t" + format(by_the_docs(3, "target-id", "ga", 1, "jpeg:q=50"), "016x")[:10]
    assert T.conditioned_target_id(0, "tiny-mlp", 0, "mirror") == \
        "t" + format(by_the_docs(0, "target-id", "tiny-mlp", 0, "mirror"), "016x")[:10]
    assert len(T.conditioned_target_id(0, "tiny-mlp", 0, "mirror")) == 11
    assert T.condition_seed(3, "tabc", "noise:var=0.01") == by_the_docs(3, "condition", "tabc", "noise:var=0.01")


def test_synthesized_images_are_clamped_to_the_unit_range() -> None:
    ts = T.synthesize_targets([generator("ga", scale=50.0)], per_generator=3, seed=0)
    assert float(ts.images.min()) == -1.0 and float(ts.images.max()) == 1.0  # 50 x N(0, 1) overshoots both ways


_SEEN: list[tuple[ConditionContext, list[int]]] = []


def _spy(images: torch.Tensor, seeds, params, ctx: ConditionContext) -> torch.Tensor:  # type: ignore[no-untyped-def]
    _SEEN.append((ctx, list(seeds)))
    return images * 30.0  # out of range on purpose: the result must come back clamped


def test_a_condition_sees_the_documented_context_and_keeps_the_source_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    # registered for this test only (the registry's kind lists are checked elsewhere)
    monkeypatch.setattr(C, "_REGISTRY", dict(C._REGISTRY))
    register(ConditionKind(name="spy-context", category="attack", apply=_spy, summary="test: records its context"))
    gens = [generator("ga"), generator("gb")]
    sources = T.synthesize_targets(gens, per_generator=2, seed=9)
    distance = object()
    _SEEN.clear()
    out = T.apply_conditions(sources, [resolve("clean"), resolve("spy-context")], seed=9, device="cpu",
                             generators=gens, distance=distance)
    (ctx, seeds), = _SEEN
    assert ctx.device == torch.device("cpu")
    assert dict(ctx.generators) == {"ga": gens[0], "gb": gens[1]}
    assert ctx.true_generators == sources.true_generators and ctx.source_targets == sources.ids
    assert ctx.distance is distance and ctx.target_seeds == sources.seeds
    assert seeds == [by_the_docs(9, "condition", t, "spy-context") for t in sources.ids]
    # j-major order, each source's conditions in turn; a conditioned target keeps its source's seed and generator
    order = [0, 2, 1, 3]
    assert list(out.source_ids) == [sources.ids[i] for i in order for _ in range(2)]
    assert list(out.seeds) == [sources.seeds[i] for i in order for _ in range(2)]
    assert list(out.conditions) == ["clean", "spy-context"] * 4
    assert list(out.ids)[1] == T.conditioned_target_id(9, "ga", 0, "spy-context")
    assert list(out.ids)[3] == T.conditioned_target_id(9, "gb", 0, "spy-context")
    assert torch.equal(out.images[0], sources.images[0])
    assert torch.equal(out.images[1], (sources.images[0] * 30).clamp(-1, 1))
    assert float(out.images.abs().max()) == 1.0


def test_refusals_name_the_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"^per_generator must be >= 1, got 0$"):
        T.synthesize_targets([generator("ga")], per_generator=0, seed=0)
    with pytest.raises(ValueError, match=r"^generators have different resolutions \[4, 8\]; targets of one bundle "
                                         r"must share one resolution$"):
        T.synthesize_targets([generator("ga", 8), generator("gb", 4)], per_generator=1, seed=0)
    sources = T.synthesize_targets([generator("ga")], per_generator=2, seed=0)
    with pytest.raises(ValueError, match=r"^no conditions$"):
        T.apply_conditions(sources, [], seed=0, device="cpu")
    monkeypatch.setattr(T, "target_id", lambda seed, g, j: "tsame")
    monkeypatch.setattr(T, "conditioned_target_id", lambda seed, g, j, c: "tsame")
    with pytest.raises(ValueError, match=r"^target id collision; choose another --seed$"):
        T.synthesize_targets([generator("ga")], per_generator=2, seed=0)
    with pytest.raises(ValueError, match=r"^target id collision; choose another --seed$"):
        T.apply_conditions(sources, [resolve("mirror")], seed=0, device="cpu")


def test_user_images_of_other_modes_and_sizes(tmp_path: Path) -> None:
    rgb = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3) * 5
    Image.fromarray(rgb[..., 0]).save(tmp_path / "gray.png")             # mode L: read as RGB (3 equal channels)
    Image.fromarray(np.dstack([rgb, np.full((4, 4), 255, np.uint8)])).save(tmp_path / "rgba.png")
    gray = T.load_user_image(tmp_path / "gray.png", resolution=4)
    assert gray.shape == (1, 3, 4, 4) and torch.equal(gray[0, 0], gray[0, 1])
    assert torch.allclose(gray[0, 0], torch.from_numpy(rgb[..., 0] / 127.5 - 1).float())
    rgba = T.load_user_image(tmp_path / "rgba.png", resolution=4)
    assert torch.allclose(rgba[0], torch.from_numpy(rgb / 127.5 - 1).float().permute(2, 0, 1))
    Image.fromarray(np.zeros((3, 6, 3), np.uint8)).save(tmp_path / "wide.png")  # 6 wide, 3 high
    with pytest.raises(T.ImageInputError, match=r"wide\.png: image is 6x3 but the generators make 4x4 images"):
        T.load_user_image(tmp_path / "wide.png", resolution=4)
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(T.ImageInputError, match=r"junk\.png: unreadable image \(UnidentifiedImageError\); give a PNG"):
        T.load_user_image(tmp_path / "junk.png", resolution=4)


def test_conditioned_targets_are_numbered_per_generator() -> None:
    sources = T.synthesize_targets([generator("ga"), generator("gb")], per_generator=3, seed=4)
    out = T.apply_conditions(sources, [resolve("mirror")], seed=4, device="cpu")
    assert list(out.ids) == [T.conditioned_target_id(4, g, j, "mirror") for j in range(3) for g in ("ga", "gb")]
