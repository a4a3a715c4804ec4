"""The perturbation functions' own promises, beyond the registry (issue 18's surviving mutants).

``test_perturbations.py`` checks each function against an independent computation on ordinary inputs; this file
pins what that left open: the documented random draws (float64, one generator per seed) against hand-computed
windows, angles and noise; the functions' own argument checks (they are public: attacks and scripts call them
without the registry); the limits the registry allows (``crop:min=1``, ``rotate:max=0``, ``zoom:f`` small enough to
keep one pixel); non-square images; dtype kept for float64; an empty batch; and the 8-bit quantisation being the
bundle's (float64, saturating).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from reconstruction_pipeline import perturbations as P
from reconstruction_pipeline.bundle_builder import to_uint8 as bundle_to_uint8
from reconstruction_pipeline.perturbations.codecs import to_uint8
from reconstruction_pipeline.perturbations.geometric import crop_windows, rotate_by, rotation_angles, zoom_window


def images(n: int = 2, h: int = 16, w: int | None = None, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, h, h if w is None else w, generator=g) * 2 - 1


def draws(seed: int, n: int) -> list[float]:
    """The documented draws: ``n`` float64 uniforms from a CPU generator seeded with ``seed``."""
    return torch.rand(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).tolist()


# --------------------------------------------------------------------------------------------- random draws

@pytest.mark.parametrize(("height", "width", "minimum"), [(20, 20, 0.9), (12, 20, 0.5), (8, 8, 0.01)])
def test_crop_windows_are_the_documented_draws(height: int, width: int, minimum: float) -> None:
    seeds = list(range(40))
    win = crop_windows(seeds, height, width, minimum).tolist()
    for s, (top, left, h, w) in zip(seeds, win):
        u = draws(s, 4)  # height fraction, width fraction, top, left: in that order
        eh = min(max(round((minimum + (1 - minimum) * u[0]) * height), 1), height)
        ew = min(max(round((minimum + (1 - minimum) * u[1]) * width), 1), width)
        assert (top, left, h, w) == (math.floor(u[2] * (height - eh + 1)), math.floor(u[3] * (width - ew + 1)),
                                     eh, ew), s
    if minimum == 0.01:  # windows of one pixel occur, and are kept (not widened)
        assert min(h for _, _, h, _ in win) == 1 and min(w for _, _, _, w in win) == 1


def test_rotation_angles_are_the_documented_draws() -> None:
    angles = rotation_angles([3, 4, 5], 5.0).tolist()
    assert angles == [draws(s, 1)[0] * 5.0 for s in (3, 4, 5)]


def test_noise_adds_the_seeded_float64_normal_draws() -> None:
    x = images(2, 8)
    out = P.noise(x, [7, 8], var=0.01)
    for i, s in enumerate((7, 8)):
        eps = torch.randn(3, 8, 8, generator=torch.Generator().manual_seed(s), dtype=torch.float64)
        ref = (((x[i].double() + 1) / 2 + eps * 0.1).clamp(0, 1) * 2 - 1).float()
        assert torch.equal(out[i], ref)


def test_crop_of_a_non_square_image_uses_each_side() -> None:
    x = images(3, 12, 20).double()
    seeds = [21, 22, 23]
    win = crop_windows(seeds, 12, 20, 0.5)
    out = P.crop(x, seeds, minimum=0.5)
    assert out.shape == x.shape
    for i in range(3):
        t, l, h, w = (int(v) for v in win[i])
        ref = torch.nn.functional.interpolate(x[i:i + 1, :, t:t + h, l:l + w], size=(12, 20), mode="bilinear",
                                              align_corners=True)
        assert torch.allclose(out[i:i + 1], ref, atol=1e-9)


# --------------------------------------------------------------------------------------------- rotation

def _rotated(x: np.ndarray, degrees: float) -> np.ndarray:
    """Counter-clockwise about the centre ((W-1)/2, (H-1)/2), bilinear, by explicit sums; NaN where the source
    point falls outside the image (the border rule decides those)."""
    _, _, h, w = x.shape
    cy, cx, t = (h - 1) / 2, (w - 1) / 2, math.radians(degrees)
    out = np.full(x.shape, np.nan)
    for y in range(h):
        for xx in range(w):
            sx = cx + math.cos(t) * (xx - cx) - math.sin(t) * (y - cy)
            sy = cy + math.sin(t) * (xx - cx) + math.cos(t) * (y - cy)
            if -1e-9 <= sx <= w - 1 + 1e-9 and -1e-9 <= sy <= h - 1 + 1e-9:
                sx, sy = min(max(sx, 0.0), w - 1.0), min(max(sy, 0.0), h - 1.0)
                x0, y0 = min(int(sx), w - 2), min(int(sy), h - 2)
                fx, fy = sx - x0, sy - y0
                out[:, :, y, xx] = (x[:, :, y0, x0] * (1 - fx) * (1 - fy) + x[:, :, y0, x0 + 1] * fx * (1 - fy)
                                    + x[:, :, y0 + 1, x0] * (1 - fx) * fy + x[:, :, y0 + 1, x0 + 1] * fx * fy)
    return out


def test_rotation_by_any_angle_is_bilinear_about_the_centre_with_a_reflected_border() -> None:
    x = images(1, 15).double()
    assert np.allclose(_rotated(x.numpy(), 90), torch.rot90(x, 1, dims=(2, 3)).numpy())  # the reference's sense
    out = rotate_by(x, torch.tensor([30.0], dtype=torch.float64)).numpy()
    ref = _rotated(x.numpy(), 30)
    inside = ~np.isnan(ref)
    assert inside.mean() > 0.7 and np.allclose(out[inside], ref[inside], atol=1e-9)
    grey = torch.full((1, 3, 16, 16), 0.25, dtype=torch.float64)  # reflected, not zero-padded: no dark corners
    assert torch.allclose(rotate_by(grey, torch.tensor([30.0], dtype=torch.float64)), grey, atol=1e-12)
    assert torch.allclose(P.rotate(grey, [1], maximum=45.0), grey, atol=1e-12)


# --------------------------------------------------------------------------------------------- limits and checks

def test_the_limits_the_registry_allows_work() -> None:
    x = images(2, 16)
    assert torch.allclose(P.crop(x, [1, 2], minimum=1.0), x, atol=1e-6)  # crop:min=1 keeps the whole image
    assert torch.allclose(P.rotate(x.double(), [1, 2], maximum=0.0), x.double(), atol=1e-9)  # max=0: no turn
    assert torch.allclose(P.rotate(x, [1, 2], maximum=0.5), P.rotate(x, [1, 2], maximum=0.5))
    assert zoom_window(8, 8, 0.1) == (3, 3, 1, 1)  # 0.8 px rounds to one pixel, kept as one
    assert zoom_window(8, 20, 0.05) == (3, 9, 1, 1)
    # (the images of such one-pixel windows are not checked here: kornia's crop_and_resize makes them NaN, see
    # docs/testing.md)
    for q in (1, 100):
        assert P.jpeg(x, quality=q).shape == x.shape and P.webp(x, quality=q).shape == x.shape


@pytest.mark.parametrize(("call", "message"), [
    (lambda x: P.noise(x, [1], var=0.01), "1 seeds for 2 images (one per image)"),
    (lambda x: P.crop(x, [1, 2, 3], minimum=0.9), "3 seeds for 2 images (one per image)"),
    (lambda x: P.rotate(x, [1], maximum=5.0), "1 seeds for 2 images (one per image)"),
    (lambda x: P.noise(x, [1, 2], var=-0.01), "var must be >= 0, got -0.01"),
    (lambda x: P.crop(x, [1, 2], minimum=0.0), "minimum must be in (0, 1], got 0.0"),
    (lambda x: P.crop(x, [1, 2], minimum=1.5), "minimum must be in (0, 1], got 1.5"),
    (lambda x: P.rotate(x, [1, 2], maximum=-1.0), "maximum must be >= 0, got -1.0"),
    (lambda x: P.zoom(x, fraction=0.0), "fraction must be in (0, 1], got 0.0"),
    (lambda x: P.zoom(x, fraction=1.5), "fraction must be in (0, 1], got 1.5"),
    (lambda x: P.jpeg(x, quality=0), "quality must be in 1..100, got 0"),
    (lambda x: P.webp(x, quality=101), "quality must be in 1..100, got 101"),
    (lambda x: P.jpeg(x[:, :1], quality=50), "images: expected [N, 3, H, W], got (2, 1, 16, 16)"),
    (lambda x: P.webp(x[0], quality=50), "images: expected [N, 3, H, W], got (3, 16, 16)"),
    (lambda x: P.blur(x, kernel=4), "kernel must be odd and >= 3, got 4"),
    (lambda x: P.blur(x, kernel=1), "kernel must be odd and >= 3, got 1"),
    (lambda x: P.blur(x[:, :1], kernel=3), "images: expected [N, 3, H, W], got (2, 1, 16, 16)"),
    (lambda x: P.mirror(x[0]), "images: expected [N, 3, H, W], got (3, 16, 16)"),
    (lambda x: P.zoom(x[:, :2], fraction=0.9), "images: expected [N, 3, H, W], got (2, 2, 16, 16)"),
    (lambda x: P.noise(x[:, :1], [1, 2], var=0.01), "images: expected [N, 3, H, W], got (2, 1, 16, 16)"),
    (lambda x: P.crop(x[None], [1, 2], minimum=0.9), "images: expected [N, 3, H, W], got (1, 2, 3, 16, 16)"),
    (lambda x: P.rotate(x[:, :1], [1, 2], maximum=5.0), "images: expected [N, 3, H, W], got (2, 1, 16, 16)"),
])
def test_direct_calls_refuse_bad_arguments_in_one_line(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError) as e:
        call(images(2, 16))
    assert str(e.value) == message


def test_an_empty_batch_gives_an_empty_batch() -> None:
    x = torch.zeros(0, 3, 8, 8)
    for out in (P.noise(x, [], var=0.01), P.crop(x, [], minimum=0.9), P.rotate(x, [], maximum=5.0),
                P.zoom(x, fraction=0.9), P.blur(x, kernel=3), P.mirror(x)):
        assert out.shape == (0, 3, 8, 8) and out.dtype == x.dtype
    assert crop_windows([], 8, 8, 0.9).shape == (0, 4) and rotation_angles([], 5.0).shape == (0,)


# --------------------------------------------------------------------------------------------- 8-bit codecs

def test_quantisation_is_the_bundles_float64_rule_and_saturates() -> None:
    # float32 values next to every half-way point between two 8-bit levels: rounding in float32 instead of
    # float64 moves some of them to the other level
    half = (torch.arange(255, dtype=torch.float64) + 0.5) / 127.5 - 1
    for x in (half.float(), half.float() + 1e-7, half.float() - 1e-7):
        img = x.reshape(1, 1, 15, 17).expand(1, 3, 15, 17)
        assert np.array_equal(to_uint8(img)[0], bundle_to_uint8(img[0].numpy()))
    over = torch.tensor([-1.5, -1.0, 1.0, 1.5]).reshape(1, 1, 1, 4).expand(1, 3, 1, 4)
    assert to_uint8(over)[0, 0, :, 0].tolist() == [0, 0, 255, 255]  # saturates, never wraps around
    x = images(1, 16)
    pushed = x * 1.3  # an attack's output slightly outside [-1, 1] codes as its clipped image
    assert torch.equal(P.jpeg(pushed, quality=90), P.jpeg(pushed.clamp(-1, 1), quality=90))


def test_codecs_keep_float64() -> None:
    x = images(2, 16).double()
    for out in (P.jpeg(x, quality=50), P.webp(x, quality=50)):
        assert out.dtype == torch.float64 and out.shape == x.shape
