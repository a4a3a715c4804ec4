"""Attacks on the attribution (reconstruction_pipeline.attacks), on the real tiny zoo with few steps."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reconstruction_pipeline.attacks import (AttackBatch, AttackContext, AttackError, AttributionSettings,
                                             apply_attack, parse_attack)
from reconstruction_pipeline.attacks.budget import l2, linf, project_l2, project_linf, ssim
from reconstruction_pipeline.attacks.context import attribution_of
from reconstruction_pipeline.attacks.evasion import evade, off_tangent, tangent_basis
from reconstruction_pipeline.attacks.framing import frame
from reconstruction_pipeline.attacks.paper import cw_image, fgm_image, fgsm_image, fgsm_seed
from reconstruction_pipeline.bundle_builder import to_uint8
from reconstruction_pipeline.cli import main as pipeline_main
from reconstruction_pipeline.distances import build_distance
from reconstruction_pipeline.generators import Generator, seeded_latents
from reconstruction_pipeline.targets import synthesize_targets


def _batch(gens: list[Generator], per: int = 2, seed: int = 0) -> AttackBatch:
    ts = synthesize_targets(gens, per_generator=per, seed=seed)
    lat = tuple(seeded_latents([s], 16)[0] for s in ts.seeds)
    return AttackBatch(ts.images, ts.ids, ts.true_generators, lat)


@pytest.fixture(scope="module")
def ctx(tiny: list[Generator]) -> AttackContext:
    quick = AttributionSettings(attempts=2, steps=30)
    return AttackContext(tiny, build_distance("pixel"), torch.device("cpu"), attribution=quick, attacker=quick)


def test_projections_agree_with_a_naive_float64_implementation() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 8, 8, generator=g) * 2 - 1
    adv = x + torch.randn(4, 3, 8, 8, generator=g)
    eps = 0.05
    naive = np.clip(x.double().numpy() + np.clip((adv - x).double().numpy(), -2 * eps, 2 * eps), -1, 1)
    assert np.allclose(project_linf(x, adv, eps).double().numpy(), naive, atol=3e-7)
    r = 0.7
    d = (adv - x).double().numpy().reshape(4, -1)
    scale = np.minimum(1, 2 * r / np.linalg.norm(d, axis=1))
    naive2 = np.clip(x.double().numpy() + (d * scale[:, None]).reshape(4, 3, 8, 8), -1, 1)
    assert np.allclose(project_l2(x, adv, r).double().numpy(), naive2, atol=3e-7)
    assert bool((linf(x, project_linf(x, adv, eps)) <= eps).all())
    assert bool((l2(x, project_l2(x, adv, r)) <= r).all())


@pytest.mark.parametrize("spec", ["fgsm-image:eps=0.03", "fgsm-image:eps=0.2", "fgm-image:l2=0.4", "evade:l2=0.3",
                                  "evade:eps=0.02", "cw-image:l2=0.5,steps=20", "fgsm-seed:eps=0.25"])
def test_attacked_image_stays_within_its_budget_exactly(ctx: AttackContext, tiny: list[Generator],
                                                        spec: str) -> None:
    batch = _batch(tiny)
    s = parse_attack(spec)
    out = apply_attack(ctx, batch, s, seed=0)
    key, budget = s.budget
    assert out.images.dtype == torch.float32 and out.images.shape == batch.images.shape
    assert float(out.images.abs().max()) <= 1.0
    if s.kind == "fgsm-seed":
        assert max(out.info["seed_linf"]) <= budget
        assert max(out.info["seed_linf"]) == pytest.approx(budget, rel=1e-6)  # FGSM uses the whole budget
    else:
        norm = linf(batch.images, out.images) if key == "eps" else l2(batch.images, out.images)
        assert float(norm.max()) <= budget  # float64 of the stored float32 images: no tolerance
        assert float(norm.max()) > 0.5 * budget  # and the attack did move the image


def test_zero_budget_changes_nothing(ctx: AttackContext, tiny: list[Generator]) -> None:
    batch = _batch(tiny)
    x, rs = batch.images, list(range(len(batch.keys)))
    d = ctx.distance
    assert torch.equal(fgsm_image(d, x, 0.0, row_seeds=rs), x)
    assert torch.equal(fgm_image(d, x, 0.0, row_seeds=rs), x)
    assert torch.equal(cw_image(d, x, torch.tensor(0.0), row_seeds=rs), x)
    assert torch.equal(evade(ctx, x, l2=0.0)[0], x)
    assert torch.equal(evade(ctx, x, eps=0.0)[0], x)
    g = tiny[1]
    z = seeded_latents([1, 2], g.latent_dim)
    z_adv, img = fgsm_seed(g, d, z, 0.0, row_seeds=[1, 2])
    assert torch.equal(z_adv, z)
    with torch.no_grad():
        assert torch.equal(img, g.synthesize(z).clamp(-1, 1))


def test_pixel_mse_fgsm_is_random_sign_noise_of_the_full_budget(ctx: AttackContext, tiny: list[Generator]) -> None:
    """For pixel MSE every corner of the l-inf ball maximises the distance: FGSM moves every unclipped pixel by
    exactly eps, with the signs of its random start (so the same row seed gives the same image, alone or batched)."""
    x = _batch(tiny).images
    eps = 0.03
    adv = fgsm_image(ctx.distance, x, eps, row_seeds=list(range(x.shape[0])))
    moved = (adv.double() - x.double()).abs()
    inside = (x.abs() < 1 - 2 * eps - 1e-6)
    assert torch.allclose(moved[inside], torch.full_like(moved[inside], 2 * eps), atol=1e-6)
    alone = fgsm_image(ctx.distance, x[3:4], eps, row_seeds=[3])
    assert torch.equal(alone, adv[3:4])


def test_ssim_is_one_for_the_same_image_and_falls_with_the_budget(tiny: list[Generator]) -> None:
    x = _batch(tiny).images
    d = build_distance("pixel")
    s = [float(ssim(x, fgsm_image(d, x, e, row_seeds=[0] * 6)).mean()) for e in (0.0, 0.02, 0.1)]
    assert s[0] == pytest.approx(1.0) and s[0] > s[1] > s[2]


def test_tangent_basis_spans_the_generators_jacobian(tiny: list[Generator]) -> None:
    g = tiny[2]
    z = seeded_latents([5, 6], g.latent_dim)
    q = tangent_basis(g, z)
    assert q.shape == (2, 3 * 8 * 8, g.latent_dim)
    eye = torch.eye(g.latent_dim)
    for i in range(2):
        jac = torch.autograd.functional.jacobian(lambda v: g.synthesize(v[None])[0].flatten(), z[i])  # naive: D x k
        assert torch.allclose(q[i].T @ q[i], eye, atol=1e-4)
        columns = jac.T.reshape(g.latent_dim, 3, 8, 8)  # every column of J lies in the span: nothing is left
        left = off_tangent(q[i:i + 1].expand(g.latent_dim, -1, -1), columns)
        assert float(left.abs().max()) < 1e-4 * max(1.0, float(jac.abs().max()))


def test_framing_succeeds_at_a_large_budget_and_fails_at_zero(ctx: AttackContext, tiny: list[Generator]) -> None:
    batch = _batch(tiny).rows([2, 3])  # tiny-deconv's two targets
    assert set(batch.true_generators) == {"tiny-deconv"}
    big = frame(ctx, batch.images, batch.keys, "tiny-mlp", l2=20.0, rounds=1, bisect=2)
    assert big.framed == [True, True]
    assert attribution_of(ctx, big.images, batch.keys) == ["tiny-mlp", "tiny-mlp"]
    assert all(0 < m <= 20.0 for m in big.min_l2)
    assert float(l2(batch.images, big.images).max()) <= 20.0
    zero = frame(ctx, batch.images, batch.keys, "tiny-mlp", l2=0.0, rounds=1, bisect=2)
    assert zero.framed == [False, False] and all(math.isinf(m) for m in zero.min_l2)
    assert torch.equal(zero.images, batch.images)


def test_spec_names_are_canonical_and_bad_specs_are_one_line() -> None:
    assert parse_attack("frame:l2=4.0,target=face-resnet").name == "frame:l2=4,target=face-resnet"
    assert parse_attack("fgsm-image:eps=0.030").name == "fgsm-image:eps=0.03"
    for bad, words in [("nope:eps=1", "unknown attack"), ("fgsm-image:eps=0", "> 0"), ("fgsm-image:eps=-1", "> 0"),
                       ("fgsm-image", "budget"), ("fgsm-image:l2=1", "takes no parameter"),
                       ("frame:l2=1", "target"), ("cw-image:c=1,l2=2", "exactly one budget")]:
        with pytest.raises(AttackError, match=words):
            parse_attack(bad)
    with pytest.raises(AttackError, match="not a generator of this zoo"):
        parse_attack("frame:target=face-resnet,l2=4", generator_ids=["tiny-mlp", "tiny-deconv"])


@pytest.mark.parametrize("attack, words", [
    ("fgsm-image:eps=0", "must be a finite number > 0"),
    ("fgsm-image:eps=-0.1", "must be a finite number > 0"),
    ("pgd:eps=0.1", "unknown attack 'pgd'"),
    ("frame:target=face-resnet,l2=4", "not a generator of this zoo"),
    ("fgsm-seed:eps=0.1", "needs the seed that made the image"),
])
def test_bad_input_is_one_line(tiny: list[Generator], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               attack: str, words: str) -> None:
    from reconstruction_pipeline.__main__ import main

    with torch.no_grad():
        x = tiny[0].synthesize(seeded_latents([3], 16))[0].numpy()
    Image.fromarray(to_uint8(x)).save(tmp_path / "a.png")
    code = main(["attack", "image", str(tmp_path / "a.png"), "--zoo", "tiny", "--attack", attack, "--steps", "2",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and words in err, err
    assert not (tmp_path / "out").exists()
    assert pipeline_main is not None


def test_attack_image_cli_writes_the_attacked_png(tiny: list[Generator], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from reconstruction_pipeline.__main__ import main

    with torch.no_grad():
        x = tiny[0].synthesize(seeded_latents([3], 16))[0].numpy()
    Image.fromarray(to_uint8(x)).save(tmp_path / "a.png")
    assert main(["attack", "image", str(tmp_path / "a.png"), "--zoo", "tiny", "--attack", "fgsm-image:eps=0.05",
                 "--steps", "5", "--attempts", "1", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "attributed to" in out and (tmp_path / "out" / "a.fgsm-image.png").is_file()
    diff = np.abs(np.asarray(Image.open(tmp_path / "out" / "a.fgsm-image.png"), dtype=int)
                  - np.asarray(Image.open(tmp_path / "a.png"), dtype=int))
    assert diff.max() <= round(0.05 * 255) + 1  # the 8-bit PNG rounds each value by at most half a level


def test_with_the_inception_distance_fgsm_follows_the_feature_gradient(tiny: list[Generator]) -> None:
    """The paper's distance (Inception-V3 Mixed_5d, here with random weights: no download): FGSM stays within its
    budget and its signs are the feature gradient's, not merely the random start's (as they are under pixel MSE)."""
    x = _batch(tiny, per=1).images[:2]
    dist = build_distance("inception", feature_weights="random")
    eps = 0.03
    adv = fgsm_image(dist, x, eps, row_seeds=[0, 1])
    assert float(linf(x, adv).max()) <= eps
    from reconstruction_pipeline.attacks.budget import seeded_uniform
    start_signs = seeded_uniform([0, 1], tuple(x.shape[1:])).sign()
    moved = (adv - x).sign()
    inside = x.abs() < 1 - 2 * eps - 1e-6
    agree = float((moved[inside] == start_signs[inside]).float().mean())
    assert agree < 0.9  # under pixel MSE this is exactly 1.0
