"""``build``: the bundle passes the contract, names are opaque, the run is resumable and refuses another config."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from contracts.bundle import read_bundle
from reconstruction_pipeline.cli import main
from reconstruction_pipeline.targets import derive_seed, init_seed

ROOT = Path(__file__).resolve().parents[2]
BASE = ["build", "--zoo", "tiny", "--targets-per-generator", "3", "--attempts", "3", "--steps", "20",
        "--seed", "7", "--device", "cpu", "--no-progress"]


def _build(out: Path, *extra: str) -> int:
    return main([*BASE, "--out", str(out), *extra])


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("build") / "bundle"
    assert _build(out, "--display-size", "32", "--resample", "nearest", "--targets-per-shard", "2") == 0
    return out


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file of a bundle except the manifest's creation time and the work dir."""
    out: dict[str, bytes] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not rel.startswith(".work/") and not rel.startswith("evaluation/"):
            data = p.read_bytes()
            if rel == "manifest.json":
                m = json.loads(data)
                m.pop("created_at")
                m.pop("software")  # the git commit moves while others commit
                data = json.dumps(m, sort_keys=True).encode()
            out[rel] = data
    return out


def test_bundle_passes_the_contract(bundle_dir: Path) -> None:
    b = read_bundle(bundle_dir)
    assert b.generator_ids == ("tiny-mlp", "tiny-deconv", "tiny-cppn")
    assert len(b.targets) == 9 and len(b.reconstructions) == 9 * 3 * 3
    assert sorted(t.true_generator for t in b.targets) == sorted(["tiny-mlp", "tiny-deconv", "tiny-cppn"] * 3)
    rc = b.manifest.reconstruction
    assert (rc.steps, rc.lr, rc.attempts, rc.distance, rc.seed) == (20, 0.1, 3, "pixel", 7)
    assert b.manifest.software.startswith("reconstruction_pipeline ")
    # display images: content-hash names under images/, upscaled to --display-size
    names = {Path(t.image).name for t in b.targets} | {Path(r.image).name for r in b.reconstructions}
    assert all(re.fullmatch(r"[0-9a-f]{32}\.png", n) for n in names)
    assert all(r.image.startswith("images/") for r in b.reconstructions)
    with Image.open(bundle_dir / b.targets[0].image) as im:
        assert im.size == (32, 32)
    # target ids reveal neither generator nor index, and the table is not grouped by generator
    assert all(re.fullmatch(r"t[0-9a-f]{10}", t.target_id) for t in b.targets)
    assert [t.target_id for t in b.targets] == sorted(t.target_id for t in b.targets)
    # review grids outside the served images, one per target
    assert sorted(p.stem for p in (bundle_dir / "review").glob("*.png")) == sorted(t.target_id for t in b.targets)
    assert not any("review" in r.image for r in b.reconstructions)


def test_recorded_seeds_reproduce_targets_and_extras(bundle_dir: Path, tiny: list) -> None:
    import torch

    from reconstruction_pipeline.generators import seeded_latents

    b = read_bundle(bundle_dir)
    gens = {g.id: g for g in tiny}
    data = np.load(bundle_dir / "data" / "targets.npy")
    for t in b.targets:
        seed = int(t.extra["target_seed"])
        with torch.no_grad():
            x = gens[t.true_generator].synthesize(seeded_latents([seed], 16))
        assert np.array_equal(data[int(t.extra["data_row"])], x[0].numpy())  # targets kept losslessly
    # every initial seed is the documented hash of (--seed, target, candidate, attempt)
    for r in b.reconstructions:
        assert int(r.extra["init_seed"]) == init_seed(7, r.target_id, r.generator, r.attempt)
        assert float(r.extra["best_distance"]) <= r.distance
    seeds = np.load(bundle_dir / "data" / "final_seeds_tiny-cppn.npy")
    assert seeds.shape == (9 * 3, 16)
    r = next(r for r in b.reconstructions if r.generator == "tiny-cppn" and r.attempt == 2)
    with torch.no_grad():
        img = gens["tiny-cppn"].synthesize(torch.from_numpy(seeds[int(r.extra["seed_row"])][None]))
        d = (img - torch.from_numpy(data[int(b.target(r.target_id).extra["data_row"])][None])).square().mean()
    assert d.item() == pytest.approx(r.distance, rel=1e-4, abs=1e-7)
    assert derive_seed(7, "x") == derive_seed(7, "x") != derive_seed(8, "x")


def test_rerun_with_same_arguments_changes_nothing(bundle_dir: Path, tmp_path: Path) -> None:
    before = _snapshot(bundle_dir)
    files = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in bundle_dir.rglob("*") if p.is_file()}
    assert _build(bundle_dir, "--display-size", "32", "--resample", "nearest", "--targets-per-shard", "2") == 0
    assert _snapshot(bundle_dir) == before
    # nothing rewritten at all: the manifest byte-identical (created_at included), no file touched
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in bundle_dir.rglob("*") if p.is_file()} == files


def test_different_configuration_is_refused(bundle_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _snapshot(bundle_dir)
    capsys.readouterr()
    rc = main([*BASE, "--out", str(bundle_dir), "--display-size", "32", "--resample", "nearest",
               "--targets-per-shard", "2", "--steps", "21"])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.count("\n") == 1 and "different configuration" in err and "steps" in err
    assert _snapshot(bundle_dir) == before


def test_unrelated_non_empty_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    assert _build(tmp_path) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not empty" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_killed_build_resumes_to_the_same_bundle(tmp_path: Path) -> None:
    """SIGKILL a real build after some shards, re-run it, compare with an uninterrupted build byte for byte."""
    args = [*BASE, "--targets-per-generator", "2", "--steps", "12", "--targets-per-shard", "1"]  # 18 shards
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "reconstruction_pipeline", *args, "--out", str(killed)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shards = killed / ".work" / "shards"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and len(list(shards.glob("*.npz"))) < 3 and proc.poll() is None:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done = len(list(shards.glob("*.npz")))
    assert 3 <= done < 18, f"kill landed after {done} shards"
    assert not (killed / "manifest.json").exists()
    # what a kill in the middle of an atomic write leaves behind is cleaned up on resume
    (killed / "images").mkdir(exist_ok=True)
    (killed / "images" / ".0123abcd.png.x1y2z3.tmp").write_bytes(b"half a png")

    assert main([*args, "--out", str(killed)]) == 0
    fresh = tmp_path / "fresh"
    assert main([*args, "--out", str(fresh)]) == 0
    a, b = _snapshot(killed), _snapshot(fresh)
    assert a.keys() == b.keys()
    for name in a:
        assert a[name] == b[name], name
    assert read_bundle(killed).reconstructions == read_bundle(fresh).reconstructions


def test_plugin_generator_beside_a_zoo(tmp_path: Path) -> None:
    out = tmp_path / "b"
    rc = main(["build", "--zoo", "tiny", "--generator", "rnd=tests.pipeline.plugin_generators:random_deconv",
               "--targets-per-generator", "1", "--attempts", "1", "--steps", "3", "--out", str(out),
               "--no-progress"])
    assert rc == 0
    b = read_bundle(out)
    assert b.generator_ids == ("tiny-mlp", "tiny-deconv", "tiny-cppn", "rnd")
    assert len(b.reconstructions) == 4 * 4
