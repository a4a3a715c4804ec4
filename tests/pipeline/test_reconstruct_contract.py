"""What ``reconstruct``/``one_at_a_time``/``attribute_images`` promise beyond batched = one-at-a-time (issue 18's
surviving mutants of reconstruct.py and attribution.py): the paper's defaults, the bf16 / channels_last path's
recorded numbers recomputed in full precision at the seeds they belong to, the result's dtypes, the progress
callback, every option forwarded by the reference loop, the attribution's documented seed keys, and each refusal's
message. References are computed here from the generator and the distance directly."""

from __future__ import annotations

import hashlib

import pytest
import torch

from reconstruction_pipeline.attribution import attribute_images, image_key
from reconstruction_pipeline.distances import build_distance
from reconstruction_pipeline.generators import Generator, seeded_latents
from reconstruction_pipeline.reconstruct import curve_steps, one_at_a_time, reconstruct
from reconstruction_pipeline.targets import derive_seed
from tests.pipeline.seed_formula import by_the_docs



def _problem(g: Generator, n: int, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        x = g.synthesize(seeded_latents([derive_seed(1, "t", g.id, i) for i in range(n)], g.latent_dim, dtype=dtype))
    return x, seeded_latents([derive_seed(1, "init", g.id, i) for i in range(n)], g.latent_dim, dtype=dtype)


def _fp32_distance(g: Generator, seeds: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    dist = build_distance("pixel", dtype=seeds.dtype)
    with torch.no_grad():
        return dist(g.synthesize(seeds), dist.prepare(x))


def test_the_papers_settings_are_the_defaults(tiny: list[Generator]) -> None:
    """Adam lr 0.1, 500 steps, 3 attempts (paper §IV-C), the curve every 10 steps, fp32 contiguous, attribution
    seed 0: a call without them equals one that names them."""
    g = tiny[0]
    x, z0 = _problem(g, 1)
    dist = build_distance("pixel")
    paper = dict(steps=500, lr=0.1, record_every=10, precision="fp32", memory_format="contiguous")
    for fn in (reconstruct, one_at_a_time):
        plain, named = fn(g, x, z0, distance=dist), fn(g, x, z0, distance=dist, **paper)  # type: ignore[arg-type]
        assert plain.curve_steps.tolist() == named.curve_steps.tolist() == [*range(0, 500, 10), 500], fn.__name__
        for name in ("final_seeds", "final_distance", "best_distance", "curve"):
            assert torch.equal(getattr(plain, name), getattr(named, name)), (fn.__name__, name)
    plain_a = attribute_images(["a.png"], x, tiny[:1], distance=dist)
    named_a = attribute_images(["a.png"], x, tiny[:1], attempts=3, steps=500, lr=0.1, seed=0, distance=dist)
    assert plain_a == named_a
    assert plain_a != attribute_images(["a.png"], x, tiny[:1], attempts=3, steps=500, lr=0.1, seed=1, distance=dist)


@pytest.mark.parametrize("precision, memory_format", [("bf16", "contiguous"), ("fp32", "channels_last")])
def test_a_bf16_or_channels_last_search_records_full_precision_numbers_at_its_seeds(
        tiny: list[Generator], precision: str, memory_format: str) -> None:
    g = tiny[1]
    x, z0 = _problem(g, 3)
    res = reconstruct(g, x, z0, steps=5, lr=0.1, distance=build_distance("pixel"), record_every=2,
                      precision=precision, memory_format=memory_format)
    assert res.curve_steps.tolist() == [0, 2, 4, 5] and res.curve_steps.dtype == torch.long
    assert res.curve.shape == (3, 4)                                   # recorded steps, the last one final
    assert torch.equal(res.curve[:, 0], _fp32_distance(g, z0, x))      # step 0: the initial seeds, in full precision
    assert torch.equal(res.curve[:, -1], res.final_distance)
    assert torch.equal(res.final_distance, _fp32_distance(g, res.final_seeds, x))
    assert torch.equal(res.final_images, g.synthesize(res.final_seeds).detach())
    assert bool((res.best_distance <= res.curve.min(dim=1).values).all())
    every = reconstruct(g, x, z0, steps=5, lr=0.1, distance=build_distance("pixel"), record_every=1,
                        precision=precision, memory_format=memory_format)
    # with every step recorded, the best seed's distance is one of the recorded ones: the smallest
    assert torch.equal(every.best_distance, every.curve.min(dim=1).values)


def test_results_keep_the_latents_dtype_and_report_progress(tiny64: list[Generator]) -> None:
    g = tiny64[0]
    x, z0 = _problem(g, 2, torch.float64)
    calls: list[int] = []
    x32 = x.float()  # float32 targets are compared in the latents' float64
    res = reconstruct(g, x32, z0, steps=3, distance=build_distance("pixel", dtype=torch.float64),
                      on_step=calls.append, record_every=1)
    assert calls == [2, 2, 2]
    assert torch.equal(res.best_distance, res.curve.min(dim=1).values)  # every step recorded: the best is one
    for name in ("final_distance", "best_distance", "curve", "final_seeds", "final_images"):
        assert getattr(res, name).dtype == torch.float64, name
    assert torch.equal(res.final_distance, _fp32_distance(g, res.final_seeds, x32.double()))


def test_one_at_a_time_forwards_every_option(tiny64: list[Generator]) -> None:
    g = tiny64[2]
    x, z0 = _problem(g, 2, torch.float64)
    dist = build_distance("pixel", dtype=torch.float64)
    kw = dict(steps=4, lr=0.37, distance=dist, record_every=3, device="cpu", memory_format="channels_last")
    single = one_at_a_time(g, x, z0, **kw)  # type: ignore[arg-type]
    alone = [reconstruct(g, x[i:i + 1], z0[i:i + 1], **kw) for i in range(2)]  # type: ignore[arg-type]
    assert single.curve_steps.tolist() == [0, 3, 4]
    for name in ("final_seeds", "final_distance", "best_distance", "curve"):
        assert torch.equal(getattr(single, name), torch.cat([getattr(a, name) for a in alone])), name
    slow = one_at_a_time(g, x, z0, steps=4, lr=0.01, distance=dist, record_every=3)
    assert not torch.equal(slow.final_seeds, single.final_seeds)  # lr reached the loop


@pytest.mark.parametrize("precision, memory_format", [("bf16", "contiguous"), ("fp32", "channels_last")])
def test_the_reference_loop_and_the_attribution_forward_the_search_options(
        tiny: list[Generator], precision: str, memory_format: str) -> None:
    g = tiny[1]  # tiny-deconv: bf16 and channels_last both change its search's bits
    x, z0 = _problem(g, 2)
    dist = build_distance("pixel")
    kw = dict(steps=4, lr=0.5, distance=dist, precision=precision, memory_format=memory_format)
    single = one_at_a_time(g, x, z0, **kw)  # type: ignore[arg-type]
    alone = torch.cat([reconstruct(g, x[i:i + 1], z0[i:i + 1], **kw).final_seeds for i in range(2)])  # type: ignore[arg-type]
    default = torch.cat([reconstruct(g, x[i:i + 1], z0[i:i + 1], steps=4, lr=0.5, distance=dist).final_seeds
                         for i in range(2)])
    assert not torch.equal(alone, default)  # the premise: the option changes this search
    assert torch.equal(single.final_seeds, alone)
    (out,) = attribute_images(["a.png"], x[:1], [g], attempts=2, steps=4, lr=0.5, distance=dist, seed=3,
                              precision=precision, memory_format=memory_format)
    key = image_key(x[0])
    z = seeded_latents([by_the_docs(3, "attribute", key, g.id, a) for a in range(2)], g.latent_dim)
    res = reconstruct(g, x[:1].repeat(2, 1, 1, 1), z, **kw)  # type: ignore[arg-type]
    assert out.distances[g.id] == float(res.final_distance.min())


@pytest.mark.parametrize("kwargs, message", [
    ({"steps": 0}, "steps must be >= 1, got 0"),
    ({"targets": "one channel"}, "targets: expected [N, 3, H, W], got (2, 1, 8, 8)"),
    ({"targets": "no batch"}, "targets: expected [N, 3, H, W], got (3, 8, 8)"),
    ({"latents": 1}, "1 initial latents for 2 targets (one per attempt)"),
])
def test_refusals_name_the_problem(tiny: list[Generator], kwargs: dict[str, object], message: str) -> None:
    g = tiny[0]
    x, z0 = _problem(g, 2)
    if kwargs.get("targets") == "one channel":
        x = x[:, :1]
    elif kwargs.get("targets") == "no batch":
        x = x[0]
    if "latents" in kwargs:
        z0 = z0[:1]
    with pytest.raises(ValueError) as e:
        reconstruct(g, x, z0, steps=int(kwargs.get("steps", 2)), distance=build_distance("pixel"))  # type: ignore[arg-type]
    assert str(e.value) == message
    assert reconstruct(g, *_problem(g, 2), steps=1, distance=build_distance("pixel")).curve.shape == (2, 2)


def test_attribution_starts_from_its_documented_seeds(tiny: list[Generator]) -> None:
    """Attempt ``a`` of an image on generator ``g`` starts from derive_seed(seed, "attribute", image key, g, a); the
    image key is the first 16 hex digits of the sha256 of its float32 bytes."""
    images = torch.cat([_problem(g, 1)[0] for g in tiny[:2]])
    key = hashlib.sha256(images[1].float().contiguous().numpy().tobytes()).hexdigest()[:16]
    assert image_key(images[1]) == key
    dist = build_distance("pixel")
    out = attribute_images(["first.png", "second.png"], images, tiny, attempts=2, steps=3, lr=0.2, distance=dist,
                           seed=11)
    assert [o.name for o in out] == ["first.png", "second.png"]
    for g in tiny:
        z0 = seeded_latents([by_the_docs(11, "attribute", key, g.id, a) for a in range(2)], g.latent_dim)
        res = reconstruct(g, images[1:2].repeat(2, 1, 1, 1), z0, steps=3, lr=0.2, distance=dist)
        assert out[1].distances[g.id] == pytest.approx(float(res.final_distance.min()), rel=1e-5), g.id
    with pytest.raises(ValueError) as e:
        attribute_images(["only.png"], images, tiny, attempts=1, steps=1, distance=dist)
    assert str(e.value) == "1 names for 2 images"


def test_curve_steps_are_documented_and_refuse_zero() -> None:
    assert curve_steps(1, 1) == [0, 1] and curve_steps(7, 3) == [0, 3, 6, 7] and curve_steps(4, 10) == [0, 4]
    for steps, every in ((5, 0), (0, 3)):
        with pytest.raises(ValueError) as e:
            curve_steps(steps, every)
        assert str(e.value) == f"steps and record_every must be >= 1, got {steps} and {every}"


def test_the_best_distance_is_the_best_seeds_when_the_search_overshoots(tiny: list[Generator]) -> None:
    """With a large step the distance falls, then rises again: the best distance is that of the best seeds met on the
    way (tracked in the search, recomputed at the end), not of the last ones, even when no curve step recorded it."""
    g = tiny[1]
    x, z0 = _problem(g, 3)
    kw = dict(steps=8, lr=1.0, distance=build_distance("pixel"), memory_format="channels_last")
    every = reconstruct(g, x, z0, record_every=1, **kw)  # type: ignore[arg-type]
    sparse = reconstruct(g, x, z0, record_every=100, **kw)  # type: ignore[arg-type]
    lowest = every.curve.min(dim=1).values
    assert bool((every.curve[:, -1] > lowest + 0.01).any())  # the premise: some search ended well above its best
    assert sparse.curve_steps.tolist() == [0, 8]
    assert torch.equal(sparse.best_distance, lowest)
