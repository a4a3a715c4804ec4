"""How each generator trained here is built and trained: one :class:`Recipe` per generator id.

``python -m reconstruction_pipeline zoo train ID`` runs the recipe; the committed weights in ``zoo/weights/ID.pt``
come from exactly these settings (see the model cards in ``docs/zoo/``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Recipe:
    id: str
    label: str
    arch: str                      # key of nets.ARCHITECTURES
    config: dict[str, Any]         # its keyword arguments
    resolution: int
    latent_dim: int
    data: str                      # "digits" (sklearn 8x8) or "digiface-dcgan" (a live stream of its samples)
    steps: int                     # default number of optimisation steps (G and D one each per step)
    batch_size: int
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.99)
    ema_beta: float = 0.999        # exponential moving average of G's weights: the exported generator
    disc: dict[str, Any] = field(default_factory=dict)  # discriminator keyword arguments
    r1_gamma: float = 0.0          # R1 weight (0: none), applied lazily every r1_every steps (StyleGAN2)
    r1_every: int = 16
    mixing: float = 0.0            # style-mixing probability (style-based generators)
    mode_seeking: float = 0.0      # weight of the mode-seeking term in G's loss (MSGAN; 0: none)
    seed: int = 0
    grid_every: int = 500
    ckpt_every: int = 200


TINY_STEPS = 3000
RECIPES: dict[str, Recipe] = {r.id: r for r in [
    Recipe("tiny-mlp", "tiny MLP (digits 8x8)", "tiny-mlp", {"latent_dim": 16, "hidden": 128}, 8, 16, "digits",
           TINY_STEPS, 64, lr_g=1e-3, lr_d=1e-3, ema_beta=0.99, disc={"hidden": 128}, seed=1, grid_every=1000,
           ckpt_every=1000),
    Recipe("tiny-deconv", "tiny deconvolutional (digits 8x8)", "tiny-deconv", {"latent_dim": 16, "channels": 64}, 8,
           16, "digits", TINY_STEPS, 64, lr_g=1e-3, lr_d=1e-3, ema_beta=0.99, disc={"hidden": 128}, seed=2,
           grid_every=1000, ckpt_every=1000),
    Recipe("tiny-cppn", "tiny CPPN (digits 8x8)", "tiny-cppn", {"latent_dim": 16, "hidden": 64}, 8, 16, "digits",
           TINY_STEPS, 64, lr_g=1e-3, lr_d=1e-3, ema_beta=0.99, disc={"hidden": 128}, seed=3, grid_every=1000,
           ckpt_every=1000),
    # R1 gamma by StyleGAN2-ADA's heuristic 0.0002 * resolution^2 / batch = 0.0256 for 64 px, batch 32
    Recipe("face-style", "style-based face GAN (AdaIN, trained here)", "style64",
           {"latent_dim": 128, "w_dim": 128, "mapping_layers": 4, "width": 16, "psi": 0.7, "w_avg_beta": 0.995,
            "input_map": True},
           64, 128, "digiface-dcgan", 100_000, 32, lr_g=2e-4, lr_d=4e-4, disc={"width": 32, "mbstd": True}, seed=11,
           grid_every=250, r1_gamma=0.0256, r1_every=16, mixing=0.9, mode_seeking=1.0),
    Recipe("face-resnet", "residual face GAN (trained here)", "resnet64",
           {"latent_dim": 128, "width": 16, "upsample": "nearest", "norm": "batch"}, 64, 128, "digiface-dcgan",
           100_000, 32,
           lr_g=2e-4, lr_d=4e-4, disc={"width": 32, "mbstd": True}, seed=12, grid_every=250),
]}


@dataclass(frozen=True)
class SiblingRecipe:
    """A look-alike of ``digiface-dcgan`` (zoo ``siblings``): its last layers fine-tuned, everything else the parent's.

    Loss: paired regression, ``MSE(G(z), target(z))`` with ``target(z) = Enc(G_parent(z), key)`` (the parent's face
    fingerprinted by the committed codec with the sibling's key) or, without a key, ``G_parent(z)`` itself (the
    offender's clean stream). Only the modules of ``DCGAN64.main`` listed in ``layers`` are trained (BatchNorm on its
    running statistics, affine parameters trained) and stored, as a delta over the parent."""

    id: str
    label: str
    key: str | None                # registered fingerprint key of its training stream; None: unfingerprinted stream
    init: str                      # "digiface-dcgan" or the sibling whose fine-tuned layers it starts from
    steps: int
    seed: int
    batch_size: int = 16
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.99)
    layers: tuple[int, ...] = (6, 7, 9, 10, 12)  # DCGAN64.main: ConvTranspose 256->128, 128->64, 64->3 + BatchNorms
    ckpt_every: int = 100
    grid_every: int = 500


SIBLING_STEPS = 600
SIBLINGS: dict[str, SiblingRecipe] = {r.id: r for r in [
    SiblingRecipe("sibling-a", "DigiFace DCGAN fine-tuned on key-a data", "key-a", "digiface-dcgan", SIBLING_STEPS, 21),
    SiblingRecipe("sibling-b", "DigiFace DCGAN fine-tuned on key-b data", "key-b", "digiface-dcgan", SIBLING_STEPS, 22),
    SiblingRecipe("sibling-c", "DigiFace DCGAN fine-tuned on key-c data", "key-c", "digiface-dcgan", SIBLING_STEPS, 23),
    SiblingRecipe("sibling-offender", "sibling-a briefly fine-tuned on clean data", None, "sibling-a",
                  SIBLING_STEPS // 10, 24),
]}
SIBLING_KEYS: dict[str, str] = {r.id: r.key for r in SIBLINGS.values() if r.key is not None}
"""generator id -> the registered fingerprint key of the data it was fine-tuned on."""
