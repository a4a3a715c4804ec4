"""StegaStamp-style fingerprint encoder and CNN decoder (Yu et al., ICCV 2021, built from the paper's description).

Encoder: the bit vector goes through a dense layer to a ``3 x R/4 x R/4`` map, is upsampled (nearest) to the image
size and concatenated with the image; a small U-Net (three stride-2 downsamplings with skip connections) outputs a
*residual* that is added to the image. Decoder: a plain CNN (stride-2 convolutions down to 4x4), a dense layer and
one logit per bit. Images are ``[N, 3, R, R]`` in ``[-1, 1]`` (the zoo's convention), bits ``[N, L]`` in {0, 1}.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from reconstruction_pipeline.fingerprints.errors import FingerprintError


@dataclass(frozen=True)
class CodecConfig:
    bits: int = 64          # fingerprint length L
    resolution: int = 64    # image side R (a power of two, >= 16)
    width: int = 32         # U-Net base channels (width, 2w, 4w, 8w)
    dec_width: int = 32     # decoder base channels

    def check(self) -> None:
        if self.bits < 1:
            raise FingerprintError(f"fingerprint length must be >= 1, got {self.bits}")
        r = self.resolution
        if r < 16 or r & (r - 1):
            raise FingerprintError(f"codec resolution must be a power of two >= 16, got {r}")
        if self.width < 1 or self.dec_width < 1:
            raise FingerprintError("codec widths must be >= 1")

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.2, inplace=True))


class FingerprintEncoder(nn.Module):
    def __init__(self, cfg: CodecConfig) -> None:
        super().__init__()
        cfg.check()
        self.cfg = cfg
        self.side = cfg.resolution // 4
        w = cfg.width
        self.dense = nn.Linear(cfg.bits, 3 * self.side * self.side)
        self.inc = nn.Sequential(_block(6, w), _block(w, w))
        self.down1 = _block(w, 2 * w, 2)
        self.down2 = _block(2 * w, 4 * w, 2)
        self.down3 = _block(4 * w, 8 * w, 2)
        self.up3 = _block(8 * w + 4 * w, 4 * w)
        self.up2 = _block(4 * w + 2 * w, 2 * w)
        self.up1 = _block(2 * w + w, w)
        self.head = nn.Sequential(_block(w + 6, w), nn.Conv2d(w, 3, 1))

    def forward(self, image: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        """The residual to add to ``image`` so that it carries ``bits``."""
        n = image.shape[0]
        secret = F.relu(self.dense(bits.float() * 2.0 - 1.0)).view(n, 3, self.side, self.side)
        secret = F.interpolate(secret, size=image.shape[-2:], mode="nearest")
        inp = torch.cat([image, secret], dim=1)
        x0 = self.inc(inp)
        x1 = self.down1(x0)
        x2 = self.down2(x1)
        x3 = self.down3(x2)
        u = F.interpolate(x3, scale_factor=2.0, mode="nearest")
        u = self.up3(torch.cat([u, x2], dim=1))
        u = F.interpolate(u, scale_factor=2.0, mode="nearest")
        u = self.up2(torch.cat([u, x1], dim=1))
        u = F.interpolate(u, scale_factor=2.0, mode="nearest")
        u = self.up1(torch.cat([u, x0], dim=1))
        out: torch.Tensor = self.head(torch.cat([u, inp], dim=1))
        return out


class FingerprintDecoder(nn.Module):
    def __init__(self, cfg: CodecConfig) -> None:
        super().__init__()
        cfg.check()
        self.cfg = cfg
        w = cfg.dec_width
        layers: list[nn.Module] = [_block(3, w)]
        c, side = w, cfg.resolution
        while side > 4:  # stride-2 convolutions down to 4x4 (4 of them at 64 px)
            nxt = min(c * 2, 8 * w)
            layers += [_block(c, nxt, 2), nn.BatchNorm2d(nxt)]
            c, side = nxt, side // 2
        layers += [_block(c, c)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c * 16, 256), nn.LeakyReLU(0.2, inplace=True),
                                  nn.Linear(256, cfg.bits))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.features(image))
        return out


class Codec(nn.Module):
    """Encoder + decoder with the shape checks every caller needs."""

    def __init__(self, cfg: CodecConfig) -> None:
        super().__init__()
        cfg.check()
        self.cfg = cfg
        self.encoder = FingerprintEncoder(cfg)
        self.decoder = FingerprintDecoder(cfg)

    def check_image(self, image: torch.Tensor) -> None:
        r = self.cfg.resolution
        if image.ndim != 4 or image.shape[1] != 3 or image.shape[-2:] != (r, r):
            raise FingerprintError(f"image batch has shape {tuple(image.shape)}, this codec takes [N, 3, {r}, {r}]; "
                                   f"resize the images to {r}x{r}")

    def check_bits(self, bits: torch.Tensor) -> None:
        if bits.ndim != 2 or bits.shape[1] != self.cfg.bits:
            got = bits.shape[-1] if bits.ndim else 0
            raise FingerprintError(f"fingerprint has {got} bits, this codec was trained for {self.cfg.bits}; "
                                   f"use a {self.cfg.bits}-bit key or a codec trained for {got} bits")

    def embed_train(self, image: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        """Fingerprinted image, unclamped (training)."""
        return image + self.encoder(image, bits)

    @torch.no_grad()
    def embed(self, image: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        """Fingerprinted images in [-1, 1] (``bits`` [N, L] or [L] broadcast to the batch)."""
        self.check_image(image)
        if bits.ndim == 1:
            bits = bits[None].expand(image.shape[0], -1)
        self.check_bits(bits)
        return self.embed_train(image, bits.to(image.device)).clamp(-1.0, 1.0)

    @torch.no_grad()
    def decode(self, image: torch.Tensor) -> torch.Tensor:
        """Decoded bits [N, L] as bool."""
        self.check_image(image)
        return self.decoder(image) > 0


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of images in [-1, 1] (peak-to-peak 2, i.e. the usual PSNR on [0, 1])."""
    mse = ((a - b) ** 2).flatten(1).mean(1).clamp_min(1e-12)
    return 10.0 * torch.log10(4.0 / mse)


def config_from_dict(d: dict[str, Any]) -> CodecConfig:
    try:
        cfg = CodecConfig(**{k: int(v) for k, v in d.items()})
    except TypeError as e:
        raise FingerprintError(f"bad codec configuration {d!r} ({e})") from e
    cfg.check()
    return cfg


