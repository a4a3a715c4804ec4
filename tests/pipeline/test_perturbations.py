"""Perturbations (paper section VI-B, Table I) against independent computations, and the registry's checks.

Each kornia/Pillow-based function is compared with a computation that does not share its code path: Pillow encode
and decode by hand, a NumPy flip, a hand-built Gaussian kernel with NumPy's reflect padding, ``torch.rot90``,
slicing plus ``torch.nn.functional.interpolate``. Random ones: the same seed gives the same image, another seed
another, and a row's result does not depend on the batch it is in.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from reconstruction_pipeline import perturbations as P
from reconstruction_pipeline.conditions import (PAPER_PRESET, ConditionContext, ConditionError, ConditionKind, Param,
                                                apply_condition, kinds, parse_condition_list, register, resolve,
                                                split_condition_list)
from reconstruction_pipeline.perturbations.geometric import crop_windows, rotate_by, zoom_window


def images(n: int = 4, size: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g) * 2 - 1


def as_uint8(x: torch.Tensor) -> np.ndarray:
    return np.clip(np.rint((x.double().numpy() + 1) * 127.5), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


# --------------------------------------------------------------------------------------------- codecs

@pytest.mark.parametrize(("fmt", "fn"), [("JPEG", P.jpeg), ("WEBP", P.webp)])
@pytest.mark.parametrize("q", [10, 50, 100])
def test_codecs_equal_pillow_encode_decode(fmt: str, fn, q: int) -> None:  # type: ignore[no-untyped-def]
    x = images(3, 32)
    out = fn(x, quality=q)
    for i, row in enumerate(as_uint8(x)):
        buf = io.BytesIO()
        Image.fromarray(row).save(buf, format=fmt, quality=q)
        ref = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")).astype(np.float32) / 127.5 - 1
        assert np.array_equal(out[i].numpy().transpose(1, 2, 0), ref)
    assert out.dtype == x.dtype and out.shape == x.shape
    assert (out - x).abs().mean() > 1e-3  # lossy, even at q=100 (4:2:0)


def test_jpeg_is_420_and_quality_matters() -> None:
    x = images(1, 32)
    buf = io.BytesIO()
    Image.fromarray(as_uint8(x)[0]).save(buf, format="JPEG", quality=50)
    from PIL import JpegImagePlugin
    assert JpegImagePlugin.get_sampling(Image.open(io.BytesIO(buf.getvalue()))) == 2  # 2 = 4:2:0 in Pillow's terms
    err = [float((P.jpeg(x, quality=q) - x).abs().mean()) for q in (10, 50, 90)]
    assert err[0] > err[1] > err[2]


# --------------------------------------------------------------------------------------------- kornia-based

def test_mirror_is_an_explicit_flip() -> None:
    x = images()
    assert np.array_equal(P.mirror(x).numpy(), x.numpy()[..., ::-1])


def _gaussian_blur_reference(x: np.ndarray, k: int) -> np.ndarray:
    """Hand-built: 1-D Gaussian weights exp(-d^2 / 2 sigma^2), normalised, OpenCV's sigma rule; reflect-101 border
    (NumPy's 'reflect'); separable convolution by explicit sums."""
    sigma = 0.3 * ((k - 1) / 2 - 1) + 0.8
    d = np.arange(k) - (k - 1) / 2
    w = np.exp(-d ** 2 / (2 * sigma ** 2))
    w /= w.sum()
    r = k // 2
    p = np.pad(x, ((0, 0), (0, 0), (r, r), (r, r)), mode="reflect")
    h, wd = x.shape[-2:]
    rows = sum(w[i] * p[:, :, i:i + h, :] for i in range(k))
    return sum(w[j] * rows[:, :, :, j:j + wd] for j in range(k))


@pytest.mark.parametrize("k", [3, 5, 7])
def test_blur_equals_a_hand_built_gaussian_kernel(k: int) -> None:
    x = images(2, 16).double()
    ref = _gaussian_blur_reference(x.numpy(), k)
    assert np.allclose(P.blur(x, kernel=k).numpy(), ref, atol=1e-10)
    assert P.blur_sigma(3) == pytest.approx(0.8) and P.blur_sigma(7) == pytest.approx(1.4)


def test_noise_statistics_clipping_and_determinism() -> None:
    x = torch.zeros(2, 3, 64, 64)  # mid-grey: 0.5 on the [0, 1] scale, so little clipping at var 0.01
    out = P.noise(x, [1, 2], var=0.01)
    d01 = (out.double() + 1) / 2 - 0.5
    assert abs(float(d01.mean())) < 0.005 and float(d01.std()) == pytest.approx(0.1, rel=0.03)
    assert torch.equal(out, P.noise(x, [1, 2], var=0.01))
    assert not torch.equal(out[0], P.noise(x, [3, 2], var=0.01)[0])
    white = P.noise(torch.ones(1, 3, 16, 16), [5], var=0.25)
    assert float(white.max()) == 1.0 and float(white.min()) >= -1.0
    assert torch.equal(P.noise(x, [1, 2], var=0.0), x)


def test_rotate_by_90_degrees_is_rot90() -> None:
    x = images(2, 15).double()  # odd side: the centre is a pixel, a 90-degree turn maps the grid onto itself
    out = rotate_by(x, torch.tensor([90.0, 0.0], dtype=torch.float64))
    assert torch.allclose(out[0], torch.rot90(x[0], 1, dims=(1, 2)), atol=1e-9)  # counter-clockwise
    assert torch.allclose(out[1], x[1], atol=1e-9)


def _reflect_101(t: np.ndarray, n: int) -> np.ndarray:
    """A coordinate reflected into [0, n - 1] about the edge pixels' centres, the edge not repeated (numpy's
    ``np.pad(mode="reflect")``, OpenCV's BORDER_REFLECT_101); one reflection is enough for the angles used here."""
    t = np.abs(t)
    t = np.where(t > n - 1, 2 * (n - 1) - t, t)
    assert t.min() >= 0 and t.max() <= n - 1
    return t


def _rotate_reference(x: np.ndarray, degrees: float) -> np.ndarray:
    """[C, H, W] rotated counter-clockwise (as displayed, rows downwards) about the centre ((W-1)/2, (H-1)/2):
    each output pixel samples the source at the inversely rotated point, reflected into the image, bilinearly."""
    _, h, w = x.shape
    th = math.radians(degrees)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    sx = _reflect_101(cx + math.cos(th) * (xs - cx) - math.sin(th) * (ys - cy), w)
    sy = _reflect_101(cy + math.sin(th) * (xs - cx) + math.cos(th) * (ys - cy), h)
    x0 = np.minimum(np.floor(sx).astype(int), w - 2)
    y0 = np.minimum(np.floor(sy).astype(int), h - 2)
    fx, fy = sx - x0, sy - y0
    return (x[:, y0, x0] * (1 - fx) * (1 - fy) + x[:, y0, x0 + 1] * fx * (1 - fy)
            + x[:, y0 + 1, x0] * (1 - fx) * fy + x[:, y0 + 1, x0 + 1] * fx * fy)


def test_rotate_border_is_reflected_like_numpy_reflect_padding() -> None:
    """The border rule, against references that share no code with kornia: (a) a 90-degree turn of a 5 x 9 image
    samples 2 rows beyond the top and bottom edges, exactly on the pixel grid: it must equal the central rows of
    rot90 of the image reflect-padded by numpy (np.pad mode="reflect"); (b) a 10-degree turn, every pixel incl. the
    corners that fall outside, against a plain bilinear sampler with reflected coordinates."""
    g = torch.Generator().manual_seed(3)
    x = (torch.rand(1, 3, 5, 9, generator=g, dtype=torch.float64) * 2 - 1)
    out = rotate_by(x, torch.tensor([90.0], dtype=torch.float64))[0].numpy()
    padded = np.pad(x[0].numpy(), ((0, 0), (2, 2), (0, 0)), mode="reflect")          # 9 x 9: rows -2 .. 6
    expected = np.rot90(padded, 1, axes=(1, 2))[:, 2:7, :]                            # counter-clockwise, rows 2..6
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-9)
    assert not np.allclose(out[:, :, 0], np.rot90(np.pad(x[0].numpy(), ((0, 0), (2, 2), (0, 0)), mode="symmetric"),
                                                  1, axes=(1, 2))[:, 2:7, 0])         # the edge is not repeated
    y = images(1, 12, seed=4).double()
    got = rotate_by(y, torch.tensor([10.0], dtype=torch.float64))[0].numpy()
    ref = _rotate_reference(y[0].numpy(), 10.0)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)
    np.testing.assert_allclose(_rotate_reference(x[0].numpy(), 90.0), expected, rtol=0, atol=1e-9)


def test_rotate_angles_uniform_in_range() -> None:
    from reconstruction_pipeline.perturbations.geometric import rotation_angles
    a = rotation_angles(list(range(2000)), 5.0)
    assert float(a.min()) >= 0 and float(a.max()) <= 5 and abs(float(a.mean()) - 2.5) < 0.1


def _crop_reference(x: torch.Tensor, top: int, left: int, h: int, w: int) -> torch.Tensor:
    return F.interpolate(x[:, :, top:top + h, left:left + w], size=x.shape[-2:], mode="bilinear",
                         align_corners=True)


def test_zoom_is_centre_slice_resized() -> None:
    x = images(2, 20).double()
    top, left, h, w = zoom_window(20, 20, 0.9)
    assert (top, left, h, w) == (1, 1, 18, 18)
    assert torch.allclose(P.zoom(x, fraction=0.9), _crop_reference(x, top, left, h, w), atol=1e-9)
    assert torch.allclose(P.zoom(x, fraction=1.0), x, atol=1e-9)


def test_crop_is_random_window_slice_resized() -> None:
    x = images(3, 20).double()
    seeds = [11, 12, 13]
    win = crop_windows(seeds, 20, 20, 0.9)
    assert bool(((win[:, 2] >= 18) & (win[:, 2] <= 20) & (win[:, 3] >= 18) & (win[:, 3] <= 20)).all())
    assert bool(((win[:, 0] + win[:, 2] <= 20) & (win[:, 1] + win[:, 3] <= 20)).all())
    out = P.crop(x, seeds, minimum=0.9)
    for i in range(3):
        t, l, h, w = (int(v) for v in win[i])
        assert torch.allclose(out[i:i + 1], _crop_reference(x[i:i + 1], t, l, h, w), atol=1e-9)


RANDOM = ["noise:var=0.01", "crop:min=0.9", "rotate:max=5"]
ALL = ["jpeg:q=50", "webp:q=80", "blur:k=5", "mirror", "zoom:f=0.9", *RANDOM]


@pytest.mark.parametrize("spec", ALL)
def test_batch_independence_range_and_determinism(spec: str) -> None:
    rc = resolve(spec)
    x = images(5, 16)
    seeds = [101, 102, 103, 104, 105]
    ctx = ConditionContext(device=torch.device("cpu"))
    out = apply_condition(rc, x, seeds, ctx)
    assert out.shape == x.shape and out.dtype == x.dtype and float(out.abs().max()) <= 1
    assert torch.equal(out, apply_condition(rc, x, seeds, ctx))
    for i in (0, 3):  # alone, or at another position in another batch: the same row
        assert torch.allclose(apply_condition(rc, x[i:i + 1], seeds[i:i + 1], ctx)[0], out[i], atol=1e-6)
    rev = apply_condition(rc, x.flip(0), seeds[::-1], ctx)
    assert torch.allclose(rev.flip(0), out, atol=1e-6)
    if spec in RANDOM:
        other = apply_condition(rc, x, [s + 1000 for s in seeds], ctx)
        assert not torch.allclose(other, out)


# --------------------------------------------------------------------------------------------- registry

def test_paper_preset_is_table_one() -> None:
    names = [rc.name for rc in parse_condition_list("clean,paper")]
    assert names == ["clean", "jpeg:q=50", "jpeg:q=70", "jpeg:q=90", "jpeg:q=100", "blur:k=5", "noise:var=0.01",
                     "mirror", "crop:min=0.9", "rotate:max=5", "zoom:f=0.9"]
    assert list(PAPER_PRESET) == names[1:]
    assert all(resolve(n).condition.kind == "perturbation" for n in names[1:])


def test_specs_are_canonicalised() -> None:
    assert resolve("jpeg: q=50.0").name == "jpeg:q=50"
    assert resolve("noise:var=1e-2").condition.params == {"var": 0.01}
    assert split_condition_list("clean,pgd:eps=0.03,steps=10,mirror") == ["clean", "pgd:eps=0.03,steps=10", "mirror"]


@pytest.mark.parametrize(("spec", "message"), [
    ("sepia", "unknown condition kind 'sepia'"),
    ("jpeg:q=0", "q=0 must be an integer in [1, 100]"),
    ("jpeg:q=101", "must be an integer in [1, 100]"),
    ("jpeg:q=50.5", "must be an integer"),
    ("webp", "missing parameter 'q'"),
    ("blur:k=4", "must be odd"),
    ("blur:k=9", "must be an integer in [3, 7]"),
    ("noise:var=-0.1", "must be a number in [0, 1]"),
    ("crop:min=0", "must be a number in (0, 1]"),
    ("crop:min=1.1", "must be a number in (0, 1]"),
    ("zoom:f=0", "must be a number in (0, 1]"),
    ("mirror:x=1", "unknown parameter 'x'"),
    ("jpeg:q=50,q=60", "given twice"),
    ("clean:x=1", "takes no parameters"),
    ("clean,mirror,mirror", "given twice"),
    ("", "is empty"),
])
def test_bad_specs_are_one_line(spec: str, message: str) -> None:
    with pytest.raises(ConditionError) as e:
        parse_condition_list(spec)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_registering_a_kind() -> None:
    def halve(x: torch.Tensor, seeds, params, ctx) -> torch.Tensor:  # type: ignore[no-untyped-def]
        return x * float(params["factor"])

    name = "test-scale"
    if name not in kinds():
        register(ConditionKind(name, "attack", halve, (Param("factor", float, 0, 1),), "test"))
    rc = resolve("test-scale:factor=0.50")
    assert rc.name == "test-scale:factor=0.5" and rc.condition.kind == "attack"
    out = apply_condition(rc, torch.ones(1, 3, 2, 2), [0], ConditionContext(device=torch.device("cpu")))
    assert torch.equal(out, torch.full((1, 3, 2, 2), 0.5))
    with pytest.raises(ValueError, match="already registered"):
        register(ConditionKind(name, "attack", halve))
    with pytest.raises(ValueError, match="category"):
        register(ConditionKind("test-other", "filter", halve))
    with pytest.raises(ValueError, match="bare spec kind"):
        register(ConditionKind("test:x=1", "attack", halve))
    assert math.isfinite(float(out.sum()))
