"""The anti-collapse measures of face-style's recipe: lazy R1, style mixing, mode seeking, the w-dependent input
map. Each is checked against an independent computation (an analytic gradient, a hand-built per-layer w, a loop)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from torch import nn

from reconstruction_pipeline.zoo.nets import FaceDiscriminator, StyleNet64
from reconstruction_pipeline.zoo.recipes import RECIPES, Recipe
from reconstruction_pipeline.zoo.train import gan_step, lazy_factor, mode_seeking_penalty, r1_penalty, train


class Quadratic(nn.Module):
    """D(x) = sum(a * x^2) per image: its input gradient is 2 a x, so R1 = mean_i sum (2 a x_i)^2 by hand."""

    def __init__(self, a: torch.Tensor) -> None:
        super().__init__()
        self.a = nn.Parameter(a)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.a * x.square()).flatten(1).sum(1)


def test_r1_penalty_is_the_mean_squared_input_gradient_and_differentiable() -> None:
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(3, 4, 4, generator=gen)
    x = torch.randn(5, 3, 4, 4, generator=gen)
    D = Quadratic(a.clone())
    pen = r1_penalty(D, x)
    expected = (2 * a * x).square().flatten(1).sum(1).mean()
    torch.testing.assert_close(pen, expected)
    pen.backward()  # d/da of mean_i sum 4 a^2 x_i^2 = 8 a mean_i x_i^2
    torch.testing.assert_close(D.a.grad, 8 * a * x.square().mean(0))
    assert not x.requires_grad  # the caller's batch is left alone


def test_mode_seeking_penalty_by_hand_and_its_direction() -> None:
    gen = torch.Generator().manual_seed(3)
    fake, z = torch.randn(6, 3, 2, 2, generator=gen), torch.randn(6, 4, generator=gen)
    num = sum(float((fake[i] - fake[i + 3]).abs().sum()) for i in range(3)) / (3 * 12)
    den = sum(float((z[i] - z[i + 3]).abs().sum()) for i in range(3)) / (3 * 4)
    assert float(mode_seeking_penalty(fake, z)) == pytest.approx(1.0 / (num / den + 1e-5), rel=1e-5)
    collapsed = fake[:1].expand(6, -1, -1, -1)     # every latent mapped to one image: the penalty explodes
    assert float(mode_seeking_penalty(collapsed, z)) == pytest.approx(1e5)
    varied = fake.clone().requires_grad_(True)     # its gradient pushes the paired images apart
    mode_seeking_penalty(varied, z).backward()
    d = (fake[:3] - fake[3:]).sign()
    assert varied.grad is not None
    assert bool((varied.grad[:3] * d <= 0).all()) and bool((varied.grad[3:] * d >= 0).all())


def test_lazy_factor_is_stylegan2s_correction() -> None:
    assert lazy_factor(16) == pytest.approx(16 / 17)
    assert lazy_factor(1) == pytest.approx(0.5)
    assert lazy_factor(0) == 1.0


def test_r1_step_moves_the_discriminator_only_when_due() -> None:
    torch.manual_seed(0)
    G = StyleNet64(width=2, w_dim=8, latent_dim=8, mapping_layers=2)
    real = torch.rand(4, 3, 64, 64) * 2 - 1

    def d_after(r1_now: bool) -> list[torch.Tensor]:
        torch.manual_seed(1)
        D = FaceDiscriminator(width=4, mbstd=True)
        g = StyleNet64(width=2, w_dim=8, latent_dim=8, mapping_layers=2)
        g.load_state_dict(G.state_dict())
        opt_g = torch.optim.Adam(g.parameters(), lr=1e-3)
        opt_d = torch.optim.Adam(D.parameters(), lr=1e-3)
        torch.manual_seed(2)
        gan_step(g, D, real, opt_g, opt_d, r1_gamma=10.0, r1_now=r1_now, r1_every=4)
        return [p.detach().clone() for p in D.parameters()]

    plain, again, with_r1 = d_after(False), d_after(False), d_after(True)
    assert all(torch.equal(a, b) for a, b in zip(plain, again))          # deterministic given the seeds
    assert not all(torch.equal(a, b) for a, b in zip(plain, with_r1))    # the R1 step changed D


def test_style_mixing_switches_to_the_second_latents_w_at_the_cut() -> None:
    torch.manual_seed(0)
    net = StyleNet64(width=2, w_dim=8, latent_dim=8, mapping_layers=2, input_map=True).eval()
    z = torch.randn(3, 8)
    with torch.no_grad():
        torch.manual_seed(5)
        mixed = net.train_forward(z, mixing=1.0)
        # the same draws by hand: the mixing coin, the second latent, the cut, then the noise of each layer
        torch.manual_seed(5)
        assert float(torch.rand(())) < 1.0
        w1, w2 = net.mapping(z), net.mapping(torch.randn_like(z))
        n = len(net.layers)
        cut = int(torch.randint(1, n, ()))
        ws = torch.stack([w1 if i < cut else w2 for i in range(n)], dim=1)
        torch.testing.assert_close(mixed, net.synthesis(ws, random_noise=True), rtol=0, atol=0)
        # no mixing: every layer gets w1 (mixing=0 draws nothing extra)
        torch.manual_seed(5)
        plain = net.train_forward(z)
        torch.manual_seed(5)
        torch.testing.assert_close(plain, net.synthesis(w1, random_noise=True), rtol=0, atol=0)
        assert not torch.allclose(mixed, plain)


def test_input_map_makes_the_4x4_input_depend_on_w_and_old_configs_still_build() -> None:
    torch.manual_seed(0)
    net = StyleNet64(width=2, w_dim=8, latent_dim=8, mapping_layers=2, input_map=True).eval()
    assert net.config()["input_map"] is True and net.input_fc is not None
    w = torch.randn(2, 8)
    with torch.no_grad():
        net.input_fc.weight.zero_()
        net.input_fc.bias.zero_()
        only_const = net.synthesis(w, random_noise=False)
        plain = StyleNet64(width=2, w_dim=8, latent_dim=8, mapping_layers=2)
        plain.load_state_dict({k: v for k, v in net.state_dict().items() if not k.startswith("input_fc.")})
        torch.testing.assert_close(only_const, plain.eval().synthesis(w, random_noise=False))  # map at 0 = const
    old = {k: v for k, v in net.config().items() if k != "input_map"}   # a config stored before the option
    assert StyleNet64(**old).input_fc is None


def test_face_style_recipe_trains_one_step_with_every_regulariser(tmp_path: Path) -> None:
    """The committed recipe's path (mixing, R1 on step 0, input map) on a tiny width, one step, real stream."""
    r = RECIPES["face-style"]
    assert r.mixing > 0 and r.r1_gamma > 0 and r.mode_seeking > 0 and r.config["input_map"] is True
    assert r.disc.get("mbstd") is True
    small: Recipe = dataclasses.replace(r, config={**r.config, "width": 2, "w_dim": 8, "latent_dim": 8},
                                        latent_dim=8, disc={"width": 4, "mbstd": True}, batch_size=4)
    real = torch.rand(4, 3, 64, 64) * 2 - 1
    res = train(small, out_dir=tmp_path, steps=1, progress=False, sampler=lambda n: real[:n])
    meta = torch.load(res.weights, weights_only=True)["train"]
    assert (meta["r1_gamma"], meta["r1_every"], meta["mixing"], meta["mode_seeking"]) == (
        r.r1_gamma, r.r1_every, r.mixing, r.mode_seeking)
