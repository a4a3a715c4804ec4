"""``--precision``: a bf16 search with fp32 numbers. Same decisions as fp32 on the tiny zoo, recorded distances exact
for the recorded seeds, the choice recorded and part of the build identity, bad values one line."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch

from contracts.bundle import Bundle, read_bundle
from reconstruction_pipeline.cli import main
from reconstruction_pipeline.distances import build_distance
from reconstruction_pipeline.generators import Generator, seeded_latents
from reconstruction_pipeline.precision import (AUTO_MIN_MFLOP, PrecisionError, check_resolved, cpu_bf16_isa,
                                               resolve_precision, step_mflop)
from reconstruction_pipeline.reconstruct import reconstruct
from reconstruction_pipeline.targets import derive_seed

# 8 targets per generator x 3 generators x 3 attempts x 80 steps: both builds together take a few seconds
BASE = ["build", "--zoo", "tiny", "--targets-per-generator", "8", "--attempts", "3", "--steps", "80", "--seed", "3",
        "--device", "cpu", "--no-progress"]
# the stated tolerance: per target and candidate, the smallest fp32 distance over attempts of a bf16 search is within
# this of the fp32 search's (pixel MSE on [-1, 1] images; measured on the tiny zoo: <= 0.0035 at 100 steps)
MIN_DISTANCE_TOLERANCE = 0.01


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("precision")
    out = {p: root / p for p in ("fp32", "bf16")}
    for p, path in out.items():
        assert main([*BASE, "--precision", p, "--out", str(path)]) == 0
    return out


def _min_over_attempts(b: Bundle) -> dict[tuple[str, str], float]:
    m: dict[tuple[str, str], float] = defaultdict(lambda: float("inf"))
    for r in b.reconstructions:
        m[r.target_id, r.generator] = min(m[r.target_id, r.generator], r.distance)
    return dict(m)


def test_bf16_and_fp32_builds_attribute_every_target_alike(builds: dict[str, Path]) -> None:
    a, b = read_bundle(builds["fp32"]), read_bundle(builds["bf16"])
    assert [t.target_id for t in a.targets] == [t.target_id for t in b.targets]  # same seed, same targets
    assert a.algorithm_attribution() == b.algorithm_attribution()
    ma, mb = _min_over_attempts(a), _min_over_attempts(b)
    assert ma.keys() == mb.keys()
    worst = max(abs(ma[k] - mb[k]) for k in ma)
    assert worst <= MIN_DISTANCE_TOLERANCE, worst
    # the searches really differ (bf16 is not silently fp32): the attempts end at other seeds
    sa = np.load(builds["fp32"] / "data" / "final_seeds_tiny-deconv.npy")
    sb = np.load(builds["bf16"] / "data" / "final_seeds_tiny-deconv.npy")
    assert not np.array_equal(sa, sb)


def test_precision_is_recorded_in_manifest_and_identity(builds: dict[str, Path]) -> None:
    for p, path in builds.items():
        m = json.loads((path / "manifest.json").read_text())
        assert m["reconstruction"]["precision"] == p
        assert m["reconstruction"]["distances_precision"] == "fp32"
        assert m["build"]["options"].get("precision", "fp32") == p  # fp32 left out: older builds still resume
        # --memory-format auto: a bf16 search on a CPU runs channels_last (recorded), fp32 contiguous (left out)
        assert m["build"]["options"].get("memory_format", "contiguous") == \
            ("channels_last" if p == "bf16" else "contiguous")


def test_recorded_distances_equal_an_fp32_recomputation_from_the_recorded_seeds(builds: dict[str, Path],
                                                                                tiny: list[Generator]) -> None:
    """Recompute every attempt's distance from data/final_seeds_*.npy with a plain fp32 forward and MSE, batched as
    the build batched them (one shard per generator: targets in data_row order, attempts within): bit for bit."""
    gens = {g.id: g for g in tiny}
    for path in builds.values():
        b = read_bundle(path)
        targets = torch.from_numpy(np.load(path / "data" / "targets.npy"))
        data_row = {t.target_id: int(t.extra["data_row"]) for t in b.targets}
        for gid, g in gens.items():
            rows = sorted((r for r in b.reconstructions if r.generator == gid),
                          key=lambda r: (data_row[r.target_id], r.attempt))
            seeds = torch.from_numpy(np.load(path / "data" / f"final_seeds_{gid}.npy"))
            z = seeds[[int(r.extra["seed_row"]) for r in rows]]
            x = targets[[data_row[r.target_id] for r in rows]]
            with torch.no_grad():
                d = (g.synthesize(z) - x).square().flatten(1).mean(dim=1)
            assert [float(v) for v in d] == [r.distance for r in rows], (path.name, gid)
            assert all(float(r.extra["best_distance"]) <= r.distance for r in rows)


def test_auto_is_the_default_and_keeps_the_tiny_zoo_in_fp32(tiny: list[Generator], tmp_path: Path) -> None:
    assert step_mflop(tiny, build_distance("pixel"), "cpu") < AUTO_MIN_MFLOP
    out = tmp_path / "auto"
    assert main(["build", "--zoo", "tiny", "--targets-per-generator", "1", "--attempts", "1", "--steps", "2",
                 "--device", "cpu", "--no-progress", "--out", str(out)]) == 0
    assert json.loads((out / "manifest.json").read_text())["reconstruction"]["precision"] == "fp32"


def test_resume_with_another_precision_is_refused(builds: dict[str, Path], capsys: pytest.CaptureFixture[str]
                                                  ) -> None:
    before = (builds["bf16"] / "reconstructions.csv").read_bytes()
    # the same layout as the bf16 build (auto gave it channels_last): only the precision differs
    assert main([*BASE, "--precision", "fp32", "--memory-format", "channels_last", "--out", str(builds["bf16"])]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "options.precision" in err and '"bf16"' in err
    assert (builds["bf16"] / "reconstructions.csv").read_bytes() == before


def test_core_bf16_result_is_exact_fp32_for_its_seeds(tiny: list[Generator]) -> None:
    g = next(g for g in tiny if g.id == "tiny-deconv")
    dist = build_distance("pixel")
    with torch.no_grad():
        x = g.synthesize(seeded_latents([derive_seed(1, "t", i) for i in range(4)], g.latent_dim))
    x = x.repeat_interleave(2, dim=0)
    z0 = seeded_latents([derive_seed(1, "i", i) for i in range(8)], g.latent_dim)
    res = reconstruct(g, x, z0, steps=25, distance=dist, record_every=5, precision="bf16")
    assert res.final_seeds.dtype == torch.float32 and res.final_distance.dtype == torch.float32
    with torch.no_grad():
        img = g.synthesize(res.final_seeds)
        d = (img - x).square().flatten(1).mean(dim=1)
    assert torch.equal(d, res.final_distance) and torch.equal(img, res.final_images)
    assert torch.equal(res.curve[:, -1], res.final_distance)
    assert bool((res.best_distance <= res.curve.amin(dim=1)).all())
    # the curve's first entry is the distance at the initial seeds, in fp32
    with torch.no_grad():
        d0 = (g.synthesize(z0) - x).square().flatten(1).mean(dim=1)
    assert torch.equal(res.curve[:, 0], d0)


def test_resolution_and_bad_values() -> None:
    assert resolve_precision("fp32", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"
    # auto follows the CPU's native bf16 instructions (torch's own probe, independent of /proc/cpuinfo parsing)
    native = bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    assert resolve_precision("auto", "cpu") == ("bf16" if native else "fp32")
    assert (cpu_bf16_isa() is not None) == native
    # ... and the work: the tiny zoo's 3.4 MFLOP per attempt-step stays fp32 (bf16 measured slower there)
    assert resolve_precision("auto", "cpu", mflop=AUTO_MIN_MFLOP - 0.1) == "fp32"
    assert resolve_precision("auto", "cpu", mflop=AUTO_MIN_MFLOP) == ("bf16" if native else "fp32")
    with pytest.raises(PrecisionError, match="fp16"):
        resolve_precision("fp16", "cpu")
    with pytest.raises(PrecisionError, match="resolve"):
        check_resolved("auto")


@pytest.mark.parametrize("command", [["build", "--zoo", "tiny", "--out", "OUT"], ["attribute", "IMG", "--zoo", "tiny"]])
def test_bad_precision_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    argv = [a.replace("OUT", str(tmp_path / "b")).replace("IMG", str(tmp_path / "x.png")) for a in command]
    with pytest.raises(SystemExit) as e:
        main([*argv, "--precision", "fp16"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--precision" in err and "fp16" in err
    assert not (tmp_path / "b").exists()
