"""User generators: ``--generator ID=package.module:factory[:checkpoint]``.

``factory`` is called as ``factory()`` or, with a checkpoint, ``factory(checkpoint)`` (the path as a string). It
returns either a :class:`Generator` or an ``nn.Module`` with integer attributes ``latent_dim`` and ``resolution``
whose ``forward(z [N, latent_dim])`` returns ``[N, 3, resolution, resolution]`` in ``[-1, 1]``. The module is wrapped
(eval, frozen), moved to ``device`` and checked with a test synthesis. Every failure is one :class:`ZooError` line.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from contracts.bundle import is_generator_id
from reconstruction_pipeline.generators import Generator, GeneratorSpec
from reconstruction_pipeline.zoo.checkpoint import wrap
from reconstruction_pipeline.zoo.errors import ZooError

_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
FORMAT_HINT = "expected ID=package.module:factory[:checkpoint]"


@dataclass(frozen=True)
class PluginSpec:
    id: str
    module: str
    factory: str
    checkpoint: str | None

    def __str__(self) -> str:
        return f"{self.id}={self.module}:{self.factory}" + (f":{self.checkpoint}" if self.checkpoint else "")


def parse_plugin_spec(text: str) -> PluginSpec:
    """``ID=package.module:factory[:checkpoint]`` -> :class:`PluginSpec` (the checkpoint may contain ':')."""
    if "=" not in text:
        raise ZooError(f"plugin {text!r}: no '=' ({FORMAT_HINT})")
    gen_id, rest = text.split("=", 1)
    if not is_generator_id(gen_id):
        raise ZooError(f"plugin {text!r}: bad generator id {gen_id!r} (letters, digits, '.', '_', '-', not PLACEBO; "
                       f"{FORMAT_HINT})")
    if len(gen_id) >= 3 and all(c in "0123456789abcdef" for c in gen_id.lower()):
        raise ZooError(f"plugin {text!r}: generator id {gen_id!r} needs a character outside 0-9a-f: display images "
                       "are named by hex content hashes, and a bundle's image names must not contain a generator id "
                       f"({FORMAT_HINT})")
    parts = rest.split(":", 2)
    if len(parts) < 2:
        raise ZooError(f"plugin {text!r}: no ':factory' after the module ({FORMAT_HINT})")
    module, factory = parts[0], parts[1]
    checkpoint = parts[2] if len(parts) == 3 else None
    if not _MODULE.match(module):
        raise ZooError(f"plugin {text!r}: bad module name {module!r} ({FORMAT_HINT})")
    if not _NAME.match(factory):
        raise ZooError(f"plugin {text!r}: bad factory name {factory!r} ({FORMAT_HINT})")
    if checkpoint == "":
        raise ZooError(f"plugin {text!r}: empty checkpoint after the last ':' ({FORMAT_HINT})")
    return PluginSpec(gen_id, module, factory, checkpoint)


def _one_line(e: BaseException) -> str:
    msg = str(e).strip().splitlines()
    return f"{type(e).__name__}: {msg[0][:200]}" if msg else type(e).__name__


def load_plugin(spec: str, *, device: torch.device | str = "cpu") -> Generator:
    """Build, wrap and check the generator named by a plugin spec."""
    p = parse_plugin_spec(spec)
    what = f"plugin {p.id}"
    if p.checkpoint is not None and not Path(p.checkpoint).is_file():
        raise ZooError(f"{what}: checkpoint {p.checkpoint} does not exist")
    try:
        mod = importlib.import_module(p.module)
    except ModuleNotFoundError as e:
        if e.name and p.module.startswith(e.name):
            raise ZooError(f"{what}: no module named {p.module!r} (is it installed or on PYTHONPATH?)") from e
        raise ZooError(f"{what}: importing {p.module!r} failed ({_one_line(e)})") from e
    except Exception as e:
        raise ZooError(f"{what}: importing {p.module!r} failed ({_one_line(e)})") from e
    fn = getattr(mod, p.factory, None)
    if fn is None or not callable(fn):
        raise ZooError(f"{what}: module {p.module!r} has no callable {p.factory!r}")
    try:
        made = fn(p.checkpoint) if p.checkpoint is not None else fn()
    except Exception as e:
        doing = f"loading checkpoint {p.checkpoint}" if p.checkpoint is not None else "building the generator"
        raise ZooError(f"{what}: {p.module}:{p.factory} raised while {doing} ({_one_line(e)})") from e
    source = f"plugin {p.module}:{p.factory}" + (f" checkpoint {p.checkpoint}" if p.checkpoint else "")
    latent_dim: object
    resolution: object
    if isinstance(made, Generator):
        net: nn.Module = made.net
        latent_dim, resolution, label = made.latent_dim, made.resolution, made.spec.label
    elif isinstance(made, nn.Module):
        net = made
        latent_dim, resolution, label = getattr(made, "latent_dim", None), getattr(made, "resolution", None), p.id
    else:
        raise ZooError(f"{what}: {p.module}:{p.factory} returned {type(made).__name__}, expected a torch nn.Module")
    if not isinstance(latent_dim, int) or not isinstance(resolution, int) or latent_dim < 1 or resolution < 1:
        raise ZooError(f"{what}: the module needs positive int attributes latent_dim and resolution "
                       f"(got latent_dim={latent_dim!r}, resolution={resolution!r})")
    gspec = GeneratorSpec(id=p.id, label=label, source=source, resolution=resolution, latent_dim=latent_dim)
    return wrap(net, gspec, device=device, what=what)
