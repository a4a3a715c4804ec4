from __future__ import annotations

import pytest
import torch

from reconstruction_pipeline.generators import Generator, GeneratorSpec, seeded_latents
from reconstruction_pipeline.zoo.nets import FaceDiscriminator, ResNet64, StyleNet64, TinyMLP, build_net
from reconstruction_pipeline.zoo.train import recalibrate_batchnorm


def test_build_net_rejects_unknown_architecture_and_options() -> None:
    with pytest.raises(ValueError, match="unknown architecture 'nope'; known:"):
        build_net("nope", {})
    with pytest.raises(ValueError, match="norm must be pixel or batch"):
        ResNet64(norm="group")


def test_style_net_truncation_and_fixed_noise() -> None:
    torch.manual_seed(0)
    net = StyleNet64(width=2, w_dim=8, latent_dim=8, mapping_layers=2).eval()
    z = torch.randn(3, 8)
    with torch.no_grad():
        net.w_avg.copy_(net.mapping(torch.randn(256, 8)).mean(0))  # type: ignore[operator]
        a, b = net(z), net(z)
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # noise is the stored constant at synthesis
        for layer in net.layers:
            layer.noise_strength.fill_(1.0)  # type: ignore[union-attr,operator]
        r1, r2 = net.train_forward(z), net.train_forward(z)
        assert not torch.allclose(r1, r2)  # random noise in training
        w = net.mapping(z)
        trunc = net.synthesis(net.w_avg + 0.7 * (w - net.w_avg), random_noise=False)  # type: ignore[operator]
        torch.testing.assert_close(net(z), trunc)
        assert not torch.allclose(net(z), net.synthesis(w, random_noise=False))
    assert net.psi == 0.7


def test_style_mapping_depends_on_z() -> None:
    torch.manual_seed(11)
    net = StyleNet64()
    with torch.no_grad():
        w = net.mapping(torch.randn(64, 128))
    assert float(w.std(0).mean()) > 0.2  # default Linear init made w almost constant (mapping collapse)


def test_recalibrate_batchnorm_copy_is_eval_and_leaves_the_original_alone() -> None:
    torch.manual_seed(0)
    net = ResNet64(width=2, norm="batch")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    out = recalibrate_batchnorm(net, batches=2, batch_size=8)
    assert out is not net and not out.training
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    key = "blocks.0.norm.running_mean"
    assert not torch.allclose(out.state_dict()[key], net.state_dict()[key])
    tiny = TinyMLP()
    assert recalibrate_batchnorm(tiny) is tiny


def test_batchnorm_generator_keeps_batch_members_independent() -> None:
    torch.manual_seed(0)
    g = Generator(GeneratorSpec("r", "r", "test", 64, 128), ResNet64(width=2, norm="batch"))
    z = seeded_latents(range(5), 128)
    all5 = g.synthesize(z)
    torch.testing.assert_close(all5[2:3], g.synthesize(z[2:3]), rtol=0, atol=1e-5)


def test_minibatch_stddev_discriminator() -> None:
    d = FaceDiscriminator(width=4, mbstd=True)
    assert d(torch.randn(8, 3, 64, 64)).shape == (8,)
    assert d(torch.randn(3, 3, 64, 64)).shape == (3,)
