"""Blur, noise, mirror, crop, rotation and zoom through kornia (batched, on the images' device).

Semantics (Table I of the paper, which used albumentations; these are fixed here so a spec always means one thing):

- ``blur``: Gaussian blur with a K x K kernel (odd K), sigma = 0.3 * ((K - 1) / 2 - 1) + 0.8 (OpenCV's rule for
  sigma 0, which albumentations' GaussianBlur used), border reflected without repeating the edge (OpenCV's
  BORDER_REFLECT_101 = kornia's ``reflect``);
- ``noise``: add N(0, var) to each channel of each pixel on the [0, 1] scale, then clip to [0, 1];
- ``mirror``: flip left-right;
- ``crop``: keep a random window whose height and width are each a fraction drawn uniformly from [min, 1] of the
  image's (rounded to whole pixels), at a uniformly random whole-pixel position, resized back (bilinear);
- ``rotate``: rotate counter-clockwise about the centre by an angle drawn uniformly from [0, max] degrees (bilinear,
  border reflected);
- ``zoom``: keep the centre window of fraction ``f`` of each side (rounded to whole pixels), resized back (bilinear).
"""

from __future__ import annotations

from collections.abc import Sequence

import kornia
import torch


def _check(images: torch.Tensor, seeds: Sequence[int] | None = None) -> None:
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images: expected [N, 3, H, W], got {tuple(images.shape)}")
    if seeds is not None and len(seeds) != images.shape[0]:
        raise ValueError(f"{len(seeds)} seeds for {images.shape[0]} images (one per image)")


def _uniform(seeds: Sequence[int], n: int) -> torch.Tensor:
    """[len(seeds), n] float64 uniforms in [0, 1), row i from its own generator seeded with seeds[i]."""
    return torch.stack([torch.rand(n, generator=torch.Generator().manual_seed(int(s)), dtype=torch.float64)
                        for s in seeds]) if len(seeds) else torch.empty(0, n, dtype=torch.float64)


def blur_sigma(kernel: int) -> float:
    """OpenCV's sigma for a K x K Gaussian kernel when sigma is not given: 0.3 * ((K - 1) / 2 - 1) + 0.8."""
    return 0.3 * ((kernel - 1) / 2 - 1) + 0.8


def blur(images: torch.Tensor, *, kernel: int) -> torch.Tensor:
    _check(images)
    if kernel < 3 or kernel % 2 == 0:
        raise ValueError(f"kernel must be odd and >= 3, got {kernel}")
    s = blur_sigma(kernel)
    return kornia.filters.gaussian_blur2d(images, (kernel, kernel), (s, s), border_type="reflect")


def noise(images: torch.Tensor, seeds: Sequence[int], *, var: float) -> torch.Tensor:
    _check(images, seeds)
    if var < 0:
        raise ValueError(f"var must be >= 0, got {var}")
    n, c, h, w = images.shape
    eps = torch.stack([torch.randn(c, h, w, generator=torch.Generator().manual_seed(int(s)), dtype=torch.float64)
                       for s in seeds]) if n else torch.empty(0, c, h, w, dtype=torch.float64)
    x01 = (images.to(torch.float64) + 1) / 2 + eps.to(images.device) * var ** 0.5
    return (x01.clamp(0, 1) * 2 - 1).to(images.dtype)


def mirror(images: torch.Tensor) -> torch.Tensor:
    _check(images)
    return kornia.geometry.transform.hflip(images)


def _crop_resize(images: torch.Tensor, top: torch.Tensor, left: torch.Tensor, height: torch.Tensor,
                 width: torch.Tensor) -> torch.Tensor:
    """Crop each image to its own whole-pixel window and resize it back to H x W (bilinear, corners aligned)."""
    n, _, h, w = images.shape
    x0, y0 = left.to(images.dtype), top.to(images.dtype)
    x1, y1 = x0 + width.to(images.dtype) - 1, y0 + height.to(images.dtype) - 1
    boxes = torch.stack([torch.stack([x0, y0], -1), torch.stack([x1, y0], -1), torch.stack([x1, y1], -1),
                         torch.stack([x0, y1], -1)], dim=1).to(images.device)  # N x 4 x 2, clockwise from top-left
    return kornia.geometry.transform.crop_and_resize(images, boxes, (h, w), mode="bilinear", align_corners=True)


def crop_windows(seeds: Sequence[int], height: int, width: int, minimum: float) -> torch.Tensor:
    """[N, 4] integer (top, left, height, width) of each image's random window (see the module docstring)."""
    u = _uniform(seeds, 4)
    hs = torch.clamp(torch.round((minimum + (1 - minimum) * u[:, 0]) * height), 1, height).long()
    ws = torch.clamp(torch.round((minimum + (1 - minimum) * u[:, 1]) * width), 1, width).long()
    tops = torch.floor(u[:, 2] * (height - hs + 1)).long()
    lefts = torch.floor(u[:, 3] * (width - ws + 1)).long()
    return torch.stack([tops, lefts, hs, ws], dim=1)


def crop(images: torch.Tensor, seeds: Sequence[int], *, minimum: float) -> torch.Tensor:
    _check(images, seeds)
    if not 0 < minimum <= 1:
        raise ValueError(f"minimum must be in (0, 1], got {minimum}")
    win = crop_windows(seeds, images.shape[2], images.shape[3], minimum)
    return _crop_resize(images, win[:, 0], win[:, 1], win[:, 2], win[:, 3])


def rotation_angles(seeds: Sequence[int], maximum: float) -> torch.Tensor:
    """[N] degrees, uniform in [0, maximum], one per seed."""
    return _uniform(seeds, 1)[:, 0] * maximum


def rotate_by(images: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotate image i counter-clockwise by ``degrees[i]`` about its centre (bilinear, reflected border)."""
    _check(images)
    return kornia.geometry.transform.rotate(images, degrees.to(device=images.device, dtype=images.dtype),
                                            mode="bilinear", padding_mode="reflection", align_corners=True)


def rotate(images: torch.Tensor, seeds: Sequence[int], *, maximum: float) -> torch.Tensor:
    _check(images, seeds)
    if maximum < 0:
        raise ValueError(f"maximum must be >= 0, got {maximum}")
    return rotate_by(images, rotation_angles(seeds, maximum))


def zoom_window(height: int, width: int, fraction: float) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the centre window keeping ``fraction`` of each side."""
    hh, ww = max(1, round(fraction * height)), max(1, round(fraction * width))
    return (height - hh) // 2, (width - ww) // 2, hh, ww


def zoom(images: torch.Tensor, *, fraction: float) -> torch.Tensor:
    _check(images)
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    n, _, h, w = images.shape
    top, left, hh, ww = zoom_window(h, w, fraction)

    def full(v: int) -> torch.Tensor:
        return torch.full((n,), v, dtype=torch.long)

    return _crop_resize(images, full(top), full(left), full(hh), full(ww))
