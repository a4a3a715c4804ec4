"""A checkpoint-loading plugin for the weights-identity test: the real tiny-deconv architecture, weights from a file."""

from __future__ import annotations

import torch

from reconstruction_pipeline.zoo.nets import TinyDeconv


def from_checkpoint(path: str) -> TinyDeconv:
    net = TinyDeconv(latent_dim=8, channels=32)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net
