"""Architectures of the zoo's generators (and the discriminators that train them).

Every generator network maps ``z [N, latent_dim]`` to ``[N, 3, R, R]`` in ``[-1, 1]`` (a final ``tanh``) and depends
on ``z`` alone at synthesis (``forward``): no batch statistics, noise inputs fixed. Networks trained here also have
``train_forward`` (what the adversarial loop calls: random noise inputs, no truncation) which defaults to ``forward``.

Tiny (8x8 digits, one grey channel replicated to three): ``TinyMLP``, ``TinyDeconv``, ``TinyCPPN``.
Faces (64x64): ``DCGAN64`` (the PyTorch-tutorial generator of ``gan_face_generate``), ``StyleNet64`` (mapping network,
AdaIN styles, per-layer noise fixed at synthesis, truncation), ``ResNet64`` (residual upsampling blocks, pixel norm).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class ZooNet(nn.Module):
    """Base of the networks defined here: ``forward`` synthesises, ``train_forward`` is used by the GAN loop."""

    latent_dim: int
    resolution: int

    def train_forward(self, z: torch.Tensor, *, mixing: float = 0.0) -> torch.Tensor:
        """The GAN loop's forward pass. ``mixing``: probability of style mixing (style-based networks only)."""
        out: torch.Tensor = self(z)
        return out

    def config(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this network (stored in checkpoints)."""
        raise NotImplementedError

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """Optimiser parameter groups (per-group learning rates)."""
        return [{"params": list(self.parameters()), "lr": lr}]


def _grey_to_rgb(x: torch.Tensor, resolution: int) -> torch.Tensor:
    # N x (R*R) -> N x 3 x R x R
    return torch.tanh(x).view(-1, 1, resolution, resolution).repeat(1, 3, 1, 1)


# --------------------------------------------------------------------------------------------------- tiny (8x8)

class TinyMLP(ZooNet):
    """Fully connected: z -> 2 hidden layers -> 64 pixels."""

    def __init__(self, *, latent_dim: int = 16, hidden: int = 128) -> None:
        super().__init__()
        self.latent_dim, self.resolution, self.hidden = latent_dim, 8, hidden
        self.net = nn.Sequential(nn.Linear(latent_dim, hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 64))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return _grey_to_rgb(self.net(z), 8)

    def config(self) -> dict[str, Any]:
        return {"latent_dim": self.latent_dim, "hidden": self.hidden}


class TinyDeconv(ZooNet):
    """Convolutional: z -> 2x2 feature map -> two transposed convolutions -> 8x8."""

    def __init__(self, *, latent_dim: int = 16, channels: int = 64) -> None:
        super().__init__()
        self.latent_dim, self.resolution, self.channels = latent_dim, 8, channels
        c = channels
        self.fc = nn.Linear(latent_dim, c * 4)
        self.body = nn.Sequential(
            nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(c, c // 2, 4, 2, 1), nn.LeakyReLU(0.2),       # N x c/2 x 4 x 4
            nn.ConvTranspose2d(c // 2, c // 4, 4, 2, 1), nn.LeakyReLU(0.2),  # N x c/4 x 8 x 8
            nn.Conv2d(c // 4, 1, 3, 1, 1))                                 # N x 1 x 8 x 8

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z).view(-1, self.channels, 2, 2)
        return _grey_to_rgb(self.body(x).flatten(1), 8)

    def config(self) -> dict[str, Any]:
        return {"latent_dim": self.latent_dim, "channels": self.channels}


class TinyCPPN(ZooNet):
    """Compositional pattern-producing network: each pixel is an MLP of (x, y, r) and z."""

    def __init__(self, *, latent_dim: int = 16, hidden: int = 64) -> None:
        super().__init__()
        self.latent_dim, self.resolution, self.hidden = latent_dim, 8, hidden
        lin = torch.linspace(-1.0, 1.0, 8)
        yy, xx = torch.meshgrid(lin, lin, indexing="ij")
        coords = torch.stack([xx, yy, torch.sqrt(xx ** 2 + yy ** 2)], dim=-1).view(64, 3)
        self.register_buffer("coords", coords, persistent=False)
        self.z_in = nn.Linear(latent_dim, hidden)
        self.c_in = nn.Linear(3, hidden, bias=False)
        self.body = nn.Sequential(nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                  nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        coords: torch.Tensor = self.coords  # type: ignore[assignment]
        h = self.z_in(z)[:, None, :] + self.c_in(coords)[None, :, :]  # N x 64 x hidden
        return _grey_to_rgb(self.body(h).squeeze(-1), 8)

    def config(self) -> dict[str, Any]:
        return {"latent_dim": self.latent_dim, "hidden": self.hidden}


class TinyDiscriminator(nn.Module):
    """Spectral-normalised MLP on the grey channel of an 8x8 image."""

    def __init__(self, *, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(spectral_norm(nn.Linear(64, hidden)), nn.LeakyReLU(0.2),
                                 spectral_norm(nn.Linear(hidden, hidden)), nn.LeakyReLU(0.2),
                                 spectral_norm(nn.Linear(hidden, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x[:, 0].flatten(1)).squeeze(1)
        return out


# --------------------------------------------------------------------------------------------------- faces (64x64)

class DCGAN64(ZooNet):
    """The PyTorch-tutorial DCGAN generator (``gan_face_generate.models.Generator``), same state-dict keys."""

    def __init__(self, *, latent_dim: int = 100, ngf: int = 64, nc: int = 3) -> None:
        super().__init__()
        self.latent_dim, self.resolution, self.ngf, self.nc = latent_dim, 64, ngf, nc
        nz = latent_dim
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
            # N x ngf*8 x 4 x 4
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            # N x ngf*4 x 8 x 8
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            # N x ngf*2 x 16 x 16
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            # N x ngf x 32 x 32
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())
            # N x 3 x 64 x 64

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.main(z.view(z.shape[0], self.latent_dim, 1, 1))
        return out

    def config(self) -> dict[str, Any]:
        return {"latent_dim": self.latent_dim, "ngf": self.ngf, "nc": self.nc}


def _face_channels(width: int) -> dict[int, int]:
    # feature maps per resolution; width = channels at 64x64
    return {4: width * 8, 8: width * 8, 16: width * 4, 32: width * 2, 64: width}


class PixelNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class _StyleLayer(nn.Module):
    """3x3 conv -> noise (random in training, the stored constant at synthesis) -> bias, lrelu -> AdaIN(w)."""

    def __init__(self, cin: int, cout: int, resolution: int, w_dim: int, *, upsample: bool, noise_seed: int) -> None:
        super().__init__()
        self.upsample = upsample
        self.conv = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.bias = nn.Parameter(torch.zeros(cout))
        self.noise_strength = nn.Parameter(torch.zeros(()))
        noise = torch.randn(1, 1, resolution, resolution, generator=torch.Generator().manual_seed(noise_seed))
        self.register_buffer("noise_const", noise)
        self.style = nn.Linear(w_dim, 2 * cout)
        with torch.no_grad():  # start as identity AdaIN: scale 1, shift 0
            self.style.bias[:cout].fill_(1.0)
            self.style.bias[cout:].zero_()

    def forward(self, x: torch.Tensor, w: torch.Tensor, *, random_noise: bool) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        x = self.conv(x)
        noise_const: torch.Tensor = self.noise_const  # type: ignore[assignment]
        noise = torch.randn_like(x[:, :1]) if random_noise else noise_const
        x = F.leaky_relu(x + self.noise_strength * noise + self.bias[None, :, None, None], 0.2)
        x = F.instance_norm(x)
        scale, shift = self.style(w).chunk(2, dim=1)  # N x C each
        return x * scale[:, :, None, None] + shift[:, :, None, None]


class StyleNet64(ZooNet):
    """Style-based generator (StyleGAN-like, small): z -> mapping MLP -> w -> AdaIN styles on every layer of a
    synthesis network that starts from a learned 4x4 constant. Per-layer noise is random in training and the stored
    constant at synthesis; synthesis truncates w towards the tracked mean ``w_avg`` with ``psi``.

    ``input_map``: the 4x4 input is the constant plus a linear map of w (the constant alone leaves the coarse
    geometry to the styles, which on a short CPU schedule collapsed to one face shape). In training, style mixing
    (``train_forward(z, mixing=p)``) draws a second latent with probability p and switches to its w from a random
    layer on (StyleGAN's mixing regularisation)."""

    def __init__(self, *, latent_dim: int = 128, w_dim: int = 128, mapping_layers: int = 4, width: int = 16,
                 psi: float = 0.7, w_avg_beta: float = 0.995, input_map: bool = False) -> None:
        super().__init__()
        self.latent_dim, self.resolution = latent_dim, 64
        self.w_dim, self.mapping_layers, self.width, self.psi, self.w_avg_beta = (
            w_dim, mapping_layers, width, psi, w_avg_beta)
        self.input_map = input_map
        layers: list[nn.Module] = [PixelNorm()]
        for i in range(mapping_layers):
            layers += [nn.Linear(latent_dim if i == 0 else w_dim, w_dim), nn.LeakyReLU(0.2)]
        self.mapping = nn.Sequential(*layers)
        for m in self.mapping.modules():  # variance-preserving init, else w hardly depends on z (mapping collapse)
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, a=0.2, nonlinearity="leaky_relu")
                nn.init.zeros_(m.bias)
        self.register_buffer("w_avg", torch.zeros(w_dim))
        ch = _face_channels(width)
        self.const = nn.Parameter(torch.randn(1, ch[4], 4, 4))
        self.input_fc = nn.Linear(w_dim, ch[4] * 16) if input_map else None
        blocks: list[nn.Module] = []
        seed = 0
        for res in (4, 8, 16, 32, 64):
            cin = ch[4] if res == 4 else ch[res // 2]
            if res > 4:
                blocks.append(_StyleLayer(cin, ch[res], res, w_dim, upsample=True, noise_seed=seed))
                seed += 1
            blocks.append(_StyleLayer(ch[res], ch[res], res, w_dim, upsample=False, noise_seed=seed))
            seed += 1
        self.layers = nn.ModuleList(blocks)  # N x C_r x r x r, r = 4 .. 64
        self.to_rgb = nn.Conv2d(ch[64], 3, 1)

    def per_layer(self, w: torch.Tensor) -> torch.Tensor:
        """[N, w_dim] -> [N, L, w_dim]: the same style for each of the L = len(self.layers) layers (a view)."""
        return w[:, None, :].expand(-1, len(self.layers), -1)

    def synthesis(self, w: torch.Tensor, *, random_noise: bool) -> torch.Tensor:
        """``w``: [N, w_dim] (one style for every layer) or [N, L, w_dim] (one per layer, L = len(self.layers))."""
        ws = self.per_layer(w) if w.dim() == 2 else w
        x = self.const.expand(ws.shape[0], -1, -1, -1)
        if self.input_fc is not None:
            x = x + self.input_fc(ws[:, 0]).view_as(x)
        for i, layer in enumerate(self.layers):
            x = layer(x, ws[:, i], random_noise=random_noise)
        return torch.tanh(self.to_rgb(x))  # N x 3 x 64 x 64

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        w = self.mapping(z)
        w_avg: torch.Tensor = self.w_avg  # type: ignore[assignment]
        w = w_avg + self.psi * (w - w_avg)
        return self.synthesis(w, random_noise=False)

    def train_forward(self, z: torch.Tensor, *, mixing: float = 0.0) -> torch.Tensor:
        w = self.mapping(z)
        if self.training:
            w_avg: torch.Tensor = self.w_avg  # type: ignore[assignment]
            w_avg.copy_(w.detach().mean(0).lerp(w_avg, self.w_avg_beta))
        ws = self.per_layer(w)
        if mixing > 0.0 and float(torch.rand(())) < mixing:  # global torch RNG (seeded per step by the loop)
            w2 = self.per_layer(self.mapping(torch.randn_like(z)))
            cut = int(torch.randint(1, len(self.layers), ()))
            ws = torch.cat([ws[:, :cut], w2[:, cut:]], dim=1)
        return self.synthesis(ws, random_noise=True)

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        # StyleGAN's 0.01 learning-rate multiplier for the mapping network
        mapping = list(self.mapping.parameters())
        ids = {id(p) for p in mapping}
        return [{"params": mapping, "lr": lr * 0.01},
                {"params": [p for p in self.parameters() if id(p) not in ids], "lr": lr}]

    def config(self) -> dict[str, Any]:
        return {"latent_dim": self.latent_dim, "w_dim": self.w_dim, "mapping_layers": self.mapping_layers,
                "width": self.width, "psi": self.psi, "w_avg_beta": self.w_avg_beta, "input_map": self.input_map}


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "pixel":
        return PixelNorm()
    if kind == "batch":  # eval mode (running statistics) at synthesis: batch members stay independent
        return nn.BatchNorm2d(channels)
    raise ValueError(f"norm must be pixel or batch, got {kind!r}")


class _ResUp(nn.Module):
    """Residual upsampling block: (norm, lrelu, up, conv3, norm, lrelu, conv3) + (up, conv1)."""

    def __init__(self, cin: int, cout: int, *, upsample: str = "nearest", norm: str = "pixel") -> None:
        super().__init__()
        self.mode = upsample
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1, bias=False)
        if norm == "pixel":  # (kept as one shared module: the state-dict layout of the pixel-norm weights)
            self.norm: nn.Module = PixelNorm()
            self.norm2: nn.Module = self.norm
        else:
            self.norm, self.norm2 = _norm(norm, cin), _norm(norm, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.leaky_relu(self.norm(x), 0.2), scale_factor=2.0, mode=self.mode)
        up = F.interpolate(x, scale_factor=2.0, mode=self.mode)
        h = self.conv1(h)
        h = self.conv2(F.leaky_relu(self.norm2(h), 0.2))
        out: torch.Tensor = (h + self.skip(up)) / math.sqrt(2.0)
        return out


class ResNet64(ZooNet):
    """Residual generator (SNGAN / ProGAN-like, small): z -> linear 4x4 map -> four residual upsampling blocks with
    pixel norm (no batch statistics) -> 3x3 conv -> tanh."""

    def __init__(self, *, latent_dim: int = 128, width: int = 16, upsample: str = "nearest",
                 norm: str = "pixel") -> None:
        super().__init__()
        if upsample not in ("nearest", "bilinear"):
            raise ValueError(f"upsample must be nearest or bilinear, got {upsample!r}")
        self.latent_dim, self.resolution, self.width, self.upsample, self.norm_kind = (
            latent_dim, 64, width, upsample, norm)
        ch = _face_channels(width)
        self.c4 = ch[4]
        self.fc = nn.Linear(latent_dim, ch[4] * 16)
        self.blocks = nn.Sequential(*[_ResUp(ch[r // 2], ch[r], upsample=upsample, norm=norm)
                                      for r in (8, 16, 32, 64)])
        self.out = nn.Conv2d(ch[64], 3, 3, 1, 1)
        self.norm = _norm(norm, ch[64])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z).view(-1, self.c4, 4, 4)        # N x 8w x 4 x 4
        x = self.blocks(x)                            # N x w x 64 x 64
        return torch.tanh(self.out(F.leaky_relu(self.norm(x), 0.2)))

    def config(self) -> dict[str, Any]:
        return {"latent_dim": self.latent_dim, "width": self.width, "upsample": self.upsample,
                "norm": self.norm_kind}


class FaceDiscriminator(nn.Module):
    """DCGAN-style discriminator with spectral norm and no batch norm: 64x64 -> 4x4 -> logit. With ``mbstd`` the
    last layer also sees the minibatch standard deviation (ProGAN; groups of 4), which discourages mode collapse."""

    def __init__(self, *, width: int = 32, mbstd: bool = False) -> None:
        super().__init__()
        w = width
        self.mbstd = mbstd
        sn = spectral_norm
        self.net = nn.Sequential(
            sn(nn.Conv2d(3, w, 4, 2, 1)), nn.LeakyReLU(0.2),            # N x w x 32 x 32
            sn(nn.Conv2d(w, 2 * w, 4, 2, 1)), nn.LeakyReLU(0.2),        # N x 2w x 16 x 16
            sn(nn.Conv2d(2 * w, 4 * w, 4, 2, 1)), nn.LeakyReLU(0.2),    # N x 4w x 8 x 8
            sn(nn.Conv2d(4 * w, 8 * w, 4, 2, 1)), nn.LeakyReLU(0.2),    # N x 8w x 4 x 4
            sn(nn.Conv2d(8 * w + int(mbstd), 1, 4, 1, 0)))              # N x 1 x 1 x 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.mbstd:
            out: torch.Tensor = self.net(x).flatten()
            return out
        h = self.net[:-1](x)                                            # N x 8w x 4 x 4
        n = h.shape[0]
        g = 4 if n % 4 == 0 else n
        std = h.view(g, n // g, *h.shape[1:]).std(dim=0, unbiased=False).add(1e-8).mean(dim=(1, 2, 3))  # N/g
        std = std.repeat(g)[:, None, None, None].expand(n, 1, h.shape[2], h.shape[3])
        out = self.net[-1](torch.cat([h, std], dim=1)).flatten()
        return out


ARCHITECTURES: dict[str, type[ZooNet]] = {
    "tiny-mlp": TinyMLP, "tiny-deconv": TinyDeconv, "tiny-cppn": TinyCPPN,
    "dcgan64": DCGAN64, "style64": StyleNet64, "resnet64": ResNet64,
}


def build_net(arch: str, config: dict[str, Any]) -> ZooNet:
    """Rebuild a generator network from its architecture name and config (as stored in a checkpoint)."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(sorted(ARCHITECTURES))}")
    return ARCHITECTURES[arch](**config)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
