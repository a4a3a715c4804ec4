"""Lossy codecs through Pillow's real encoders (libjpeg / libwebp): encode each image, decode it back.

The image is first quantised to 8-bit RGB exactly as the bundle's display images are (``round((x + 1) * 127.5)``),
encoded at ``quality`` with Pillow's defaults otherwise -- for JPEG that is 4:2:0 chroma subsampling (Pillow's
default for every quality; the paper used OpenCV, whose default is also 4:2:0), optimisation off, baseline; for WebP
lossy coding (libwebp always codes chroma at 4:2:0), method 4 -- and decoded to float again. Deterministic: no seed.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[N, 3, H, W] in [-1, 1] -> [N, H, W, 3] uint8 (round half to even, as :func:`numpy.rint`)."""
    x = images.detach().to("cpu", torch.float64).numpy()
    return np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


def from_uint8(arr: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """[N, H, W, 3] uint8 -> [N, 3, H, W] in [-1, 1], with ``like``'s dtype and device."""
    x = torch.from_numpy(arr.astype(np.float32).transpose(0, 3, 1, 2).copy()) / 127.5 - 1.0
    return x.to(device=like.device, dtype=like.dtype)


def _codec(images: torch.Tensor, fmt: str, quality: int) -> torch.Tensor:
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images: expected [N, 3, H, W], got {tuple(images.shape)}")
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be in 1..100, got {quality}")
    out = []
    for row in to_uint8(images):
        buf = io.BytesIO()
        Image.fromarray(row, mode="RGB").save(buf, format=fmt, quality=int(quality))
        buf.seek(0)
        with Image.open(buf) as im:
            out.append(np.asarray(im.convert("RGB")))
    return from_uint8(np.stack(out), images)


def jpeg(images: torch.Tensor, *, quality: int) -> torch.Tensor:
    """JPEG at ``quality`` (1..100), 4:2:0, through Pillow/libjpeg."""
    return _codec(images, "JPEG", quality)


def webp(images: torch.Tensor, *, quality: int) -> torch.Tensor:
    """Lossy WebP at ``quality`` (1..100) through Pillow/libwebp."""
    return _codec(images, "WEBP", quality)
