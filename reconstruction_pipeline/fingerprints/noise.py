"""Noise layers: differentiable perturbations from kornia applied between encoder and decoder during training, and
the fixed evaluation perturbations of the model card (named like the conditions of the paper's Table I).

Both are registries (name -> function): a new perturbation registers by name. Images are [N, 3, R, R] in [-1, 1];
randomness comes from the global torch RNG, which the training loop seeds per step.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import torch

from reconstruction_pipeline.fingerprints.errors import FingerprintError

Noise = Callable[[torch.Tensor], torch.Tensor]


def _to01(x: torch.Tensor) -> torch.Tensor:
    return (x + 1.0) / 2.0


def _from01(x: torch.Tensor) -> torch.Tensor:
    return x * 2.0 - 1.0


def _u(lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand(()))


def train_identity(x: torch.Tensor) -> torch.Tensor:
    return x


def train_blur(x: torch.Tensor) -> torch.Tensor:
    from kornia.filters import gaussian_blur2d

    s = _u(0.3, 1.2)
    return gaussian_blur2d(x, (5, 5), (s, s))


def train_noise(x: torch.Tensor) -> torch.Tensor:
    return x + torch.randn_like(x) * _u(0.0, 0.2)  # std up to 0.1 on a [0, 1] scale


def train_jpeg(x: torch.Tensor) -> torch.Tensor:
    from kornia.enhance import jpeg_codec_differentiable

    q = torch.full((x.shape[0],), _u(50.0, 95.0), device=x.device)
    return _from01(jpeg_codec_differentiable(_to01(x).clamp(0, 1), q))


def train_crop(x: torch.Tensor) -> torch.Tensor:
    from kornia.augmentation import RandomResizedCrop

    r = x.shape[-1]
    return RandomResizedCrop((r, r), scale=(0.8, 1.0), ratio=(1.0, 1.0), p=1.0)(x)


TRAIN_NOISES: dict[str, Noise] = {"identity": train_identity, "blur": train_blur, "noise": train_noise,
                                  "jpeg": train_jpeg, "crop": train_crop}


def parse_noises(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    bad = [n for n in names if n not in TRAIN_NOISES]
    if bad or not names:
        raise FingerprintError(f"unknown noise layer(s) {bad or text!r}; known: {', '.join(TRAIN_NOISES)}")
    return names


# ------------------------------------------------------------------------------ evaluation perturbations (fixed)

def eval_jpeg50(x: torch.Tensor) -> torch.Tensor:
    """Real JPEG (Pillow, quality 50), per image."""
    import numpy as np
    from PIL import Image

    out = []
    for img in x:
        arr = (_to01(img).clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="JPEG", quality=50)
        back = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), dtype=np.float32) / 255.0
        out.append(torch.from_numpy(back).permute(2, 0, 1))
    return _from01(torch.stack(out)).to(x.device)


def eval_blur5(x: torch.Tensor) -> torch.Tensor:
    from kornia.filters import gaussian_blur2d

    return gaussian_blur2d(x, (5, 5), (1.0, 1.0))


def eval_noise(x: torch.Tensor) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return (x + torch.randn(x.shape, generator=g).to(x.device) * 0.2).clamp(-1, 1)  # var 0.01 on [0, 1]


def eval_crop09(x: torch.Tensor) -> torch.Tensor:
    import torch.nn.functional as F

    r = x.shape[-1]
    c = round(r * 0.9)
    o = (r - c) // 2
    return F.interpolate(x[..., o:o + c, o:o + c], size=(r, r), mode="bilinear", align_corners=False)


def eval_mirror(x: torch.Tensor) -> torch.Tensor:
    return x.flip(-1)


EVAL_PERTURBATIONS: dict[str, Noise] = {"clean": lambda x: x, "jpeg:q=50": eval_jpeg50, "blur:k=5": eval_blur5,
                                        "noise:var=0.01": eval_noise, "crop:min=0.9": eval_crop09,
                                        "mirror": eval_mirror}
