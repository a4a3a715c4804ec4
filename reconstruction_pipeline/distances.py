"""Per-image distances d(g(s), x) between reconstructions and targets (paper section IV-C2).

A :class:`Distance` is an ``nn.Module`` with two steps so that the target side is computed once per run:

- ``prepare(targets)``: targets ``[N, 3, h, w]`` in ``[-1, 1]`` -> whatever the distance compares against;
- ``forward(images, prepared)``: images ``[N, 3, H, W]`` in ``[-1, 1]`` -> distances ``[N]`` (one per image; the
  images of a batch never mix, so the sum of a batch's distances has exactly the per-image gradients).

Distances are found by name in an open registry (:data:`DISTANCES`, :func:`register_distance`), so later work can add
one without touching the pipeline:

- ``pixel``: mean squared error over C, H, W at the target's resolution (paper, MNIST appendix). A generator whose
  resolution differs from the target's is resized bilinearly to it first.
- ``inception``: the paper's "l2-feature": the *plain* (not squared) L2 norm ``||f(x) - f(g(s))||_2`` between
  torchvision Inception-V3 ``Mixed_5d`` feature maps (``N x 288 x 35 x 35``) of both images resized bilinearly to
  299 x 299, taken with ``create_feature_extractor``. Weights: ImageNet (``Inception_V3_Weights.IMAGENET1K_V1``)
  from torchvision's cache or a file given with ``--feature-weights PATH``; ``random`` builds the real architecture
  with random weights (for tests only; recorded in the manifest).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

INCEPTION_SIZE = 299
INCEPTION_LAYER = "Mixed_5d"
RANDOM_WEIGHTS = "random"


class DistanceError(ValueError):
    """A distance cannot be built as asked (unknown name, missing weights); the message is one line for the user."""


class Distance(nn.Module):
    """Base class: ``prepare`` the targets once, then ``forward(images, prepared) -> [N]``."""

    name: str = ""

    def prepare(self, targets: torch.Tensor) -> torch.Tensor:
        """targets: [N, 3, h, w] in [-1, 1] -> the representation :meth:`forward` compares against."""
        raise NotImplementedError

    def forward(self, images: torch.Tensor, prepared: torch.Tensor) -> torch.Tensor:
        """images: [N, 3, H, W] in [-1, 1]; prepared: from :meth:`prepare` -> distances [N]."""
        raise NotImplementedError

    def describe(self) -> dict[str, str]:
        """What a manifest records about this distance beyond its name."""
        return {}


class PixelDistance(Distance):
    """Mean squared error over C, H, W at the target's resolution."""

    name = "pixel"

    def prepare(self, targets: torch.Tensor) -> torch.Tensor:
        _check_images(targets, "targets")
        return targets

    def forward(self, images: torch.Tensor, prepared: torch.Tensor) -> torch.Tensor:
        _check_images(images, "images")
        if images.shape[0] != prepared.shape[0]:
            raise ValueError(f"pixel: {images.shape[0]} images but {prepared.shape[0]} targets")
        if images.shape[-2:] != prepared.shape[-2:]:
            images = F.interpolate(images, size=tuple(prepared.shape[-2:]), mode="bilinear", align_corners=False)
        return (images - prepared).square().flatten(1).mean(dim=1)  # N


class InceptionDistance(Distance):
    """Plain L2 between Inception-V3 ``Mixed_5d`` features of images resized bilinearly to 299 x 299."""

    name = "inception"

    def __init__(self, network: nn.Module, weights_id: str) -> None:
        super().__init__()
        from torchvision.models.feature_extraction import create_feature_extractor

        self.features = create_feature_extractor(network, {INCEPTION_LAYER: "feat"})
        self.weights_id = weights_id
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "InceptionDistance":
        return super().train(False)  # BatchNorm in eval mode: images of a batch never mix

    def _embed(self, images: torch.Tensor) -> torch.Tensor:
        # N x 3 x H x W in [-1, 1]: the scaling Inception-V3 was trained with (torchvision's transform_input
        # maps ImageNet-normalised inputs to exactly this range, so the network is built with transform_input=False)
        x = F.interpolate(images, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear", align_corners=False)
        # N x 3 x 299 x 299
        feat: torch.Tensor = self.features(x)["feat"]
        # N x 288 x 35 x 35
        return feat

    def prepare(self, targets: torch.Tensor) -> torch.Tensor:
        _check_images(targets, "targets")
        with torch.no_grad():
            return self._embed(targets)

    def forward(self, images: torch.Tensor, prepared: torch.Tensor) -> torch.Tensor:
        _check_images(images, "images")
        if images.shape[0] != prepared.shape[0]:
            raise ValueError(f"inception: {images.shape[0]} images but {prepared.shape[0]} targets")
        diff = (self._embed(images) - prepared).flatten(1)  # N x (288*35*35)
        return diff.square().sum(dim=1).sqrt()  # N: plain L2, as in the paper

    def describe(self) -> dict[str, str]:
        return {"feature_layer": INCEPTION_LAYER, "feature_weights": self.weights_id, "feature_norm": "l2"}


def _check_images(x: torch.Tensor, what: str) -> None:
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"{what}: expected [N, 3, H, W], got {tuple(x.shape)}")


# --------------------------------------------------------------------------------------------------- registry

DistanceFactory = Callable[..., Distance]
DISTANCES: dict[str, DistanceFactory] = {}


def register_distance(name: str, factory: DistanceFactory) -> None:
    """Add a distance: ``factory(*, device, feature_weights) -> Distance``."""
    if name in DISTANCES:
        raise ValueError(f"distance {name!r} is already registered")
    DISTANCES[name] = factory


def distance_names() -> list[str]:
    return sorted(DISTANCES)


def build_distance(name: str, *, device: torch.device | str = "cpu", feature_weights: str | None = None,
                   dtype: torch.dtype = torch.float32) -> Distance:
    """The distance called ``name`` on ``device``; raises :class:`DistanceError` with one line when it cannot."""
    if name not in DISTANCES:
        raise DistanceError(f"unknown distance {name!r}; choose one of {', '.join(distance_names())}")
    dist = DISTANCES[name](device=torch.device(device), feature_weights=feature_weights)
    return dist.to(device=device, dtype=dtype)


def _pixel_factory(*, device: torch.device, feature_weights: str | None = None) -> Distance:
    return PixelDistance()


@dataclass(frozen=True)
class InceptionWeights:
    """Where Inception-V3 weights come from: ``imagenet`` (torchvision cache or download), a file, or random."""

    state_dict: dict[str, torch.Tensor] | None
    weights_id: str


def load_inception_weights(feature_weights: str | None, *, allow_download: bool = True) -> InceptionWeights:
    """Resolve the weights before any work: a readable file, ``random``, or torchvision's ImageNet weights.

    Raises :class:`DistanceError` (one line naming ``--feature-weights PATH``) when there is no network and no cache.
    """
    from torchvision.models import Inception_V3_Weights

    if feature_weights == RANDOM_WEIGHTS:
        return InceptionWeights(None, RANDOM_WEIGHTS)
    if feature_weights is not None:
        path = Path(feature_weights)
        if not path.is_file():
            raise DistanceError(f"--feature-weights {feature_weights}: no such file (give a saved Inception-V3 "
                                "state dict, e.g. torchvision's inception_v3_google-0cc3c7bd.pth)")
        data = path.read_bytes()  # read once: both the state dict and its hash (the build identity)
        try:
            sd = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unreadable file is the same user mistake
            raise DistanceError(f"--feature-weights {feature_weights}: not a torch state dict ({type(e).__name__})"
                                ) from None
        digest = hashlib.sha256(data).hexdigest()[:16]
        return InceptionWeights(sd, f"file:{path.name}:sha256:{digest}")
    weights = Inception_V3_Weights.IMAGENET1K_V1
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not cached.is_file() and not allow_download:
        raise DistanceError(f"inception distance: ImageNet Inception-V3 weights are not cached ({cached}); "
                            "supply them with --feature-weights PATH")
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(30)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            sd = weights.get_state_dict(progress=False)  # quiet: torch.hub prints "Downloading: ..."
    except Exception as e:  # noqa: BLE001 - no network, proxy, disk: all mean "supply the file yourself"
        raise DistanceError(f"inception distance: cannot load ImageNet Inception-V3 weights ({type(e).__name__}: "
                            f"offline and not cached in {cached.parent}); supply them with --feature-weights PATH"
                            ) from None
    finally:
        socket.setdefaulttimeout(old)
    return InceptionWeights(sd, "torchvision:Inception_V3_Weights.IMAGENET1K_V1")


def inception_network(weights: InceptionWeights) -> nn.Module:
    """torchvision's Inception-V3 (``transform_input=False``: inputs are already in [-1, 1])."""
    from torchvision.models import inception_v3

    if weights.state_dict is None:
        # The real architecture with random weights (PyTorch's default init; init_weights=False skips torchvision's
        # slow truncated-normal init), seeded so that every process builds the same network.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            net = inception_v3(weights=None, aux_logits=False, transform_input=False, init_weights=False)
        return net
    net = inception_v3(weights=None, aux_logits=True, transform_input=False, init_weights=False)
    missing, unexpected = net.load_state_dict(weights.state_dict, strict=False)
    if missing:
        raise DistanceError(f"--feature-weights: not Inception-V3 weights (missing {len(missing)} tensors, e.g. "
                            f"{missing[0]})")
    net.aux_logits, net.AuxLogits = False, None  # past Mixed_5d; the same graph in train and eval mode
    return net


def _inception_factory(*, device: torch.device, feature_weights: str | None = None) -> Distance:
    weights = load_inception_weights(feature_weights)
    return InceptionDistance(inception_network(weights), weights.weights_id)


register_distance("pixel", _pixel_factory)
register_distance("inception", _inception_factory)
