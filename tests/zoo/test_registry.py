from __future__ import annotations

import pytest
import torch

from reconstruction_pipeline.generators import Generator, seeded_latents
from reconstruction_pipeline.zoo import ZooError, load_generator, load_zoo, zoo_names, zoo_specs
from reconstruction_pipeline.zoo.registry import weights_file


def test_zoo_names_and_specs_without_loading() -> None:
    assert {"faces", "siblings", "tiny"} <= set(zoo_names())
    faces = zoo_specs("faces")
    assert [s.id for s in faces] == ["digiface-dcgan", "face-style", "face-resnet"]
    assert all(s.resolution == 64 for s in faces)
    assert [s.latent_dim for s in faces] == [100, 128, 128]
    tiny = zoo_specs("tiny")
    assert [s.id for s in tiny] == ["tiny-mlp", "tiny-deconv", "tiny-cppn"]
    assert all(s.resolution == 8 and s.latent_dim == 16 for s in tiny)
    ids = [s.id for n in zoo_names() for s in zoo_specs(n)]
    assert len(ids) == len(set(ids))


def test_unknown_zoo_and_generator_are_one_line_errors() -> None:
    with pytest.raises(ZooError, match=r"unknown zoo 'nope'; known zoos: faces, siblings, tiny"):
        load_zoo("nope")
    with pytest.raises(ZooError, match="unknown zoo"):
        zoo_specs("")
    with pytest.raises(ZooError, match="unknown generator 'x'"):
        load_generator("x")


def _check(gen: Generator, n: int = 5) -> torch.Tensor:
    assert isinstance(gen, Generator)
    assert not gen.training and all(not m.training for m in gen.modules())
    assert all(not p.requires_grad for p in gen.parameters())
    x = gen.synthesize(seeded_latents(range(n), gen.latent_dim))
    assert x.shape == (n, 3, gen.resolution, gen.resolution)
    assert torch.isfinite(x).all()
    assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0
    assert float(x.std()) > 0.05, f"{gen.id} makes a flat image"
    return x


@pytest.mark.parametrize("name", ["tiny", "faces", "siblings"])
def test_load_zoo_shapes_ranges_order(name: str) -> None:
    gens = load_zoo(name)
    assert [g.id for g in gens] == [s.id for s in zoo_specs(name)]
    assert [g.spec for g in gens] == zoo_specs(name)
    outs = [_check(g) for g in gens]
    # different generators make different images from the same seeds
    for i in range(len(outs)):
        for j in range(i + 1, len(outs)):
            if outs[i].shape == outs[j].shape:
                assert not torch.allclose(outs[i], outs[j], atol=1e-3)


def test_committed_weights_exist_and_are_small() -> None:
    for name in zoo_names():
        for s in zoo_specs(name):
            if s.id == "digiface-dcgan":
                continue
            f = weights_file(s.id)
            assert f.is_file(), f"missing committed weights {f}"
            assert f.stat().st_size < 20_000_000


@pytest.mark.parametrize("name", ["tiny", "faces", "siblings"])
def test_same_seed_same_image_alone_or_in_any_batch(name: str) -> None:
    for g in load_zoo(name):
        alone = g.synthesize(seeded_latents([7], g.latent_dim))
        for batch in ([7, 7], [3, 7], [7] + list(range(100, 111)), list(range(20, 25)) + [7]):
            x = g.synthesize(seeded_latents(batch, g.latent_dim))
            i = batch.index(7)
            # a leak between batch members (batch statistics) moves pixels by ~0.1; the CPU's batch-size-dependent
            # kernels (oneDNN: AVX2 vs AVX-512 blocking) move fp32 results by up to 1.02e-5 (face-style on an AVX2
            # AMD EPYC); 1e-4 is 1/78 of one 8-bit level on [-1, 1]
            torch.testing.assert_close(x[i:i + 1], alone, rtol=0, atol=1e-4, msg=f"{g.id} batch {batch}")
        again = g.synthesize(seeded_latents([7], g.latent_dim))
        assert torch.equal(again, alone), g.id


def test_generator_cannot_be_put_in_training_mode() -> None:
    g = load_generator("digiface-dcgan")
    g.train()
    assert not g.training
    assert all(not m.training for m in g.modules())


def test_dcgan_batch_members_are_independent() -> None:
    # in training mode BatchNorm would mix a batch; the loaded generator must not
    g = load_generator("digiface-dcgan")
    z = seeded_latents(range(6), g.latent_dim)
    both = g.synthesize(z)
    for i in range(6):
        torch.testing.assert_close(both[i:i + 1], g.synthesize(z[i:i + 1]), rtol=0, atol=1e-5)
    # changing one member leaves the others alone
    z2 = z.clone()
    z2[0] = 5.0
    torch.testing.assert_close(g.synthesize(z2)[1:], both[1:], rtol=0, atol=1e-5)
    # and the same net in raw training mode really would couple them (so the check above can fail)
    raw = g.net
    raw.train()
    try:
        coupled = raw(z2)[1:]
    finally:
        raw.eval()
    assert not torch.allclose(coupled, both[1:], atol=1e-3)


def test_dcgan_parameter_count_and_source() -> None:
    g = load_generator("digiface-dcgan")
    assert sum(p.numel() for p in g.parameters()) == 3_576_704
    assert "gan_face_generate" in g.spec.source


def test_wrong_seed_shape_is_a_clear_error() -> None:
    g = load_zoo("tiny")[0]
    with pytest.raises(ValueError, match=r"expected seeds of shape \[N, 16\]"):
        g.synthesize(torch.zeros(2, 15))


def test_loads_on_the_device_asked_for() -> None:
    g = load_generator("tiny-cppn", device=torch.device("cpu"))
    assert g.device == torch.device("cpu")
