from __future__ import annotations

import itertools
import textwrap
from pathlib import Path

import pytest
import torch

from reconstruction_pipeline.generators import Generator, seeded_latents
from reconstruction_pipeline.zoo import ZooError, load_plugin, parse_plugin_spec

_count = itertools.count()

PLUGIN_SOURCE = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, latent_dim=4, resolution=8, scale=1.0, channels=3):
        super().__init__()
        self.latent_dim, self.resolution, self.scale, self.channels = latent_dim, resolution, scale, channels
        self.fc = nn.Linear(latent_dim, channels * resolution * resolution)

    def forward(self, z):
        x = torch.tanh(self.fc(z)) * self.scale
        return x.view(-1, self.channels, self.resolution, self.resolution)


def good():
    torch.manual_seed(0)
    return Net()


def from_checkpoint(path):
    net = Net()
    net.load_state_dict(torch.load(path, weights_only=True))
    return net


def wrong_shape():
    return Net(channels=1)


def out_of_range():
    return Net(scale=3.0)


def no_attributes():
    return nn.Linear(4, 192)


def not_a_module():
    return "hello"


def raises():
    raise RuntimeError("cannot find my weights")


not_callable = 3
'''


@pytest.fixture
def plugin_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A real importable module in tmp_path (a fresh name per test: no import-cache sharing)."""
    name = f"zoo_test_plugin_{next(_count)}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(PLUGIN_SOURCE))
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_parse_spec() -> None:
    p = parse_plugin_spec("my-gan=pkg.mod:make")
    assert (p.id, p.module, p.factory, p.checkpoint) == ("my-gan", "pkg.mod", "make", None)
    p = parse_plugin_spec("g2=mod:make:/data/ckpt:v2.pt")
    assert p.checkpoint == "/data/ckpt:v2.pt"
    assert str(p) == "g2=mod:make:/data/ckpt:v2.pt"


@pytest.mark.parametrize("spec, match", [
    ("mod:make", "no '='"),
    ("=mod:make", "bad generator id"),
    ("a b=mod:make", "bad generator id"),
    ("PLACEBO=mod:make", "bad generator id"),       # the contract reserves it for the placebo row
    ("cafe=mod:make", "outside 0-9a-f"),            # would collide with hex image names after all the work
    ("g=mod", "no ':factory'"),
    ("g=mod-x:make", "bad module name"),
    ("g=mod:ma ke", "bad factory name"),
    ("g=mod:make:", "empty checkpoint"),
])
def test_bad_spec_strings(spec: str, match: str) -> None:
    with pytest.raises(ZooError, match=match) as e:
        parse_plugin_spec(spec)
    assert "\n" not in str(e.value)
    assert "ID=package.module:factory[:checkpoint]" in str(e.value)


def test_good_plugin_loads_wrapped_frozen_and_checked(plugin_module: str) -> None:
    g = load_plugin(f"mine={plugin_module}:good", device="cpu")
    assert isinstance(g, Generator)
    assert (g.id, g.latent_dim, g.resolution) == ("mine", 4, 8)
    assert not g.training and not any(p.requires_grad for p in g.parameters())
    assert g.spec.source == f"plugin {plugin_module}:good"
    x = g.synthesize(seeded_latents([1, 2], 4))
    assert x.shape == (2, 3, 8, 8)


def test_plugin_with_checkpoint(plugin_module: str, tmp_path: Path) -> None:
    import importlib

    mod = importlib.import_module(plugin_module)
    net = mod.Net()
    ckpt = tmp_path / "w.pt"
    torch.save(net.state_dict(), ckpt)
    g = load_plugin(f"mine={plugin_module}:from_checkpoint:{ckpt}")
    z = seeded_latents([3], 4)
    torch.testing.assert_close(g.synthesize(z), net(z))
    assert str(ckpt) in g.spec.source


def _err(spec: str) -> str:
    with pytest.raises(ZooError) as e:
        load_plugin(spec, device="cpu")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("plugin ")
    return msg


def test_no_such_module() -> None:
    assert "no module named 'surely_not_a_module_xyz'" in _err("g=surely_not_a_module_xyz:make")


def test_no_such_factory(plugin_module: str) -> None:
    assert f"module {plugin_module!r} has no callable 'missing'" in _err(f"g={plugin_module}:missing")
    assert "has no callable 'not_callable'" in _err(f"g={plugin_module}:not_callable")


def test_factory_raises(plugin_module: str) -> None:
    msg = _err(f"g={plugin_module}:raises")
    assert "raised while building the generator" in msg and "cannot find my weights" in msg


def test_wrong_output_shape(plugin_module: str) -> None:
    assert "test output has shape (4, 1, 8, 8), expected (4, 3, 8, 8)" in _err(f"g={plugin_module}:wrong_shape")


def test_output_out_of_range(plugin_module: str) -> None:
    assert "expected within [-1, 1]" in _err(f"g={plugin_module}:out_of_range")


def test_module_without_sizes_or_not_a_module(plugin_module: str) -> None:
    assert "latent_dim and resolution" in _err(f"g={plugin_module}:no_attributes")
    assert "returned str, expected a torch nn.Module" in _err(f"g={plugin_module}:not_a_module")


def test_bad_checkpoint(plugin_module: str, tmp_path: Path) -> None:
    assert "does not exist" in _err(f"g={plugin_module}:from_checkpoint:{tmp_path / 'nope.pt'}")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"this is not a torch file")
    msg = _err(f"g={plugin_module}:from_checkpoint:{bad}")
    assert f"raised while loading checkpoint {bad}" in msg


def test_module_that_fails_to_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "zoo_broken_plugin.py").write_text("import surely_missing_dependency_abc\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    msg = _err("g=zoo_broken_plugin:make")
    assert "importing 'zoo_broken_plugin' failed" in msg and "surely_missing_dependency_abc" in msg
