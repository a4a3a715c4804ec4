"""The batched core equals the paper's one-attempt-at-a-time loop (issue item 3), on the real tiny zoo."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reconstruction_pipeline.distances import build_distance
from reconstruction_pipeline.generators import Generator, seeded_latents
from reconstruction_pipeline.reconstruct import curve_steps, one_at_a_time, reconstruct
from reconstruction_pipeline.shards import ReconstructionSettings, ShardTask, run_shard
from reconstruction_pipeline.targets import derive_seed


class RowByRow(nn.Module):
    """Evaluates a network one row at a time, so its forward/backward arithmetic cannot depend on the batch.

    MKL's float64 GEMM rounds a row of a 5-row product differently from the same row alone (~1e-16, measured:
    ``(z @ W.T)[i] != z[i:i+1] @ W.T``), which is the generator's arithmetic, not the optimisation's. With this
    wrapper the only thing left that could couple the attempts of a batch is the reconstruction itself.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.net(z[i:i + 1]) for i in range(z.shape[0])])


def _problem(g: Generator, n: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        x = g.synthesize(seeded_latents([derive_seed(0, "t", g.id, i) for i in range(n)], g.latent_dim, dtype=dtype))
    z0 = seeded_latents([derive_seed(0, "init", g.id, i) for i in range(n)], g.latent_dim, dtype=dtype)
    return x, z0


def test_float64_batched_run_equals_one_at_a_time_exactly(tiny64: list[Generator]) -> None:
    dist = build_distance("pixel", dtype=torch.float64)
    for g in tiny64:
        rowwise = Generator(g.spec, RowByRow(g.net))
        x, z0 = _problem(g, 5, torch.float64)
        # other generators' targets too: the attempts of a batch solve different problems
        x = torch.cat([x[:3], torch.flip(x[3:], dims=[-1])])
        batched = reconstruct(rowwise, x, z0, steps=15, lr=0.1, distance=dist, record_every=5)
        single = one_at_a_time(rowwise, x, z0, steps=15, lr=0.1, distance=dist, record_every=5)
        for name in ("final_seeds", "final_distance", "best_distance", "curve", "final_images"):
            assert torch.equal(getattr(batched, name), getattr(single, name)), (g.id, name)
        assert batched.final_distance.dtype == torch.float64
        # and the plain batched generator differs from one-at-a-time only by GEMM rounding
        plain = reconstruct(g, x, z0, steps=15, lr=0.1, distance=dist, record_every=5)
        torch.testing.assert_close(plain.final_seeds, single.final_seeds, rtol=0, atol=1e-10)
        torch.testing.assert_close(plain.final_distance, single.final_distance, rtol=1e-9, atol=1e-14)


def test_float32_gradients_at_initial_seeds_agree(tiny: list[Generator]) -> None:
    dist = build_distance("pixel")
    for g in tiny:
        x, z0 = _problem(g, 6, torch.float32)
        z = z0.clone().requires_grad_(True)
        dist(g.synthesize(z), x).sum().backward()
        assert z.grad is not None
        for i in range(6):
            zi = z0[i:i + 1].clone().requires_grad_(True)
            dist(g.synthesize(zi), x[i:i + 1]).sum().backward()
            assert zi.grad is not None
            assert (zi.grad[0] - z.grad[i]).abs().max().item() <= 1e-6, g.id


def test_float32_gradients_agree_on_the_face_dcgan() -> None:
    """The same check on the third-party 64x64 DigiFace DCGAN (BatchNorm in eval mode, transposed convolutions)."""
    from reconstruction_pipeline.zoo import load_generator

    g = load_generator("digiface-dcgan", device="cpu")
    dist = build_distance("pixel")
    x, z0 = _problem(g, 3, torch.float32)
    x = torch.flip(x, dims=[0])
    z = z0.clone().requires_grad_(True)
    dist(g.synthesize(z), x).sum().backward()
    assert z.grad is not None and z.grad.abs().max().item() > 1e-5
    for i in range(3):
        zi = z0[i:i + 1].clone().requires_grad_(True)
        dist(g.synthesize(zi), x[i:i + 1]).sum().backward()
        assert zi.grad is not None
        assert (zi.grad[0] - z.grad[i]).abs().max().item() <= 1e-6


def test_optimisation_lowers_the_distance_and_records_the_curve(tiny: list[Generator]) -> None:
    g = tiny[0]
    x, z0 = _problem(g, 4, torch.float32)
    res = reconstruct(g, x, z0, steps=40, lr=0.1, distance=build_distance("pixel"), record_every=10)
    assert res.curve_steps.tolist() == [0, 10, 20, 30, 40] == curve_steps(40, 10)
    assert res.curve.shape == (4, 5)
    assert torch.equal(res.curve[:, -1], res.final_distance)
    assert (res.final_distance < res.curve[:, 0]).all()
    assert (res.best_distance <= res.final_distance).all() and (res.best_distance <= res.curve.min(1).values).all()
    assert res.final_seeds.shape == (4, g.latent_dim) and res.final_images.shape == (4, 3, 8, 8)
    # the final images are g(final seeds) and the final distance is measured on them
    with torch.no_grad():
        torch.testing.assert_close(g.synthesize(res.final_seeds), res.final_images)


def test_result_depends_on_seeds_not_on_batch_composition(tiny64: list[Generator]) -> None:
    """A shard's attempts come out the same whether run with other targets or alone (float64)."""
    g = tiny64[1]
    dist = build_distance("pixel", dtype=torch.float64)
    x, _ = _problem(g, 4, torch.float64)
    seeds = tuple(derive_seed(3, "init", i, a) for i in range(4) for a in range(2))
    settings = ReconstructionSettings(steps=15, lr=0.1, record_every=5)
    whole = run_shard(ShardTask("w", g.id, (0, 1, 2, 3), x.float().numpy(), seeds, 2), g, dist, settings,
                      device="cpu")
    part = run_shard(ShardTask("p", g.id, (2,), x[2:3].float().numpy(), seeds[4:6], 2), g, dist, settings,
                     device="cpu")
    assert part.init_seeds.tolist() == list(seeds[4:6])
    torch.testing.assert_close(torch.from_numpy(part.final_seeds), torch.from_numpy(whole.final_seeds[4:6]),
                               rtol=0, atol=1e-6)
    # latents come from one torch.Generator per seed: the same alone and in any batch
    assert torch.equal(seeded_latents([seeds[5]], 16), seeded_latents(list(seeds), 16)[5:6])


@pytest.mark.parametrize("kwargs, message", [
    ({"steps": 0}, "steps"), ({"lr": 0.0}, "lr"), ({"lr": -0.1}, "lr"),
])
def test_core_rejects_bad_settings(tiny: list[Generator], kwargs: dict[str, float], message: str) -> None:
    g = tiny[0]
    x, z0 = _problem(g, 1, torch.float32)
    args = {"steps": 5, "lr": 0.1, **kwargs}
    with pytest.raises(ValueError, match=message):
        reconstruct(g, x, z0, steps=int(args["steps"]), lr=float(args["lr"]), distance=build_distance("pixel"))


def test_core_rejects_mismatched_shapes(tiny: list[Generator]) -> None:
    g = tiny[0]
    x, z0 = _problem(g, 2, torch.float32)
    with pytest.raises(ValueError, match="one per attempt"):
        reconstruct(g, x, z0[:1], steps=2, distance=build_distance("pixel"))
    with pytest.raises(ValueError, match="init_latents"):
        reconstruct(g, x, z0[:, :3], steps=2, distance=build_distance("pixel"))
