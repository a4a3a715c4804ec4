"""``digiface-dcgan``: the third-party DCGAN whose weights ship inside the PyPI package ``gan-face-generate``.

The file is ``gan_face_generate/weights.tar``, a torch checkpoint ``{"netG_state_dict": ...}`` of the PyTorch-tutorial
DCGAN generator (nz=100, ngf=64, 3.58 M parameters) trained on DigiFace-1M. The architecture is defined here
(:class:`nets.DCGAN64`, same state-dict keys), so only the weights file is taken from the package. BatchNorm makes
train mode couple the images of a batch; the :class:`Generator` wrapper keeps it in eval mode always.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
from pathlib import Path

import torch

from reconstruction_pipeline.generators import Generator, GeneratorSpec
from reconstruction_pipeline.zoo.checkpoint import check_state_dict, torch_load_file, wrap
from reconstruction_pipeline.zoo.errors import ZooError
from reconstruction_pipeline.zoo.nets import DCGAN64

ID = "digiface-dcgan"
PACKAGE = "gan_face_generate"
WEIGHTS = "weights.tar"
SPEC = GeneratorSpec(id=ID, label="DigiFace DCGAN (third-party)", source=f"{PACKAGE}/{WEIGHTS} (PyPI gan-face-generate)",
                     resolution=64, latent_dim=100)


def weights_path() -> Path:
    """Path of ``weights.tar`` inside the installed package, found with importlib.resources."""
    if importlib.util.find_spec(PACKAGE) is None:
        raise ZooError(f"{ID}: package {PACKAGE!r} is not installed; run "
                       "`.venv-pipeline/bin/pip install --no-deps gan-face-generate` (scripts/setup.sh does)")
    res = importlib.resources.files(PACKAGE).joinpath(WEIGHTS)
    if not res.is_file():
        raise ZooError(f"{ID}: package {PACKAGE!r} has no {WEIGHTS}; reinstall gan-face-generate")
    return Path(str(res))


def load_dcgan(*, device: torch.device | str = "cpu") -> Generator:
    path = weights_path()
    ckpt = torch_load_file(path, what=ID)
    if not isinstance(ckpt, dict) or "netG_state_dict" not in ckpt:
        raise ZooError(f"{ID}: {path} has no 'netG_state_dict' key; is this the gan-face-generate checkpoint?")
    net = DCGAN64(latent_dim=100, ngf=64, nc=3)
    check_state_dict(net, ckpt["netG_state_dict"], what=ID)
    net.load_state_dict(ckpt["netG_state_dict"])
    return wrap(net, SPEC, device=device, what=ID)
