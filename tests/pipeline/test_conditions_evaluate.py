"""``evaluate`` on a version 2 bundle: per-condition error with Wilson intervals on a hand-computed bundle, the mirror
countermeasure row, SSIM cross-checked against scikit-image with Wang et al.'s settings, PSNR by its formula."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from contracts.atomic import atomic_write_bytes
from contracts.bundle import (GeneratorInfo, Manifest, Reconstruction, ReconstructionConfig, Target, content_name,
                              read_bundle, write_bundle)
from contracts.conditions import CLEAN_CONDITION, Condition
from reconstruction_pipeline.cli import main
from reconstruction_pipeline.evaluate import ALSO_MIRRORED, Rate, evaluate_conditions, image_quality

GENS = ("gx", "gy")
MIRROR = Condition("mirror", "perturbation", {})
JPEG = Condition("jpeg:q=50", "perturbation", {"q": 50})


def _png(i: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (i % 256, i // 256, 9)).save(buf, format="PNG")
    return buf.getvalue()


def _bundle(root: Path, attempts: int = 3, with_clean: bool = True) -> Path:
    """Two sources (s1 from gx, s2 from gy) x conditions clean, jpeg:q=50, mirror. Smallest distance per generator
    (over all attempts; attempt index of the minimum in brackets):

    s1 clean : gx 0.1 [0]  gy 0.5        -> gx right
    s1 jpeg  : gx 0.2 [0]  gy 0.3        -> gx right
    s1 mirror: gx 0.6 [0]  gy 0.4        -> gy wrong; with its mirror (s1 clean): gx 0.1 < gy 0.4 -> right
    s2 clean : gx 0.5      gy 0.1 [0]    -> gy right
    s2 jpeg  : gx 0.5      gy 0.2, only at the last attempt (first 3 attempts: 0.9) -> right with all, wrong with 3
    s2 mirror: gx 0.3      gy 0.7        -> gx wrong; with s2 clean: gy 0.1 -> right
    """
    table = {
        ("s1", "clean"): ("gx", {"gx": 0.1, "gy": 0.5}), ("s1", "jpeg:q=50"): ("gx", {"gx": 0.2, "gy": 0.3}),
        ("s1", "mirror"): ("gx", {"gx": 0.6, "gy": 0.4}), ("s2", "clean"): ("gy", {"gx": 0.5, "gy": 0.1}),
        ("s2", "jpeg:q=50"): ("gy", {"gx": 0.5, "gy": 0.2}), ("s2", "mirror"): ("gy", {"gx": 0.3, "gy": 0.7}),
    }
    n = 0

    def image() -> str:
        nonlocal n
        data = _png(n)
        n += 1
        atomic_write_bytes(root / "images" / content_name(data), data)
        return f"images/{content_name(data)}"

    targets, recs = [], []
    for (src, cond), (true, best) in table.items():
        if cond == "clean" and not with_clean:
            continue
        tid = src if cond == "clean" else f"{src}{cond[0]}"
        targets.append(Target(tid, true, image(), {}, cond, src))
        for g, d in best.items():
            for a in range(attempts):
                late = (src, cond, g) == ("s2", "jpeg:q=50", "gy")
                dist = (d if a == attempts - 1 else 0.9) if late else (d if a == 0 else d + 0.05)
                recs.append(Reconstruction(tid, g, a, dist, image()))
    conditions = ((CLEAN_CONDITION,) if with_clean else ()) + (JPEG, MIRROR)
    manifest = Manifest(tuple(GeneratorInfo(g, g, "test", 4, 2) for g in GENS),
                        ReconstructionConfig(10, 0.1, attempts, "pixel", 0), "test", conditions=conditions)
    write_bundle(root, manifest, targets, recs)
    return root


def test_per_condition_rates_and_mirror_countermeasure(tmp_path: Path) -> None:
    rows = evaluate_conditions(read_bundle(_bundle(tmp_path / "b", attempts=10)), also_mirrored=True)
    got = {r.condition: (r.targets, r.first.correct, r.all.correct if r.all else None) for r in rows}
    assert got == {"clean": (2, 2, 2), "jpeg:q=50": (2, 1, 2), "mirror": (2, 0, 0), ALSO_MIRRORED: (2, 2, 2)}
    assert [r.condition for r in rows] == ["clean", "jpeg:q=50", "mirror", ALSO_MIRRORED]
    assert all(r.first_k == 3 for r in rows)


def test_all_attempts_only_from_ten(tmp_path: Path) -> None:
    rows = evaluate_conditions(read_bundle(_bundle(tmp_path / "b", attempts=3)))
    assert all(r.all is None for r in rows)
    assert {r.condition: r.first.correct for r in rows} == {"clean": 2, "jpeg:q=50": 2, "mirror": 0}


def test_also_mirrored_needs_clean_and_mirror(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _bundle(tmp_path / "b", with_clean=False)
    assert main(["evaluate", str(root), "--also-mirrored", "--out", str(tmp_path / "e")]) == 1
    err = capsys.readouterr().err
    assert "--also-mirrored needs the conditions 'clean' and 'mirror'" in err and err.count("\n") == 1


@pytest.mark.parametrize(("k", "n"), [(0, 5), (3, 5), (18, 20), (20, 20), (57, 120)])
def test_wilson_interval_closed_form(k: int, n: int) -> None:
    z = 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    lo, hi = Rate(k, n).interval()
    assert lo == pytest.approx(max(0.0, centre - half), abs=1e-9) and hi == pytest.approx(min(1.0, centre + half),
                                                                                         abs=1e-9)


def test_ssim_matches_scikit_image_with_wang_settings() -> None:
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(0)
    clean = rng.uniform(-1, 1, (3, 3, 32, 32))
    clean[:, :, 8:24, 8:24] = 0.3  # some structure
    pert = np.clip(clean + rng.normal(0, 0.15, clean.shape), -1, 1)
    ssim, psnr = image_quality(pert, clean)
    for i in range(3):
        a, b = (pert[i] + 1) / 2, (clean[i] + 1) / 2
        ref = structural_similarity(a, b, data_range=1.0, channel_axis=0, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False)  # Wang et al. 2004, as skimage documents it
        assert ssim[i] == pytest.approx(ref, abs=1e-9)
        mse = np.mean((a - b) ** 2)
        assert psnr[i] == pytest.approx(10 * np.log10(1 / mse), rel=1e-6)
    same_ssim, same_psnr = image_quality(clean, clean)
    assert np.allclose(same_ssim, 1.0) and np.all(np.isinf(same_psnr))


def test_cli_writes_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _bundle(tmp_path / "b", attempts=10)
    out = tmp_path / "e"
    assert main(["evaluate", str(root), "--also-mirrored", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "attribution error per condition" in text and "mirror, also mirrored" in text
    with (out / "conditions.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["condition"] for r in rows] == ["clean", "jpeg:q=50", "mirror", ALSO_MIRRORED]
    assert float(rows[1]["error_first"]) == 0.5 and float(rows[1]["error_all"]) == 0.0
    assert float(rows[2]["error_first_low"]) < 1.0 == float(rows[2]["error_first"])
    with Image.open(out / "conditions.png") as im:
        assert im.size[0] > 200
