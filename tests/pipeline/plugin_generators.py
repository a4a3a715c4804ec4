"""A user plugin for ``--generator ID=tests.pipeline.plugin_generators:factory`` tests: the real tiny-deconv
architecture with fixed random weights (a generator the zoo does not have)."""

from __future__ import annotations

import torch

from reconstruction_pipeline.zoo.nets import TinyDeconv


def random_deconv() -> TinyDeconv:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1234)
        return TinyDeconv(latent_dim=8, channels=32)
